"""The report figures, computed in the database in one statement per report, whatever the number of leads.

How: a CTE, `report_cohort`, holds one row per lead of the period with its flags and durations worked out (contacted,
has an appointment, showed, sold, seconds to the first attempt, …). Each breakdown — the whole cohort, per rooftop,
person, team, source, kind, week and speed band — is an aggregate query over that CTE, and the breakdowns are joined
with UNION ALL, so the leads are read once. Per-lead flags are defined in `cohort_queryset`, the figures over them in
`FIGURES`: the dashboard, its CSV exports and the JSON endpoint all read these rows.

The cohort: the leads *received* in the period (local dates of the dealer, both inclusive) and everything that happened
to them since, also after the period ended. Definitions in words: reporting/tables.py and docs/reporting.md.
"""

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, connections, transaction
from django.db.models import (
    Avg,
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Round, TruncWeek
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.db_router import read_alias
from dealers.models import ApiKey, Dealer, FollowUpPolicy, Membership, Role, User
from followup.models import Appointment, Escalation
from leads.models import Kind, Lead, Queue, Status, due_at_expression

from .expressions import ElapsedSeconds, PercentileCont, Ratio, ShareOfTotal
from .models import CohortLead

TEAM_ROLES = (Role.SALESPERSON, Role.BDC_AGENT)

# Speed-to-lead histogram: upper bounds in seconds (the last bucket is open-ended); label keys for the page.
SPEED_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (60, gettext_lazy("under 1 min")), (120, gettext_lazy("1–2 min")), (300, gettext_lazy("2–5 min")),
    (900, gettext_lazy("5–15 min")), (1800, gettext_lazy("15–30 min")), (3600, gettext_lazy("30–60 min")),
    (4 * 3600, gettext_lazy("1–4 hours")), (24 * 3600, gettext_lazy("4–24 hours")), (72 * 3600, gettext_lazy("1–3 days")),
    (None, gettext_lazy("over 3 days")),
)
NO_ATTEMPT_BUCKET = -1


@dataclass(frozen=True)
class ReportFilters:
    date_from: dt.date
    date_to: dt.date
    source: str = ""
    kind: str = ""
    assignee_id: int | None = None


@dataclass(frozen=True)
class ReportScope:
    """The dealers a report covers (one rooftop, or every rooftop of a group) and their follow-up policies."""

    dealers: tuple[Dealer, ...]
    policies: dict[int, FollowUpPolicy]

    @property
    def dealer_ids(self) -> list[int]:
        return [d.pk for d in self.dealers]

    @property
    def tz(self) -> ZoneInfo:
        # Weeks and "today" follow the first rooftop's zone; a group's rooftops share one country in practice.
        return self.dealers[0].tz

    def target(self, name: str) -> Decimal | None:
        """A target (map_target, contact_target, …) when every rooftop has the same one, else None."""
        # Decimal(str()): an unsaved default policy holds the float 0.36, a saved one Decimal("0.360").
        values = {Decimal(str(getattr(self.policies[d.pk], name))) for d in self.dealers}
        return values.pop() if len(values) == 1 else None


def report_scope(*, dealers: Sequence[Dealer]) -> ReportScope:
    """The scope with each dealer's policy; a dealer without a saved policy gets the defaults (nothing is written)."""
    saved = {p.dealer_id: p for p in FollowUpPolicy.objects.filter(dealer__in=dealers)}
    return ReportScope(dealers=tuple(dealers), policies={d.pk: saved.get(d.pk) or FollowUpPolicy(dealer=d) for d in dealers})


