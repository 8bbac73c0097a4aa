"""The follow-up rules: attempts and the minimum, appointments, closing, and the escalation sweep."""

import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dealers.errors import AttemptsOwed, FollowUpRuleError, LeadClosed
from dealers.hours import OpeningSchedule
from dealers.models import Dealer, FollowUpPolicy, Membership, Role, User
from dealers.policy import attempts_owed
from dealers.services import policy_get
from leads.mail_intake import MailIngestResult, mail_ingest
from leads.models import CLOSED_STATUSES, Customer, EventType, Lead, LeadEvent, NotificationKind, Queue, Reason, Status
from leads.quality import normalise_phone
from leads.services import (
    Routed,
    lead_deadline_set,
    lead_event_add,
    lead_event_new,
    lead_lock,
    notification_new,
    notification_queue,
    notification_save_many,
    outbox_batch,
)
from routing.services import first_response_deadline, lead_route, lead_route_new, leads_sales_reassign

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


def mail_receive(*, dealer, raw: bytes, fallback_source: str, channel: str, api_key=None) -> MailIngestResult:
    """A raw mail from any channel (the API, the dealer's mailbox) into the one intake, with the follow-up steps a mail
    can bring: routing for the leads it holds, a portal's answered call, a customer's reply, a bounce."""
    return mail_ingest(dealer=dealer, raw=raw, fallback_source=fallback_source, channel=channel, api_key=api_key,
                       route=lead_route_new, on_call_answered=call_answered_log, on_reply=customer_reply_log,
                       on_bounce=customer_mail_bounced)


def sent_mail_ref(message_id: str) -> str:
    """The external ref a mail sent to the customer is recorded under (followup/messaging.py), so that a reply or a
    bounce naming its Message-ID finds it again."""
    return f"mail:{message_id}"[:200]


@transaction.atomic
def customer_reply_log(*, dealer, message_ids: list[str], text: str, at: dt.datetime, ref: str) -> Lead | None:
    """A customer answered a mail sent from a lead: the answer lands on that lead's timeline as a verified reply (a
    real contact) and its holder is told. None when the mail answers nothing we sent. `ref` makes a second delivery of
    the same answer change nothing."""
    sent = (ContactAttempt.objects.for_dealer(dealer).filter(external_ref__in=[sent_mail_ref(m) for m in message_ids])
            .select_related("lead__customer", "lead__assignee").order_by("-at").first())
    if sent is None:
        return None
    lead, ref = sent.lead, ref[:200]
    if ContactAttempt.objects.for_dealer(dealer).filter(external_ref=ref).exists() or \
            lead.events.filter(type=EventType.NOTE, data__reply_ref=ref).exists():
        return lead
    words = text.strip()[:5000]
    if lead.closed_at is None:
        attempt_log(lead=lead, by=None, channel="email", outcome="replied", at=min(at, timezone.now()), verified=True,
                    external_ref=ref, note=words)
    else:  # a closed lead keeps the customer's words too, and its last holder hears of them
        lead_event_add(lead=lead, type=EventType.NOTE, text=words, data={"reply_ref": ref})
    if lead.assignee is not None:
        notification_queue(dealer_id=lead.dealer_id, recipient=lead.assignee, lead=lead, kind=NotificationKind.REPLY,
                           subject=_("%(name)s replied to your e-mail") % {"name": lead.contact_label},
                           body=words[:1000])
    return lead


