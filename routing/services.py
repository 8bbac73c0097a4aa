"""Classification (active/passive) and assignment: round-robin by load, the BDC queue and its atomic claim."""

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, connections, router, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from dealers.errors import LeadClosed, NotOnTheTeam
from dealers.hours import OpeningSchedule
from dealers.models import Dealer, Membership, Role, RoutingModel, User
from dealers.rows import execute_prepared, instance_from_row, value_from_db
from dealers.services import audit_record, policy_get
from leads.models import Channel, EventType, Kind, Lead, LeadEvent, NotificationKind, PushSubscription, Queue, Reason
from leads.services import (
    Routed,
    assignee_notice,
    lead_deadline_set,
    lead_event_add,
    lead_event_new,
    lead_lock,
    notify_assignee,
    routed_save,
)

from .models import CallScript, OpenLeadCount

logger = logging.getLogger(__name__)


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


@dataclass
class Seat:
    """A salesperson's place in the dealer's round-robin: what the rule weighs, and the person's row as read. The User
    is built only for the seat that is picked (`user`): the rule needs the id alone (with the bench's five salespeople,
    0.1 M of a lead's 11.8 M instructions; more for a bigger team)."""

    membership_id: int
    open_leads: int | None  # None: not counted, as no lead being assigned can go to them (they are its holder)
    last_assigned_at: dt.datetime | None
    push_device: bool  # a phone or browser subscribed to pushes: without one, the notice's push is skipped at once
    user_row: list = field(repr=False)  # the user's columns in concrete-field order (_seats_sql)
    alias: str

    @property
    def user_id(self) -> int:
        return self.user_row[_USER_PK]

    @functools.cached_property
    def user(self) -> User:
        """The person, carrying what the pick knows of them: their membership (the stamp) and whether any device of
        theirs takes pushes (`leads.services.notification_new`)."""
        user = instance_from_row(User, self.alias, self.user_row)
        user.membership_id, user.push_device = self.membership_id, self.push_device
        return user


_USER_PK = User._meta.concrete_fields.index(User._meta.pk)


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def round_robin_next(seats: list[Seat], *, exclude_user_id=None, preferred_user_id=None) -> Seat | None:
    """The round-robin rule, the one both the intake (a lead at a time) and the sweep (a batch at a time) follow: the
    returning customer's own salesperson when on duty, else the one with the fewest open leads, then the one who has
    waited longest for a lead (never assigned first), then the oldest membership. None when nobody is eligible."""
    eligible = [seat for seat in seats if seat.user_id != exclude_user_id]
    return min(eligible, default=None, key=lambda seat: (
        seat.user_id != preferred_user_id, seat.open_leads, seat.last_assigned_at is not None,
        seat.last_assigned_at or _NEVER, seat.membership_id))


@functools.lru_cache(maxsize=32)
def _seats_sql(dealers: int, vendor: str) -> str:
    """The on-duty salespeople of some dealers with their open leads, in one statement. Written out because it runs for
    every active lead while the dealer's lock is held; as a queryset it took ~1.5 ms to build for a query PostgreSQL
    answers in a tenth of that. On PostgreSQL the open leads are the sum of the person's `OpenLeadCount` rows (a few,
    `open_lead_counts_fold`), with how many rows that was; elsewhere (SQLite: plain SQL it reads too, a VALUES list's
    columns are column1, column2 in both) every open lead of the person is counted. Neither is read for the dealer's
    `uncounted` one."""
    membership, user, lead = Membership._meta.db_table, User._meta.db_table, Lead._meta.db_table
    user_columns = ", ".join(f'u."{f.column}"' for f in User._meta.concrete_fields)
    if vendor == "postgresql":
        open_leads, count_rows = "COALESCE(k.open_leads, 0)", "k.count_rows"
        count = (f"CROSS JOIN LATERAL (SELECT SUM(c.open_leads) AS open_leads, COUNT(*) AS count_rows "
                 f"FROM {OpenLeadCount._meta.db_table} c WHERE c.dealer_id = m.dealer_id AND c.user_id = m.user_id) k")
    else:
        open_leads, count_rows, count = (f"(SELECT COUNT(*) FROM {lead} l WHERE l.dealer_id = m.dealer_id "
                                         "AND l.assignee_id = m.user_id AND l.closed_at IS NULL)"), "0", ""
    return f"""
        SELECT m.id, m.dealer_id, m.last_assigned_at,
               CASE WHEN m.user_id = d.column2 THEN NULL ELSE {open_leads} END, {count_rows},
               EXISTS (SELECT 1 FROM {PushSubscription._meta.db_table} s WHERE s.user_id = m.user_id),
               {user_columns}
        FROM (VALUES {", ".join(["(CAST(%s AS bigint), CAST(%s AS bigint))"] * dealers)}) AS d
             JOIN {membership} m ON m.dealer_id = d.column1 JOIN {user} u ON u.id = m.user_id {count}
        WHERE m.role = %s AND m.is_active AND m.on_duty
        ORDER BY m.id"""


