"""The sweep's reassignments, a batch at a time: the intake's round-robin rule, its exclusions and fallbacks, each lead
once under two sweepers, and a fixed number of statements however many leads and dealers a batch holds."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import routing.services as routing_services
from dealers.models import Membership
from dealers.services import policy_get
from followup.models import Escalation
from followup.services import followup_sweep
from leads.models import Lead, LeadEvent, Notification
from tests.factories import DealerFactory, LeadFactory, MembershipFactory, UserFactory, open_all_week

DUE = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
NOW = DUE + dt.timedelta(hours=2)


def stalled(dealer, assignee, i=0, **kwargs):
    """A sales lead whose reassignment step is due (reminder and manager alert done), in a fixed order by `i`."""
    return LeadFactory(dealer=dealer, assignee=assignee, escalation_level=2, deadline_at=DUE,
                       next_action_at=DUE + dt.timedelta(seconds=i), first_response_due_at=DUE, **kwargs)


def team(dealer, n, *, manager=True):
    open_all_week(dealer)
    policy_get(dealer=dealer)
    if manager:
        MembershipFactory(dealer=dealer, role="manager", user=UserFactory())
    return [MembershipFactory(dealer=dealer, user=UserFactory()).user for _ in range(n)]


def lead_by_lead(leads) -> dict:
    """What the intake's path (`_sales_assignee`, one lead at a time, its assignee written at once) would pick for these
    leads in this order; rolled back, so the sweep starts from the same state."""
    picks = {}

    class Undo(Exception):
        pass

    try:
        with transaction.atomic():
            for lead in leads:
                lead = Lead.objects.unscoped().select_related("dealer", "customer").get(pk=lead.pk)
                user, _why = routing_services._sales_assignee(lead=lead, exclude_user_id=lead.assignee_id)
                picks[lead.pk] = user.pk if user else None
                Lead.objects.unscoped().filter(pk=lead.pk).update(assignee=user)
            raise Undo
    except Undo:
        pass
    return picks


@pytest.mark.django_db
def test_a_batch_reassigns_exactly_as_the_intakes_rule_would_lead_by_lead():
    """Uneven loads, stamps, an off-duty and an inactive salesperson, two dealers interleaved: the batch's in-memory
    counts give the same owner for every lead as the per-lead round-robin."""
    a, b = DealerFactory(), DealerFactory()
    sales_a, sales_b = team(a, 4), team(b, 3)
    Membership.objects.filter(user=sales_a[3]).update(on_duty=False)
    inactive = MembershipFactory(dealer=a, user=UserFactory(), is_active=False).user
    Membership.objects.filter(user=sales_a[1]).update(last_assigned_at=DUE - dt.timedelta(days=2))
    Membership.objects.filter(user=sales_a[2]).update(last_assigned_at=DUE - dt.timedelta(days=1))
    for holder in [sales_a[0]] * 5 + [sales_b[2]] * 2:  # open load outside the batch
        LeadFactory(dealer=b if holder == sales_b[2] else a, assignee=holder)
    holders_a = [sales_a[0], sales_a[0], sales_a[1], sales_a[2], sales_a[3], inactive, None]
    holders_b = [sales_b[0], sales_b[1], sales_b[2], None]
    leads = [stalled(a if i % 2 else b, (holders_a if i % 2 else holders_b)[i % (7 if i % 2 else 4)], i)
             for i in range(40)]
    expected = lead_by_lead(leads)

    actions = followup_sweep(now=NOW)

    assert sorted(a.action for a in actions) == ["reassign"] * 40
    got = dict(Lead.objects.unscoped().filter(pk__in=[lead.pk for lead in leads]).values_list("pk", "assignee_id"))
    assert got == expected
    assigned = {pk for pk in got.values()}
    assert inactive.pk not in assigned and sales_a[3].pk not in assigned  # never the inactive or the off-duty one
    for lead in leads:  # never the lead's own holder
        assert got[lead.pk] != lead.assignee_id


@pytest.mark.django_db
def test_the_batch_spreads_leads_evenly_and_stamps_each_pick():
    dealer = DealerFactory()
    sales = team(dealer, 3)
    leads = [stalled(dealer, sales[0], i) for i in range(20)]
    followup_sweep(now=NOW)
    counts = {s.pk: Lead.objects.unscoped().filter(pk__in=[lead.pk for lead in leads], assignee=s).count() for s in sales}
    assert counts == {sales[0].pk: 0, sales[1].pk: 10, sales[2].pk: 10}
    stamps = dict(Membership.objects.filter(user__in=sales).values_list("user_id", "last_assigned_at"))
    assert stamps[sales[0].pk] is None and stamps[sales[1].pk] and stamps[sales[2].pk]
    # The next intake pick after the batch follows on from it, as if the leads had come one by one.
    lead = Lead.objects.unscoped().select_related("dealer", "customer").get(pk=leads[0].pk)
    assert routing_services.salesperson_pick(dealer=dealer).pk == sales[0].pk  # the fewest open leads
    assert routing_services.salesperson_pick(dealer=dealer, exclude_user_id=sales[0].pk).pk == (
        sales[1].pk if stamps[sales[1].pk] < stamps[sales[2].pk] else sales[2].pk)
    assert lead.assignee_id in (sales[1].pk, sales[2].pk)


@pytest.mark.django_db
def test_with_nobody_else_on_duty_the_manager_takes_it_and_without_a_manager_nobody():
    with_manager, without = DealerFactory(), DealerFactory()
    [only_a] = team(with_manager, 1)
    manager = Membership.objects.get(dealer=with_manager, role="manager").user
    only_b, off_duty = team(without, 2, manager=False)
    Membership.objects.filter(user=off_duty).update(on_duty=False)
    elsewhere = MembershipFactory(dealer=DealerFactory(), user=UserFactory()).user  # another dealer's: never chosen
    lead_a, lead_b = stalled(with_manager, only_a, 1), stalled(without, only_b, 2)

    followup_sweep(now=NOW)

    lead_a.refresh_from_db()
    lead_b.refresh_from_db()
    assert (lead_a.queue, lead_a.assignee) == ("sales", manager)
    assert (lead_b.queue, lead_b.assignee) == ("sales", None)
    assert lead_a.events.get(type="assigned").text == "nobody on duty: the manager"
    assert lead_a.events.get(type="assigned").data == {"assignee_id": manager.pk}
    escalation = lead_a.events.get(type="escalation")  # written from arrays: the same values bulk_create would store
    assert (escalation.text, escalation.data, escalation.actor) == ("reassign", {"level": 3, "due_at": DUE.isoformat()}, None)
    assert escalation.dealer_id == with_manager.pk and escalation.at == NOW
    assert lead_b.events.get(type="assigned").text == "nobody on duty and no manager"
    assert not Notification.objects.unscoped().filter(recipient=elsewhere).exists()
    assert list(Notification.objects.unscoped().filter(lead=lead_a).order_by("pk").values_list("kind", "recipient")) == [
        ("assigned", manager.pk), ("reassigned", manager.pk)]
    assert not Notification.objects.unscoped().filter(lead=lead_b).exists()  # nobody to tell


@pytest.mark.django_db
def test_an_unowned_returning_customer_goes_back_to_their_salesperson():
    dealer = DealerFactory()
    sales = team(dealer, 3)
    earlier = LeadFactory(dealer=dealer, assignee=sales[2], received_at=DUE - dt.timedelta(days=30))
    LeadFactory(dealer=dealer, assignee=sales[2])  # sales[2] carries the most open leads, yet is the one they know
    lead = stalled(dealer, None, 1, customer=earlier.customer, returning_customer=True)
    followup_sweep(now=NOW)
    lead.refresh_from_db()
    assert lead.assignee == sales[2]


@pytest.mark.django_db
def test_a_stalled_bdc_lead_goes_back_to_the_queue_in_the_same_batch_as_sales_leads():
    dealer = DealerFactory()
    sales = team(dealer, 2)
    agent = MembershipFactory(dealer=dealer, role="bdc_agent", user=UserFactory()).user
    bdc = stalled(dealer, agent, 1, kind="passive", queue="bdc", reason="lease_end")
    sale = stalled(dealer, sales[0], 2)
    followup_sweep(now=NOW)
    bdc.refresh_from_db()
    sale.refresh_from_db()
    assert (bdc.queue, bdc.assignee) == ("bdc", None) and bdc.escalation_level == 0 and bdc.next_action_at > NOW
    assert (sale.queue, sale.assignee) == ("sales", sales[1])


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_reassign_each_lead_once_and_keep_the_load_even():
    dealers = [DealerFactory(), DealerFactory()]
    people = {d.pk: team(d, 3) for d in dealers}
    leads = [stalled(d, people[d.pk][0], i) for i in range(30) for d in dealers]
    results: list = []
    barrier = threading.Barrier(2)

    def sweeper():
        barrier.wait()
        try:
            results.extend(followup_sweep(now=NOW, batch_size=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]

    assert sorted(r.lead_id for r in results) == sorted(str(lead.pk) for lead in leads)
    assert Escalation.objects.unscoped().filter(action="reassign").count() == 60
    assert LeadEvent.objects.unscoped().filter(type="assigned").count() == 60
    assert Notification.objects.unscoped().filter(kind="assigned").count() == 60
    assert Notification.objects.unscoped().filter(kind="reassigned").count() == 60  # the one manager each
    for d in dealers:  # the dealer's lock makes each batch count what the other sweeper's batch committed
        holders = list(Lead.objects.unscoped().filter(dealer=d).values_list("assignee_id", flat=True))
        first, second, third = (holders.count(u.pk) for u in people[d.pk])
        assert first == 0 and abs(second - third) <= 1, (second, third)


@pytest.mark.django_db
def test_reassignments_cost_the_same_statements_for_5_leads_and_60_of_three_dealers_but_their_opening_hours():
    dealers = [DealerFactory() for _ in range(3)]
    people = {d.pk: team(d, 3) for d in dealers}

    def statements(leads) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert len(followup_sweep(now=NOW)) == len(leads)
        return len(queries)

    few = statements([stalled(dealers[0], people[dealers[0].pk][0], i) for i in range(5)])
    many = statements([stalled(d, people[d.pk][i % 3], i) for i in range(20) for d in dealers])
    # The reminder batch's statements, plus the round-robin: the dealers' locks with their salespeople (one message),
    # the stamps; and each dealer's opening hours (the new owner's first-response window), read once per pass.
    assert few + 2 == many and few <= 16 + 2 + 1