@transaction.atomic
def customer_mail_bounced(*, dealer, message_ids: list[str]) -> int:
    """A mail sent from a lead came back undelivered: it proves no contact, so its attempt is no longer verified (it
    stays on the timeline, marked), and the lead's holder is told to use the phone. Returns how many were undone."""
    undone = 0
    for attempt in (ContactAttempt.objects.for_dealer(dealer).filter(external_ref__in=[sent_mail_ref(m) for m in message_ids],
                                                                     verified=True).select_related("lead__assignee")):
        lead = lead_lock(attempt.lead)
        ContactAttempt.objects.for_dealer(dealer).filter(pk=attempt.pk).update(
            verified=False, outcome="wrong_number", note=(attempt.note + " " + _("(bounced)")).strip()[:2000])
        lead.verified_attempts = ContactAttempt.objects.for_dealer(dealer).filter(lead=lead, verified=True).count()
        lead.save(update_fields=["verified_attempts"])
        lead_event_add(lead=lead, type=EventType.NOTE, text=_("The e-mail to the customer bounced: it did not arrive."),
                       data={"bounced_attempt_id": attempt.pk})
        if attempt.lead.assignee is not None:
            notification_queue(dealer_id=lead.dealer_id, recipient=attempt.lead.assignee, lead=lead,
                               kind=NotificationKind.BOUNCE, subject=_("E-mail bounced: %(name)s") % {
                                   "name": lead.contact_label},
                               body=_("Your e-mail did not arrive. Call, text or WhatsApp the customer instead."))
        undone += 1
    return undone


@transaction.atomic
def call_answered_log(*, dealer, phone: str, at: dt.datetime, ref: str, source: str = "") -> ContactAttempt | None:
    """A portal's notice that a call was taken ("Aangenomen oproep"): a verified, connected call on the newest open lead
    of that number, if there is one. `ref` makes a second notice of the same call change nothing."""
    e164, _raw = normalise_phone(phone, region=dealer.country)
    if not e164:
        return None
    lead = (Lead.objects.for_dealer(dealer).filter(Q(contact_phone=e164) | Q(customer__phone=e164), closed_at__isnull=True)
            .order_by("-received_at").first())
    if lead is None or ContactAttempt.objects.for_dealer(dealer).filter(external_ref=ref[:200]).exists():
        return None
    try:
        with transaction.atomic():
            return attempt_log(lead=lead, by=None, channel="call", outcome="connected", at=min(at, timezone.now()),
                               verified=True, external_ref=ref[:200],
                               note=_("Answered call, reported by %(source)s.") % {"source": source or _("the portal")})
    except IntegrityError:  # the same notice logged concurrently
        return None


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


MANAGERS = Q(role=Role.MANAGER, is_active=True)
BDC_ON_DUTY = Q(role=Role.BDC_AGENT, on_duty=True, is_active=True)


def _managers(dealer_id: int):
    return [m.user for m in Membership.objects.filter(MANAGERS, dealer_id=dealer_id).select_related("user")]


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
    if outcome == Status.NOT_INTERESTED and owed:
        lead.manager_flag = _("Closed as not interested after %(n)s of %(min)s attempts.") % {
            "n": lead.counted_attempts, "min": policy.min_attempts}
        for manager in _managers(lead.dealer_id):
            notification_queue(dealer_id=lead.dealer_id, recipient=manager, lead=lead, kind=NotificationKind.MANAGER_ALERT,
                               subject=_("Check: lead closed without the minimum attempts"),
                               body=f"{lead.contact_label}: {lead.manager_flag} {reason}".strip())
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
        dealer_id=lead.dealer_id, customer_id=lead.customer_id, **lead.contact_details(),  # the same person, as they wrote
        source="lost-sale", channel="outbound", reason=Reason.LOST_SALE,
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
# A lead the sweep cannot handle waits 1, 2, 4 … minutes (at most 6 hours) before the next try, and never blocks others.
SWEEP_BACKOFF = dt.timedelta(minutes=1)
SWEEP_BACKOFF_MAX = dt.timedelta(hours=6)
UNROUTED_GRACE = dt.timedelta(seconds=10)  # the intake's own transaction may still be routing it


def _step_delay(policy: FollowUpPolicy, level: int) -> int:
    return (policy.remind_after_minutes, policy.manager_alert_after_minutes, policy.reassign_after_minutes)[level]


