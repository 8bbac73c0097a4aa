"""Issue 16, defect 1: a date from outside is checked against a sane range; an impossible one is never stored."""

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leads.dates import instant_from_outside
from leads.models import Lead
from tests.conftest import team_client
from tests.factories import LeadFactory, open_all_week

pytestmark = pytest.mark.django_db

LEAD = {"customer": {"first_name": "Jan", "last_name": "de Vries", "email": "jan@example.nl"}}
ADF = b"""<?xml version="1.0"?><adf><prospect><id source="AS">AS-1</id>
<requestdate>%s</requestdate><customer><contact><name part="full">Jan de Vries</name>
<email>jan@example.nl</email></contact></customer></prospect></adf>"""


@pytest.mark.parametrize("raw", ["1999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
                                 "9999-12-31T23:59:59-23:59", "2026-02-30T10:00:00"])
def test_an_impossible_or_implausible_instant_is_refused(raw):
    assert instant_from_outside(raw) == (None, True)


def test_a_plausible_instant_is_read_and_unreadable_text_is_not_called_out_of_range():
    assert instant_from_outside("2026-11-22T10:04:00+01:00")[0] == dt.datetime(2026, 11, 22, 9, 4, tzinfo=dt.UTC)
    assert instant_from_outside("gisteren om tien uur") == (None, False)


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-23:59"])
def test_a_poison_received_at_is_kept_raw_with_a_warning_and_the_lead_is_routed(portal, cast, raw):
    open_all_week(cast.dealer_a)
    before = timezone.now()
    response = portal.post("/api/v1/leads/", {**LEAD, "received_at": raw}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "active" and body["assigned_to"] is not None  # routed as any other lead
    assert any("received_at" in w for w in body["warnings"])
    lead = Lead.objects.unscoped().get(pk=body["id"])
    assert lead.received_at >= before and lead.received_at_raw == raw
    manager = team_client(cast.manager_a)
    assert manager.get("/api/v1/team/leads/").status_code == 200
    assert manager.get(f"/api/v1/team/leads/{lead.pk}/").status_code == 200


def test_an_adf_requestdate_in_year_one_uses_the_arrival(portal, cast):
    response = portal.generic("POST", "/api/v1/leads/adf/", ADF % b"0001-01-01T00:30:00+01:00",
                              content_type="application/xml")
    assert response.status_code == 201, response.content
    lead = Lead.objects.unscoped().get()
    assert lead.received_at.year == timezone.now().year
    assert lead.received_at_raw == "0001-01-01T00:30:00+01:00" and "received_at_out_of_range" in lead.data_flags


def test_the_inbox_feed_reads_an_impossible_since_as_nothing_seen(client, cast):
    client.force_login(cast.sales_a1)
    for since in ("0001-01-01T00:00:00", "9999-12-31T23:59:59-23:59", "2026-13-45T99:00:00"):
        response = client.get(reverse("inbox_feed"), {"since": since})
        assert response.status_code == 200, since


def test_an_appointment_in_year_9999_is_refused_on_the_team_api(cast):
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    response = team_client(cast.sales_a1).post(f"/api/v1/team/leads/{lead.pk}/appointments/",
                                               {"scheduled_at": "9999-12-31T23:59:59-23:59"}, format="json")
    assert response.status_code == 400
    assert lead.appointments.count() == 0


def test_an_appointment_in_year_9999_is_refused_on_the_lead_page(client, cast):
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    client.force_login(cast.sales_a1)
    response = client.post(reverse("lead_appointment", args=[lead.pk]),
                           {"scheduled_at": "9999-12-31T23:59", "kind": "showroom"})
    assert response.status_code < 500
    assert lead.appointments.count() == 0


def test_the_migration_repairs_a_stored_impossible_received_at(cast):
    lead = LeadFactory(dealer=cast.dealer_a)
    with connection.cursor() as cursor:  # what the intake stored before: year 0 BC, unreadable by Python
        cursor.execute("UPDATE leads_lead SET received_at = '0001-01-01T00:00:00+14:00', received_at_raw = '' "
                       "WHERE id = %s", [lead.pk])
    migration = importlib.import_module("leads.migrations.0014_repair_out_of_range_received_at")
    with connection.schema_editor() as editor:
        migration.repair(django_apps, editor)
    lead = Lead.objects.unscoped().get(pk=lead.pk)
    assert lead.received_at == lead.created_at
    assert lead.received_at_raw.startswith("0001-") and "received_at_out_of_range" in lead.data_flags
