"""The follow-up rules: attempts and the minimum, appointments, closing, and the escalation sweep."""

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dealers.errors import AttemptsOwed, FollowUpRuleError, LeadClosed
from dealers.hours import OpeningSchedule
from dealers.models import FollowUpPolicy, Membership, Role
from dealers.policy import attempts_owed
from dealers.services import policy_get
from leads.models import CLOSED_STATUSES, EventType, Lead, NotificationKind, Queue, Reason, Status
from leads.services import lead_deadline_set, lead_event_add, lead_lock, notification_queue, outbox_batch
from routing.services import assign_to_sales, first_response_deadline, lead_route

from .appointment_mail import customer_message_queue, open_appointments_cancel
from .models import REAL_CONTACT_OUTCOMES, Appointment, ContactAttempt, CustomerMessageKind, Escalation, EscalationAction

logger = logging.getLogger(__name__)


def counted_attempt_times(times: list[dt.datetime], spacing_minutes: int) -> list[dt.datetime]:
    """The attempts that count toward the minimum: one per cluster closer together than the spacing."""
    counted: list[dt.datetime] = []
    spacing = dt.timedelta(minutes=spacing_minutes)
    for at in sorted(times):
        if not counted or at - counted[-1] >= spacing:
            counted.append(at)
    return counted


def _lock(lead: Lead) -> Lead:
    locked = lead_lock(lead, "dealer", "customer")
    if locked.closed_at is not None:
        raise LeadClosed(_("This lead is already closed."))
    return locked


def _next_attempt_deadline(*, lead: Lead, policy: FollowUpPolicy, schedule: OpeningSchedule, now) -> dt.datetime | None:
    """While nobody has been reached: the cadence's next day (in opening hours), until the minimum is met."""
    start = lead.clock_started_at or lead.received_at
    cadence = sorted(int(d) for d in (policy.cadence_days or []))
    for day in cadence[lead.counted_attempts:]:
        candidate = schedule.next_opening(start + dt.timedelta(days=day))
        if candidate > now:
            return candidate
    if lead.counted_attempts < policy.min_attempts:
        gap = dt.timedelta(minutes=max(policy.attempt_spacing_minutes, 60))
        return schedule.next_opening(max(now, lead.last_attempt_at or now) + gap)
    return None


def _resolve_escalations(lead: Lead, now) -> None:
    Escalation.objects.for_dealer(lead.dealer_id).filter(lead=lead, resolved_at__isnull=True).update(resolved_at=now)


@transaction.atomic
def attempt_log(*, lead: Lead, by, channel: str, outcome: str, note: str = "", duration_seconds: int | None = None,
                at: dt.datetime | None = None, verified: bool = False, external_ref: str = "") -> ContactAttempt:
    """Record a contact attempt; it updates the lead's counts, status and next deadline."""
    lead = _lock(lead)
    now = timezone.now()
    at = at or now
    policy = policy_get(dealer=lead.dealer)
    attempt = ContactAttempt.objects.create(
        dealer_id=lead.dealer_id, lead=lead, user=by, channel=channel, outcome=outcome, note=note,
        duration_seconds=duration_seconds, at=at, verified=verified, external_ref=external_ref)
    attempts = sorted(ContactAttempt.objects.for_dealer(lead.dealer_id).filter(lead=lead)
                      .only("pk", "at", "counts_toward_minimum", "verified", "outcome"),
                      key=lambda a: (a.at, a.pk))
    times = [a.at for a in attempts]
    counted = counted_attempt_times(times, policy.attempt_spacing_minutes)
    counted_set = set(counted)
    changed = [a for a in attempts if a.counts_toward_minimum != (a.at in counted_set)]
    for a in changed:
        a.counts_toward_minimum = a.at in counted_set
    ContactAttempt.objects.for_dealer(lead.dealer_id).bulk_update(changed, ["counts_toward_minimum"])
    attempt.counts_toward_minimum = attempt.at in counted_set  # the instance returned to the caller, kept in step
    lead.attempt_count = len(times)
    lead.counted_attempts = len(counted)
    lead.verified_attempts = sum(a.verified for a in attempts)
    lead.attempts_to_contact = next((i + 1 for i, a in enumerate(attempts) if a.outcome in REAL_CONTACT_OUTCOMES), None)
    lead.first_contact_at = min(times)
    lead.last_attempt_at = max(times)
    real_contact = outcome in REAL_CONTACT_OUTCOMES
    if real_contact and (lead.first_connected_at is None or at < lead.first_connected_at):
        lead.first_connected_at = at
    if lead.status == Status.NEW:
        lead.status = Status.ATTEMPTED
    if real_contact and lead.status in (Status.NEW, Status.ATTEMPTED):
        lead.status = Status.CONTACTED
    if lead.first_connected_at:
        deadline = None  # the customer has been reached: the next step is theirs and the appointment's
    else:
        schedule = OpeningSchedule.for_dealer(lead.dealer)
        deadline = _next_attempt_deadline(lead=lead, policy=policy, schedule=schedule, now=now)
    lead_deadline_set(lead, deadline, first_step_minutes=policy.remind_after_minutes)
    lead.save(update_fields=["attempt_count", "counted_attempts", "verified_attempts", "attempts_to_contact",
                             "first_contact_at", "last_attempt_at", "first_connected_at", "status", "deadline_at",
                             "escalation_level", "next_action_at"])
    _resolve_escalations(lead, now)
    lead_event_add(lead=lead, type=EventType.ATTEMPT, actor=by, at=at, text=note,
                   data={"channel": channel, "outcome": outcome, "verified": verified, "attempt_id": attempt.pk,
                         "counts_toward_minimum": at in counted})
    return attempt