def sweep_backoff(failures: int) -> dt.timedelta:
    """How long a lead waits after its `failures`-th failed pass."""
    return min(SWEEP_BACKOFF * 2 ** min(max(failures - 1, 0), 20), SWEEP_BACKOFF_MAX)


def followup_sweep(*, now: dt.datetime | None = None, batch_size: int = 500, max_batches: int = 1000) -> list[SweepAction]:
    """One pass over everything due, in batches. Safe beside other sweepers: a batch claims its leads with
    `FOR NO KEY UPDATE SKIP LOCKED` and writes every step of the batch in the same transaction, so a crash rolls the
    claim back with the writes and the steps are retried; a second sweeper skips the claimed rows."""
    now = now or timezone.now()
    done: list[SweepAction] = []
    with outbox_batch():
        _sweep_batches(sweep=_Pass(now), batch_size=batch_size, max_batches=max_batches, done=done)
        _route_unrouted(now)
    return done


class _Pass:
    """What one pass reads once and reuses: schedules and the people notices go to, per dealer."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.dealers: dict = {}  # with their follow-up policy
        self.users: dict = {}  # assignees
        self.schedules: dict[int, OpeningSchedule] = {}
        self.managers: dict[int, list] = {}
        self.bdc_agents: dict[int, list] = {}  # on duty: they are reminded of unclaimed BDC leads

    def schedule(self, dealer) -> OpeningSchedule:
        if dealer.pk not in self.schedules:
            self.schedules[dealer.pk] = OpeningSchedule.for_dealer(dealer)
        return self.schedules[dealer.pk]

    def dealers_load(self, dealer_ids) -> None:
        missing = {d for d in dealer_ids if d not in self.dealers}
        if missing:
            for dealer in Dealer.objects.filter(pk__in=missing).select_related("followup_policy"):
                dealer.followup_policy = policy_get(dealer=dealer)  # created with the defaults if missing, once
                self.dealers[dealer.pk] = dealer

    def users_load(self, user_ids) -> None:
        missing = {u for u in user_ids if u not in self.users}
        if missing:
            self.users.update(User.objects.in_bulk(missing))

    @functools.cached_property
    def texts(self) -> dict:
        """The step texts in the pass's language, translated once rather than per lead."""
        return {"overdue": _("%(name)s has been waiting since %(due)s."),
                "remind": _("Reminder: %(name)s is waiting"), "alert": _("Overdue lead: %(name)s"),
                "assigned_to": _("Assigned to %(user)s."), "not_claimed": _("Not claimed yet."),
                "reassigned": _("Lead reassigned: %(name)s"), "from_to": _("From %(old)s to %(new)s."),
                "bdc_queue": _("the BDC queue")}

    def people_load(self, dealer_ids) -> None:
        missing = {d for d in dealer_ids if d not in self.managers}
        if not missing:
            return
        for d in missing:
            self.managers[d], self.bdc_agents[d] = [], []
        for m in (Membership.objects.filter(MANAGERS | BDC_ON_DUTY, dealer_id__in=missing)
                  .select_related("user").order_by("pk")):
            (self.managers if m.role == Role.MANAGER else self.bdc_agents)[m.dealer_id].append(m.user)


@dataclass
class _Step:
    """The sweep's decision for one claimed lead, made before anything is written."""

    lead: Lead
    seen: dt.datetime  # next_action_at as claimed: the update only applies while it is unchanged
    action: str | None  # None: the chain is over (no deadline, or every step taken)
    level: int = 0  # the step's level (1-3)
    due_at: dt.datetime | None = None
    overdue: str = ""
    next_action_at: dt.datetime | None = None  # after a reminder or an alert: when the next step is due
    fresh_deadline: dt.datetime | None = None  # reassignment: the new owner's first-response window
    previous: User | None = None  # reassignment: who held the lead
    routed: Routed | None = None  # reassignment to a salesperson: routing's timeline entry and notice