# A dealer's count rows beyond which the round-robin folds them, once, after reading them: it then reads a row a person.
FOLD_AFTER = 64
_FOLD_SQL = f"""
    WITH gone AS (DELETE FROM {OpenLeadCount._meta.db_table} WHERE dealer_id = ANY(%s)
                  RETURNING dealer_id, user_id, open_leads),
         folded AS (INSERT INTO {OpenLeadCount._meta.db_table} (dealer_id, user_id, open_leads)
                    SELECT dealer_id, user_id, SUM(open_leads) FROM gone GROUP BY dealer_id, user_id
                    HAVING SUM(open_leads) <> 0)
    SELECT COUNT(*) FROM gone"""
_PILED_UP_SQL = f"""
    SELECT dealer_id FROM {OpenLeadCount._meta.db_table} GROUP BY dealer_id HAVING COUNT(*) > COUNT(DISTINCT user_id)"""


def _kept_counts(alias: str | None = None, *, write: bool = True):
    """The connection the `OpenLeadCount` rows are kept on (`alias`, else the router's), or None where none are kept:
    SQLite, the quick start's database, has no triggers, and its round-robin counts the leads themselves."""
    alias = alias or (router.db_for_write if write else router.db_for_read)(OpenLeadCount)
    connection = connections[alias]
    return connection if connection.vendor == "postgresql" else None


def open_lead_counts_fold(*, dealer_ids, using: str | None = None) -> int:
    """Fold the dealers' `OpenLeadCount` rows into one row per person with their sum; returns the rows removed. The
    caller holds the dealers' row locks (the round-robin does) on `using`, so two folds of a dealer never run at once:
    each would wait for rows the other deleted first, in its own order, and could deadlock. Beside the triggers it needs
    nothing: the DELETE takes only rows committed before it began, so a lead written meanwhile adds a row it leaves alone."""
    connection = _kept_counts(using)
    if connection is None or not dealer_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_FOLD_SQL, [sorted(dealer_ids)])
        (removed,) = cursor.fetchone()
    return removed


def open_lead_counts_fold_piled_up() -> int:
    """Fold every dealer with more count rows than people, one dealer at a time under its row lock, as the round-robin
    would; returns the rows removed. For dealers whose round-robin does not run to do it (all their leads go to the
    BDC, whose claims and closes still add rows)."""
    connection = _kept_counts()
    if connection is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_PILED_UP_SQL)
        dealer_ids = [dealer_id for (dealer_id,) in cursor.fetchall()]
    removed = 0
    for dealer_id in dealer_ids:
        with transaction.atomic(using=connection.alias):
            _dealers_lock([dealer_id], using=connection.alias)
            removed += open_lead_counts_fold(dealer_ids=[dealer_id], using=connection.alias)
    return removed


# Where the kept count (the rows' sum) and the leads disagree: (dealer, person, what the count is short of the leads).
_OFF = f"""
    WITH kept AS (SELECT dealer_id, user_id, SUM(open_leads) AS n FROM {OpenLeadCount._meta.db_table}
                  GROUP BY dealer_id, user_id),
         counted AS (SELECT dealer_id, assignee_id AS user_id, COUNT(*) AS n FROM {Lead._meta.db_table}
                     WHERE assignee_id IS NOT NULL AND closed_at IS NULL GROUP BY dealer_id, assignee_id),
         off AS (SELECT COALESCE(c.dealer_id, k.dealer_id) AS dealer_id, COALESCE(c.user_id, k.user_id) AS user_id,
                        COALESCE(c.n, 0) - COALESCE(k.n, 0) AS n
                 FROM counted c FULL JOIN kept k ON k.dealer_id = c.dealer_id AND k.user_id = c.user_id
                 WHERE COALESCE(c.n, 0) <> COALESCE(k.n, 0))"""


