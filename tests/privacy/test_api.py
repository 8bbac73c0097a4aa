"""GET /api/v1/team/customers/{id}/export/ and POST .../erase/: everything shown, then everything personal gone."""

import json

import pytest

from dealers.models import AuditEntry
from followup.models import ContactAttempt, CustomerMessage, TelephonyEvent
from leads.models import ConsentRecord, Customer, InboundDocument, Lead, LeadEvent, Notification
from tests.conftest import team_client
from tests.factories import CustomerFactory

from .conftest import PERSONAL

pytestmark = pytest.mark.django_db


def export_url(customer_id) -> str:
    return f"/api/v1/team/customers/{customer_id}/export/"


def erase_url(customer_id) -> str:
    return f"/api/v1/team/customers/{customer_id}/erase/"


def export(user, customer_id, **params) -> dict:
    response = team_client(user).get(export_url(customer_id), params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_export_holds_everything_stored_about_the_person(cast, person):
    body = export(cast.manager_a, person.customer.pk)
    assert body["customer"]["email"] == "j.vlasblom@example.nl" and body["customer"]["phone"] == "+31641234567"
    assert body["customer"]["phone_raw"] == "06 41234567" and body["customer"]["first_name"] == "Jozefien"
    leads = {lead["external_id"]: lead for lead in body["leads"]}
    assert set(leads) == {"MP-VLAS-1", "ADF-VLAS-2"}
    assert leads["MP-VLAS-1"]["payload"]["message"] == "Ik woon op de Kerkstraat 12, graag een proefrit."  # as posted
    assert leads["MP-VLAS-1"]["vehicle"]["vin"] == "KMHJ381GEHEIM"
    assert [d["body"] for d in body["documents"]] == [person.leads[1].document.body.tobytes().decode()]
    assert [a["note"] for a in body["attempts"]] == ["Zij vraagt: bel na 18:00"]
    assert [a["kind"] for a in body["appointments"]] == ["test_drive"]
    [confirmation] = body["messages_to_customer"]  # the appointment's confirmation mail, with its calendar invite
    assert confirmation["to"] == "j.vlasblom@example.nl" and "Jozefien Vlasblom" in confirmation["body"]
    assert "BEGIN:VCALENDAR" in confirmation["calendar_invite"]
    assert "Klant woont in Houten" in [e["text"] for e in body["timeline"]]
    assert any("Jozefien Vlasblom" in n["subject"] for n in body["notifications"])  # the assignee's new-lead notices
    assert body["telephony_events"][0]["payload"]["from"] == "+31641234567"
    [consent] = body["consent_records"]
    assert consent["given"] is True and consent["text"] == "Ja, ik wil aanbiedingen ontvangen."
    assert consent["source"] == "website" and consent["channel"] == "web_form"
    assert consent["given_at"].startswith("2026-11-22T09:00:00")  # UTC of 10:00+01:00


def test_erasing_removes_the_person_everywhere_and_keeps_the_rows(cast, person):
    counted = (Lead, ContactAttempt, LeadEvent, Notification)
    counts_before = [model.objects.unscoped().count() for model in counted]
    response = team_client(cast.manager_a).post(erase_url(person.customer.pk))
    assert response.status_code == 200, response.content
    assert response.json()["leads"] == 2 and response.json()["erased_at"]

    after = json.dumps(export(cast.manager_a, person.customer.pk))
    for text in PERSONAL:
        assert text.lower() not in after.lower(), text
    # …and not in the tables either, including the manager's digest that listed several leads.
    stored = json.dumps([list(Customer.objects.unscoped().filter(pk=person.customer.pk).values()),
                         list(Lead.objects.unscoped().filter(pk__in=[p.pk for p in person.leads]).values()),
                         list(LeadEvent.objects.unscoped().values("text", "data")),
                         list(Notification.objects.unscoped().values("subject", "body")),
                         list(ContactAttempt.objects.unscoped().values("note")),
                         list(TelephonyEvent.objects.unscoped().values("payload")),
                         list(CustomerMessage.objects.unscoped().values())], default=str)
    for text in PERSONAL:
        assert text.lower() not in stored.lower(), text
    assert "Pieternella Zwaanswijk" in stored  # another customer in the same digest keeps their name
    assert not InboundDocument.objects.unscoped().exists() and not ConsentRecord.objects.unscoped().exists()
    message = CustomerMessage.objects.unscoped().get()  # the confirmation owed is not sent any more
    assert message.status == "failed" and message.to_email == "" and message.body == ""
    assert [model.objects.unscoped().count() for model in counted] == counts_before
    lead = Lead.objects.unscoped().get(pk=person.leads[0].pk)
    assert lead.vehicle == {"interest": "buy", "status": "used", "make": "Hyundai", "model": "Tucson", "year": 2023}
    assert lead.trade_in == {"make": "Kia", "model": "Picanto", "year": 2015}
    assert lead.status == "appointment" and lead.attempt_count == 1 and lead.anonymised_at is not None
    # The erased person is not chased any more: the ADF lead, never tried, leaves the sweep and the overdue lists.
    untried = Lead.objects.unscoped().get(pk=person.leads[1].pk)
    assert untried.status == "new" and untried.deadline_at is None and untried.next_action_at is None


def test_a_new_lead_after_erasure_does_not_join_the_erased_record(cast, person, portal):
    team_client(cast.manager_a).post(erase_url(person.customer.pk))
    again = portal.post("/api/v1/leads/", {"customer": {"email": "j.vlasblom@example.nl"}}, format="json").json()
    assert again["existing_customer"] is False
    assert Lead.objects.unscoped().get(pk=again["id"]).customer_id != person.customer.pk


def test_export_and_erase_are_on_the_audit_trail_without_what(cast, person):
    client = team_client(cast.manager_a)
    client.get(export_url(person.customer.pk))
    client.post(erase_url(person.customer.pk))
    client.post(erase_url(person.customer.pk))  # twice is harmless
    entries = list(AuditEntry.objects.unscoped().filter(action__startswith="customer.").order_by("at", "pk"))
    assert [e.action for e in entries] == ["customer.exported", "customer.erased", "customer.erased"]
    assert {e.actor_id for e in entries} == {cast.manager_a.pk} and {e.dealer_id for e in entries} == {cast.dealer_a.pk}
    trail = json.dumps([[e.target, e.changes] for e in entries])
    for text in PERSONAL:
        assert text.lower() not in trail.lower()


@pytest.mark.parametrize("role", ["sales_a1", "bdc_a"])
def test_only_managers_may_export_or_erase(cast, person, role):
    client = team_client(getattr(cast, role))
    assert client.get(export_url(person.customer.pk)).status_code == 403
    assert client.post(erase_url(person.customer.pk)).status_code == 403
    assert Customer.objects.unscoped().get(pk=person.customer.pk).email == "j.vlasblom@example.nl"


def test_another_dealers_customer_is_404(cast, person):
    outsider = team_client(cast.outsider_b)
    assert outsider.get(export_url(person.customer.pk)).status_code == 404
    assert outsider.post(erase_url(person.customer.pk)).status_code == 404
    assert outsider.get(export_url(person.customer.pk), {"dealer": "dealer-a"}).status_code == 404
    assert outsider.post(erase_url(person.customer.pk) + "?dealer=dealer-a").status_code == 404
    assert Customer.objects.unscoped().get(pk=person.customer.pk).email == "j.vlasblom@example.nl"
    # …and dealer A's manager cannot reach B's customers either.
    in_b = CustomerFactory(dealer=cast.dealer_b)
    assert team_client(cast.manager_a).get(export_url(in_b.pk)).status_code == 404
    assert team_client(cast.manager_a).post(erase_url(in_b.pk)).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/team/customers/99999999999999999999999/export/",
                                  "/api/v1/team/customers/abc/export/", "/api/v1/team/customers/-1/erase/",
                                  "/api/v1/team/customers/0/export/"])