def _step_plan(lead: Lead, sweep: _Pass) -> _Step:
    """Recompute from the stored lead what is due now; raises for a lead whose stored values make no sense."""
    policy = policy_get(dealer=lead.dealer)
    level = lead.escalation_level
    if lead.deadline_at is None or level >= len(STEP_ACTIONS):
        return _Step(lead, lead.next_action_at, None)
    step = _Step(lead, lead.next_action_at, STEP_ACTIONS[level], level + 1, lead.deadline_at)
    step.overdue = sweep.texts["overdue"] % {
        "name": lead.contact_label, "due": timezone.localtime(lead.deadline_at, lead.dealer.tz).strftime("%d-%m-%Y %H:%M")}
    if step.action == EscalationAction.REASSIGN:
        # The new owner gets a fresh first-response window from now.
        step.fresh_deadline = first_response_deadline(kind=lead.kind, since=sweep.now, schedule=sweep.schedule(lead.dealer),
                                                      policy=policy).due_at
    else:
        step.next_action_at = lead.deadline_at + dt.timedelta(minutes=_step_delay(policy, level + 1))
    return step


# System work across every dealer (raw SQL's `unscoped()`). The claim reads ids only, from the partial index
# lead_due_open (its filter implies the index's condition), so "nothing due" is one cheap statement to plan and run,
# and a row whose dates the driver cannot read still has a name.
CLAIM_SQL = f"""
    SELECT id FROM {Lead._meta.db_table}
    WHERE closed_at IS NULL AND next_action_at <= %(now)s AND (%(pks)s::uuid[] IS NULL OR id = ANY(%(pks)s::uuid[]))
    ORDER BY next_action_at LIMIT %(limit)s
    FOR NO KEY UPDATE SKIP LOCKED"""

# What a step reads of a lead (a reassignment's notice included); not the payload or the message history.
SWEEP_LEAD_FIELDS = ("id", "dealer_id", "customer_id", "assignee_id", "kind", "queue", "escalation_level", "deadline_at",
                     "next_action_at", "first_response_due_at", "returning_customer", "sweep_failures", "vehicle",
                     "message", "contact_first_name", "contact_last_name", "contact_email", "contact_phone",
                     "contact_phone_raw")


def _portable() -> bool:
    """Off PostgreSQL (the quick start's embedded SQLite, one writer at a time): the sweep's statements in plain ORM,
    slower and without row locks, instead of the set-wise SQL written for PostgreSQL."""
    return connection.vendor != "postgresql"


def _claim(*, now: dt.datetime, limit: int, pks=None) -> list:
    """Lock up to `limit` due leads' rows until commit (rows another sweeper holds are skipped, not waited for)."""
    if _portable():
        due = Lead.objects.unscoped().filter(closed_at__isnull=True, next_action_at__lte=now)
        if pks is not None:
            due = due.filter(pk__in=pks)
        return list(due.order_by("next_action_at").values_list("pk", flat=True)[:limit])
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, {"now": now, "limit": limit, "pks": [str(pk) for pk in pks] if pks is not None else None})
        return [row[0] for row in cursor.fetchall()]


def _load(pks: list, sweep: "_Pass") -> list[Lead]:
    """The claimed leads with their dealer (and policy), customer and assignee, the dealers and people from the pass."""
    leads = sorted(Lead.objects.unscoped().filter(pk__in=pks).only(*SWEEP_LEAD_FIELDS), key=lambda lead: lead.next_action_at)
    sweep.dealers_load({lead.dealer_id for lead in leads})
    sweep.users_load({lead.assignee_id for lead in leads if lead.assignee_id})
    customers = Customer.objects.unscoped().only("id", "first_name", "last_name", "email", "phone_raw").in_bulk(
        {lead.customer_id for lead in leads})
    for lead in leads:
        lead.dealer = sweep.dealers[lead.dealer_id]
        lead.customer = customers[lead.customer_id]
        lead.assignee = sweep.users[lead.assignee_id] if lead.assignee_id else None
    return leads


