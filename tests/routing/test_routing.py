"""Routing: who gets a lead, when its clock starts, and the BDC claim race."""

import datetime as dt
import threading
import zoneinfo

import pytest
from django.db import connection

from dealers.errors import NotOnTheTeam
from dealers.models import Membership, OpeningHours, RoutingModel
from leads.services import lead_intake
from routing.services import bdc_claim_next, bdc_handover, lead_route
from tests.factories import DealerFactory, MembershipFactory, UserFactory, open_all_week

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
pytestmark = pytest.mark.django_db


def new_lead(dealer, i=0, **data):
    body = {"external_id": f"R-{i}", "customer": {"email": f"klant{i}@example.nl"}, **data}
    return lead_route(lead=lead_intake(dealer=dealer, source="website", data=body).lead)


def test_round_robin_is_fair_over_100_leads(cast):
    open_all_week(cast.dealer_a)
    third = MembershipFactory(dealer=cast.dealer_a).user
    counts = {}
    for i in range(100):
        lead = new_lead(cast.dealer_a, i)
        counts[lead.assignee_id] = counts.get(lead.assignee_id, 0) + 1
    assert set(counts) == {cast.sales_a1.pk, cast.sales_a2.pk, third.pk}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_round_robin_weighs_open_load(cast):
    open_all_week(cast.dealer_a)
    for i in range(3):  # sales_a1 already sits on three open leads
        lead = new_lead(cast.dealer_a, 100 + i)
        lead.assignee = cast.sales_a1
        lead.save()
    assigned = [new_lead(cast.dealer_a, i).assignee_id for i in range(3)]
    assert assigned == [cast.sales_a2.pk] * 3


def test_off_duty_salespeople_get_nothing(cast):
    open_all_week(cast.dealer_a)
    Membership.objects.filter(user=cast.sales_a2).update(on_duty=False)
    assert {new_lead(cast.dealer_a, i).assignee_id for i in range(5)} == {cast.sales_a1.pk}


def test_nobody_on_duty_gives_the_lead_to_the_manager(cast):
    open_all_week(cast.dealer_a)
    Membership.objects.filter(role="salesperson").update(on_duty=False)
    assert new_lead(cast.dealer_a).assignee == cast.manager_a


def test_returning_customer_goes_back_to_their_salesperson_when_on_duty(cast):
    open_all_week(cast.dealer_a)
    first = new_lead(cast.dealer_a, 1, customer={"email": "trouw@example.nl"})
    for i in range(4):
        new_lead(cast.dealer_a, 10 + i)
    again = new_lead(cast.dealer_a, 2, customer={"email": "trouw@example.nl"})
    assert again.assignee == first.assignee and again.returning_customer


def test_a_returning_customer_goes_to_the_salesperson_of_their_latest_lead_whoever_reads_it(cast):
    """The intake reads the latest salesperson with its customer match (SQL); the sweep's batch reads it with a query
    of its own (ORM). Both follow one rule: the customer's latest assigned lead."""
    from leads.models import Lead
    from routing.services import _previous_salesperson_ids

    open_all_week(cast.dealer_a)
    trouw = {"email": "trouw@example.nl"}
    for i, salesperson in ((1, cast.sales_a1), (2, cast.sales_a2)):  # received in this order
        lead = new_lead(cast.dealer_a, i, customer=trouw)
        Lead.objects.unscoped().filter(pk=lead.pk).update(assignee=salesperson)
    first = Lead.objects.unscoped().get(external_id="R-1")
    assert _previous_salesperson_ids([first]) == {first.pk: cast.sales_a2.pk}
    for i in range(4):  # sales_a2 now has more open leads: only the returning customer's rule sends the next one there
        new_lead(cast.dealer_a, 10 + i)
    assert new_lead(cast.dealer_a, 3, customer=trouw).assignee == cast.sales_a2


def test_outside_opening_hours_the_clock_starts_at_the_next_opening(cast, time_machine):
    for weekday in range(5):
        OpeningHours.objects.create(dealer=cast.dealer_a, weekday=weekday, opens=dt.time(9), closes=dt.time(18))
    time_machine.move_to(dt.datetime(2026, 11, 20, 22, 30, tzinfo=AMS))  # Friday night
    lead = new_lead(cast.dealer_a, received_at="2026-11-20T22:30:00+01:00")
    assert lead.assignee is not None  # assigned now, for the next opening
    assert lead.clock_started_at == dt.datetime(2026, 11, 23, 9, 0, tzinfo=AMS)  # Monday 09:00
    assert lead.first_response_due_at == dt.datetime(2026, 11, 23, 9, 5, tzinfo=AMS)


def test_deadline_counts_only_open_minutes(cast):
    OpeningHours.objects.create(dealer=cast.dealer_a, weekday=4, opens=dt.time(9), closes=dt.time(18))
    OpeningHours.objects.create(dealer=cast.dealer_a, weekday=5, opens=dt.time(10), closes=dt.time(17))
    lead = new_lead(cast.dealer_a, received_at="2026-11-20T17:58:00+01:00")  # Friday, 2 minutes before closing
    assert lead.first_response_due_at == dt.datetime(2026, 11, 21, 10, 3, tzinfo=AMS)