def open_lead_counts_off() -> list[tuple[int, int, int]]:
    """Where the kept counts differ from counting the open leads: (dealer, person, what the count is short of the
    leads), read only. Empty when all is well (and on SQLite, which keeps no count)."""
    connection = _kept_counts(write=False)
    if connection is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_OFF + " SELECT dealer_id, user_id, n FROM off ORDER BY dealer_id, user_id")
        return cursor.fetchall()


def open_lead_counts_true_up() -> list[tuple[int, int, int]]:
    """Count every open lead once and add a correcting row wherever the kept count differs; returns the corrections
    (dealer, person, change). Nothing should ever differ: this catches a write that bypassed the triggers (a restore
    with triggers off, a hand-made fix) within the hour, and says so in the log. One statement sees one snapshot, so a
    lead written meanwhile is either in both the count and the rows or in neither."""
    connection = _kept_counts()
    if connection is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_OFF + f""" INSERT INTO {OpenLeadCount._meta.db_table} (dealer_id, user_id, open_leads)
                                   SELECT dealer_id, user_id, n FROM off ORDER BY dealer_id, user_id
                                   RETURNING dealer_id, user_id, open_leads""")
        corrections = cursor.fetchall()
    if corrections:
        logger.warning("Open-lead counts were off for %d people and are corrected (dealer, person, change): %s",
                       len(corrections), corrections[:20])
    return corrections


_DEALERS_LOCK_SQL = f'SELECT id FROM "{Dealer._meta.db_table}" WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE'


def round_robin_seats(*, dealer_ids, uncounted: dict | None = None, lock: bool = False) -> dict[int, list[Seat]]:
    """Each dealer's seats, read once, under the dealers' row locks (held until commit), so that no other pick counts
    alongside: `lock=True` takes them here first; without it the caller already holds them.

    On PostgreSQL the lock and the count go in one message, as two statements: READ COMMITTED gives each statement its
    own snapshot, taken when it starts, so the count still sees every lead committed before the lock was granted. One
    round trip fewer while the lock is held, and every other lead of the dealer waits for that hold.

    `uncounted`: per dealer, the one person none of the leads to assign can go to (the holder of every one of them, as
    in a reassignment away from them), whose open leads need no counting."""
    dealer_ids = sorted(set(dealer_ids))
    seats: dict[int, list[Seat]] = {d: [] for d in dealer_ids}
    if not dealer_ids:
        return seats
    alias = router.db_for_write(Dealer)  # the locks, and a count that must see what they guard
    sql = _seats_sql(len(dealer_ids), connections[alias].vendor)
    params = [v for d in dealer_ids for v in (d, (uncounted or {}).get(d) or 0)]
    if lock and connections[alias].vendor == "postgresql":
        sql, params = (_DEALERS_LOCK_SQL, sql), [dealer_ids, *params]
    elif lock:
        _dealers_lock(dealer_ids, using=alias)
    # Read with a cursor, the users built as a queryset builds them: a RawQuerySet's setup cost more than the answer.
    # Prepared for one dealer (a lead's pick); the sweep's many-dealer statements vary in length and run as they are.
    with connections[alias].cursor() as cursor:
        execute_prepared(cursor, sql, [*params, Role.SALESPERSON], prepare=len(dealer_ids) == 1)
        rows = cursor.fetchall()
    count_rows = dict.fromkeys(dealer_ids, 0)
    for membership_id, dealer_id, last_assigned_at, open_leads, rows_read, push_device, *user_values in rows:
        last_assigned_at = value_from_db(Membership, "last_assigned_at", alias, last_assigned_at)
        seats[dealer_id].append(Seat(membership_id, open_leads, last_assigned_at, bool(push_device), user_values, alias))
        count_rows[dealer_id] += rows_read
    piled_up = [dealer_id for dealer_id, rows_read in count_rows.items() if rows_read > FOLD_AFTER]
    if piled_up:  # once every FOLD_AFTER leads or so: the next picks read a row a person again
        open_lead_counts_fold(dealer_ids=piled_up, using=alias)
    return seats


def _dealers_lock(dealer_ids, *, using: str) -> None:
    """The dealers' row locks until commit, in id order (two sweepers, or a sweeper and the intake, never deadlock):
    while one holds them no other round-robin of those dealers counts."""
    dealers = Dealer.objects.using(using).select_for_update(no_key=True).filter(pk__in=set(dealer_ids))
    list(dealers.order_by("pk").values_list("pk"))