def _sweep_batches(*, sweep: _Pass, batch_size: int, max_batches: int, done: list) -> None:
    for _batch in range(max_batches):
        claimed_pks: list = []
        try:
            with transaction.atomic():
                claimed_pks = _claim(now=sweep.now, limit=batch_size)
                if not claimed_pks:
                    return
                actions = _escalate_batch(_load(claimed_pks, sweep), sweep)
        except Exception:
            # Something in the batch broke its transaction (claim and writes are rolled back together): take the
            # leads one at a time, so the broken one is pushed back and the others are escalated in this pass.
            logger.exception("Follow-up sweep batch failed; retrying its leads one by one")
            actions = _escalate_one_by_one(claimed_pks or _due_pks(sweep.now, batch_size), sweep)
        done.extend(actions)


def _due_pks(now: dt.datetime, limit: int) -> list:
    """The due leads' ids alone: a stored value the driver cannot even read must not hide which lead it is."""
    return list(Lead.objects.unscoped().filter(closed_at__isnull=True, next_action_at__lte=now)
                .order_by("next_action_at").values_list("pk", flat=True)[:limit])


def _escalate_one_by_one(pks: list, sweep: _Pass) -> list[SweepAction]:
    actions: list[SweepAction] = []
    for pk in pks:
        try:
            with transaction.atomic():
                claimed = _claim(now=sweep.now, limit=1, pks=[pk])
                actions.extend(_escalate_batch(_load(claimed, sweep), sweep) if claimed else [])
        except Exception as exc:
            logger.exception("Follow-up sweep failed for lead %s", pk)
            _sweep_failure_record(pk=pk, error=exc, now=sweep.now, move_next_action=True)
    return actions


def _sweep_failure_record(*, pk, error: Exception, now: dt.datetime, move_next_action: bool) -> None:
    """Record why the sweep could not handle the lead and, for a due lead, move its next try later (backoff). Written
    in SQL from the row's own count, so it works on a row whose dates Python cannot read."""
    if _portable():
        failures = (Lead.objects.unscoped().filter(pk=pk).values_list("sweep_failures", flat=True).first() or 0) + 1
        changes = {"sweep_failures": min(failures, 32767), "sweep_error": _error_text(error), "sweep_failed_at": now}
        if move_next_action:
            changes["next_action_at"] = now + sweep_backoff(failures)
        Lead.objects.unscoped().filter(pk=pk).update(**changes)
        return
    table = Lead._meta.db_table
    move = (", next_action_at = %(now)s + LEAST(%(base)s * power(2, LEAST(sweep_failures, 20)), %(max)s)"
            if move_next_action else "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET sweep_failures = LEAST(sweep_failures + 1, 32767), sweep_error = %(error)s, "
            f"sweep_failed_at = %(now)s{move} WHERE id = %(pk)s",
            {"pk": pk, "now": now, "error": _error_text(error), "base": SWEEP_BACKOFF, "max": SWEEP_BACKOFF_MAX})


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:300]


_ESCALATIONS_INSERT = f"""
    INSERT INTO {Escalation._meta.db_table} (dealer_id, lead_id, level, action, due_at, at)
    SELECT v.dealer_id, v.lead_id, v.level, v.action, v.due_at, %(now)s
    FROM unnest(%(dealer_ids)s::bigint[], %(lead_ids)s::uuid[], %(levels)s::smallint[], %(actions)s::text[],
                %(due_ats)s::timestamptz[]) AS v(dealer_id, lead_id, level, action, due_at)
    ON CONFLICT DO NOTHING
    RETURNING lead_id"""


# The batch's timeline entries from arrays: Django's bulk_create compiles every value of every row (a tenth of a
# reminder batch's time).
_EVENTS_INSERT = f"""
    INSERT INTO {LeadEvent._meta.db_table} (dealer_id, lead_id, type, actor_id, at, text, data)
    SELECT * FROM unnest(%(dealer_ids)s::bigint[], %(lead_ids)s::uuid[], %(types)s::text[], %(actors)s::bigint[],
                         %(ats)s::timestamptz[], %(texts)s::text[], %(datas)s::jsonb[])"""


