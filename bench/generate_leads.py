"""Bulk data for the reporting benchmark: dealer groups, people, leads with attempts, appointments and escalations.

Tenancy rows (groups, dealers, users, memberships, policies) go through the ORM's bulk_create; the big tables
(customers, leads, contact attempts, appointments, escalations) are streamed with PostgreSQL COPY, month by month,
so rows of all dealers are interleaved on disk as real arrivals are. Deterministic for a given seed.

Used by bench/reporting.py; only ever against the benchmark's own database.
"""

import datetime as dt
import io
import json
import random
import uuid
import zoneinfo
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from dealers.models import Dealer, DealerGroup, FollowUpPolicy, Membership, Role, User

NULL = r"\N"  # COPY text format
AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
FIRST = ["Jan", "Sanne", "Daan", "Emma", "Bram", "Julia", "Lucas", "Sophie", "Sem", "Lotte", "Thijs", "Fleur", "Ruben",
         "Anouk", "Jesse", "Iris", "Milan", "Noor", "Lars", "Eva", "Stijn", "Femke", "Koen", "Lieke", "Tim", "Roos"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos",
        "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "van Dijk", "Kok"]
CARS = [("Hyundai", "Tucson"), ("Kia", "Niro"), ("Volkswagen", "Golf"), ("Toyota", "Yaris"), ("Peugeot", "2008"),
        ("Skoda", "Octavia"), ("Renault", "Clio"), ("Volvo", "XC40")]
MESSAGES = ["Is deze auto nog beschikbaar?", "Wat kan er van de prijs af zonder inruil?", "Graag een proefrit deze week.",
            "Kunt u mij terugbellen over financiering?", "Wat is de inruilwaarde van mijn auto?", ""]
ACTIVE_SOURCES = [("marktplaats", "web_form", 30), ("autoscout24", "web_form", 25), ("website", "web_form", 20),
                  ("website", "chat", 5), ("gaspedaal", "call", 10), ("telefoon", "call", 10)]
PASSIVE_SOURCES = [("lease-einde", "lease_end"), ("lost-sale", "lost_sale"), ("datamining", "data_mining"),
                   ("werkplaats", "service")]

LEAD_COLUMNS = [
    "id", "dealer_id", "customer_id", "source", "external_id", "channel", "reason", "kind", "status", "queue", "routed_at",
    "assignee_id", "received_at", "received_at_raw", "created_at", "clock_started_at", "first_response_due_at",
    "first_contact_at", "first_connected_at", "attempt_count", "counted_attempts", "verified_attempts",
    "attempts_to_contact", "last_attempt_at", "deadline_at",
    "next_action_at", "escalation_level", "closed_at", "close_reason", "manager_flag", "vehicle", "trade_in", "message",
    "consent_marketing", "data_flags", "bant_budget", "bant_authority", "bant_need", "bant_timeline", "score",
    "returning_customer", "payload", "contact_first_name", "contact_last_name", "contact_email", "contact_phone",
    "contact_phone_raw", "contact_language",
]
CUSTOMER_COLUMNS = ["id", "dealer_id", "first_name", "last_name", "email", "phone", "phone_raw", "preferred_contact",
                    "language", "created_at"]
ATTEMPT_COLUMNS = ["dealer_id", "lead_id", "user_id", "channel", "outcome", "note", "duration_seconds", "at", "verified",
                   "counts_toward_minimum", "external_ref"]
APPOINTMENT_COLUMNS = ["dealer_id", "lead_id", "kind", "scheduled_at", "created_by_id", "created_at", "showed", "outcome_at"]
ESCALATION_COLUMNS = ["dealer_id", "lead_id", "level", "action", "due_at", "at", "resolved_at"]


@dataclass
class Staff:
    dealer_id: int
    salespeople: list[int] = field(default_factory=list)
    bdc_agents: list[int] = field(default_factory=list)
    weight: float = 1.0
    # A per-person skill: some people call faster and book more appointments (the domain's >60% dealers).
    skill: dict[int, float] = field(default_factory=dict)


@dataclass
class Generated:
    groups: int = 0
    dealers: int = 0
    users: int = 0
    leads: int = 0
    attempts: int = 0
    appointments: int = 0
    escalations: int = 0
    group_slugs: list[str] = field(default_factory=list)


def _fill_unknown_not_null_columns(cursor, table: str, columns: list[str]) -> None:
    """Columns another app adds later (NOT NULL, no database default) get a neutral default, so COPY keeps working."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s AND is_nullable = 'NO' "
        "AND column_default IS NULL AND is_identity = 'NO'", [table])
    neutral = {"boolean": "false", "jsonb": "'{}'::jsonb", "json": "'{}'::json", "text": "''", "character varying": "''",
               "integer": "0", "smallint": "0", "bigint": "0", "numeric": "0", "double precision": "0",
               "timestamp with time zone": "now()", "date": "current_date", "uuid": "gen_random_uuid()"}
    for name, data_type in cursor.fetchall():
        if name not in columns and data_type in neutral:
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" SET DEFAULT {neutral[data_type]}')


def _copy(cursor, table: str, columns: list[str], rows: io.StringIO) -> None:
    rows.seek(0)
    cursor.cursor.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', rows)


def _ts(value: dt.datetime | None) -> str:
    return NULL if value is None else value.isoformat()


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _opening_clock(received: dt.datetime) -> dt.datetime:
    """Open 08:00–20:00 local: a lead that arrives while closed starts its clock at the next opening."""
    local = received.astimezone(AMSTERDAM)
    if 8 <= local.hour < 20:
        return received
    day = local.date() if local.hour < 8 else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(8, 0), tzinfo=AMSTERDAM)


def tenancy_create(*, dealers: int, group_size: int, rng: random.Random) -> tuple[list[Staff], Generated]:
    """Groups of `group_size` rooftops, each with a manager, six salespeople and two BDC agents; one admin per group."""
    result = Generated()
    password = make_password("bench-wachtwoord-1")
    n_groups = -(-dealers // group_size)
    groups = DealerGroup.objects.bulk_create(
        [DealerGroup(name=f"Autogroep {i + 1:02d}", slug=f"bench-groep-{i + 1:02d}") for i in range(n_groups)])
    dealer_rows = Dealer.objects.bulk_create([
        Dealer(group=groups[i // group_size], name=f"Autobedrijf {LAST[i % len(LAST)]} {i + 1:03d}",
               slug=f"bench-dealer-{i + 1:03d}")
        for i in range(dealers)])
    FollowUpPolicy.objects.bulk_create([FollowUpPolicy(dealer=d) for d in dealer_rows])
    users, memberships, staff = [], [], []
    for index, dealer in enumerate(dealer_rows):
        people = [(Role.MANAGER, "manager")] + [(Role.SALESPERSON, f"verkoper{k}") for k in range(1, 7)] + [
            (Role.BDC_AGENT, f"bdc{k}") for k in range(1, 3)]
        for role, handle in people:
            users.append((dealer, role, User(email=f"{handle}@{dealer.slug}.test", password=password,
                                             first_name=rng.choice(FIRST), last_name=rng.choice(LAST))))
        staff.append(Staff(dealer_id=dealer.pk, weight=0.5 + rng.random() if index % group_size else 1.5))
    created = User.objects.bulk_create([u for _d, _r, u in users])
    by_dealer = {s.dealer_id: s for s in staff}
    for (dealer, role, _u), user in zip(users, created, strict=True):
        memberships.append(Membership(dealer=dealer, user=user, role=role, on_duty=rng.random() < 0.8 or role == Role.MANAGER))
        target = by_dealer[dealer.pk]
        if role == Role.SALESPERSON:
            target.salespeople.append(user.pk)
        elif role == Role.BDC_AGENT:
            target.bdc_agents.append(user.pk)
        target.skill[user.pk] = rng.uniform(0.6, 1.4)
    Membership.objects.bulk_create(memberships)
    admins = User.objects.bulk_create([User(email=f"admin@{g.slug}.test", password=password, first_name="Femke",
                                            last_name="Hendriks") for g in groups])
    # A group admin is a group-admin membership at one of the group's rooftops (dealers/access.py).
    first_rooftop = {}
    for dealer in Dealer.objects.filter(group__in=groups).order_by("name"):
        first_rooftop.setdefault(dealer.group_id, dealer)
    Membership.objects.bulk_create([Membership(user=admin, dealer=first_rooftop[group.pk], role=Role.GROUP_ADMIN)
                                    for group, admin in zip(groups, admins, strict=True)])
    result.groups, result.dealers, result.users = n_groups, dealers, len(created) + len(admins)
    result.group_slugs = [g.slug for g in groups]
    return staff, result


def leads_generate(*, staff: list[Staff], leads: int, months: int, now: dt.datetime, rng: random.Random,
                   result: Generated, log=print) -> Generated:
    """`leads` leads spread over the last `months` months, each with a realistic follow-up history, via COPY."""
    weights = [s.weight for s in staff]
    start = now - dt.timedelta(days=30.44 * months)
    span = (now - start).total_seconds()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM leads_customer")
        next_customer = cursor.fetchone()[0] + 1
        for table, columns in (("leads_lead", LEAD_COLUMNS), ("leads_customer", CUSTOMER_COLUMNS),
                               ("followup_contactattempt", ATTEMPT_COLUMNS), ("followup_appointment", APPOINTMENT_COLUMNS),
                               ("followup_escalation", ESCALATION_COLUMNS)):
            _fill_unknown_not_null_columns(cursor, table, columns)
    chunk = max(leads // months, 1)
    produced = 0
    for month in range(months):
        size = chunk if month < months - 1 else leads - produced
        times = sorted(start.timestamp() + (month + rng.random()) * span / months for _ in range(size))
        buffers = {name: io.StringIO() for name in ("customer", "lead", "attempt", "appointment", "escalation")}
        for ts in times:
            s = rng.choices(staff, weights)[0]
            _one_lead(s, dt.datetime.fromtimestamp(ts, dt.UTC), next_customer, now, rng, buffers, result)
            next_customer += 1
        with transaction.atomic(), connection.cursor() as cursor:
            _copy(cursor, "leads_customer", CUSTOMER_COLUMNS, buffers["customer"])
            _copy(cursor, "leads_lead", LEAD_COLUMNS, buffers["lead"])
            _copy(cursor, "followup_contactattempt", ATTEMPT_COLUMNS, buffers["attempt"])
            _copy(cursor, "followup_appointment", APPOINTMENT_COLUMNS, buffers["appointment"])
            _copy(cursor, "followup_escalation", ESCALATION_COLUMNS, buffers["escalation"])
        produced += size
        log(f"  month {month + 1:>2}/{months}: {produced:,} leads")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('leads_customer', 'id'), (SELECT max(id) FROM leads_customer))")
    result.leads += produced
    return result


def _one_lead(s: Staff, received: dt.datetime, customer_id: int, now: dt.datetime, rng: random.Random,
              out: dict[str, io.StringIO], result: Generated) -> None:
    passive = rng.random() < 0.25
    if passive:
        source, reason = rng.choice(PASSIVE_SOURCES)
        channel, kind, queue = "outbound", "passive", "bdc"
        people = s.bdc_agents
    else:
        source, channel, _w = rng.choices(ACTIVE_SOURCES, [w for *_x, w in ACTIVE_SOURCES])[0]
        reason, kind, queue = "", "active", "sales"
        people = s.salespeople
    assignee = rng.choice(people)
    skill = s.skill[assignee]
    clock = _opening_clock(received)
    due = clock + (dt.timedelta(days=1) if passive else dt.timedelta(minutes=5))
    age = now - received

    # Speed to lead: a log-normal delay, shorter for skilled people; a few leads never get an attempt.
    attempts: list[tuple[dt.datetime, str]] = []
    connected_at = None
    if rng.random() < 0.93:
        median = 4 * 3600 if passive else 240 / skill
        first = clock + dt.timedelta(seconds=rng.lognormvariate(0, 1.3) * median)
        if rng.random() < 0.02:
            first = received - dt.timedelta(minutes=rng.randint(1, 30))  # logged before arrival: clock skew, back-dating
        reach = rng.random() < min(0.6 * skill, 0.95)
        connect_on = min(int(rng.expovariate(0.9)) + 1, 6) if reach else None
        n = connect_on or rng.choice([1, 2, 3, 4, 4, 4, 5, 6])
        cadence = [0, 1, 3, 6, 8, 10]
        for k in range(n):
            at = first + dt.timedelta(days=cadence[k], minutes=rng.randint(0, 90) if k else 0)
            if at > now:
                break
            outcome = ("connected" if rng.random() < 0.8 else "replied") if k + 1 == connect_on else rng.choice(
                ["no_answer", "no_answer", "voicemail", "busy", "sent"])
            attempts.append((at, outcome))
            if outcome in ("connected", "replied"):
                connected_at = at
                break

    appointment = showed = sold = None
    if connected_at is not None and rng.random() < min(0.6 * skill, 0.95):
        appointment = connected_at + dt.timedelta(days=rng.randint(1, 6))
        if appointment < now:
            showed = rng.random() < 0.72
            sold = showed and rng.random() < 0.45

    closed_at, status = None, "new"
    if attempts:
        status = "contacted" if connected_at else "attempted"
    if appointment:
        status = "appointment"
    if age > dt.timedelta(days=21):
        last = max([a for a, _o in attempts] + [appointment or received, received])
        closed_at = min(last + dt.timedelta(days=rng.randint(0, 5)), now)
        if sold:
            status = "sold"
        elif connected_at:
            status = rng.choice(["lost", "lost", "not_interested"])
        elif len(attempts) >= 4 or rng.random() < 0.03:
            status = "unreachable"  # the few below four are the legacy "gave up after two" the report must show
        else:
            status = "not_interested"

    lead_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    verified_p = 0.55 if skill > 1 else 0.25
    verified_count, to_contact = 0, None
    for n, (at, outcome) in enumerate(sorted(attempts), start=1):
        ch = "email" if outcome == "sent" else rng.choice(["call", "call", "call", "whatsapp"])
        verified = ch == "call" and rng.random() < verified_p
        verified_count += verified
        if to_contact is None and outcome in ("connected", "replied"):
            to_contact = n
        out["attempt"].write(f"{s.dealer_id}\t{lead_id}\t{assignee}\t{ch}\t{outcome}\t\t"
                             f"{rng.randint(20, 400) if ch == 'call' else NULL}\t{_ts(at)}\t{'t' if verified else 'f'}\tt\t\n")
    result.attempts += len(attempts)
    if appointment:
        out["appointment"].write(f"{s.dealer_id}\t{lead_id}\t{rng.choice(['showroom', 'test_drive'])}\t{_ts(appointment)}\t"
                                 f"{assignee}\t{_ts(connected_at)}\t{NULL if showed is None else ('t' if showed else 'f')}\t"
                                 f"{_ts(appointment) if showed is not None else NULL}\n")
        result.appointments += 1

    deadline = next_action = None
    level = 0
    if closed_at is None and connected_at is None and appointment is None:
        deadline = due if not attempts else attempts[-1][0] + dt.timedelta(days=2)
        next_action = deadline
        if deadline < now:
            level = rng.choice([1, 2])
            out["escalation"].write(f"{s.dealer_id}\t{lead_id}\t{level}\t{'remind' if level == 1 else 'alert_manager'}\t"
                                    f"{_ts(deadline)}\t{_ts(deadline + dt.timedelta(minutes=15))}\t{NULL}\n")
            result.escalations += 1

    first, last_name = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first.lower()}.{last_name.replace(' ', '').lower()}{customer_id}@example.nl"
    phone = f"+316{rng.randint(10_000_000, 99_999_999)}"
    out["customer"].write(f"{customer_id}\t{s.dealer_id}\t{first}\t{last_name}\t{email}\t{phone}\t{phone}\t\tnl\t{_ts(received)}\n")
    make, model = rng.choice(CARS)
    vehicle = json.dumps({"make": make, "model": model, "year": rng.randint(2015, 2026), "interest": "buy"})
    message = rng.choice(MESSAGES)
    payload = json.dumps({"external_id": f"{source.upper()}-{customer_id}", "channel": channel,
                          "customer": {"first_name": first, "last_name": last_name, "email": email, "phone": phone},
                          "vehicle": json.loads(vehicle), "message": message})
    counted = min(len(attempts), 6)
    first_attempt = min((a for a, _o in attempts), default=None)
    last_attempt = max((a for a, _o in attempts), default=None)
    score = rng.randint(0, 100)
    row = [
        lead_id, str(s.dealer_id), str(customer_id), source, f"{source.upper()}-{customer_id}", channel, reason, kind, status,
        queue, _ts(received), str(assignee), _ts(received), "", _ts(received), _ts(clock), _ts(due), _ts(first_attempt),
        _ts(connected_at), str(len(attempts)), str(counted), str(verified_count), NULL if to_contact is None else str(to_contact),
        _ts(last_attempt), _ts(deadline), _ts(next_action), str(level),
        _ts(closed_at), "", "", _esc(vehicle), "{}", _esc(message), "f", "[]", "0", "0", "0", "0", str(score), "f",
        _esc(payload), first, last_name, email, phone, phone, "nl",  # the lead's own contact, as given
    ]
    out["lead"].write("\t".join(row) + "\n")

