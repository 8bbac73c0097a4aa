"""Fixtures with known outcomes for the report figures.

`spec_example` plays 20 leads through the real follow-up services so that they give exactly the example in
portal-api.md ("Report figures"). `domain_figures` bulk-loads the Calldrip/BDC numbers of domain.md: 2,379 rated
conversations, 1,398 real ones, 534 appointments (38.2% of the real ones), a mean response of 2 min 10 s.
"""

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import pytest

from dealers.models import Dealer
from followup.models import Appointment, ContactAttempt
from followup.services import appointment_outcome_set, appointment_set, attempt_log, lead_close
from leads.models import Lead, Status
from tests.factories import CustomerFactory, LeadFactory

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}
SPEC_EXAMPLE = {
    "leads": 20, "contacted": 10, "appointments": 6, "shown": 4, "sold": 2,
    "rates": {"contact": 0.5, "appointment": 0.3, "appointment_of_contacted": 0.6, "show": 0.6667, "close": 0.5},
    "map_target": 0.36,
    "speed_to_first_attempt_seconds": {"median": 95, "mean": 130, "p90": 300},
    "first_attempt_within_deadline": 0.85,
    "closed_unreachable": 3, "closed_unreachable_below_minimum": 0,
    "attempts": {"total": 41, "verified": 12},
}
# Seconds from the clock's start to each attempted lead's first attempt: median 95, mean 130, p90 300, one late (520).
FIRST_ATTEMPT_SECONDS = [30, 40, 50, 60, 60, 70, 80, 85, 90, 100, 100, 100, 110, 120, 125, 300, 300, 520]


def lead_at(dealer: Dealer, received: dt.datetime, **fields) -> Lead:
    """A routed lead whose first-response clock starts on arrival with the default 5-minute deadline."""
    return LeadFactory(dealer=dealer, customer=CustomerFactory(dealer=dealer), received_at=received,
                       clock_started_at=received, first_response_due_at=received + dt.timedelta(minutes=5), **fields)


@dataclass
class SpecExample:
    leads: list
    by_person: dict


@pytest.fixture
def spec_example(cast) -> SpecExample:
    """20 leads in March 2026: 18 tried (10 reached, 3 given up after 4 tries, 5 still being tried), 2 untouched."""
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=AMS)
    leads = []
    for i in range(20):
        assignee = cast.sales_a1 if i < 10 or i == 18 else cast.sales_a2
        leads.append(lead_at(cast.dealer_a, start + dt.timedelta(hours=i), assignee=assignee,
                             source="marktplaats" if i % 2 else "autoscout24"))
    seconds = iter(FIRST_ATTEMPT_SECONDS)

    def attempt(lead, offset: dt.timedelta, outcome: str, verified: bool = False):
        attempt_log(lead=lead, by=lead.assignee, channel="call", outcome=outcome, at=lead.received_at + offset,
                    verified=verified)

    # Leads 0–9 are reached: 0–6 at the first attempt, 7–9 at the second, two hours later.
    for lead in leads[:10]:
        first = dt.timedelta(seconds=next(seconds))
        if leads.index(lead) < 7:
            attempt(lead, first, "connected")
        else:
            attempt(lead, first, "no_answer")
            attempt(lead, first + dt.timedelta(hours=2), "connected")
    # Leads 10–12: four verified calls an hour apart, then closed as unreachable (the minimum is met).
    for lead in leads[10:13]:
        first = dt.timedelta(seconds=next(seconds))
        for k in range(4):
            attempt(lead, first + dt.timedelta(minutes=61 * k), "no_answer", verified=True)
        lead_close(lead=lead, by=lead.assignee, outcome=Status.UNREACHABLE)
    # Leads 13–17: still being tried (4, 3, 3, 3, 3 attempts); lead 17's first attempt came late (520 s).
    for lead, tries in zip(leads[13:18], [4, 3, 3, 3, 3], strict=True):
        first = dt.timedelta(seconds=next(seconds))
        for k in range(tries):
            attempt(lead, first + dt.timedelta(minutes=61 * k), "voicemail")
    # Leads 18 and 19: nobody tried them.
    for i, lead in enumerate(leads[:6]):
        appointment = appointment_set(lead=lead, by=lead.assignee, scheduled_at=lead.received_at + dt.timedelta(days=2),
                                      kind="showroom")
        appointment_outcome_set(appointment=appointment, by=lead.assignee, showed=i < 4)
    for lead in leads[:2]:
        lead_close(lead=Lead.objects.unscoped().get(pk=lead.pk), by=lead.assignee, outcome=Status.SOLD)
    return SpecExample(leads=[Lead.objects.unscoped().get(pk=lead.pk) for lead in leads],
                       by_person={cast.sales_a1.pk: 11, cast.sales_a2.pk: 9})


@pytest.fixture
def domain_figures(cast) -> list[Lead]:
    """2,379 leads with a rated conversation each: 1,398 reached, 534 of those with an appointment (bulk-loaded)."""
    customer = CustomerFactory(dealer=cast.dealer_a)
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=AMS)
    leads, attempts, appointments = [], [], []
    for i in range(2379):
        received = start + dt.timedelta(minutes=17 * i)  # spread over the month
        # Mean 2 min 10 s: half at 70 s, half at 190 s, the middle one at 130 s.
        delay = dt.timedelta(seconds=130 if i == 2378 else (70 if i % 2 else 190))
        reached = i < 1398
        first = received + delay
        leads.append(Lead(
            dealer=cast.dealer_a, customer=customer, source="website", external_id=f"CALLDRIP-{i}", kind="active",
            queue="sales", routed_at=received, assignee=cast.sales_a1, received_at=received, clock_started_at=received,
            first_response_due_at=received + dt.timedelta(minutes=5), first_contact_at=first,
            first_connected_at=first if reached else None, attempt_count=1, counted_attempts=1, last_attempt_at=first,
            verified_attempts=int(i % 4 == 0), attempts_to_contact=1 if reached else None,
            status=Status.APPOINTMENT if i < 534 else (Status.CONTACTED if reached else Status.ATTEMPTED)))
    Lead.objects.bulk_create(leads, batch_size=1000)
    for i, lead in enumerate(leads):
        attempts.append(ContactAttempt(dealer=cast.dealer_a, lead=lead, user=cast.sales_a1, channel="call",
                                       outcome="connected" if i < 1398 else "voicemail", at=lead.first_contact_at,
                                       verified=i % 4 == 0))
        if i < 534:
            appointments.append(Appointment(dealer=cast.dealer_a, lead=lead,
                                            scheduled_at=lead.received_at + dt.timedelta(days=3)))
    ContactAttempt.objects.bulk_create(attempts, batch_size=1000)
    Appointment.objects.bulk_create(appointments, batch_size=1000)
    return leads