def _events_insert(events: list[LeadEvent]) -> None:
    """The entries as `bulk_create` would store them (LeadEvent.data has no custom encoder), in one statement."""
    if not events:
        return
    if _portable():
        LeadEvent.objects.bulk_create(events)
        return
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_INSERT, {
            "dealer_ids": [e.dealer_id for e in events], "lead_ids": [str(e.lead_id) for e in events],
            "types": [e.type for e in events], "actors": [e.actor_id for e in events], "ats": [e.at for e in events],
            "texts": [e.text for e in events], "datas": [json.dumps(e.data) for e in events]})


def _leads_update_sql(*, owners: bool) -> str:
    """The leads' one UPDATE; `owners` for a batch with reassignments: it writes their new assignee and queue too."""
    return f"""
    UPDATE {Lead._meta.db_table} AS l
    SET escalation_level = v.level, deadline_at = v.deadline_at, next_action_at = v.next_action_at,
        sweep_failures = v.failures, sweep_error = v.error, sweep_failed_at = v.failed_at
        {", assignee_id = v.assignee_id, queue = v.queue" if owners else ""}
    FROM unnest(%(ids)s::uuid[], %(seen)s::timestamptz[], %(levels)s::smallint[], %(deadlines)s::timestamptz[],
                %(nexts)s::timestamptz[], %(failures)s::smallint[], %(errors)s::text[], %(failed_ats)s::timestamptz[]
                {", %(assignees)s::bigint[], %(queues)s::text[]" if owners else ""})
         AS v(id, seen, level, deadline_at, next_action_at, failures, error, failed_at
              {", assignee_id, queue" if owners else ""})
    WHERE l.id = v.id AND l.next_action_at = v.seen"""


_LEADS_UPDATE, _LEADS_UPDATE_OWNERS = _leads_update_sql(owners=False), _leads_update_sql(owners=True)


