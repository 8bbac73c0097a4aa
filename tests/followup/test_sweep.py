"""The escalation sweep: every step at its time, nothing early, nothing twice — under concurrency and failure."""

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

import followup.services as followup_services
from dealers.services import policy_get
from followup.models import Escalation
from followup.services import attempt_log, followup_sweep
from leads.models import Lead, Notification
from tests.factories import DealerFactory, LeadFactory, MembershipFactory, UserFactory, open_all_week

DUE = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return DUE + dt.timedelta(minutes=minutes)


@pytest.fixture
def lead(cast):
    open_all_week(cast.dealer_a)
    return LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, received_at=DUE - dt.timedelta(minutes=5),
                       first_response_due_at=DUE, deadline_at=DUE, next_action_at=DUE)


def kinds(lead):
    return list(Notification.objects.unscoped().filter(lead=lead).order_by("pk").values_list("kind", "recipient__email"))


@pytest.mark.django_db
def test_each_step_fires_at_its_time_and_only_once(lead, cast):
    assert followup_sweep(now=at(-0.01)) == []
    [remind] = followup_sweep(now=at(0))
    assert (remind.action, remind.level) == ("remind", 1)
    assert kinds(lead) == [("reminder", "sales1@a.test")]
    assert followup_sweep(now=at(0)) == [] and followup_sweep(now=at(14.9)) == []
    [alert] = followup_sweep(now=at(15))
    assert alert.action == "alert_manager"
    assert kinds(lead)[-1] == ("manager_alert", "manager@a.test")
    assert followup_sweep(now=at(59)) == []
    [reassign] = followup_sweep(now=at(60))
    assert reassign.action == "reassign"
    lead.refresh_from_db()
    assert lead.assignee == cast.sales_a2  # the next on-duty salesperson
    assert kinds(lead)[-2:] == [("assigned", "sales2@a.test"), ("reassigned", "manager@a.test")]
    assert lead.escalation_level == 0 and lead.deadline_at == at(65)  # a fresh five minutes for the new owner
    assert followup_sweep(now=at(64)) == []
    assert list(Escalation.objects.unscoped().filter(lead=lead).values_list("level", "action")) == [
        (1, "remind"), (2, "alert_manager"), (3, "reassign")]
    assert lead.events.filter(type="escalation").count() == 3


@pytest.mark.django_db
def test_a_late_sweep_catches_up_all_steps_once(lead):
    actions = [a.action for a in followup_sweep(now=at(120))]
    assert actions == ["remind", "alert_manager", "reassign"]
    assert followup_sweep(now=at(120)) == []


@pytest.mark.django_db
def test_an_attempt_stops_the_chain(lead):
    followup_sweep(now=at(0))
    attempt_log(lead=lead, by=lead.assignee, channel="call", outcome="connected", at=at(3))
    assert followup_sweep(now=at(600)) == []
    assert Escalation.objects.unscoped().get(lead=lead).resolved_at is not None


@pytest.mark.django_db
def test_unclaimed_bdc_lead_reminds_on_duty_agents_and_goes_back_to_the_queue(cast):
    open_all_week(cast.dealer_a)
    lead = LeadFactory(dealer=cast.dealer_a, kind="passive", queue="bdc", assignee=cast.bdc_a, reason="lease_end",
                       deadline_at=DUE, next_action_at=DUE, first_response_due_at=DUE)
    followup_sweep(now=at(60))
    lead.refresh_from_db()
    assert lead.assignee is None and lead.queue == "bdc"
    assert lead.deadline_at > at(60)


@pytest.mark.django_db
def test_sweep_command_prints_what_it_escalated(lead, capsys, time_machine):
    time_machine.move_to(at(1), tick=False)
    call_command("followup_sweep")
    out = capsys.readouterr().out
    assert "remind" in out and "1 escalation(s)." in out


@pytest.mark.django_db
def test_a_crash_after_claiming_retries_the_step_once(lead, monkeypatch):
    real_send = followup_services.notification_save_many
    calls = {"n": 0}

    def crash_once(notices):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker killed mid-batch")  # after the claim and the escalation rows
        return real_send(notices)

    monkeypatch.setattr(followup_services, "notification_save_many", crash_once)
    [remind] = followup_sweep(now=at(0))  # the batch rolled back; the lead was retried on its own in the same pass
    assert remind.action == "remind" and calls["n"] == 2
    assert lead.escalations.count() == 1 and lead.notifications.count() == 1
    assert lead.events.filter(type="escalation").count() == 1
    assert followup_sweep(now=at(1)) == []