def salesperson_pick(*, dealer: Dealer, exclude_user_id=None, preferred_user_id=None, lock: bool = False):
    """The on-duty salesperson (a User, with `membership_id` and `push_device`: `Seat.user`) who gets the next lead, or
    None when nobody is on duty.

    The caller holds the dealer's row lock (or asks for it, `lock=True`), so two leads arriving at once never pick on
    stale counts.
    """
    seats = round_robin_seats(dealer_ids=[dealer.pk], uncounted={dealer.pk: exclude_user_id}, lock=lock)[dealer.pk]
    seat = round_robin_next(seats, exclude_user_id=exclude_user_id, preferred_user_id=preferred_user_id)
    return seat.user if seat is not None else None


def _fallback_managers(dealer_ids) -> dict[int, User]:
    """Who takes a sales lead when no salesperson is on duty: the dealer's manager (on duty first, then the oldest)."""
    managers: dict[int, User] = {}
    for m in (Membership.objects.filter(dealer_id__in=set(dealer_ids), role=Role.MANAGER, is_active=True)
              .order_by("dealer_id", "-on_duty", "pk").select_related("user")):
        managers.setdefault(m.dealer_id, m.user)
    return managers


def _nobody(user) -> str:
    return "nobody on duty: the manager" if user else "nobody on duty and no manager"


@dataclass(frozen=True)
class SalesPick:
    user: User | None
    why: str
    stamp: tuple[str, list] | None  # the round-robin's stamp of the pick, for the caller to write before commit


_STAMP_SQL = f'UPDATE "{Membership._meta.db_table}" SET "last_assigned_at" = %s WHERE "id" = %s'


def _sales_pick(*, lead: Lead, exclude_user_id=None, reason: str = "") -> SalesPick:
    """Who gets a sales lead: round-robin by load, or the manager when nobody is on duty.

    Takes the dealer's row lock until commit, so callers do it as late in their transaction as they can, and write
    the pick's stamp (a statement with its parameters, as portable SQL) with their own writes.
    """
    # A returning customer goes back to the salesperson they know (unless this is a reassignment away from them): read
    # before the lock, as it does not depend on the counts.
    preferred = (_previous_salesperson_ids([lead])[lead.pk] if lead.returning_customer and not exclude_user_id
                 else None)
    salesperson = salesperson_pick(dealer=lead.dealer, exclude_user_id=exclude_user_id, preferred_user_id=preferred,
                                   lock=True)
    if salesperson:
        now = Membership._meta.get_field("last_assigned_at").get_db_prep_save(timezone.now(), connection)
        return SalesPick(salesperson, reason or "round-robin", (_STAMP_SQL, [now, salesperson.membership_id]))
    user = _fallback_managers([lead.dealer_id]).get(lead.dealer_id)
    return SalesPick(user, _nobody(user), None)


def _sales_assignee(*, lead: Lead, exclude_user_id=None, reason: str = ""):
    """(user, why) for a sales lead, its round-robin stamp written at once (`_sales_pick`)."""
    pick = _sales_pick(lead=lead, exclude_user_id=exclude_user_id, reason=reason)
    if pick.stamp is not None:
        with connection.cursor() as cursor:
            cursor.execute(*pick.stamp)
    return pick.user, pick.why


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


def _previous_salesperson_ids(leads: list[Lead]) -> dict:
    """For returning customers' leads that have no owner: the salesperson of the customer's latest assigned lead (the
    rule of the intake, one lead at a time, and of the sweep's reassignment, a batch at a time). A customer the intake's
    match just read carries it already (`leads.services.customer_candidates`, the same rule in its SQL)."""
    known = {lead.pk: customer.latest_assignee_id for lead in leads
             if hasattr(customer := _CUSTOMER.get_cached_value(lead, None), "latest_assignee_id")}
    unknown = [lead for lead in leads if lead.pk not in known]
    if not unknown:
        return known
    latest: dict = {}
    for customer_id, assignee_id in (
            Lead.objects.for_dealers({lead.dealer_id for lead in unknown})
            .filter(customer_id__in={lead.customer_id for lead in unknown}, assignee__isnull=False)
            .order_by("customer_id", "-received_at").values_list("customer_id", "assignee_id")):
        latest.setdefault(customer_id, assignee_id)
    return {**known, **{lead.pk: latest.get(lead.customer_id) for lead in unknown}}


_CUSTOMER = Lead._meta.get_field("customer")


