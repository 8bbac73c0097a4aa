"""Classification (active/passive) and assignment: round-robin by load, the BDC queue and its atomic claim."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from dealers.errors import LeadClosed, NotOnTheTeam
from dealers.hours import OpeningSchedule
from dealers.models import Dealer, Membership, Role, RoutingModel, User
from dealers.services import audit_record, policy_get
from leads.models import Channel, EventType, Kind, Lead, LeadEvent, NotificationKind, Queue, Reason
from leads.services import (
    Routed,
    assignee_notice,
    lead_deadline_set,
    lead_event_add,
    lead_event_new,
    lead_lock,
    notification_save,
    notify_assignee,
)

from .models import CallScript


def lead_classify(*, channel: str, reason: str) -> str:
    """Passive when the dealer takes the initiative: a reason, or an outbound channel."""
    return Kind.PASSIVE if reason or channel == Channel.OUTBOUND else Kind.ACTIVE


def queue_for(*, dealer: Dealer, kind: str) -> str:
    if dealer.routing_model == RoutingModel.BDC_FIRST:
        return Queue.BDC
    if dealer.routing_model == RoutingModel.SALES_ONLY:
        return Queue.SALES
    return Queue.BDC if kind == Kind.PASSIVE else Queue.SALES


@dataclass(frozen=True)
class Deadline:
    clock_started_at: object
    due_at: object


def first_response_deadline(*, kind: str, since, schedule: OpeningSchedule, policy) -> Deadline:
    """The first-response window from `since` (the lead's arrival, or its reassignment to a new owner): for an active
    lead N open minutes from then (or from the next opening), for a passive one the end of the Nth working day."""
    start = schedule.next_opening(since)
    if kind == Kind.ACTIVE:
        return Deadline(start, schedule.add_open_minutes(start, policy.first_response_minutes))
    return Deadline(start, schedule.end_of_working_day(since, policy.passive_first_response_days))


def _round_robin_sql() -> str:
    """The next salesperson in one statement: the returning customer's own salesperson when on duty, else the one with
    the fewest open leads, then the one who has waited longest for a lead. Written out because it runs for every
    active lead while the dealer's lock is held; as a queryset it took ~1.5 ms to build for a query PostgreSQL
    answers in a tenth of that."""
    membership, user, lead = Membership._meta.db_table, User._meta.db_table, Lead._meta.db_table
    return f"""
        SELECT u.*, m.id AS membership_id
        FROM {membership} m JOIN {user} u ON u.id = m.user_id
        WHERE m.dealer_id = %s AND m.role = %s AND m.is_active AND m.on_duty AND m.user_id <> %s
        ORDER BY CASE WHEN m.user_id = %s THEN 0 ELSE 1 END,
                 (SELECT COUNT(*) FROM {lead} l
                  WHERE l.dealer_id = m.dealer_id AND l.assignee_id = m.user_id AND l.closed_at IS NULL),
                 CASE WHEN m.last_assigned_at IS NULL THEN 0 ELSE 1 END, m.last_assigned_at, m.id
        LIMIT 1"""


_ROUND_ROBIN_SQL = _round_robin_sql()


def salesperson_pick(*, dealer: Dealer, exclude_user_id=None, preferred_user_id=None):
    """The on-duty salesperson (a User, with `membership_id`) who gets the next lead, or None when nobody is on duty.

    The caller holds the dealer's row lock, so two leads arriving at once never pick on stale counts.
    """
    params = [dealer.pk, Role.SALESPERSON, exclude_user_id or 0, preferred_user_id or 0]
    return next(iter(User.objects.raw(_ROUND_ROBIN_SQL, params)), None)


def _fallback_manager(dealer: Dealer):
    m = (Membership.objects.filter(dealer=dealer, role=Role.MANAGER, is_active=True)
         .order_by("-on_duty", "pk").select_related("user").first())
    return m.user if m else None


def _previous_salesperson_id(lead: Lead):
    return (Lead.objects.for_dealer(lead.dealer).filter(customer=lead.customer, assignee__isnull=False)
            .exclude(pk=lead.pk).order_by("-received_at").values_list("assignee_id", flat=True).first())


def _sales_assignee(*, lead: Lead, exclude_user_id=None, reason: str = ""):
    """(user, why) for a sales lead: round-robin by load, or the manager when nobody is on duty.

    Takes the dealer's row lock until commit, so callers do it as late in their transaction as they can.
    """
    Dealer.objects.select_for_update(no_key=True).filter(pk=lead.dealer_id).values_list("pk").get()
    # A returning customer goes back to the salesperson they know (unless this is a reassignment away from them).
    preferred = _previous_salesperson_id(lead) if lead.returning_customer and not exclude_user_id else None
    salesperson = salesperson_pick(dealer=lead.dealer, exclude_user_id=exclude_user_id, preferred_user_id=preferred)
    if salesperson:
        Membership.objects.filter(pk=salesperson.membership_id).update(last_assigned_at=timezone.now())
        return salesperson, reason or "round-robin"
    user = _fallback_manager(lead.dealer)
    return user, "nobody on duty: the manager" if user else "nobody on duty and no manager"


def _assigned_event(lead: Lead, user, *, by=None, text: str) -> LeadEvent:
    return lead_event_new(lead=lead, type=EventType.ASSIGNED, actor=by, text=text,
                          data={"assignee_id": user.pk if user else None})


def assign_to_sales(*, lead: Lead, exclude_user_id=None, by=None, reason: str = "",
                    notice_kind: str = NotificationKind.ASSIGNED, note: str = "", appointment: str = "") -> None:
    """Pick a salesperson for the lead (or the manager when nobody is on duty) and record it."""
    user, text = _sales_assignee(lead=lead, exclude_user_id=exclude_user_id, reason=reason)
    lead.queue = Queue.SALES
    lead.assignee = user
    lead.save(update_fields=["queue", "assignee"])
    _assigned_event(lead, user, by=by, text=text).save()
    if user is not None:
        notify_assignee(lead=lead, user=user, kind=notice_kind, note=note, appointment=appointment)


def lead_sales_reassign(*, lead: Lead, reason: str) -> Routed:
    """A stalled sales lead goes to the next on-duty salesperson (not its current one): the same round-robin as
    `assign_to_sales`. The assignee is written at once, so the next pick in the same transaction counts this lead;
    the timeline entry and the notice are returned for the caller to insert with others (the sweep's batches)."""
    previous = lead.assignee
    user, text = _sales_assignee(lead=lead, exclude_user_id=previous.pk if previous else None, reason=reason)
    lead.queue, lead.assignee = Queue.SALES, user
    Lead.objects.for_dealer(lead.dealer_id).filter(pk=lead.pk).update(queue=Queue.SALES, assignee=user)
    notice = assignee_notice(lead=lead, user=user, kind=NotificationKind.ASSIGNED) if user is not None else None
    return Routed(events=[_assigned_event(lead, user, text=text)], notice=notice)


ROUTING_FIELDS = ["kind", "queue", "assignee", "clock_started_at", "first_response_due_at", "deadline_at",
                  "escalation_level", "next_action_at", "routed_at"]


def lead_route_new(*, lead: Lead) -> Routed:
    """Classify, start the first-response clock, and queue or assign: sets the lead's routing fields without saving
    them, and returns the timeline entries and the assignee's notice, for the caller to write with the lead.

    The intake passes this as its router, so a new lead's routing fields go into its INSERT (a stored lead updated
    afterwards is rewritten with all its index entries); `lead_route` uses it for a lead already stored."""
    dealer = lead.dealer
    schedule = OpeningSchedule.for_dealer(dealer)
    policy = policy_get(dealer=dealer)
    lead.kind = lead_classify(channel=lead.channel, reason=lead.reason)
    lead.queue = queue_for(dealer=dealer, kind=lead.kind)
    deadline = first_response_deadline(kind=lead.kind, since=lead.received_at, schedule=schedule, policy=policy)
    lead.clock_started_at, lead.first_response_due_at = deadline.clock_started_at, deadline.due_at
    lead_deadline_set(lead, deadline.due_at, first_step_minutes=policy.remind_after_minutes)
    lead.routed_at = now = timezone.now()
    events = [
        lead_event_new(lead=lead, type=EventType.CLASSIFIED, text=lead.kind, at=now),
        lead_event_new(lead=lead, type=EventType.ROUTED, text=lead.queue, at=now,
                       data={"clock_started_at": deadline.clock_started_at.isoformat(), "due_at": deadline.due_at.isoformat()}),
    ]
    notice = None
    if lead.queue == Queue.SALES:  # last: the round-robin holds the dealer's lock until commit
        user, text = _sales_assignee(lead=lead)
        lead.assignee = user
        events.append(_assigned_event(lead, user, text=text))
        if user is not None:
            notice = assignee_notice(lead=lead, user=user, kind=NotificationKind.ASSIGNED)
    return Routed(events=events, notice=notice)


def lead_route(*, lead: Lead) -> Lead:
    """Route a stored lead in its own transaction. Safe to call twice (the sweep retries leads whose routing failed)."""
    with transaction.atomic():
        lead = lead_lock(lead, "dealer", "customer")
        if lead.routed_at is None:
            routed = lead_route_new(lead=lead)
            lead.save(update_fields=ROUTING_FIELDS)
            LeadEvent.objects.bulk_create(routed.events)
            if routed.notice is not None:
                notification_save(routed.notice)
    return lead


def bdc_queue(*, dealer: Dealer, passive_only: bool = False):
    """Unclaimed leads waiting in the dealer's BDC queue, the most urgent first.

    `passive_only` for an outsourced BDC company's agents: they work the dealer's passive leads and nothing else.
    """
    qs = Lead.objects.for_dealer(dealer).open().filter(queue=Queue.BDC, assignee__isnull=True)
    if passive_only:
        qs = qs.filter(kind=Kind.PASSIVE)
    return qs.order_by(F("next_action_at").asc(nulls_last=True), "-score", "received_at")


def bdc_claim_next(*, dealer: Dealer, agent, passive_only: bool = False) -> Lead | None:
    """Claim the most urgent unclaimed BDC lead. Two agents pressing "next" at once never get the same lead."""
    with transaction.atomic():
        lead = (bdc_queue(dealer=dealer, passive_only=passive_only)
                .select_for_update(no_key=True, skip_locked=True, of=("self",)).first())
        if lead is None:
            return None
        lead.assignee = agent
        lead.save(update_fields=["assignee"])
        lead_event_add(lead=lead, type=EventType.CLAIMED, actor=agent)
    return lead


def _next_appointment_text(lead: Lead) -> str:
    """The appointment the BDC made, for the hand-over notice ("Showroom visit, woensdag 3 december, 14:30"). Read
    through the lead's relation: routing sits below followup, which owns appointments."""
    appointment = lead.appointments.filter(showed__isnull=True).order_by("scheduled_at").first()
    if appointment is None:
        return ""
    when = date_format(timezone.localtime(appointment.scheduled_at, lead.dealer.tz), "l j F, H:i")
    return f"{appointment.get_kind_display()}, {when}"


def bdc_handover(*, lead: Lead, agent, salesperson=None, note: str = "") -> Lead:
    """The BDC made the appointment: the lead moves to a salesperson's inbox with the agent's note."""
    with transaction.atomic():
        lead = lead_lock(lead, "dealer", "customer")
        if lead.closed_at is not None:
            raise LeadClosed(_("This lead is already closed."))
        if salesperson is not None and not Membership.objects.filter(
                dealer=lead.dealer, user=salesperson, role=Role.SALESPERSON, is_active=True).exists():
            raise NotOnTheTeam(_("Choose a salesperson of this dealer."))
        appointment = _next_appointment_text(lead)
        if salesperson is None:
            assign_to_sales(lead=lead, by=agent, reason="hand-over from the BDC", notice_kind=NotificationKind.HANDOVER,
                            note=note, appointment=appointment)
        else:
            lead.queue, lead.assignee = Queue.SALES, salesperson
            lead.save(update_fields=["queue", "assignee"])
            notify_assignee(lead=lead, user=salesperson, kind=NotificationKind.HANDOVER, note=note, appointment=appointment)
        lead_event_add(lead=lead, type=EventType.HANDED_OVER, actor=agent, text=note,
                       data={"to_user_id": lead.assignee_id})
    return lead



def lead_reassign(*, lead: Lead, to_user, by) -> Lead:
    """A manager moves a lead to another salesperson (or BDC agent) of the same dealer, in one action."""
    with transaction.atomic():
        lead = lead_lock(lead, "dealer", "customer")
        membership = Membership.objects.filter(dealer=lead.dealer, user=to_user, is_active=True,
                                               role__in=[Role.SALESPERSON, Role.BDC_AGENT, Role.MANAGER]).first()
        if membership is None:
            raise NotOnTheTeam(_("Choose someone on duty at this dealer."))
        previous = lead.assignee
        lead.assignee = to_user
        lead.queue = Queue.BDC if membership.role == Role.BDC_AGENT else Queue.SALES
        lead.save(update_fields=["assignee", "queue"])
        lead_event_add(lead=lead, type=EventType.ASSIGNED, actor=by, text="reassigned by the manager",
                       data={"from_user_id": previous.pk if previous else None, "assignee_id": to_user.pk})
        notify_assignee(lead=lead, user=to_user, kind=NotificationKind.REASSIGNED)
    return lead


@transaction.atomic
def call_script_save(*, dealer: Dealer, reason: str, body: str, by) -> CallScript | None:
    """Set what the BDC says for passive leads of one reason. An empty script removes it."""
    if reason not in Reason.values:
        raise ValueError(f"unknown reason {reason!r}")
    body = body.strip()
    script = CallScript.objects.for_dealer(dealer).select_for_update().filter(reason=reason).first()
    if script is None and body:
        try:
            with transaction.atomic():
                script = CallScript.objects.create(dealer=dealer, reason=reason, body=body)
            audit_record(dealer=dealer, actor=by, action="call_script.saved", target=reason, changes={"body": ["", body]})
            return script
        except IntegrityError:  # another manager created it a moment ago: edit theirs
            script = CallScript.objects.for_dealer(dealer).select_for_update().get(reason=reason)
    if script is None or script.body == body:
        return script
    old = script.body
    if not body:
        script.delete()
        audit_record(dealer=dealer, actor=by, action="call_script.removed", target=reason, changes={"body": [old, ""]})
        return None
    script.body = body
    script.save(update_fields=["body", "updated_at"])
    audit_record(dealer=dealer, actor=by, action="call_script.saved", target=reason, changes={"body": [old, body]})
    return script
