"""Consent recorded at intake with when, how and the text shown; on the lead page and in the export."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.models import ConsentRecord, Lead
from tests.factories import open_all_week

pytestmark = pytest.mark.django_db


def post(portal, consent, **extra):
    body = {"customer": {"email": "noor@example.nl"}, "channel": "chat", **extra}
    if consent is not ...:
        body["consent"] = consent
    response = portal.post("/api/v1/leads/", body, format="json")
    assert response.status_code == 201, response.content
    return Lead.objects.unscoped().get(pk=response.json()["id"])


def test_a_given_consent_is_recorded_with_when_how_and_the_text(cast, portal):
    lead = post(portal, {"marketing": True, "text": "Ik wil de nieuwsbrief.", "given_at": "2026-11-20T08:00:00+01:00"})
    record = ConsentRecord.objects.unscoped().get()
    assert (record.dealer, record.customer_id, record.lead_id) == (cast.dealer_a, lead.customer_id, lead.pk)
    assert record.given is True and record.purpose == "marketing" and record.text == "Ik wil de nieuwsbrief."
    assert record.given_at == dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)
    assert (record.source, record.channel) == ("website", "chat")
    assert lead.consent_marketing is True  # the old column stays as it was


def test_a_refusal_is_recorded_too_and_no_answer_records_nothing(cast, portal):
    post(portal, {"marketing": False})
    refusal = ConsentRecord.objects.unscoped().get()
    assert refusal.given is False and refusal.text == ""
    post(portal, ..., external_id="no-consent")
    post(portal, {"marketing": None}, external_id="null-consent")
    post(portal, {"text": "shown but no answer"}, external_id="text-only")
    assert ConsentRecord.objects.unscoped().count() == 1


@pytest.mark.parametrize("given_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59", "gisteren",
                                      "1999-12-31T23:00:00Z", "2099-01-01T00:00:00Z", ""])
def test_an_impossible_date_is_kept_as_the_arrival_time(cast, portal, given_at):
    before = timezone.now()
    lead = post(portal, {"marketing": True, "given_at": given_at})
    record = ConsentRecord.objects.unscoped().get()
    assert record.given_at == lead.received_at and record.given_at >= before


def test_a_duplicate_post_records_no_second_consent(cast, portal):
    post(portal, {"marketing": True}, external_id="once")
    again = portal.post("/api/v1/leads/", {"external_id": "once", "customer": {"email": "noor@example.nl"},
                                           "consent": {"marketing": True}}, format="json")
    assert again.status_code == 200 and ConsentRecord.objects.unscoped().count() == 1


def test_hostile_consent_text_is_a_400_not_a_500(cast, portal):
    response = portal.post("/api/v1/leads/", {"customer": {"email": "a@b.nl"},
                                              "consent": {"marketing": True, "text": "x" * 5001}}, format="json")
    assert response.status_code == 400
    response = portal.post("/api/v1/leads/", {"customer": {"email": "a@b.nl"}, "consent": {"marketing": "misschien"}},
                           format="json")
    assert response.status_code == 400 and not ConsentRecord.objects.unscoped().exists()


def test_the_lead_page_shows_the_consent(cast, portal):
    open_all_week(cast.dealer_a)
    lead = post(portal, {"marketing": True, "text": "Ja, houd me op de hoogte."})
    client = Client()
    client.force_login(cast.manager_a)
    html = client.get(reverse("lead_detail", args=[lead.pk])).content.decode()
    assert "Marketing consent" in html and "Ja, houd me op de hoogte." in html and "website" in html


def test_a_consent_costs_the_intake_no_statement_of_its_own(cast, portal):
    """The consent record goes in with the lead, its notice and its timeline, in one statement."""
    open_all_week(cast.dealer_a)

    def statements(body):
        with CaptureQueriesContext(connection) as captured:
            assert portal.post("/api/v1/leads/", body, format="json").status_code == 201
        return len(captured.captured_queries)

    statements({"external_id": "warm-up", "customer": {"email": "x@y.nl"}})  # the dealer's first lead creates its policy
    without = statements({"external_id": "a", "customer": {"email": "a@b.nl"}})
    with_consent = statements({"external_id": "b", "customer": {"email": "c@d.nl"}, "consent": {"marketing": True}})
    assert (without, with_consent) == (8, 8)
    assert ConsentRecord.objects.unscoped().filter(lead__external_id="b", given=True).count() == 1