@transaction.atomic
def appointment_set(*, lead: Lead, by, scheduled_at: dt.datetime, kind: str) -> Appointment:
    lead = _lock(lead)
    appointment = Appointment.objects.create(dealer_id=lead.dealer_id, lead=lead, kind=kind, scheduled_at=scheduled_at,
                                             created_by=by)
    lead.status = Status.APPOINTMENT
    lead.deadline_at = lead.next_action_at = None
    lead.save(update_fields=["status", "deadline_at", "next_action_at"])
    _resolve_escalations(lead, timezone.now())
    lead_event_add(lead=lead, type=EventType.APPOINTMENT, actor=by,
                   data={"appointment_id": appointment.pk, "kind": kind, "scheduled_at": scheduled_at.isoformat()})
    customer_message_queue(appointment=appointment, kind=CustomerMessageKind.CONFIRMATION)
    return appointment


@transaction.atomic
def appointment_move(*, appointment: Appointment, by, scheduled_at: dt.datetime) -> Appointment:
    _lock(appointment.lead)
    old = appointment.scheduled_at
    appointment.scheduled_at = scheduled_at
    appointment.save(update_fields=["scheduled_at"])
    lead_event_add(lead=appointment.lead, type=EventType.APPOINTMENT, actor=by, text="moved",
                   data={"appointment_id": appointment.pk, "from": old.isoformat(), "to": scheduled_at.isoformat()})
    if old != scheduled_at:
        customer_message_queue(appointment=appointment, kind=CustomerMessageKind.UPDATE)
    return appointment


@transaction.atomic
def appointment_outcome_set(*, appointment: Appointment, by, showed: bool) -> Appointment:
    appointment.showed = showed
    appointment.outcome_at = timezone.now()
    appointment.save(update_fields=["showed", "outcome_at"])
    lead_event_add(lead=appointment.lead, type=EventType.APPOINTMENT_OUTCOME, actor=by,
                   data={"appointment_id": appointment.pk, "showed": showed})
    return appointment


def _managers(dealer_id: int):
    managers = Membership.objects.filter(dealer_id=dealer_id, role=Role.MANAGER, is_active=True).select_related("user")
    return [m.user for m in managers]


