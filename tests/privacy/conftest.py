"""A customer with a full history at dealer A, written through the real API and services, and what identifies them."""

import datetime as dt
from dataclasses import dataclass

import pytest

from followup.models import TelephonyEvent
from followup.services import appointment_set, attempt_log, manager_digest_send
from leads.models import Customer, EventType, Lead
from leads.services import document_store, lead_event_add, lead_intake
from routing.services import lead_route_new
from tests.factories import LeadFactory, open_all_week
from tests.reporting.conftest import spec_example  # noqa: F401  (the report figures' known example)

# What identifies the person: none of it may be left anywhere after erasure.
PERSONAL = ["Jozefien", "Vlasblom", "j.vlasblom@example.nl", "41234567", "Kerkstraat 12", "KMHJ381GEHEIM",
            "NL-SP-81", "bel na 18:00", "woont in Houten", "MP-VLAS-1", "ADF-VLAS-2", "97-XK-LP"]

LEAD = {
    "external_id": "MP-VLAS-1",
    "received_at": "2026-11-22T10:04:00+01:00",
    "customer": {"first_name": "Jozefien", "last_name": "Vlasblom", "email": "J.Vlasblom@example.nl",
                 "phone": "06 41234567", "preferred_contact": "whatsapp", "language": "nl"},
    "vehicle": {"interest": "buy", "status": "used", "make": "Hyundai", "model": "Tucson", "year": 2023,
                "vin": "KMHJ381GEHEIM", "stock_number": "NL-SP-81", "price": 32950, "url": "https://example.nl/ad/97-XK-LP"},
    "trade_in": {"make": "Kia", "model": "Picanto", "year": 2015, "mileage_km": 98000},
    "message": "Ik woon op de Kerkstraat 12, graag een proefrit.",
    "consent": {"marketing": True, "text": "Ja, ik wil aanbiedingen ontvangen.", "given_at": "2026-11-22T10:00:00+01:00"},
}
ADF = b"""<?xml version="1.0"?><adf><prospect><id source="portal">ADF-VLAS-2</id><customer><contact>
<name part="full">Jozefien Vlasblom</name><email>j.vlasblom@example.nl</email></contact></customer></prospect></adf>"""


@dataclass
class Person:
    customer: Customer
    leads: list
    other: Customer  # another customer of the same dealer, who must keep everything


@pytest.fixture
def person(cast, portal, django_capture_on_commit_callbacks) -> Person:
    open_all_week(cast.dealer_a)
    with django_capture_on_commit_callbacks(execute=False):
        first = portal.post("/api/v1/leads/", LEAD, format="json")
    assert first.status_code == 201, first.content
    lead = Lead.objects.unscoped().get(pk=first.json()["id"])
    document = document_store(dealer=cast.dealer_a, source="website", content_type="application/xml", body=ADF)
    second = lead_intake(dealer=cast.dealer_a, source="website", document=document, route=lead_route_new,
                         data={"external_id": "ADF-VLAS-2", "customer": {"email": "j.vlasblom@example.nl"}},
                         payload={"adf": {"name": "Jozefien Vlasblom"}}).lead
    assert second.customer_id == lead.customer_id
    attempt_log(lead=lead, by=lead.assignee, channel="call", outcome="connected", note="Zij vraagt: bel na 18:00")
    appointment_set(lead=lead, by=lead.assignee, scheduled_at=lead.received_at + dt.timedelta(days=2), kind="test_drive")
    lead_event_add(lead=lead, type=EventType.NOTE, actor=lead.assignee, text="Klant woont in Houten")
    TelephonyEvent.objects.create(dealer=cast.dealer_a, event_id="call-1", call_id="c1", type="ended",
                                  call_started_at=lead.received_at, lead=lead,
                                  payload={"from": "+31641234567", "to": "+31301234567"})
    other = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, first_contact_at=None,
                        customer__first_name="Pieternella", customer__last_name="Zwaanswijk").customer
    manager_digest_send()  # lists both customers by name
    leads = [Lead.objects.unscoped().get(pk=lead.pk), Lead.objects.unscoped().get(pk=second.pk)]
    return Person(customer=lead.customer, leads=leads, other=other)
