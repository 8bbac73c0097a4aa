"""The escalation sweep: every step at its time, nothing early, nothing twice — under concurrency and failure."""

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection

import followup.services as followup_services
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
def test_a_crash_after_claiming_loses_nothing(lead, monkeypatch):
    real_act = followup_services._act
    calls = {"n": 0}

    def crash_once(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker killed mid-step")
        return real_act(**kwargs)

    monkeypatch.setattr(followup_services, "_act", crash_once)
    assert followup_sweep(now=at(0)) == []  # the step failed: its transaction rolled back, deadline kept
    lead.refresh_from_db()
    assert lead.next_action_at == DUE
    assert not Escalation.objects.unscoped().exists() and not Notification.objects.unscoped().exists()
    [remind] = followup_sweep(now=at(0))
    assert remind.action == "remind" and Notification.objects.unscoped().count() == 1


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