def _escalate_batch(leads: list[Lead], sweep: _Pass) -> list[SweepAction]:
    """Escalate claimed leads: one INSERT for the escalation rows, one for the timeline, one for the notices and one
    UPDATE for the leads (their new owners too); reassignments add routing's round-robin for the whole batch (the
    dealers' locks with their salespeople in one message, then the stamps: two round trips). A lead whose decision
    raises is moved back by the backoff in the same UPDATE instead of failing the batch."""
    now = sweep.now
    steps: list[_Step] = []
    updates: dict = {}  # lead pk -> (seen, level, deadline_at, next_action_at, failures, error, failed_at, assignee, queue)
    for lead in leads:
        try:
            steps.append(_step_plan(lead, sweep))
        except Exception as exc:
            logger.warning("Follow-up sweep cannot escalate lead %s: %r", lead.pk, exc)
            failures = min(lead.sweep_failures + 1, 32767)
            updates[lead.pk] = (lead.next_action_at, lead.escalation_level, lead.deadline_at,
                                now + sweep_backoff(failures), failures, _error_text(exc), now, lead.assignee_id, lead.queue)
    acting = [s for s in steps if s.action]
    inserted = set()
    if acting and _portable():
        Escalation.objects.bulk_create([Escalation(dealer_id=st.lead.dealer_id, lead_id=st.lead.pk, level=st.level,
                                                   action=st.action, due_at=st.due_at, at=now) for st in acting],
                                       ignore_conflicts=True)
        inserted = {str(pk) for pk in Escalation.objects.unscoped().filter(
            lead_id__in=[st.lead.pk for st in acting], at=now).values_list("lead_id", flat=True)}
    elif acting:
        with connection.cursor() as cursor:
            cursor.execute(_ESCALATIONS_INSERT, {
                "now": now, "dealer_ids": [s.lead.dealer_id for s in acting], "lead_ids": [str(s.lead.pk) for s in acting],
                "levels": [s.level for s in acting], "actions": [s.action for s in acting],
                "due_ats": [s.due_at for s in acting]})
            inserted = {str(row[0]) for row in cursor.fetchall()}
    sweep.people_load({s.lead.dealer_id for s in acting})
    reassigning = [s for s in acting if s.action == EscalationAction.REASSIGN and str(s.lead.pk) in inserted]
    _reassign(steps=reassigning)
    events: list[LeadEvent] = []
    notices: list = []
    actions: list[SweepAction] = []
    # In dealer order, as on main: the rows, timeline entries and notices reach the dealer-first indexes in order.
    for step in sorted(steps, key=lambda s: s.lead.dealer_id):
        lead = step.lead
        if step.action is None or (str(lead.pk) not in inserted and step.action == EscalationAction.REASSIGN):
            # Nothing left to do (or, should a step already be on record, not a second reassignment).
            updates[lead.pk] = (step.seen, lead.escalation_level, lead.deadline_at, None, 0, "", None, lead.assignee_id,
                                lead.queue)
            continue
        policy = policy_get(dealer=lead.dealer)
        if str(lead.pk) in inserted:
            events.append(lead_event_new(lead=lead, type=EventType.ESCALATION, at=now, text=step.action,
                                         data={"level": step.level, "due_at": step.due_at.isoformat()}))
            _step_notices(step, sweep, events, notices)
            actions.append(SweepAction(str(lead.pk), step.action, step.level))
        if step.action == EscalationAction.REASSIGN:
            lead_deadline_set(lead, step.fresh_deadline, first_step_minutes=policy.remind_after_minutes)
            updates[lead.pk] = (step.seen, lead.escalation_level, lead.deadline_at, lead.next_action_at, 0, "", None,
                                lead.assignee_id, lead.queue)
        else:
            updates[lead.pk] = (step.seen, step.level, lead.deadline_at, step.next_action_at, 0, "", None,
                                lead.assignee_id, lead.queue)
    if updates and _portable():
        for pk, (seen, level, deadline, next_at, failures, error, failed_at, assignee, queue) in updates.items():
            Lead.objects.unscoped().filter(pk=pk, next_action_at=seen).update(
                escalation_level=level, deadline_at=deadline, next_action_at=next_at, sweep_failures=failures,
                sweep_error=error, sweep_failed_at=failed_at, assignee_id=assignee, queue=queue)
    elif updates:
        rows = list(updates.items())
        with connection.cursor() as cursor:
            names = ("seen", "levels", "deadlines", "nexts", "failures", "errors", "failed_ats", "assignees", "queues")
            cursor.execute(_LEADS_UPDATE_OWNERS if reassigning else _LEADS_UPDATE, {
                "ids": [str(pk) for pk, _row in rows],
                **{name: [row[i] for _pk, row in rows] for i, name in enumerate(names[:9 if reassigning else 7])}})
            if cursor.rowcount != len(rows):  # we hold the rows' locks, so only a bug gets here: roll the batch back
                raise RuntimeError(f"sweep updated {cursor.rowcount} of {len(rows)} claimed leads")
    _events_insert(events)
    notification_save_many(notices)
    return actions


def _reassign(*, steps: list[_Step]) -> None:
    """The batch's new owners, decided before anything is written: a stalled sales lead goes to the next on-duty
    salesperson (routing's round-robin for all of them at once, which holds their dealers' locks until commit), a
    stalled BDC lead back into the BDC queue. The leads' one UPDATE writes them."""
    for step in steps:
        step.previous = step.lead.assignee
    sales = [step for step in steps if step.lead.queue == Queue.SALES]
    routed = leads_sales_reassign(leads=[step.lead for step in sales], reason="reassigned: stalled")
    for step in sales:
        step.routed = routed[step.lead.pk]
    for step in steps:
        if step.routed is None:
            step.lead.assignee = None