def _stamps_write(stamps: dict) -> None:
    """The picks' stamps (membership id -> when) in one statement. On PostgreSQL from arrays: Django's bulk_update
    builds a CASE branch per row, which took an eighth of a 10,000-lead sweep's time."""
    if not stamps:
        return
    if connection.vendor != "postgresql":  # the quick start's SQLite
        Membership.objects.bulk_update([Membership(pk=pk, last_assigned_at=at) for pk, at in stamps.items()],
                                       ["last_assigned_at"])
        return
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Membership._meta.db_table} AS m SET last_assigned_at = v.at "
                       f"FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) WHERE m.id = v.id",
                       [list(stamps), list(stamps.values())])


def leads_sales_reassign(*, leads: list[Lead], reason: str) -> dict:
    """Stalled sales leads go to the next on-duty salesperson (never their current one) by the intake's rule
    (`round_robin_next`), a batch at a time: the dealers' locks and their seats in one round trip, each lead
    picked in turn with the counts kept in memory (a lead leaves its old owner's count and joins its new one's, as if
    written at once), the picks' stamps in one statement. Sets each lead's queue and assignee without saving them: the
    caller writes them with its own update before commit, while the locks are held. Returns each lead's `Routed` (the
    timeline entry, the new owner's notice) by lead pk."""
    if not leads:
        return {}
    dealer_ids = {lead.dealer_id for lead in leads}
    holders: dict = {}  # per dealer: the holders of its leads in the batch
    for lead in leads:
        holders.setdefault(lead.dealer_id, set()).add(lead.assignee_id)
    # A dealer's leads that all leave the same person (one lead per dealer and batch, typically): they are never
    # chosen, so their open leads are not counted.
    seats = round_robin_seats(dealer_ids=dealer_ids, lock=True,
                              uncounted={d: next(iter(ids)) for d, ids in holders.items() if len(ids) == 1})
    preferred = _previous_salesperson_ids([lead for lead in leads if lead.returning_customer and not lead.assignee_id])
    start, picks = timezone.now(), 0
    stamps: dict[int, dt.datetime] = {}  # membership id -> its latest pick
    decided: list[tuple[Lead, User | None, str]] = []
    for lead in leads:  # in the caller's order, as the intake would have met them
        previous = lead.assignee_id
        seat = round_robin_next(seats[lead.dealer_id], exclude_user_id=previous, preferred_user_id=preferred.get(lead.pk))
        for other in seats[lead.dealer_id]:
            if other.user.pk == previous and other.open_leads is not None:
                other.open_leads -= 1
        if seat is None:
            decided.append((lead, None, ""))
            continue
        picks += 1  # later picks get later stamps, so the order within the batch is kept for the next pick
        seat.open_leads += 1
        seat.last_assigned_at = stamps[seat.membership_id] = start + dt.timedelta(microseconds=picks)
        decided.append((lead, seat.user, reason or "round-robin"))
    _stamps_write(stamps)
    managers = _fallback_managers({lead.dealer_id for lead, user, _text in decided if user is None})
    routed = {}
    for lead, user, text in decided:
        if user is None:
            user = managers.get(lead.dealer_id)
            text = _nobody(user)
        lead.queue, lead.assignee = Queue.SALES, user
        notice = assignee_notice(lead=lead, user=user, kind=NotificationKind.ASSIGNED) if user is not None else None
        routed[lead.pk] = Routed(events=[_assigned_event(lead, user, text=text)], notice=notice)
    return routed


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
    # One entry for the classification and the queue (before 2026-12 there were two: CLASSIFIED, then ROUTED).
    events = [
        lead_event_new(lead=lead, type=EventType.ROUTED, text=lead.queue, at=now,
                       data={"kind": lead.kind, "clock_started_at": deadline.clock_started_at.isoformat(),
                             "due_at": deadline.due_at.isoformat()}),
    ]
    routed = Routed(events=events)
    if lead.queue == Queue.SALES:  # last: the round-robin holds the dealer's lock until commit
        pick = _sales_pick(lead=lead)
        lead.assignee = pick.user
        events.append(_assigned_event(lead, pick.user, text=pick.why))
        if pick.user is not None:
            routed.notice = assignee_notice(lead=lead, user=pick.user, kind=NotificationKind.ASSIGNED)
        if pick.stamp is not None:
            routed.writes.append(pick.stamp)
    return routed


def lead_route(*, lead: Lead) -> Lead:
    """Route a stored lead in its own transaction. Safe to call twice (the sweep retries leads whose routing failed)."""
    with transaction.atomic():
        lead = lead_lock(lead, "dealer", "customer")
        if lead.routed_at is None:
            routed = lead_route_new(lead=lead)
            lead.save(update_fields=ROUTING_FIELDS)
            routed_save(routed)
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