def test_passive_lead_is_due_by_the_end_of_the_next_working_day(cast):
    for weekday in range(5):
        OpeningHours.objects.create(dealer=cast.dealer_a, weekday=weekday, opens=dt.time(9), closes=dt.time(18))
    lead = new_lead(cast.dealer_a, reason="lease_end", received_at="2026-11-20T11:00:00+01:00")  # Friday
    assert (lead.kind, lead.queue, lead.assignee) == ("passive", "bdc", None)
    assert lead.first_response_due_at == dt.datetime(2026, 11, 23, 18, 0, tzinfo=AMS)  # Monday's closing


@pytest.mark.parametrize("model, active_queue, passive_queue", [
    (RoutingModel.SPLIT, "sales", "bdc"),
    (RoutingModel.BDC_FIRST, "bdc", "bdc"),
    (RoutingModel.SALES_ONLY, "sales", "sales"),
])
def test_the_dealers_routing_model_decides_the_queue(cast, model, active_queue, passive_queue):
    open_all_week(cast.dealer_a)
    cast.dealer_a.routing_model = model
    cast.dealer_a.save()
    assert new_lead(cast.dealer_a, 1).queue == active_queue
    assert new_lead(cast.dealer_a, 2, reason="service").queue == passive_queue


def test_routing_twice_changes_nothing(cast):
    open_all_week(cast.dealer_a)
    lead = new_lead(cast.dealer_a)
    events = lead.events.count()
    assert lead_route(lead=lead).assignee_id == lead.assignee_id
    assert lead.events.count() == events


def test_bdc_claims_the_most_urgent_first_and_hands_over_with_a_note(cast):
    open_all_week(cast.dealer_a)
    later = new_lead(cast.dealer_a, 1, reason="service", received_at="2026-11-22T12:00:00+01:00")
    sooner = new_lead(cast.dealer_a, 2, reason="lease_end", received_at="2026-11-20T12:00:00+01:00")
    assert bdc_claim_next(dealer=cast.dealer_a, agent=cast.bdc_a) == sooner
    assert bdc_claim_next(dealer=cast.dealer_a, agent=cast.bdc_a) == later
    assert bdc_claim_next(dealer=cast.dealer_a, agent=cast.bdc_a) is None
    handed = bdc_handover(lead=sooner, agent=cast.bdc_a, salesperson=cast.sales_a2, note="Afspraak do 10:00, wil Niro")
    assert (handed.queue, handed.assignee) == ("sales", cast.sales_a2)
    assert handed.events.filter(type="handed_over", text__contains="Niro").exists()
    assert handed.notifications.filter(recipient=cast.sales_a2, kind="handover").exists()


def test_hand_over_to_another_dealers_salesperson_is_refused(cast):
    open_all_week(cast.dealer_a)
    lead = new_lead(cast.dealer_a, reason="service")
    with pytest.raises(NotOnTheTeam):
        bdc_handover(lead=lead, agent=cast.bdc_a, salesperson=cast.outsider_b)


def test_bdc_queue_of_one_dealer_is_invisible_to_another(cast):
    open_all_week(cast.dealer_a)
    new_lead(cast.dealer_a, reason="service")
    agent_b = MembershipFactory(dealer=cast.dealer_b, role="bdc_agent").user
    assert bdc_claim_next(dealer=cast.dealer_b, agent=agent_b) is None


@pytest.mark.django_db(transaction=True)
def test_two_agents_pressing_next_at_once_never_get_the_same_lead():
    dealer = DealerFactory()
    open_all_week(dealer)
    agents = [MembershipFactory(dealer=dealer, role="bdc_agent", user=UserFactory()).user for _ in range(2)]
    for i in range(10):
        new_lead(dealer, i, reason="lease_end")
    claimed: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def agent_works(agent):
        barrier.wait()
        try:
            while (lead := bdc_claim_next(dealer=dealer, agent=agent)) is not None:
                with lock:
                    claimed.append((lead.pk, agent.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=agent_works, args=(a,)) for a in agents]
    [t.start() for t in threads]
    [t.join() for t in threads]
    ids = [pk for pk, _agent in claimed]
    assert len(ids) == 10 and len(set(ids)) == 10


def test_an_outsourced_bdc_works_only_the_passive_leads_of_contracting_dealers(cast):
    from dealers.access import resolve_dealer_access
    from dealers.models import BdcCompany
    from followup.selectors import lead_list

    open_all_week(cast.dealer_a)
    cast.dealer_a.routing_model = RoutingModel.BDC_FIRST  # active leads enter the BDC queue too
    cast.dealer_a.save()
    active = new_lead(cast.dealer_a, 1)
    passive = new_lead(cast.dealer_a, 2, reason="lease_end")
    agent = UserFactory(email="agent@belteam.test")
    company = BdcCompany.objects.create(name="Belteam", slug="belteam")
    company.agents.add(agent)
    company.dealers.add(cast.dealer_a)
    access = resolve_dealer_access(agent, "dealer-a")
    assert list(lead_list(access=access)) == [passive]
    assert bdc_claim_next(dealer=cast.dealer_a, agent=agent, passive_only=access.via_bdc_company) == passive
    assert bdc_claim_next(dealer=cast.dealer_a, agent=agent, passive_only=True) is None
    assert active.queue == "bdc"