@transaction.atomic
def lead_close(*, lead: Lead, by, outcome: str, reason: str = "") -> Lead:
    """Close a lead. "Unreachable" needs the minimum of attempts behind it; "not interested" without them is flagged."""
    if outcome not in CLOSED_STATUSES:
        raise FollowUpRuleError(_("Unknown outcome."))
    lead = _lock(lead)
    policy = policy_get(dealer=lead.dealer)
    owed = attempts_owed(counted_attempts=lead.counted_attempts, policy=policy)
    if outcome == Status.UNREACHABLE and owed:
        raise AttemptsOwed(
            ngettext("%(owed)s more contact attempt is needed before this lead may be closed as unreachable "
                     "(minimum %(min)s, attempts closer together than %(spacing)s minutes count as one).",
                     "%(owed)s more contact attempts are needed before this lead may be closed as unreachable "
                     "(minimum %(min)s, attempts closer together than %(spacing)s minutes count as one).", owed)
            % {"owed": owed, "min": policy.min_attempts, "spacing": policy.attempt_spacing_minutes},
            attempts_owed=owed, min_attempts=policy.min_attempts, counted_attempts=lead.counted_attempts)
    now = timezone.now()
    had_sales_conversation = bool(lead.first_connected_at) or lead.status == Status.APPOINTMENT
    lead.status, lead.closed_at, lead.close_reason = outcome, now, reason
    lead.deadline_at = lead.next_action_at = None
    if outcome == Status.NOT_INTERESTED and owed and not lead.first_connected_at:  # a customer who said no was reached
        lead.manager_flag = _("Closed as not interested after %(n)s of %(min)s attempts.") % {
            "n": lead.counted_attempts, "min": policy.min_attempts}
        for manager in _managers(lead.dealer_id):
            notification_queue(dealer_id=lead.dealer_id, recipient=manager, lead=lead, kind=NotificationKind.MANAGER_ALERT,
                               subject=_("Check: lead closed without the minimum attempts"),
                               body=f"{lead.customer}: {lead.manager_flag} {reason}".strip())
    lead.save(update_fields=["status", "closed_at", "close_reason", "deadline_at", "next_action_at", "manager_flag"])
    _resolve_escalations(lead, now)
    open_appointments_cancel(lead=lead)
    lead_event_add(lead=lead, type=EventType.CLOSED, actor=by, text=reason, data={"outcome": outcome, "attempts_owed": owed})
    if outcome == Status.LOST and (had_sales_conversation or lead.appointments.exists()):
        _spawn_lost_sale_followup(lead=lead, policy=policy, now=now)
    return lead


def _spawn_lost_sale_followup(*, lead: Lead, policy: FollowUpPolicy, now) -> Lead:
    """A sale lost after a real conversation comes back as a passive BDC lead after N days."""
    starts = now + dt.timedelta(days=policy.lost_sale_followup_days)
    follow = Lead.objects.create(
        dealer_id=lead.dealer_id, customer=lead.customer, source="lost-sale", channel="outbound", reason=Reason.LOST_SALE,
        received_at=starts, vehicle=lead.vehicle, trade_in=lead.trade_in, data_flags=lead.data_flags,
        message=_("Lost sale follow-up. Reason given: %(reason)s") % {"reason": lead.close_reason or "-"},
        returning_customer=True, origin_lead=lead, payload={"origin_lead": str(lead.pk)})
    lead_event_add(lead=follow, type=EventType.RECEIVED, text="lost-sale", data={"origin_lead": str(lead.pk)})
    transaction.on_commit(lambda: lead_route(lead=follow))
    return follow


@transaction.atomic
def score_update(*, lead: Lead, by, budget: int, authority: int, need: int, timeline: int) -> Lead:
    lead = lead_lock(lead)
    parts = {"bant_budget": budget, "bant_authority": authority, "bant_need": need, "bant_timeline": timeline}
    for name, value in parts.items():
        setattr(lead, name, max(0, min(25, int(value))))
    old = lead.score
    lead.score = lead.bant_budget + lead.bant_authority + lead.bant_need + lead.bant_timeline
    lead.save(update_fields=[*parts, "score"])
    lead_event_add(lead=lead, type=EventType.SCORE_CHANGED, actor=by, data={"from": old, "to": lead.score})
    return lead



# ---------------------------------------------------------------------------------------------- the sweep

@dataclass(frozen=True)
class SweepAction:
    lead_id: str
    action: str
    level: int


STEP_ACTIONS = (EscalationAction.REMIND, EscalationAction.ALERT_MANAGER, EscalationAction.REASSIGN)


def _step_delay(policy: FollowUpPolicy, level: int) -> int:
    return (policy.remind_after_minutes, policy.manager_alert_after_minutes, policy.reassign_after_minutes)[level]


