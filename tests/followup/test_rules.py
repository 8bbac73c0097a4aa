"""The follow-up discipline: attempts counted with spacing, the four-attempt rule, flags and the lost-sale spawn."""

import datetime as dt

import pytest
from django.utils import timezone

from dealers.services import policy_get, policy_update
from followup.services import (
    AttemptsOwed,
    LeadClosed,
    appointment_set,
    attempt_log,
    counted_attempt_times,
    followup_sweep,
    lead_close,
)
from leads.models import Lead, Notification
from tests.factories import LeadFactory, open_all_week

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def minutes(*offsets):
    return [T0 + dt.timedelta(minutes=m) for m in offsets]


@pytest.mark.parametrize("offsets, spacing, expected", [
    ((0, 10, 20), 60, 1),
    ((0, 40, 80), 60, 2),
    ((0, 60, 120, 180), 60, 4),
    ((0, 1, 2, 3), 0, 4),
    ((180, 0, 120, 60), 60, 4),  # logged out of order: still four spaced attempts
])
def test_attempts_closer_than_the_spacing_count_as_one(offsets, spacing, expected):
    assert len(counted_attempt_times(minutes(*offsets), spacing)) == expected


@pytest.fixture
def lead(cast):
    open_all_week(cast.dealer_a)
    return LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, received_at=T0 - dt.timedelta(minutes=5))


def log(lead, *offsets, outcome="no_answer"):
    for m in offsets:
        attempt_log(lead=lead, by=lead.assignee, channel="call", outcome=outcome, at=T0 + dt.timedelta(minutes=m))
    return Lead.objects.unscoped().get(pk=lead.pk)


def test_unreachable_before_the_minimum_is_refused_with_the_number_owed(lead):
    lead = log(lead, 0, 5, 70)  # 0 and 5 count as one
    assert (lead.attempt_count, lead.counted_attempts) == (3, 2)
    with pytest.raises(AttemptsOwed) as refused:
        lead_close(lead=lead, by=lead.assignee, outcome="unreachable")
    assert refused.value.extra["attempts_owed"] == 2
    assert "2 more contact attempt" in refused.value.detail
    assert Lead.objects.unscoped().get(pk=lead.pk).closed_at is None


def test_unreachable_after_four_spaced_attempts_is_allowed(lead):
    lead = log(lead, 0, 60, 1440, 2880)
    closed = lead_close(lead=lead, by=lead.assignee, outcome="unreachable", reason="Voicemail vol")
    assert closed.status == "unreachable" and closed.next_action_at is None


def test_spacing_zero_counts_every_attempt(lead, cast):
    policy_update(dealer=cast.dealer_a, by=cast.manager_a, changes={"attempt_spacing_minutes": 0})
    lead = log(lead, 0, 1, 2, 3)
    assert lead.counted_attempts == 4
    lead_close(lead=lead, by=lead.assignee, outcome="unreachable")


def test_not_interested_without_the_minimum_is_flagged_for_the_manager(lead, cast):
    lead = log(lead, 0)
    closed = lead_close(lead=lead, by=lead.assignee, outcome="not_interested", reason="Niet serieus")
    assert closed.manager_flag and "1 of 4" in closed.manager_flag
    assert Notification.objects.unscoped().filter(recipient=cast.manager_a, lead=lead, kind="manager_alert").exists()


def test_first_attempt_sets_speed_fields_and_real_contact_sets_status(lead):
    lead = log(lead, 2)
    assert (lead.status, lead.first_contact_at) == ("attempted", T0 + dt.timedelta(minutes=2))
    lead = log(lead, 90, outcome="connected")
    assert lead.status == "contacted" and lead.first_connected_at == T0 + dt.timedelta(minutes=90)
    assert lead.deadline_at is None and lead.next_action_at is None  # reached: no more chasing


def test_without_contact_the_cadence_sets_the_next_deadline(lead, time_machine):
    time_machine.move_to(T0 + dt.timedelta(minutes=1), tick=False)
    lead = log(lead, 1)
    assert lead.deadline_at == lead.clock_started_at + dt.timedelta(days=1)  # cadence 0, 1, 3, 6
    assert lead.escalation_level == 0


def test_lost_after_a_conversation_comes_back_to_the_bdc_after_n_days(lead, cast, django_capture_on_commit_callbacks):
    lead = log(lead, 0, outcome="connected")
    appointment_set(lead=lead, by=lead.assignee, scheduled_at=T0 + dt.timedelta(days=1), kind="test_drive")
    with django_capture_on_commit_callbacks(execute=True):
        lead_close(lead=lead, by=lead.assignee, outcome="lost", reason="Te duur")
    follow = Lead.objects.unscoped().get(origin_lead=lead)
    days = policy_get(dealer=cast.dealer_a).lost_sale_followup_days
    assert (follow.kind, follow.queue, follow.reason, follow.assignee) == ("passive", "bdc", "lost_sale", None)
    assert follow.clock_started_at.date() == (timezone.now() + dt.timedelta(days=days)).date()
    assert "Te duur" in follow.message


def test_lost_without_any_conversation_spawns_nothing(lead):
    lead_close(lead=log(lead, 0), by=lead.assignee, outcome="lost")
    assert not Lead.objects.unscoped().filter(origin_lead=lead).exists()


def test_a_closed_lead_takes_no_more_attempts(lead):
    lead_close(lead=lead, by=lead.assignee, outcome="sold")
    with pytest.raises(LeadClosed):
        log(lead, 0)


def test_policy_changes_are_audited(cast):
    policy_update(dealer=cast.dealer_a, by=cast.manager_a, changes={"min_attempts": 5})
    entry = cast.dealer_a.audit_entries.get()
    assert entry.actor == cast.manager_a and entry.changes == {"min_attempts": ["4", "5"]}


def test_a_closed_lead_is_never_escalated(lead):
    lead_close(lead=lead, by=lead.assignee, outcome="sold")
    assert followup_sweep(now=T0 + dt.timedelta(days=30)) == []


def test_managers_get_one_daily_digest_of_leads_without_contact(lead, cast):
    from followup.services import manager_digest_send

    LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a2)
    assert manager_digest_send(now=T0) == 1
    assert manager_digest_send(now=T0 + dt.timedelta(hours=2)) == 0  # the same day: nothing twice
    digest = Notification.objects.unscoped().get(kind="digest")
    assert digest.recipient == cast.manager_a and "2 leads" in digest.subject
    assert manager_digest_send(now=T0 + dt.timedelta(days=1)) == 1