@pytest.mark.django_db
def test_a_step_that_keeps_crashing_is_pushed_back_with_its_error_and_later_done_once(lead, monkeypatch):
    def crash(notices):
        raise RuntimeError("mail table unavailable")

    monkeypatch.setattr(followup_services, "notification_save_many", crash)
    assert followup_sweep(now=at(0)) == []
    lead.refresh_from_db()
    assert not Escalation.objects.unscoped().exists() and not Notification.objects.unscoped().exists()  # nothing half-done
    assert lead.sweep_failures == 1 and "mail table unavailable" in lead.sweep_error
    assert lead.next_action_at == at(1) and lead.escalation_level == 0  # one minute later, the step still owed
    assert followup_sweep(now=at(1)) == []
    lead.refresh_from_db()
    assert lead.sweep_failures == 2 and lead.next_action_at == at(3)  # the delay doubles
    monkeypatch.undo()
    assert followup_sweep(now=at(2.9)) == []
    [remind] = followup_sweep(now=at(3))
    assert remind.action == "remind"
    lead.refresh_from_db()
    assert (lead.sweep_failures, lead.sweep_error, lead.escalation_level) == (0, "", 1)
    assert lead.escalations.count() == 1 and lead.notifications.count() == 1


@pytest.mark.django_db
def test_five_hundred_broken_leads_ahead_do_not_starve_a_good_one(cast, lead):
    """Stored dates no time zone arithmetic can handle: each of them fails, the good lead behind them is escalated."""
    abroad = DealerFactory(time_zone="America/New_York")
    customer = LeadFactory(dealer=abroad).customer
    year_one = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    Lead.objects.bulk_create([
        Lead(dealer=abroad, customer=customer, source="website", kind="active", queue="sales", routed_at=DUE,
             received_at=DUE, deadline_at=year_one, next_action_at=year_one + dt.timedelta(seconds=i))
        for i in range(500)])
    actions = followup_sweep(now=at(0), batch_size=500)
    assert [(a.lead_id, a.action) for a in actions] == [(str(lead.pk), "remind")]
    broken = Lead.objects.unscoped().filter(dealer=abroad, deadline_at=year_one)
    assert broken.filter(sweep_failures=1, next_action_at=at(1), sweep_error__startswith="OverflowError").count() == 500
    assert not Escalation.objects.unscoped().filter(dealer=abroad).exists()