def test_hostile_ids_are_4xx(cast, path):
    client = team_client(cast.manager_a)
    assert 400 <= client.get(path).status_code < 500
    assert 400 <= client.post(path).status_code < 500


def test_export_takes_a_fixed_number_of_queries(cast, person, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        export(cast.manager_a, person.customer.pk)


def test_team_lead_bodies_carry_the_customer_id(cast, person):
    client = team_client(cast.manager_a)
    lead = person.leads[0]
    assert client.get(f"/api/v1/team/leads/{lead.pk}/").json()["customer"]["id"] == person.customer.pk
    listed = {item["id"]: item for item in client.get("/api/v1/team/leads/").json()["results"]}
    assert listed[str(lead.pk)]["customer"]["id"] == person.customer.pk


def test_the_endpoints_and_the_consent_fields_are_in_the_openapi_schema(cast):
    schema = team_client(cast.manager_a).get("/api/v1/schema/", {"format": "json"}).json()
    assert {"/api/v1/team/customers/{id}/export/", "/api/v1/team/customers/{id}/erase/",
            "/api/v1/team/privacy/"} <= set(schema["paths"])
    consent = schema["components"]["schemas"]["ConsentRequest"]["properties"]
    assert {"marketing", "text", "given_at"} <= set(consent)


# ------------------------------------------------------------------------------------------------ retention settings

def test_managers_read_and_change_the_retention_periods(cast):
    client = team_client(cast.manager_a)
    assert client.get("/api/v1/team/privacy/").json() == {"raw_retention_days": 90, "inactive_lead_months": 24}
    response = client.patch("/api/v1/team/privacy/", {"raw_retention_days": 30}, format="json")
    assert response.status_code == 200 and response.json()["raw_retention_days"] == 30
    entry = AuditEntry.objects.unscoped().get(action="privacy.settings_updated")
    assert entry.changes == {"raw_retention_days": [90, 30]} and entry.actor == cast.manager_a


@pytest.mark.parametrize("body, field", [
    ({"raw_retention_days": 0}, "raw_retention_days"),
    ({"raw_retention_days": -5}, "raw_retention_days"),
    ({"raw_retention_days": "veel"}, "raw_retention_days"),
    ({"raw_retention_days": 10**12}, "raw_retention_days"),
    ({"raw_retention_days": 3650}, "inactive_lead_months"),  # raw kept longer than the leads themselves
    ({"inactive_lead_months": 121}, "inactive_lead_months"),
])
def test_impossible_periods_are_a_400_naming_the_field(cast, body, field):
    response = team_client(cast.manager_a).patch("/api/v1/team/privacy/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert team_client(cast.manager_a).get("/api/v1/team/privacy/").json()["raw_retention_days"] == 90


def test_the_retention_settings_are_managers_only_and_per_dealer(cast):
    assert team_client(cast.sales_a1).get("/api/v1/team/privacy/").status_code == 403
    assert team_client(cast.outsider_b).get("/api/v1/team/privacy/", {"dealer": "dealer-a"}).status_code == 404
    team_client(cast.outsider_b).patch("/api/v1/team/privacy/", {"raw_retention_days": 7}, format="json")
    assert team_client(cast.manager_a).get("/api/v1/team/privacy/").json()["raw_retention_days"] == 90