def followup_sweep(*, now: dt.datetime | None = None, batch_size: int = 500, max_batches: int = 1000) -> list[SweepAction]:
    """One pass over everything due. Safe beside other sweepers: each lead is claimed by a conditional update."""
    now = now or timezone.now()
    done: list[SweepAction] = []
    with outbox_batch():
        _sweep_batches(now=now, batch_size=batch_size, max_batches=max_batches, done=done)
        _route_unrouted(now)
    return done


def _sweep_batches(*, now, batch_size: int, max_batches: int, done: list) -> None:
    policies: dict[int, FollowUpPolicy] = {}  # one policy read per dealer per sweep
    for _batch in range(max_batches):
        due = list(Lead.objects.unscoped().filter(closed_at__isnull=True, next_action_at__lte=now)
                   .order_by("next_action_at").values_list("pk", "next_action_at")[:batch_size])
        if not due:
            break
        progressed = False
        for lead_id, seen_next_action_at in due:
            try:
                action = _process_due(lead_id=lead_id, seen=seen_next_action_at, now=now, policies=policies)
            except Exception:
                # One broken lead must not stop the others; its deadline stays, so the next pass retries it.
                logger.exception("Follow-up sweep failed for lead %s", lead_id)
                continue
            if action:
                done.append(action)
                progressed = True
        if not progressed:
            break


def _route_unrouted(now) -> None:
    """Leads stored unrouted because routing failed (the intake keeps the lead and leaves it to us): route them now."""
    for lead in Lead.objects.unscoped().filter(routed_at__isnull=True, closed_at__isnull=True,
                                    created_at__lte=now - dt.timedelta(seconds=10)).only("pk")[:500]:
        try:
            lead_route(lead=lead)
        except Exception:
            logger.exception("Routing retry failed for lead %s", lead.pk)


@transaction.atomic
def _process_due(*, lead_id, seen: dt.datetime, now: dt.datetime, policies: dict) -> SweepAction | None:
    # Claim: only the sweeper whose update moves this exact deadline acts; the others find nothing to update.
    lead = (Lead.objects.unscoped().select_for_update(no_key=True, of=("self",), skip_locked=True)
            .select_related("dealer", "customer", "assignee")
            .filter(pk=lead_id, next_action_at=seen, closed_at__isnull=True).first())
    if lead is None:
        return None
    if lead.dealer_id not in policies:
        policies[lead.dealer_id] = policy_get(dealer=lead.dealer)
    policy = policies[lead.dealer_id]
    level = lead.escalation_level
    if lead.deadline_at is None or level >= len(STEP_ACTIONS):
        Lead.objects.for_dealer(lead.dealer_id).filter(pk=lead.pk).update(next_action_at=None)
        return None
    action = STEP_ACTIONS[level]
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(dealer_id=lead.dealer_id, lead=lead, level=level + 1, action=action,
                                                   due_at=lead.deadline_at, at=now)
    except IntegrityError:
        escalation = None  # this step already happened for this deadline; just move the lead on
    if escalation is None:
        # Safety net (the claim makes this unreachable in practice): the step already happened, so only move on.
        if action == EscalationAction.REASSIGN:
            Lead.objects.for_dealer(lead.dealer_id).filter(pk=lead.pk).update(next_action_at=None)
            return None
    else:
        _act(lead=lead, action=action, policy=policy, now=now)
        if action == EscalationAction.REASSIGN:
            return SweepAction(str(lead.pk), action, level + 1)
    lead.escalation_level = level + 1
    lead.next_action_at = lead.deadline_at + dt.timedelta(minutes=_step_delay(policy, level + 1))
    Lead.objects.for_dealer(lead.dealer_id).filter(pk=lead.pk).update(escalation_level=lead.escalation_level,
                                                                       next_action_at=lead.next_action_at)
    return SweepAction(str(lead.pk), action, level + 1) if escalation else None