@pytest.mark.django_db
def test_a_date_the_database_driver_cannot_read_does_not_stop_the_sweep(lead):
    broken = LeadFactory(dealer=lead.dealer, assignee=lead.assignee)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET next_action_at = '-infinity', deadline_at = '-infinity' WHERE id = %s",
                       [str(broken.pk)])
    [remind] = followup_sweep(now=at(0))
    assert remind.lead_id == str(lead.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT next_action_at, sweep_failures FROM leads_lead WHERE id = %s", [str(broken.pk)])
        assert cursor.fetchone() == (at(1), 1)


@pytest.mark.django_db
def test_unrouted_leads_that_keep_failing_back_off_and_do_not_starve_the_rest(cast, monkeypatch):
    import routing.services as routing_services

    stored = DUE - dt.timedelta(minutes=10)
    bad = [LeadFactory(dealer=cast.dealer_b, routed_at=None, kind="", queue="", created_at=stored, deadline_at=None,
                       next_action_at=None) for _ in range(3)]
    good = LeadFactory(dealer=cast.dealer_a, routed_at=None, kind="", queue="", created_at=stored + dt.timedelta(seconds=1),
                       deadline_at=None, next_action_at=None)
    real_route_new = routing_services.lead_route_new

    def route_new(*, lead):
        if lead.dealer_id == cast.dealer_b.pk:
            raise ValueError("impossible arrival date")
        return real_route_new(lead=lead)

    monkeypatch.setattr(routing_services, "lead_route_new", route_new)
    followup_services._route_unrouted(DUE)
    good.refresh_from_db()
    assert good.routed_at is not None and good.assignee is not None
    for lead in bad:
        lead.refresh_from_db()
        assert (lead.routed_at, lead.sweep_failures, lead.sweep_failed_at) == (None, 1, DUE)
        assert "impossible arrival date" in lead.sweep_error
    # Within the backoff the broken ones are not tried again; after it they are (and fail again: two minutes next).
    with CaptureQueriesContext(connection) as queries:
        followup_services._route_unrouted(DUE + dt.timedelta(seconds=59))
    assert len(queries) == 1
    followup_services._route_unrouted(DUE + dt.timedelta(minutes=1))
    assert {lead.sweep_failures for lead in Lead.objects.unscoped().filter(pk__in=[b.pk for b in bad])} == {2}


@pytest.mark.django_db
def test_nothing_due_is_an_index_scan_of_the_open_deadlines():
    """The claim's plan uses the partial index lead_due_open (forced here: a test table is too small to prefer it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + followup_services.CLAIM_SQL, {"now": DUE, "limit": 500, "pks": None})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lead_due_open" in plan, plan


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_side_by_side_escalate_each_lead_once_per_step():
    dealer = DealerFactory()
    open_all_week(dealer)
    people = [MembershipFactory(dealer=dealer, user=UserFactory()).user for _ in range(3)]
    MembershipFactory(dealer=dealer, role="manager", user=UserFactory())
    leads = [LeadFactory(dealer=dealer, assignee=people[i % 3], deadline_at=DUE, next_action_at=DUE,
                         first_response_due_at=DUE) for i in range(40)]
    results: list = []
    barrier = threading.Barrier(2)

    def sweeper():
        barrier.wait()
        try:
            results.extend(followup_sweep(now=at(120), batch_size=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(results) == 40 * 3
    assert Escalation.objects.unscoped().count() == 40 * 3
    for lead in leads:
        assert sorted(Escalation.objects.unscoped().filter(lead=lead).values_list("level", flat=True)) == [1, 2, 3]
    assert Lead.objects.unscoped().filter(escalation_level=0, deadline_at__gt=at(120)).count() == 40


@pytest.mark.django_db
def test_the_manager_sees_what_the_sweep_could_not_do(cast, client, lead, monkeypatch):
    LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)  # a healthy lead is not counted

    def crash(notices):
        raise RuntimeError("mail table unavailable")

    monkeypatch.setattr(followup_services, "notification_save_many", crash)
    followup_sweep(now=at(0))
    client.force_login(cast.manager_a)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "data-sweep-error" in page and "failed on this lead 1 time" in page and "mail table unavailable" in page
    board = client.get("/dashboard/").content.decode()
    assert "could not handle 1 open lead." in board
    client.force_login(cast.sales_a1)  # the salesperson's page stays free of the technical error
    assert "data-sweep-error" not in client.get(f"/leads/{lead.pk}/").content.decode()
    monkeypatch.undo()
    followup_sweep(now=at(1))  # handled at last: the line and the count go away
    client.force_login(cast.manager_a)
    assert "data-sweep-error" not in client.get(f"/leads/{lead.pk}/").content.decode()
    assert "data-sweep-failing" not in client.get("/dashboard/").content.decode()


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_for_5_and_60_due_leads(cast):
    open_all_week(cast.dealer_a)
    policy_get(dealer=cast.dealer_a)

    def statements(n: int, now) -> int:
        for i in range(n):
            LeadFactory(dealer=cast.dealer_a, assignee=(cast.sales_a1, cast.sales_a2)[i % 2], deadline_at=now,
                        next_action_at=now, first_response_due_at=now)
        with CaptureQueriesContext(connection) as queries:
            assert len(followup_sweep(now=now)) == n
        return len(queries)

    few, many = statements(5, at(0)), statements(60, at(0))  # the first five are not due again yet
    # One batch: its transaction, the claim, the leads, the dealer, its policy, the assignees, the customers, the people
    # to notify, the escalations, the update, the timeline, the notices; then the empty claim that ends the pass, and
    # the unrouted probe. Nothing per lead.
    assert few == many <= 16