def period_bounds(*, tz: ZoneInfo, date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) as aware datetimes: local midnight of `date_from` up to local midnight after `date_to`."""
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def _per_time_zone(scope: ReportScope) -> dict[str, list[int]]:
    zones: dict[str, list[int]] = defaultdict(list)
    for dealer in scope.dealers:
        zones[dealer.time_zone].append(dealer.pk)
    return zones


def cohort_condition(*, scope: ReportScope, filters: ReportFilters, prefix: str = "") -> Q:
    """Received in the period (each dealer's own local dates) and matching the filters; `prefix` for a related lead."""
    received = Q(pk__in=[])
    for zone, dealer_ids in _per_time_zone(scope).items():
        start, end = period_bounds(tz=ZoneInfo(zone), date_from=filters.date_from, date_to=filters.date_to)
        received |= Q(**{f"{prefix}dealer_id__in": dealer_ids, f"{prefix}received_at__gte": start,
                          f"{prefix}received_at__lt": end})
    narrowed = {"source": filters.source, "kind": filters.kind, "assignee_id": filters.assignee_id}
    return received & Q(**{f"{prefix}{name}": value for name, value in narrowed.items() if value})


def leads_in_period(*, scope: ReportScope, filters: ReportFilters) -> QuerySet[Lead]:
    """The report's cohort: the leads received in the period, narrowed by the filters."""
    return Lead.objects.for_dealers(scope.dealer_ids).filter(cohort_condition(scope=scope, filters=filters))



def _below_minimum(scope: ReportScope) -> Q:
    """Closed unreachable with fewer counted attempts than that dealer's own minimum: the SQL form of
    `dealers.policy.attempts_owed(...) > 0`, so a whole period is counted in one query."""
    by_minimum: dict[int, list[int]] = defaultdict(list)
    for dealer_id, policy in scope.policies.items():
        by_minimum[policy.min_attempts].append(dealer_id)
    below = Q(pk__in=[])
    for minimum, dealer_ids in by_minimum.items():
        below |= Q(dealer_id__in=dealer_ids, counted_attempts__lt=minimum)
    return Q(status=Status.UNREACHABLE) & below


def _flag(condition: Q) -> ExpressionWrapper:
    return ExpressionWrapper(condition, output_field=BooleanField())


def cohort_queryset(*, scope: ReportScope, filters: ReportFilters) -> QuerySet:
    """One row per lead of the cohort with what the figures count: the per-lead half of every definition."""
    dealer_ids = scope.dealer_ids
    attempted = Q(first_contact_at__isnull=False, clock_started_at__isnull=False)
    reached = Q(first_connected_at__isnull=False, clock_started_at__isnull=False)
    to_first_attempt = ElapsedSeconds("clock_started_at", "first_contact_at")
    return leads_in_period(scope=scope, filters=filters).order_by().annotate(
        attempt_seconds=Case(When(attempted, then=to_first_attempt), default=Value(None), output_field=FloatField()),
    ).values(
        lead_ref=F("id"), dealer_ref=F("dealer_id"), assignee_ref=F("assignee_id"), lead_queue=F("queue"),
        lead_source=F("source"), lead_kind=F("kind"),
        week=TruncWeek("received_at", tzinfo=scope.tz, output_field=DateField()),
        # first_connected_at is set by followup.services.attempt_log on the first connected/replied attempt.
        is_contacted=_flag(Q(first_connected_at__isnull=False)),
        # Uncorrelated IN-subqueries: PostgreSQL hashes each once per report instead of probing per lead.
        has_appointment=_flag(Q(pk__in=Appointment.objects.for_dealers(dealer_ids).values("lead_id"))),
        is_shown=_flag(Q(pk__in=Appointment.objects.for_dealers(dealer_ids).filter(showed=True).values("lead_id"))),
        is_sold=_flag(Q(status=Status.SOLD)),
        is_open=_flag(Q(closed_at__isnull=True)),
        is_attempted=_flag(Q(first_contact_at__isnull=False)),
        is_within_deadline=_flag(Q(first_contact_at__lte=F("first_response_due_at"))),
        is_unreachable=_flag(Q(status=Status.UNREACHABLE)),
        is_below_minimum=_flag(_below_minimum(scope)),
        seconds_to_attempt=F("attempt_seconds"),
        seconds_to_contact=Case(When(reached, then=ElapsedSeconds("clock_started_at", "first_connected_at")),
                                default=Value(None), output_field=FloatField()),
        n_attempts=F("attempt_count"),
        n_verified=F("verified_attempts"),  # both kept on the lead by followup.services.attempt_log
        n_to_contact=F("attempts_to_contact"),
    )


def _count(flag: str | None = None):
    return Count("pk", filter=Q(**{flag: True}) if flag else None)


# The figures over the cohort's rows: one definition each (docs/reporting.md says the same in words).
COUNTS = {
    "leads": _count(), "contacted": _count("is_contacted"), "appointments": _count("has_appointment"),
    "shown": _count("is_shown"), "sold": _count("is_sold"), "still_open": _count("is_open"),
    "attempted": _count("is_attempted"), "within_deadline": _count("is_within_deadline"),
    "closed_unreachable": _count("is_unreachable"), "closed_unreachable_below_minimum": _count("is_below_minimum"),
    "attempts_total": Coalesce(Cast(Sum("n_attempts"), BigIntegerField()), 0),
    "attempts_verified": Coalesce(Cast(Sum("n_verified"), BigIntegerField()), 0),
}
RATES = {
    "contact_rate": Ratio(F("contacted"), F("leads")),
    "appointment_rate": Ratio(F("appointments"), F("leads")),
    "appointment_of_contacted_rate": Ratio(F("appointments"), F("contacted")),
    "show_rate": Ratio(F("shown"), F("appointments")),
    "close_rate": Ratio(F("sold"), F("shown")),
    "sale_rate": Ratio(F("sold"), F("leads")),
    "within_deadline_rate": Ratio(F("within_deadline"), F("leads")),
    "attempts_self_reported": F("attempts_total") - F("attempts_verified"),
    "attempts_verified_rate": Ratio(F("attempts_verified"), F("attempts_total")),
    # Attempts up to and including the first real contact, over the contacted leads ("how many tries to reach them").
    "attempts_to_contact": Ratio(Sum("n_to_contact", filter=Q(is_contacted=True)), F("contacted"), 2),
}
MEDIAN = {"first_attempt_median": Round(PercentileCont("seconds_to_attempt", 0.5))}
SPEED = {
    **MEDIAN,
    "first_attempt_mean": Round(Avg("seconds_to_attempt")),
    "first_attempt_p90": Round(PercentileCont("seconds_to_attempt", 0.9)),
    "first_contact_median": Round(PercentileCont("seconds_to_contact", 0.5)),
    "first_contact_mean": Round(Avg("seconds_to_contact")),
    "first_contact_p90": Round(PercentileCont("seconds_to_contact", 0.9)),
}
SHARE = {"share": ShareOfTotal(Count("pk"))}  # of the cohort: a window over the branch's groups
FIGURES = {**COUNTS, **RATES, **SPEED, **SHARE}
FLOAT_FIGURES = {*RATES, *SPEED, *SHARE} - {"attempts_self_reported"}

# Each breakdown: its keys, and which figures it needs (each percentile costs a sort, so only where the page shows it).
# The speed band of a lead, over the cohort's column (so the elapsed time is worked out once per lead).
SPEED_BAND = Case(When(seconds_to_attempt__isnull=True, then=Value(NO_ATTEMPT_BUCKET)),
                  *[When(seconds_to_attempt__lt=upper, then=Value(i)) for i, (upper, _l) in enumerate(SPEED_BUCKETS) if upper],
                  default=Value(len(SPEED_BUCKETS) - 1), output_field=IntegerField())
KEYS = {"k_dealer": BigIntegerField(), "k_assignee": BigIntegerField(), "k_text": CharField(), "k_week": DateField(),
        "k_bucket": IntegerField()}
BRANCHES = {
    "all": ({}, {**COUNTS, **RATES, **SPEED, **SHARE}),
    "dealer": ({"k_dealer": "dealer_ref"}, {**COUNTS, **RATES, **MEDIAN, **SHARE}),
    "assignee": ({"k_dealer": "dealer_ref", "k_assignee": "assignee_ref"}, {**COUNTS, **RATES, **MEDIAN, **SHARE}),
    # No median per team, source, kind or week: without an ordered-set aggregate these group by hashing, unsorted.
    "team": ({"k_text": "lead_queue"}, {**COUNTS, **RATES, **SHARE}),
    "source": ({"k_text": "lead_source"}, {**COUNTS, **RATES, **SHARE}),
    "kind": ({"k_text": "lead_kind"}, {**COUNTS, **RATES, **SHARE}),
    "week": ({"k_week": "week"}, {**COUNTS, **RATES, **SHARE}),
    "speed": ({"k_bucket": SPEED_BAND}, {"leads": COUNTS["leads"], **SHARE}),
}


def _null(output_field) -> Cast:
    return Cast(Value(None), output_field=output_field)


@functools.cache
def _branch_sql(breakdown: str, vendor: str) -> tuple[str, tuple]:
    """A breakdown's SELECT over the CTE. It depends on nothing but the breakdown, so it is compiled once per process
    (compiling ~40 expressions per branch costs more than running them)."""
    keys, figures = BRANCHES[breakdown]
    values = {"breakdown": Value(breakdown, output_field=CharField())}
    # A breakdown's unused columns are typed NULLs, so every branch of the UNION has the same columns and types.
    values.update({k: (F(keys[k]) if isinstance(keys[k], str) else keys[k]) if k in keys else _null(f) for k, f in KEYS.items()})
    annotations = {}
    for name in FIGURES:
        annotations[name] = figures[name] if name in figures else _null(
            FloatField() if name in FLOAT_FIGURES else IntegerField())
    query = CohortLead.objects.values(**values).annotate(**annotations).order_by().query
    return query.get_compiler(connection=connection).as_sql()


def report_rows(*, scope: ReportScope, filters: ReportFilters, breakdowns: Sequence[str]) -> list[dict]:
    """The figures of the asked breakdowns ("all", "dealer", "assignee", "team", "source", "kind", "week", "speed"),
    as rows with a `breakdown` column: one SQL statement (plus, on PostgreSQL, one SET)."""
    cohort_sql, cohort_params = cohort_queryset(scope=scope, filters=filters).query.sql_with_params()
    branches = [_branch_sql(b, connection.vendor) for b in breakdowns]
    # MATERIALIZED: the leads are read once for all breakdowns (PostgreSQL ≥ 12 and SQLite ≥ 3.35 know the hint).
    statement = (f'WITH "{CohortLead._meta.db_table}" AS MATERIALIZED ({cohort_sql}) '
                 + " UNION ALL ".join(f"SELECT * FROM ({sql}) AS b{i}" for i, (sql, _p) in enumerate(branches)))
    params = [*cohort_params, *(p for _sql, branch_params in branches for p in branch_params)]
    database = connections[read_alias()]  # the replica inside the dashboard's `reading_replica()` (config/db_router.py)
    with transaction.atomic(using=database.alias), database.cursor() as cursor:
        if database.vendor == "postgresql":
            # For this statement only: JIT compilation would add ~100 ms to a query that runs in tens of them, and
            # the breakdowns' sorts of a group's year (~50k leads) spill to disk at the 4 MB default.
            cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        cursor.execute(statement, params)
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class FigureRow:
    """One row of figures: the whole cohort, or one rooftop / person / team / source / kind / week of it."""

    key: object = None
    label: str = ""
    leads: int = 0
    contacted: int = 0
    appointments: int = 0
    shown: int = 0
    sold: int = 0
    still_open: int = 0
    contact_rate: float | None = None
    appointment_rate: float | None = None
    appointment_of_contacted_rate: float | None = None
    show_rate: float | None = None
    close_rate: float | None = None
    sale_rate: float | None = None
    attempted: int = 0
    within_deadline: int = 0
    within_deadline_rate: float | None = None
    first_attempt_median: int | None = None
    first_attempt_mean: int | None = None
    first_attempt_p90: int | None = None
    first_contact_median: int | None = None
    first_contact_mean: int | None = None
    first_contact_p90: int | None = None
    closed_unreachable: int = 0
    closed_unreachable_below_minimum: int = 0
    attempts_total: int = 0
    attempts_verified: int = 0
    attempts_self_reported: int = 0
    attempts_verified_rate: float | None = None
    attempts_to_contact: float | None = None
    share: float | None = None
    dealer_id: int | None = None
    targets: dict = field(default_factory=dict)

    SECONDS = ("first_attempt_median", "first_attempt_mean", "first_attempt_p90", "first_contact_median",
               "first_contact_mean", "first_contact_p90")

    @classmethod
    def from_values(cls, values: dict, **extra) -> "FigureRow":
        names = {f.name for f in fields(cls)}
        row = cls(**{**{k: v for k, v in values.items() if k in names and v is not None}, **extra})
        for name in cls.SECONDS:  # whole seconds, rounded in SQL; only the type changes here
            value = getattr(row, name)
            setattr(row, name, None if value is None else int(value))
        return row

    @property
    def map_met(self) -> bool | None:
        return self.meets("appointment_rate", "map_target")

    def meets(self, rate: str, target_name: str) -> bool | None:
        value, target = getattr(self, rate), self.targets.get(target_name)
        return None if value is None or target is None else Decimal(str(value)) >= target


TARGETS = ("map_target", "contact_target", "appointment_of_contacted_target")


def _targets(scope: ReportScope, dealer_id: int | None = None) -> dict:
    if dealer_id is not None:
        return {n: Decimal(str(getattr(scope.policies[dealer_id], n))) for n in TARGETS}
    return {n: scope.target(n) for n in TARGETS}


def _label(breakdown: str, values: dict, scope: ReportScope, names: dict | None = None) -> str:
    if breakdown == "dealer":
        return next((d.name for d in scope.dealers if d.pk == values["k_dealer"]), str(values["k_dealer"]))
    if breakdown == "assignee":
        if values["k_assignee"] is None:  # in a group, each rooftop's queue is its own row: say whose
            label = _("Unassigned (waiting in a queue)")
            return label if len(scope.dealers) == 1 else f"{label} · {_label('dealer', values, scope)}"
        name = (names or {}).get(values["k_assignee"]) or str(values["k_assignee"])
        return name if len(scope.dealers) == 1 else f"{name} · {_label('dealer', values, scope)}"
    if breakdown == "team":
        return _("BDC") if values["k_text"] == Queue.BDC else _("Salespeople")
    if breakdown == "kind":
        return str(Kind(values["k_text"]).label) if values["k_text"] in Kind.values else _("Not routed yet")
    if breakdown == "week":
        return str(values["k_week"])
    return values["k_text"] or "–"


def _week_key(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):  # SQLite (the embedded demo) returns dates as text
        return dt.date.fromisoformat(value[:10])
    return value


def figure_rows(*, scope: ReportScope, filters: ReportFilters, rows: list[dict], breakdown: str,
                names: dict | None = None) -> list[FigureRow]:
    """The rows of one breakdown as FigureRows: biggest first, or weeks in order with empty weeks as zero rows."""
    result = []
    for values in rows:
        if values["breakdown"] != breakdown:
            continue
        dealer_id = values["k_dealer"]
        key = {"all": "all", "dealer": dealer_id, "assignee": (dealer_id, values["k_assignee"]),
               "week": _week_key(values["k_week"])}.get(breakdown, values["k_text"])
        result.append(FigureRow.from_values(values, key=key, label=_label(breakdown, values, scope, names), dealer_id=dealer_id,
                                            targets=_targets(scope, dealer_id)))
    if breakdown == "week":
        return _every_week(result, scope, filters)
    return sorted(result, key=lambda r: (-r.leads, str(r.label)))


def report_summary(*, scope: ReportScope, filters: ReportFilters) -> FigureRow:
    """The cohort's figures in one row (funnel, rates, speed, compliance, attempts): one statement."""
    rows = report_rows(scope=scope, filters=filters, breakdowns=["all"])
    return _summary_row(scope=scope, filters=filters, rows=rows)


def _summary_row(*, scope: ReportScope, filters: ReportFilters, rows: list[dict]) -> FigureRow:
    # No lead in the period gives no row to aggregate: then every count is 0 and every rate and time null.
    found = figure_rows(scope=scope, filters=filters, rows=rows, breakdown="all")
    return found[0] if found else FigureRow(key="all", targets=_targets(scope))


def _every_week(rows: list[FigureRow], scope: ReportScope, filters: ReportFilters) -> list[FigureRow]:
    """Weeks (Monday) from the period's first to its last, with a zero row where no lead arrived."""
    found = {r.key: r for r in rows}
    monday = filters.date_from - dt.timedelta(days=filters.date_from.weekday())
    weeks = []
    while monday <= filters.date_to:
        row = found.get(monday) or FigureRow(targets=_targets(scope))
        row.key, row.label = monday, monday.isoformat()
        weeks.append(row)
        monday += dt.timedelta(days=7)
    return weeks


@dataclass
class SpeedBucket:
    label: str
    upper_seconds: int | None
    leads: int
    share: float | None
    within_deadline: bool



def speed_buckets(*, scope: ReportScope, rows: list[dict]) -> list[SpeedBucket]:
    """The speed band rows as the histogram's bars, with the leads that got no attempt at all last."""
    counts = {v["k_bucket"]: v for v in rows if v["breakdown"] == "speed"}
    deadline = min((p.first_response_minutes for p in scope.policies.values()), default=5) * 60
    buckets = [SpeedBucket(label=str(label), upper_seconds=upper, leads=counts.get(i, {}).get("leads") or 0,
                           share=counts.get(i, {}).get("share"), within_deadline=upper is not None and upper <= deadline)
               for i, (upper, label) in enumerate(SPEED_BUCKETS)]
    none = counts.get(NO_ATTEMPT_BUCKET, {})
    buckets.append(SpeedBucket(label=_("no attempt"), upper_seconds=None, leads=none.get("leads") or 0,
                               share=none.get("share"), within_deadline=False))
    return buckets


# ---- the live board -------------------------------------------------------------------------------------------------

def _today_start(scope: ReportScope, now: dt.datetime) -> Q:
    today = Q(pk__in=[])
    for zone, dealer_ids in _per_time_zone(scope).items():
        midnight = dt.datetime.combine(now.astimezone(ZoneInfo(zone)).date(), dt.time.min, tzinfo=ZoneInfo(zone))
        today |= Q(dealer_id__in=dealer_ids, received_at__gte=midnight)
    return today


def board_counts(*, scope: ReportScope, now: dt.datetime, by_dealer: bool = False) -> list[dict] | dict:
    """Right now: new leads today, untouched open leads, overdue open leads, leads in escalation, and leads the sweep
    could not route or escalate (each one is retried with a growing delay; the lead page says why)."""
    open_leads = Q(closed_at__isnull=True)
    aggregates = {
        "new_today": Count("pk", filter=_today_start(scope, now)),
        "untouched": Count("pk", filter=open_leads & Q(first_contact_at__isnull=True)),
        "overdue": Count("pk", filter=open_leads & _late(now)),
        "escalated": Count("pk", filter=open_leads & Q(escalation_level__gt=0)),
        "sweep_failing": Count("pk", filter=open_leads & Q(sweep_failures__gt=0)),  # the timers could not handle them
        "open": Count("pk", filter=open_leads),
    }
    # Only open leads and today's arrivals can count, so the scan stays small whatever the history.
    leads = Lead.objects.for_dealers(scope.dealer_ids).filter(open_leads | _today_start(scope, now))
    if by_dealer:
        return list(leads.values("dealer_id").annotate(**aggregates).order_by("dealer_id"))
    return leads.aggregate(**aggregates)


# What the board's lead rows show; leaving out the lead's payload and message keeps a group's lists cheap to load.
BOARD_LEAD_FIELDS = ("id", "dealer__slug", "dealer__name", "dealer__time_zone", "contact_first_name", "contact_last_name",
                     "contact_email", "contact_phone", "contact_phone_raw", "assignee__first_name", "assignee__last_name",
                     "assignee__email", "source", "kind", "queue", "received_at", "deadline_at", "escalation_level",
                     "first_response_due_at", "first_contact_at", "closed_at")


def untouched_leads(*, scope: ReportScope, now: dt.datetime, limit: int = 25) -> QuerySet[Lead]:
    """Open leads nobody has tried yet, longest waiting first, with how long they have waited since arrival."""
    return (Lead.objects.for_dealers(scope.dealer_ids).filter(closed_at__isnull=True, first_contact_at__isnull=True)
            .annotate(waiting_seconds=ElapsedSeconds("received_at", Value(now, DateTimeField())))
            .select_related("assignee", "dealer").only(*BOARD_LEAD_FIELDS)
            .order_by("received_at")[:limit])


def _late(now: dt.datetime) -> Q:
    """Past the deadline that says how late a lead really is (Lead.due_at): a first response still owed counts from
    the deadline it got on arrival, whatever escalations and reassignments did since."""
    return Q(first_contact_at__isnull=True, first_response_due_at__lt=now) | Q(first_contact_at__isnull=False,
                                                                              deadline_at__lt=now)


def overdue_leads(*, scope: ReportScope, now: dt.datetime, limit: int = 25) -> QuerySet[Lead]:
    """Open leads past their real deadline (Lead.due_at), the longest overdue first, with how long overdue and how long
    they have waited since arrival."""
    return (Lead.objects.for_dealers(scope.dealer_ids).filter(_late(now), closed_at__isnull=True)
            .annotate(due_at_sort=due_at_expression(),
                      overdue_seconds=ElapsedSeconds(due_at_expression(), Value(now, DateTimeField())),
                      waiting_seconds=ElapsedSeconds("received_at", Value(now, DateTimeField())))
            .select_related("assignee", "dealer").only(*BOARD_LEAD_FIELDS)
            .order_by("due_at_sort")[:limit])


def open_escalations(*, scope: ReportScope) -> list[dict]:
    """Unresolved escalations of open leads, per step (reminder, manager alert, reassignment)."""
    return list(Escalation.objects.for_dealers(scope.dealer_ids).filter(resolved_at__isnull=True, lead__closed_at__isnull=True)
                .values("action").annotate(n=Count("pk")).order_by("action"))


def team_members(*, scope: ReportScope, now: dt.datetime) -> QuerySet[Membership]:
    """Salespeople and BDC agents of the scope with their open, untouched and overdue leads (one query)."""
    def count(*conditions, **lookups):
        return Coalesce(Subquery(
            # Correlated on the outer membership's dealer, so it reads only the scope's dealers.
            Lead.objects.unscoped().filter(*conditions, dealer_id=OuterRef("dealer_id"), assignee_id=OuterRef("user_id"),
                                           closed_at__isnull=True, **lookups)
            .order_by().values("assignee_id").annotate(n=Count("pk")).values("n")[:1]
        ), 0)

    return (Membership.objects.filter(dealer_id__in=scope.dealer_ids, is_active=True, role__in=TEAM_ROLES)
            .select_related("user", "dealer")
            .annotate(open_leads=count(), untouched=count(first_contact_at__isnull=True),
                      overdue=count(_late(now)))
            .order_by("dealer__name", "-on_duty", "role", "user__first_name", "user__last_name"))



# ---- the whole report -----------------------------------------------------------------------------------------------

REPORT_PARTS = ("summary", "dealers", "people", "teams", "sources", "kinds", "weeks", "speed")
PART_BREAKDOWN = {"summary": "all", "dealers": "dealer", "people": "assignee", "teams": "team", "sources": "source",
                  "kinds": "kind", "weeks": "week", "speed": "speed"}


@dataclass
class Report:
    scope: ReportScope
    filters: ReportFilters
    summary: FigureRow | None = None
    dealers: list[FigureRow] = field(default_factory=list)
    people: list[FigureRow] = field(default_factory=list)
    teams: list[FigureRow] = field(default_factory=list)
    sources: list[FigureRow] = field(default_factory=list)
    kinds: list[FigureRow] = field(default_factory=list)
    weeks: list[FigureRow] = field(default_factory=list)
    speed: list[SpeedBucket] = field(default_factory=list)


def report_build(*, scope: ReportScope, filters: ReportFilters, parts: Sequence[str] = REPORT_PARTS) -> Report:
    """The parts asked for, from one statement: the query count never grows with the data or the parts."""
    parts = [p for p in parts if p != "dealers" or len(scope.dealers) > 1]
    rows = report_rows(scope=scope, filters=filters, breakdowns=[PART_BREAKDOWN[p] for p in parts])
    report = Report(scope=scope, filters=filters)
    names = {}
    if "people" in parts:  # one query for the names, however many people
        ids = {r["k_assignee"] for r in rows if r["breakdown"] == "assignee" and r["k_assignee"] is not None}
        names = {u.pk: u.display_name for u in User.objects.filter(pk__in=ids).only("first_name", "last_name", "email")}
    for part in parts:
        if part == "speed":
            report.speed = speed_buckets(scope=scope, rows=rows)
        elif part == "summary":
            report.summary = _summary_row(scope=scope, filters=filters, rows=rows)
        else:
            setattr(report, part, figure_rows(scope=scope, filters=filters, rows=rows, breakdown=PART_BREAKDOWN[part],
                                              names=names))
    return report


def known_sources(*, scope: ReportScope) -> list[str]:
    """Sources to filter on: the portals with a key, plus the sources leads arrived through lately (one query)."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    recent = Lead.objects.for_dealers(scope.dealer_ids).filter(received_at__gte=since).values_list("source", flat=True)
    keys = ApiKey.objects.for_dealers(scope.dealer_ids).values_list("source", flat=True)
    return sorted({s for s in recent.union(keys) if s})