def _act(*, lead: Lead, action: str, policy: FollowUpPolicy, now) -> None:
    who = lead.assignee
    overdue = _("%(name)s has been waiting since %(due)s.") % {
        "name": lead.customer, "due": timezone.localtime(lead.deadline_at, lead.dealer.tz).strftime("%d-%m-%Y %H:%M")}
    lead_event_add(lead=lead, type=EventType.ESCALATION, at=now, text=action,
                   data={"level": lead.escalation_level + 1, "due_at": lead.deadline_at.isoformat()})
    if action == EscalationAction.REMIND:
        recipients = [who] if who else [m.user for m in Membership.objects.filter(
            dealer_id=lead.dealer_id, role=Role.BDC_AGENT, on_duty=True, is_active=True).select_related("user")]
        for user in recipients:
            notification_queue(dealer_id=lead.dealer_id, recipient=user, lead=lead, kind=NotificationKind.REMINDER,
                               subject=_("Reminder: %(name)s is waiting") % {"name": lead.customer}, body=overdue)
    elif action == EscalationAction.ALERT_MANAGER:
        holder = _("Assigned to %(user)s.") % {"user": who} if who else _("Not claimed yet.")
        for manager in _managers(lead.dealer_id):
            notification_queue(dealer_id=lead.dealer_id, recipient=manager, lead=lead, kind=NotificationKind.MANAGER_ALERT,
                               subject=_("Overdue lead: %(name)s") % {"name": lead.customer}, body=f"{overdue} {holder}")
    else:
        _reassign(lead=lead, policy=policy, now=now, overdue=overdue)


def _reassign(*, lead: Lead, policy: FollowUpPolicy, now, overdue: str) -> None:
    """A stalled sales lead goes to the next on-duty salesperson; a stalled BDC lead back into the BDC queue."""
    previous = lead.assignee
    if lead.queue == Queue.SALES:
        assign_to_sales(lead=lead, exclude_user_id=previous.pk if previous else None, reason="reassigned: stalled")
    else:
        lead.assignee = None
        lead.save(update_fields=["assignee"])
    # The new owner gets a fresh first-response window from now.
    fresh = first_response_deadline(kind=lead.kind, since=now, schedule=OpeningSchedule.for_dealer(lead.dealer), policy=policy)
    lead_deadline_set(lead, fresh.due_at, first_step_minutes=policy.remind_after_minutes)
    lead.save(update_fields=["deadline_at", "escalation_level", "next_action_at"])
    for manager in _managers(lead.dealer_id):
        notification_queue(dealer_id=lead.dealer_id, recipient=manager, lead=lead, kind=NotificationKind.REASSIGNED,
                           subject=_("Lead reassigned: %(name)s") % {"name": lead.customer},
                           body=overdue + " " + _("From %(old)s to %(new)s.") % {
                               "old": previous or "-", "new": lead.assignee or _("the BDC queue")})


def manager_digest_send(*, now: dt.datetime | None = None) -> int:
    """Every manager gets one digest a day per dealer listing the open leads nobody has tried to contact yet.

    A unique constraint on (dealer, recipient, day) makes a repeated or doubled run send nothing twice.
    """
    now = now or timezone.now()
    sent = 0
    managers_by_dealer: dict[int, list] = {}
    for m in Membership.objects.filter(role=Role.MANAGER, is_active=True).select_related("user", "dealer"):
        managers_by_dealer.setdefault(m.dealer_id, []).append(m)
    with outbox_batch():
        for dealer_id, memberships in managers_by_dealer.items():
            dealer = memberships[0].dealer
            waiting = list(Lead.objects.for_dealer(dealer_id).open()
                           .filter(routed_at__isnull=False, first_contact_at__isnull=True)
                           .select_related("customer", "assignee").order_by("received_at")[:51])
            if not waiting:
                continue
            day = timezone.localdate(now, dealer.tz)
            lines = [f"- {lead.customer} · {lead.source} · "
                     f"{timezone.localtime(lead.received_at, dealer.tz):%d-%m %H:%M} · {lead.assignee or _('BDC queue')}"
                     for lead in waiting[:50]]
            if len(waiting) > 50:
                lines.append(_("… and more on the dashboard."))
            n = len(waiting[:50])
            subject = ngettext("%(dealer)s: %(n)s lead without contact", "%(dealer)s: %(n)s leads without contact",
                               n) % {"dealer": dealer.name, "n": n}
            for membership in memberships:
                try:
                    with transaction.atomic():
                        notification_queue(dealer_id=dealer_id, recipient=membership.user, kind=NotificationKind.DIGEST,
                                           subject=subject, body="\n".join(lines), digest_date=day)
                except IntegrityError:
                    continue  # today's digest already went out
                sent += 1
    return sent