def _step_notices(step: _Step, sweep: _Pass, events: list, notices: list) -> None:
    """The notices one step sends (and, for a reassignment, routing's timeline entry and the new owner's notice)."""
    lead, overdue = step.lead, step.overdue
    who = lead.assignee
    if step.action == EscalationAction.REMIND:
        for user in [who] if who else sweep.bdc_agents[lead.dealer_id]:
            notices.append(notification_new(dealer_id=lead.dealer_id, recipient=user, lead=lead,
                                            kind=NotificationKind.REMINDER, body=overdue,
                                            subject=sweep.texts["remind"] % {"name": lead.contact_label}))
    elif step.action == EscalationAction.ALERT_MANAGER:
        for manager in sweep.managers[lead.dealer_id]:
            notices.append(notification_new(
                dealer_id=lead.dealer_id, recipient=manager, lead=lead, kind=NotificationKind.MANAGER_ALERT,
                subject=sweep.texts["alert"] % {"name": lead.contact_label},
                body=f"{overdue} {sweep.texts['assigned_to'] % {'user': who} if who else sweep.texts['not_claimed']}"))
    else:
        previous = step.previous
        if step.routed is not None:
            events.extend(step.routed.events)
            if step.routed.notice is not None:
                notices.append(step.routed.notice)
        for manager in sweep.managers[lead.dealer_id]:
            notices.append(notification_new(
                dealer_id=lead.dealer_id, recipient=manager, lead=lead, kind=NotificationKind.REASSIGNED,
                subject=sweep.texts["reassigned"] % {"name": lead.contact_label},
                body=overdue + " " + sweep.texts["from_to"] % {
                    "old": previous or "-", "new": lead.assignee or sweep.texts["bdc_queue"]}))


def _route_unrouted(now) -> None:
    """Leads stored unrouted because routing failed (the intake keeps the lead and leaves it to us): route them now.
    One that fails again waits out its backoff, so failures at the head of the queue never hide the leads behind."""
    if _portable():
        candidates = (Lead.objects.unscoped().filter(routed_at__isnull=True, closed_at__isnull=True,
                                                     created_at__lte=now - UNROUTED_GRACE)
                      .order_by("created_at").values_list("pk", "dealer_id", "sweep_failed_at", "sweep_failures")[:500])
        unrouted = [(pk, dealer_id) for pk, dealer_id, failed_at, failures in candidates
                    if failed_at is None or failed_at + sweep_backoff(failures) <= now]
        return _route_each(unrouted, now)
    table = Lead._meta.db_table
    with connection.cursor() as cursor:  # the partial index lead_unrouted, in arrival order, skipping those backing off
        cursor.execute(
            f"SELECT id, dealer_id FROM {table} WHERE routed_at IS NULL AND closed_at IS NULL AND created_at <= %(grace)s "
            f"AND (sweep_failed_at IS NULL "
            f"OR sweep_failed_at + LEAST(%(base)s * power(2, LEAST(sweep_failures - 1, 20)), %(max)s) <= %(now)s) "
            f"ORDER BY created_at LIMIT 500",
            {"grace": now - UNROUTED_GRACE, "now": now, "base": SWEEP_BACKOFF, "max": SWEEP_BACKOFF_MAX})
        unrouted = cursor.fetchall()
    _route_each(unrouted, now)


def _route_each(unrouted, now) -> None:
    for pk, dealer_id in unrouted:
        try:
            lead_route(lead=Lead(pk=pk, dealer_id=dealer_id))
        except Exception as exc:
            logger.exception("Routing retry failed for lead %s", pk)
            _sweep_failure_record(pk=pk, error=exc, now=now, move_next_action=False)
        else:
            Lead.objects.for_dealer(dealer_id).filter(pk=pk, sweep_failures__gt=0).update(
                sweep_failures=0, sweep_error="", sweep_failed_at=None)


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
            lines = [f"- {lead.contact_label} · {lead.source} · "
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
