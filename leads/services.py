"""Writes for leads: intake (idempotent), the timeline, and the notification outbox."""

import contextlib
import contextvars
import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, models, router, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _

from dealers.models import Dealer
from dealers.rows import execute_prepared, instance_from_row
from dealers.services import audit_record

from . import push
from .dates import instant_from_outside
from .matching import Candidate, customer_match
from .models import (
    ConsentRecord,
    ContactKind,
    Customer,
    CustomerContact,
    DeliveryStatus,
    EventType,
    IdempotencyKey,
    InboundDocument,
    Lead,
    LeadEvent,
    Notification,
    NotificationKind,
    PushDelivery,
    PushDeliveryStatus,
    PushStatus,
    PushSubscription,
)
from .quality import (
    EMAIL_INVALID,
    EMAIL_THROWAWAY,
    RECEIVED_AT_OUT_OF_RANGE,
    assess_contact,
    header_text,
    storable,
    warnings_for,
)
from .scoring import score_lead

logger = logging.getLogger(__name__)
IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)


# Field classes whose value goes to the database as it is when it is of one of these exact types: their pre_save reads
# the attribute and their preparation only coerces other types (and turns lazy text into text). Most of a lead's
# columns; skipping Django's preparation for them saves three method calls per column.
_AS_IS = {models.CharField: (str, type(None)), models.TextField: (str, type(None)), models.BooleanField: (bool, type(None)),
          models.PositiveSmallIntegerField: (int, type(None)), models.PositiveIntegerField: (int, type(None))}


@functools.cache
def _insert_sql(model, rows: int, read_back: bool = True) -> tuple[str, tuple, tuple, object]:
    """(INSERT statement for `rows` rows, the fields it writes, for each the value types it writes as they are
    (`_AS_IS`), the auto primary key it returns or None; with `read_back=False` it returns nothing)."""
    auto_pk = model._meta.auto_field
    fields = tuple(f for f in model._meta.local_concrete_fields if f is not auto_pk)
    row = f"({', '.join(['%s'] * len(fields))})"
    columns = ", ".join(f'"{f.column}"' for f in fields)
    sql = f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES {", ".join([row] * rows)}'
    as_is = tuple(_AS_IS.get(type(f), ()) for f in fields)
    if not read_back:
        return sql, fields, as_is, None
    return (sql + f' RETURNING "{auto_pk.column}"' if auto_pk else sql), fields, as_is, auto_pk


def _django_insert(objs: list) -> None:
    """Django's own insert, for the rows `rows_insert` cannot write itself."""
    if len(objs) > 1:
        objs[0]._meta.base_manager.bulk_create(objs)
    else:
        objs[0].save(force_insert=True)


def _insert_prepared(objs: list, connection, *, read_back: bool = True) -> tuple[str, list, object] | None:
    """(INSERT statement, its parameters, the auto primary key it returns or None) for new rows of one model, or None
    when Django must write them itself (a primary key already set, a value the database is to fill, new keys to read
    back from a database that cannot return them). `read_back=False`: the new keys are not wanted, none are returned."""
    model = type(objs[0])
    if model._meta.auto_field is not None and (any(obj.pk is not None for obj in objs) or (
            read_back and not connection.features.can_return_rows_from_bulk_insert)):
        return None
    sql, fields, as_is, auto_pk = _insert_sql(model, len(objs), read_back)
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="save")
        for model_field, types in zip(fields, as_is, strict=True):
            if types:
                value = getattr(obj, model_field.attname)
                if type(value) in types:
                    params.append(value)
                    continue
            value = model_field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):  # filled in by the database: let Django write and read it back
                return None
            params.append(model_field.get_db_prep_save(value, connection))
    return sql, params, auto_pk


def _inserted(objs: list, alias: str, auto_pk, pks: list) -> None:
    if auto_pk is not None:
        for obj, pk in zip(objs, pks, strict=True):
            setattr(obj, auto_pk.attname, pk)
    for obj in objs:
        obj._state.adding, obj._state.db = False, alias


def rows_insert(objs: list) -> None:
    """`save(force_insert=True)` (one object) or `bulk_create` (several, one statement) for the intake's new rows, with
    the INSERT written once per model and row count instead of compiled by Django for every lead: building the four
    inserts of a lead (its customer, itself, its notice, its timeline) cost more instructions than anything else in the
    request. The same values go in: each field's pre_save (auto_now_add) and its database preparation (JSON, UUID,
    dates). Our models have no save() overrides or save signals; a value the database is to fill (db_default without
    a Python default) falls back to Django's own insert."""
    if not objs:
        return
    alias = router.db_for_write(type(objs[0]), instance=objs[0])  # the hint save() gives a router
    connection = connections[alias]
    prepared = _insert_prepared(objs, connection)
    if prepared is None:
        return _django_insert(objs)
    sql, params, auto_pk = prepared
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [pk for (pk,) in cursor.fetchall()] if auto_pk is not None else []
    _inserted(objs, alias, auto_pk, pks)


def rows_write(groups: list[list], *, writes: list[tuple[str, list]] = ()) -> None:
    """`rows_insert` for several groups of new rows (each a list of one model's objects), after `writes` (statements
    with their parameters, such as the round-robin's stamp), in one round trip on PostgreSQL: a single statement of
    data-modifying WITH clauses, each insert returning its new keys under its group's number. Made for the intake, whose
    lead, notice and timeline are written while the round-robin holds the dealer's row lock: every other lead of that
    dealer waits for each round trip made then. Foreign keys are checked at commit (Django makes them deferrable), so
    rows that refer to one another can go in together. Elsewhere, or when Django must write a group itself, one
    statement at a time. Call inside a transaction."""
    groups = [group for group in groups if group]
    if not groups and not writes:
        return
    alias = router.db_for_write(type(groups[0][0]), instance=groups[0][0]) if groups else DEFAULT_DB_ALIAS
    connection = connections[alias]
    prepared = [_insert_prepared(group, connection) for group in groups] if connection.vendor == "postgresql" else [None]
    if None in prepared:
        with connection.cursor() as cursor:
            for sql, params in writes:
                cursor.execute(sql, params)
        for group in groups:
            rows_insert(group)
        return
    clauses, params, returned = [], [], []
    for n, (sql, write_params) in enumerate(writes):
        clauses.append(f"w{n} AS ({sql})")
        params.extend(write_params)
    for n, (sql, insert_params, auto_pk) in enumerate(prepared):
        clauses.append(f"i{n} AS ({sql})")
        params.extend(insert_params)
        if auto_pk is not None:
            returned.append(f'SELECT {n}, "{auto_pk.column}" FROM i{n}')
    with connection.cursor() as cursor:
        execute_prepared(cursor, f"WITH {', '.join(clauses)} {' UNION ALL '.join(returned) or 'SELECT NULL, NULL'}", params)
        pks: dict[int, list] = {}
        for n, pk in cursor.fetchall():
            if n is not None:
                pks.setdefault(n, []).append(pk)
    for n, (group, (_sql, _params, auto_pk)) in enumerate(zip(groups, prepared, strict=True)):
        _inserted(group, alias, auto_pk, pks.get(n, []))


def lead_event_new(*, lead: Lead, type: str, actor=None, text: str = "", data: dict | None = None, at=None) -> LeadEvent:
    """A timeline entry, not yet saved (for writers that insert several in one statement)."""
    return LeadEvent(dealer_id=lead.dealer_id, lead=lead, type=type, actor=actor, text=text, data=data or {},
                     at=at or timezone.now())


def lead_event_add(*, lead: Lead, type: str, actor=None, text: str = "", data: dict | None = None, at=None) -> LeadEvent:
    event = lead_event_new(lead=lead, type=type, actor=actor, text=text, data=data, at=at)
    event.save()
    return event


def lead_lock(lead: Lead, *related: str) -> Lead:
    """The lead read again under a row lock, in its dealer. `no_key`: rows that reference it can still be inserted."""
    return (Lead.objects.for_dealer(lead.dealer_id).select_for_update(no_key=True, of=("self",))
            .select_related(*related).get(pk=lead.pk))


def lead_deadline_set(lead: Lead, deadline: dt.datetime | None, *, first_step_minutes: int) -> None:
    """A new deadline starts a new escalation chain; the sweep first acts `first_step_minutes` after it."""
    lead.deadline_at = deadline
    lead.escalation_level = 0
    lead.next_action_at = deadline + dt.timedelta(minutes=first_step_minutes) if deadline else None


@dataclass
class IntakeResult:
    lead: Lead
    created: bool
    warnings: list[str] = field(default_factory=list)


def _received(value) -> tuple[dt.datetime | None, str, bool]:
    """(parsed aware datetime or None, the raw text, whether the date was out of range)."""
    parsed, out_of_range = instant_from_outside(value)
    raw = value.isoformat() if isinstance(value, dt.datetime) else (value or "").strip() if isinstance(value, str) else ""
    return parsed, raw, out_of_range


def parse_received_at(value) -> tuple[dt.datetime | None, str]:
    """(parsed aware datetime or None, the raw text). Dates that are not ISO 8601, or out of range, are kept raw only."""
    parsed, raw, _out_of_range = _received(value)
    return parsed, raw


@dataclass
class CustomerLink:
    """The customer a new lead joins, and what the lead teaches about them (written once the lead is stored)."""

    customer: Customer
    known: bool
    new_contacts: list[CustomerContact] = field(default_factory=list)  # new or seen again: inserted, or last_seen bumped
    fill: dict = field(default_factory=dict)  # the customer's blank name fields, from this lead (never an overwrite)

    def writes(self, lead: Lead) -> list[tuple[str, list]]:
        """The contact points this lead brings, as a statement for the lead's own write (`rows_write`): a new address or
        number is added, one the customer already had is marked as seen again."""
        if not self.new_contacts:
            return []
        for contact in self.new_contacts:
            contact.lead = lead
        connection = connections[router.db_for_write(CustomerContact)]
        # Their ids are not read back (nothing reads them), so this works on a database that cannot return them too.
        sql, params, _auto_pk = _insert_prepared(self.new_contacts, connection, read_back=False)
        _inserted(self.new_contacts, connection.alias, None, [])
        return [(f"{sql} {_CONTACT_SEEN_AGAIN}", params)]

    def save(self, lead: Lead) -> None:
        """What the lead teaches a nameless customer record: its name, once (after the lead's write)."""
        if self.fill:
            blank = Q(**{name: "" for name in self.fill})
            Customer.objects.for_dealer(self.customer.dealer_id).filter(blank, pk=self.customer.pk).update(**self.fill)


_CONTACT_UNIQUE = next(c for c in CustomerContact._meta.constraints if c.name == "customer_contact_unique")
_CONTACT_KEY = ", ".join(f'"{CustomerContact._meta.get_field(name).column}"' for name in _CONTACT_UNIQUE.fields)
_CONTACT_SEEN_AGAIN = f'ON CONFLICT ({_CONTACT_KEY}) DO UPDATE SET "last_seen_at" = EXCLUDED."last_seen_at"'

CANDIDATE_LIMIT = 20  # a company switchboard may be shared by many customers; e-mail matches are read first


def customer_candidates(*, dealer_id: int, email: str, phone: str) -> list[Customer]:
    """The dealer's customers that have this e-mail or phone, as their own field or as a contact point, in one statement.

    Each carries `has_email`/`has_phone`. E-mail matches first, then the oldest. The ids come from index lookups, each
    saying which of the two it matched, joined to the customers by primary key, so the cost does not grow with the
    dealer's customers. (With a subquery per flag instead, PostgreSQL spent longer planning it than running it.)
    """
    if not email and not phone:
        return []
    customers, contacts = Customer._meta.db_table, CustomerContact._meta.db_table
    lookups, params = [], []
    for kind, column, value, flags in ((ContactKind.EMAIL, "email", email, "1 AS by_email, 0 AS by_phone"),
                                       (ContactKind.PHONE, "phone", phone, "0 AS by_email, 1 AS by_phone")):
        if value:
            lookups.append(f"SELECT id AS id, {flags} FROM {customers} WHERE dealer_id = %s AND {column} = %s")
            lookups.append(f"SELECT customer_id AS id, {flags} FROM {contacts} WHERE dealer_id = %s AND kind = %s AND value = %s")
            params += [dealer_id, value, dealer_id, kind, value]
    columns = ", ".join(f'c."{f.column}"' for f in Customer._meta.concrete_fields)  # not c.*: a prepared statement's
    # result must keep its shape when a column is added
    # The salesperson of the customer's latest assigned lead, whom a returning customer's lead goes back to (the rule of
    # routing.services._previous_salesperson_ids, read here so that the intake needs no statement of its own for it).
    latest_assignee = (f"(SELECT l.assignee_id FROM {Lead._meta.db_table} l WHERE l.dealer_id = c.dealer_id "
                       "AND l.customer_id = c.id AND l.assignee_id IS NOT NULL ORDER BY l.received_at DESC LIMIT 1)")
    sql = (f"SELECT {columns}, MAX(matched.by_email) AS has_email, MAX(matched.by_phone) AS has_phone, {latest_assignee} "
           f"FROM {customers} c "
           f"JOIN ({' UNION ALL '.join(lookups)}) AS matched ON matched.id = c.id "
           f"GROUP BY c.id ORDER BY has_email DESC, c.id LIMIT {CANDIDATE_LIMIT}")
    # Raw SQL takes the dealer as a parameter (every branch of the UNION names it). Read with a cursor, not a
    # RawQuerySet: most leads match nobody, and setting one up cost more than the statement's answer.
    alias = router.db_for_read(Customer)
    with connections[alias].cursor() as cursor:
        execute_prepared(cursor, sql, params)
        rows = cursor.fetchall()
    candidates = []
    for *values, has_email, has_phone, latest_assignee_id in rows:
        customer = instance_from_row(Customer, alias, values)
        customer.has_email, customer.has_phone = bool(has_email), bool(has_phone)
        customer.latest_assignee_id = latest_assignee_id
        candidates.append(customer)
    return candidates


def _customer_for(*, dealer: Dealer, contact, data: dict) -> CustomerLink:
    """The dealer's known customer this lead belongs to (`leads.matching`), or a new one built from the lead."""
    first_name, last_name = (data.get("first_name") or "")[:150], (data.get("last_name") or "")[:150]
    email, phone = contact.email[:254], contact.phone_e164
    candidates = customer_candidates(dealer_id=dealer.pk, email=email, phone=phone)
    match = customer_match(
        first_name=first_name, last_name=last_name, email=email, phone=phone,
        email_usable=not ({EMAIL_INVALID, EMAIL_THROWAWAY} & set(contact.flags)),
        candidates=[Candidate(id=c.pk, first_name=c.first_name, last_name=c.last_name, has_email=bool(c.has_email),
                              has_phone=bool(c.has_phone)) for c in candidates])
    if match is None:
        customer = Customer(
            dealer=dealer, first_name=first_name, last_name=last_name, email=email, phone=phone,
            phone_raw=(data.get("phone") or "")[:64], preferred_contact=(data.get("preferred_contact") or "")[:16],
            language=(data.get("language") or "")[:8],
        )
        rows_insert([customer])
        return CustomerLink(customer=customer, known=False)
    customer = next(c for c in candidates if c.pk == match.id)
    link = CustomerLink(customer=customer, known=True)
    now = timezone.now()
    # A match never overwrites: an address or number the customer does not have as its own is a further contact point.
    for kind, value, own, raw in ((ContactKind.EMAIL, email, customer.email, email),
                                  (ContactKind.PHONE, phone, customer.phone, contact.phone_raw)):
        if value and value != own:
            link.new_contacts.append(CustomerContact(dealer=dealer, customer=customer, kind=kind, value=value,
                                                     raw=raw[:254], first_seen_at=now, last_seen_at=now))
    if not customer.first_name and not customer.last_name and (first_name or last_name):
        link.fill = {"first_name": first_name, "last_name": last_name}  # a nameless record learns the name once
    return link


def _existing_lead(*, dealer: Dealer, source: str, external_id: str | None, idempotency_key: str | None) -> Lead | None:
    if external_id:
        lead = Lead.objects.for_dealer(dealer).filter(source=source, external_id=external_id).first()
        if lead:
            return lead
    if idempotency_key:
        row = (IdempotencyKey.objects.for_dealer(dealer).filter(source=source, key=idempotency_key,
                                             created_at__gte=timezone.now() - IDEMPOTENCY_WINDOW)
               .select_related("lead").first())
        if row:
            return row.lead
    return None


def _lead_new(*, dealer, source, data, document, payload) -> tuple[Lead, LeadEvent, CustomerLink]:
    """The lead, not yet inserted, with its customer (found, or inserted now), its first timeline entry, and what it
    adds to a known customer (written after the lead)."""
    customer_data = data.get("customer") or {}
    contact = assess_contact(email=customer_data.get("email"), phone=customer_data.get("phone"),
                             first_name=customer_data.get("first_name"), last_name=customer_data.get("last_name"),
                             region=dealer.country)
    received_at, received_raw, out_of_range = _received(data.get("received_at"))
    flags = list(contact.flags)
    if out_of_range:
        flags.append(RECEIVED_AT_OUT_OF_RANGE)  # kept raw; the lead counts from its arrival
    score = score_lead(data)
    link = _customer_for(dealer=dealer, contact=contact, data=customer_data)
    known = link.known
    lead = Lead(
        dealer=dealer, customer=link.customer, source=source, external_id=data.get("external_id") or None,
        channel=data.get("channel") or "web_form", reason=data.get("reason") or "",
        received_at=received_at or timezone.now(), received_at_raw=received_raw[:100],
        vehicle=data.get("vehicle") or {}, trade_in=data.get("trade_in") or {}, message=data.get("message") or "",
        consent_marketing=(data.get("consent") or {}).get("marketing"), data_flags=flags,
        bant_budget=score.budget, bant_authority=score.authority, bant_need=score.need,
        bant_timeline=score.timeline, score=score.total, returning_customer=known,
        needs_review=bool(data.get("needs_review")),
        payload=payload if payload is not None else data, document=document,
        # The contact as given in this lead: shown on every page, whatever the matched customer record says.
        contact_first_name=(customer_data.get("first_name") or "")[:150],
        contact_last_name=(customer_data.get("last_name") or "")[:150], contact_email=contact.email[:254],
        contact_phone=contact.phone_e164, contact_phone_raw=contact.phone_raw[:64],
        contact_preferred=(customer_data.get("preferred_contact") or "")[:16],
        contact_language=(customer_data.get("language") or "")[:8],
    )
    received = lead_event_new(lead=lead, type=EventType.RECEIVED, text=source,
                              data={"flags": flags, "returning_customer": known})
    return lead, received, link


# A consent dated before this, or later than a day from now, is a mistake of the sender's: the arrival time is used.
CONSENT_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _consent_new(*, lead: Lead, source: str, consent: dict | None) -> ConsentRecord | None:
    """The consent record, not yet saved, when the lead says yes or no to marketing (nothing when it says neither)."""
    given = (consent or {}).get("marketing")
    if not isinstance(given, bool):
        return None
    given_at, _raw = parse_received_at(consent.get("given_at"))
    try:
        sane = given_at is not None and CONSENT_EARLIEST <= given_at <= timezone.now() + dt.timedelta(days=1)
    except (OverflowError, ValueError):  # an offset that pushes the instant out of range
        sane = False
    return ConsentRecord(dealer_id=lead.dealer_id, customer_id=lead.customer_id, lead=lead, given=given,
                         given_at=given_at if sane else lead.received_at, source=source[:64], channel=lead.channel,
                         text=consent.get("text") or "")


@dataclass
class Routed:
    """What a router decided for a lead before it is inserted: its timeline entries and its assignee's notice, built
    with the decision (so a failure building them leaves the lead unrouted, not lost) and saved after the lead."""

    events: list[LeadEvent] = field(default_factory=list)
    notice: Notification | None = None
    writes: list[tuple[str, list]] = field(default_factory=list)  # statements to run with them (the round-robin's stamp)


def routed_save(routed: Routed) -> None:
    """A router's decision for a lead already stored: its timeline entries, its notice and its writes, together."""
    rows_write([[routed.notice] if routed.notice is not None else [], routed.events], writes=routed.writes)
    if routed.notice is not None:
        _outbox_after_save([routed.notice])


class _RoutingLost(Exception):
    """Routing failed in the database with no savepoint to return to: the transaction is lost, the lead not yet stored."""


def _route_or_leave_for_the_sweep(lead: Lead, route: Callable[..., Routed], *, savepoint: bool) -> Routed:
    """Let the router set the lead's routing fields. If it fails, the lead keeps its unrouted values and is stored as
    it is: the follow-up sweep routes it.

    A failure in the database aborts the transaction. Inside a caller's transaction (`savepoint`) its writes are rolled
    back to a savepoint taken here; in the intake's own transaction there is none to keep (one round trip fewer for
    every lead), so `_RoutingLost` asks the intake to start again without routing."""
    unrouted = {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields}
    # A savepoint that is rolled back on failure and otherwise left to the commit: releasing it would be one more round
    # trip while the round-robin holds the dealer's lock.
    sid = transaction.savepoint() if savepoint else None
    try:
        return route(lead=lead)
    except Exception as exc:
        if sid is not None:
            transaction.savepoint_rollback(sid)
        elif isinstance(exc, DatabaseError) or transaction.get_connection().needs_rollback:
            logger.exception("Routing failed for lead %s; storing it unrouted for the follow-up sweep", lead.pk)
            raise _RoutingLost from exc
        logger.exception("Routing failed for lead %s; the follow-up sweep will retry", lead.pk)
        for attname, value in unrouted.items():
            setattr(lead, attname, value)
        return Routed()


def _lead_store(*, dealer: Dealer, source: str, data: dict, idempotency_key: str | None, document, payload,
                route: Callable[..., Routed] | None, savepoint: bool) -> Lead:
    """The lead, routed by `route` when given, with all that comes with it, in one transaction."""
    with transaction.atomic():
        lead, received, link = _lead_new(dealer=dealer, source=source, data=data, document=document, payload=payload)
        routed = _route_or_leave_for_the_sweep(lead, route, savepoint=savepoint) if route is not None else Routed()
        consent = _consent_new(lead=lead, source=source, consent=data.get("consent"))
        key = IdempotencyKey(dealer=dealer, source=source, key=idempotency_key, lead=lead) if idempotency_key else None
        notices = [routed.notice] if routed.notice is not None else []
        # The lead and all that comes with it in one statement, the round-robin's stamp included.
        rows_write([[lead], [consent] if consent else [], [key] if key else [], notices, [received, *routed.events]],
                   writes=[*routed.writes, *link.writes(lead)])
        _outbox_after_save(notices)
        link.save(lead)  # nothing, unless a nameless customer learns a name
    return lead


def lead_intake(*, dealer: Dealer, source: str, data: dict, idempotency_key: str | None = None,
                document: InboundDocument | None = None, payload: dict | None = None,
                route: Callable[..., Routed] | None = None) -> IntakeResult:
    """Store a portal's lead once. A retry (same external id, or Idempotency-Key within 24 h) returns the first lead.

    The unique constraints decide, so concurrent retries are safe: the losers' inserts fail and find the winner.
    `route(lead=...)`, when given, decides the lead's routing before it is inserted, in the same transaction (one
    commit per lead, one write of the lead); if it fails the lead is stored unrouted and the follow-up sweep routes it.
    """
    data, payload, idempotency_key = storable(data), storable(payload), storable(idempotency_key)
    external_id = data.get("external_id") or None
    store = functools.partial(_lead_store, dealer=dealer, source=source, data=data, idempotency_key=idempotency_key,
                              document=document, payload=payload,
                              savepoint=transaction.get_connection().in_atomic_block)  # in a caller's transaction
    for _attempt in range(2):
        try:
            try:
                lead = store(route=route)
            except _RoutingLost:  # all of it was rolled back: store the lead again, unrouted
                lead = store(route=None)
            return IntakeResult(lead=lead, created=True, warnings=warnings_for(lead.data_flags))
        except IntegrityError:
            existing = _existing_lead(dealer=dealer, source=source, external_id=external_id, idempotency_key=idempotency_key)
            if existing is not None:
                lead_event_add(lead=existing, type=EventType.DUPLICATE, text=source,
                               data={"external_id": external_id, "idempotency_key": idempotency_key})
                return IntakeResult(lead=existing, created=False, warnings=warnings_for(existing.data_flags))
            if not idempotency_key:
                raise
            # An Idempotency-Key older than the window may be used again: free it and store the new lead.
            IdempotencyKey.objects.for_dealer(dealer).filter(source=source, key=idempotency_key,
                                          created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW).delete()
    raise IntegrityError("lead could not be stored")


class CustomerChangeRefused(Exception):
    """A merge or split that cannot be done; the message says why in words a manager understands."""


def _contact_points_of(customer: Customer) -> list[tuple[str, str, str, dt.datetime, dt.datetime, object]]:
    """(kind, value, raw, first seen, last seen, lead id): the customer's own e-mail and phone, then its contact points."""
    own = [(ContactKind.EMAIL, customer.email, customer.email, customer.created_at, customer.created_at, None),
           (ContactKind.PHONE, customer.phone, customer.phone_raw or customer.phone, customer.created_at,
            customer.created_at, None)]
    further = customer.contacts.values_list("kind", "value", "raw", "first_seen_at", "last_seen_at", "lead_id")
    return [point for point in [*own, *further] if point[1]]


def customer_merge(*, into: Customer, other: Customer, by) -> Customer:
    """Merge `other` into `into` (same dealer): its leads move, its e-mail and phone and its contact points become
    contact points of `into`; `into`'s own details stay as they are (a blank name is filled). `other` is deleted."""
    if into.pk == other.pk or into.dealer_id != other.dealer_id:
        raise CustomerChangeRefused(_("Choose another customer of this dealer to merge with."))
    with transaction.atomic():
        # Both rows locked in one order, so two managers merging the same pair at once wait instead of deadlocking.
        locked = {c.pk: c for c in Customer.objects.for_dealer(into.dealer_id).select_for_update().filter(
            pk__in=[into.pk, other.pk]).order_by("pk")}
        if len(locked) != 2:
            raise CustomerChangeRefused(_("One of these customers no longer exists; it may have been merged already."))
        into, other = locked[into.pk], locked[other.pk]
        now = timezone.now()
        known = {(kind, value) for kind, value, *_rest in _contact_points_of(into)}
        points = []
        for kind, value, raw, first_seen, last_seen, lead_id in _contact_points_of(other):
            if (kind, value) not in known:
                known.add((kind, value))
                points.append(CustomerContact(dealer_id=into.dealer_id, customer=into, kind=kind, value=value[:254],
                                              raw=(raw or "")[:254], first_seen_at=first_seen, last_seen_at=last_seen,
                                              lead_id=lead_id))
        leads = Lead.objects.for_dealer(into.dealer_id).filter(customer=other)
        moved = list(leads.only("pk", "dealer_id"))
        leads.update(customer=into)
        CustomerContact.objects.bulk_create(points)
        if not into.first_name and not into.last_name and (other.first_name or other.last_name):
            into.first_name, into.last_name = other.first_name, other.last_name
            into.save(update_fields=["first_name", "last_name"])
        LeadEvent.objects.bulk_create([
            lead_event_new(lead=lead, type=EventType.CUSTOMER_CHANGED, actor=by, at=now,
                           data={"action": "merge", "customer": into.pk, "merged_customer": other.pk})
            for lead in moved])
        other_pk = other.pk
        other.delete()  # its contact points go with it; they were copied above
        # The audit names records, not people: an erased customer leaves no personal data behind here.
        audit_record(dealer=into.dealer, actor=by, action="customer.merged", target=f"#{into.pk}",
                     changes={"merged_customer": other_pk, "leads_moved": len(moved), "contact_points_added": len(points)})
    return into


def customer_split(*, lead: Lead, by) -> Customer:
    """Give a lead its own new customer, built from the contact details given in that lead. Addresses and numbers the
    old customer knew only through this lead go with it; the old customer's own details stay."""
    with transaction.atomic():
        old = Customer.objects.for_dealer(lead.dealer_id).select_for_update().get(pk=lead.customer_id)
        others = list(Lead.objects.for_dealer(lead.dealer_id).filter(customer=old).exclude(pk=lead.pk)
                      .values_list("contact_email", "contact_phone"))
        if not others:
            raise CustomerChangeRefused(_("This is the customer's only lead: there is nothing to split off."))
        new = Customer.objects.create(
            dealer_id=lead.dealer_id, first_name=lead.contact_first_name, last_name=lead.contact_last_name,
            email=lead.contact_email, phone=lead.contact_phone, phone_raw=lead.contact_phone_raw,
            preferred_contact=lead.contact_preferred, language=lead.contact_language)
        Lead.objects.for_dealer(lead.dealer_id).filter(pk=lead.pk).update(customer=new)
        lead.customer = new
        still_used = {(ContactKind.EMAIL, email) for email, _phone in others if email} | {
            (ContactKind.PHONE, phone) for _email, phone in others if phone}
        leaving = [(kind, value) for kind, value in ((ContactKind.EMAIL, lead.contact_email),
                                                     (ContactKind.PHONE, lead.contact_phone))
                   if value and (kind, value) not in still_used]
        for kind, value in leaving:
            CustomerContact.objects.for_dealer(lead.dealer_id).filter(customer=old, kind=kind, value=value).delete()
        lead_event_add(lead=lead, type=EventType.CUSTOMER_CHANGED, actor=by,
                       data={"action": "split", "customer": new.pk, "previous_customer": old.pk})
        audit_record(dealer=lead.dealer, actor=by, action="customer.split", target=f"#{old.pk}",
                     changes={"lead": str(lead.pk), "new_customer": new.pk})
    return new


def document_store(*, dealer: Dealer, source: str, content_type: str, body: bytes) -> InboundDocument:
    return InboundDocument.objects.create(dealer=dealer, source=source, content_type=content_type[:100], body=body)


_outbox_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("outbox_batch", default=None)

# What reaches a phone: a lead that is now yours, your reminders, a manager's escalations (not the daily digest).
PUSHED_KINDS = frozenset({NotificationKind.ASSIGNED, NotificationKind.REASSIGNED, NotificationKind.HANDOVER,
                          NotificationKind.REMINDER, NotificationKind.MANAGER_ALERT})


def notification_new(*, dealer_id: int, recipient, kind: str, subject: str, body: str,
                     lead: Lead | None = None, digest_date=None) -> Notification:
    """A notice, not yet saved: `notification_save` saves it. Its push is owed for a lead's alert, unless the recipient
    is known to have no device (`push_device`, which the round-robin reads with its pick): then there is nothing to fan
    out and its e-mail need not wait for one; when that is not known, the outbox's fan-out finds out."""
    pushed = kind in PUSHED_KINDS and lead is not None and getattr(recipient, "push_device", True)
    return Notification(dealer_id=dealer_id, recipient=recipient, lead=lead, kind=kind, subject=header_text(subject, 200),
                        body=body,
                        digest_date=digest_date,
                        email_status=DeliveryStatus.PENDING if recipient.email else DeliveryStatus.SKIPPED,
                        push_status=PushStatus.PENDING if pushed else PushStatus.SKIPPED)


def notification_save(notification: Notification) -> Notification:
    """Save an in-app notice; its push and e-mail go out after commit. If the broker is down, the periodic flush does."""
    rows_insert([notification])
    _outbox_after_save([notification])
    return notification


def notification_save_many(notifications: list[Notification]) -> list[Notification]:
    """`notification_save` for many notices in one INSERT (the sweep's batches); pushes and e-mails go out after commit.
    Through `rows_insert`, whose statement is built once per batch size: `bulk_create` compiled a 500-notice batch's
    7,000 values anew each time (121 against 133 ms a batch with the sweep's timeline insert, alternated on one database)."""
    rows_insert(notifications)
    _outbox_after_save(notifications)
    return notifications


def _outbox_after_save(notifications: list[Notification]) -> None:
    """Notices just inserted: their pushes and e-mails are asked for after commit (once for a bulk writer's block)."""
    pending = [n.pk for n in notifications
               if n.email_status == DeliveryStatus.PENDING or n.push_status == PushStatus.PENDING]
    if pending:
        batch = _outbox_batch.get()
        if batch is not None:
            batch.extend(pending)
        else:
            pushes = any(n.push_status == PushStatus.PENDING for n in notifications)
            transaction.on_commit(functools.partial(outbox_wake, push=pushes))


def notification_queue(*, dealer_id: int, recipient, kind: str, subject: str, body: str,
                       lead: Lead | None = None, digest_date=None) -> Notification:
    """An in-app notice now; its push and e-mail go out after commit."""
    return notification_save(notification_new(dealer_id=dealer_id, recipient=recipient, kind=kind, subject=subject,
                                               body=body, lead=lead, digest_date=digest_date))


def assignee_notice(*, lead: Lead, user, kind: str, note: str = "", appointment: str = "") -> Notification:
    """The notice, not yet saved, that a lead is now this person's to follow up. How much time is left is said when the
    e-mail goes out (`notice_email_body`), not here: a delayed e-mail must not ask for a reply before a time now past."""
    customer = lead.contact_label  # the person of this lead, as they named themselves
    subject = (_("Hand-over: %(name)s") if kind == NotificationKind.HANDOVER else _("New lead: %(name)s")) % {"name": customer}
    vehicle = " ".join(str(lead.vehicle.get(k, "")) for k in ("make", "model")).strip()
    body = "\n".join(filter(None, [
        _("%(name)s is waiting for your call.") % {"name": customer},
        vehicle,
        _("Appointment: %(when)s") % {"when": appointment} if appointment else "",
        _("Note from the BDC: %(note)s") % {"note": note} if note and kind == NotificationKind.HANDOVER else note,
        lead.message[:500],
    ]))
    return notification_new(dealer_id=lead.dealer_id, recipient=user, lead=lead, kind=kind, subject=subject, body=body)


def notify_assignee(*, lead: Lead, user, kind: str, note: str = "", appointment: str = "") -> Notification:
    """The in-app notice (and its push and e-mail, through the outbox) that a lead is now this person's to follow up."""
    return notification_save(assignee_notice(lead=lead, user=user, kind=kind, note=note, appointment=appointment))


def notification_mark_read(*, dealer, recipient, ids: list[int] | None = None, lead: Lead | None = None) -> int:
    """Mark a person's notices in one dealer read (all of them, the given ones, or those about one lead); returns how
    many changed. The one write for it: the team API, the notice menu and opening a lead all call this."""
    unread = Notification.objects.for_dealer(dealer).filter(recipient=recipient, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    if lead is not None:
        unread = unread.filter(lead=lead)
    return unread.update(read_at=timezone.now())


# ---------------------------------------------------------------------------------------------- push subscriptions

class PushSubscriptionRefused(ValueError):
    pass


def push_subscription_save(*, user, endpoint: str, p256dh: str, auth: str, user_agent: str = "") -> tuple[PushSubscription, bool]:
    """Store a browser's subscription for this user; returns it and whether it is new.

    An endpoint is one browser profile on one device: subscribing it again (new keys, or another person logged in on
    the same phone) moves it to this user instead of failing, so the phone alerts whoever uses it now."""
    try:
        push.endpoint_check(endpoint, resolve=False)  # the host is resolved (and refused if private) at every send
        push.keys_check(p256dh=p256dh, auth=auth)
    except ValueError as exc:
        raise PushSubscriptionRefused(str(exc)) from exc
    subscription, created = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user": user, "p256dh": p256dh, "auth": auth,
                                     "user_agent": push.user_agent_label(user_agent), "last_error": ""})
    return subscription, created


def push_subscription_delete(*, user, subscription_id: int) -> bool:
    deleted, _by_model = PushSubscription.objects.filter(user=user, pk=subscription_id).delete()
    return bool(deleted)


@contextlib.contextmanager
def outbox_batch():
    """Inside this block notices are not enqueued one by one; one outbox flush is enqueued at the end.

    For bulk writers (the sweep, imports): one broker round-trip instead of thousands.
    """
    token = _outbox_batch.set([])
    try:
        yield
    finally:
        queued = _outbox_batch.get()
        _outbox_batch.reset(token)
        if queued:
            transaction.on_commit(outbox_wake)  # at once outside a transaction; else once the notices are committed


def task_enqueue(task_name: str, *args, countdown: float | None = None) -> None:
    """Hand a task to the broker (to run `countdown` seconds from now, when given). Callers keep their state in rows, so
    a broker outage only delays the work: a periodic task (outbox flush, import resume) picks up what is still waiting."""
    from config.celery_app import app

    try:
        app.send_task(task_name, args=list(args), countdown=countdown)
    except Exception as exc:
        logger.warning("Could not enqueue %s%s (%s); a periodic task will pick the work up", task_name, args, exc)


OUTBOX_WAKE_KEY = "outbox:wake"
OUTBOX_WAKE_TTL = 10  # seconds: if a wake-up is lost, the next notice after this asks again (and beat flushes every 30 s)
# The flush a wake-up asks for starts this many seconds later, so a burst of notices shares one flush: without it the
# worker ran one flush (a task, a claim, a connection) per one or two notices and took a sixth of the machine's CPU
# during a portal's backlog. Half a second is nothing next to a five-minute response deadline.
OUTBOX_GATHER_SECONDS = 0.5
# A notice that buzzes a phone gathers for less: the push is the speed-to-lead alert (target: on the phone within 1 s).
PUSH_GATHER_SECONDS = 0.15
# A flush sends from a claimed batch for at most SENDING_BATCH_MAX (plus one EMAIL_TIMEOUT) and hands the rest back, so
# an e-mail still "sending" after SENDING_STALE_AFTER was lost with a killed worker and is sent again (at least once,
# never lost): a new-lead alert waits two minutes for a crashed worker, not half an hour.
SENDING_STALE_AFTER = dt.timedelta(minutes=2)
SENDING_BATCH_MAX = dt.timedelta(seconds=90)
OUTBOX_BATCH = 50
MAX_EMAIL_ATTEMPTS = 5


def outbox_wake(*, push: bool = False) -> None:
    """Ask the worker for an outbox flush: one task per burst of notices, not one per notice (`push`: sooner).

    The flag stays up from the first notice until the flush starts reading (OUTBOX_GATHER_SECONDS later), so notices
    committed meanwhile are read by that flush; one committed after it started reading finds the flag gone and asks
    again. This needs a cache the worker shares (Redis); without one every notice asks, at once.
    """
    countdown = None
    if settings.OUTBOX_COALESCE_WAKEUPS:
        try:
            if not cache.add(OUTBOX_WAKE_KEY, 1, timeout=OUTBOX_WAKE_TTL):
                return
            countdown = PUSH_GATHER_SECONDS if push else OUTBOX_GATHER_SECONDS
        except Exception as exc:  # the cache is down: ask anyway, at once
            logger.warning("Outbox wake-up flag unavailable (%s)", exc)
    task_enqueue("leads.tasks.outbox_flush", countdown=countdown)


def _outbox_wake_clear() -> None:
    if settings.OUTBOX_COALESCE_WAKEUPS:
        try:
            cache.delete(OUTBOX_WAKE_KEY)
        except Exception as exc:
            logger.warning("Outbox wake-up flag unavailable (%s)", exc)


def _outbox_claim(*, limit: int) -> tuple[list[Notification], dt.datetime]:
    """Take up to `limit` owed e-mails for this worker: rows another worker is claiming are skipped, not waited for.
    The claim's time marks them as this flush's: results are recorded only on rows still carrying it.

    A pushed notice's e-mail waits until its push is settled (no device accepted it: the fallback), or at most
    PUSH_EMAIL_FALLBACK_AFTER, so a phone that stays silent never costs the salesperson the lead."""
    claimed_at = timezone.now()
    push_settled = ~Q(push_status__in=[PushStatus.PENDING, PushStatus.SENDING])
    with transaction.atomic():
        batch = list(Notification.objects.unscoped().filter(email_status=DeliveryStatus.PENDING)
                     .filter(push_settled | Q(created_at__lt=claimed_at - PUSH_EMAIL_FALLBACK_AFTER))
                     .order_by("created_at")
                     .select_for_update(skip_locked=True, of=("self",)).select_related("recipient", "lead", "dealer")
                     .only(*_OUTBOX_READS)[:limit])
        Notification.objects.unscoped().filter(pk__in=[n.pk for n in batch]).update(
            email_status=DeliveryStatus.SENDING, email_attempts=F("email_attempts") + 1, email_sent_at=claimed_at)
    return batch, claimed_at


# What an e-mail of the outbox is written from (`_outbox_send`, `notice_email_body`, `lead_link`): the notice, and of its
# lead, person and dealer only these: reading the whole lead (the portal's payload, vehicle, message) for three
# timestamps made the claim's statement take 8.8-9.3 ms a batch of ~47 instead of 6.0-6.4 (bench/intake_cpu.py).
_OUTBOX_READS = (
    *(f.name for f in Notification._meta.concrete_fields),
    "recipient__email", "dealer__slug", "dealer__time_zone",
    "lead__first_response_due_at", "lead__first_contact_at", "lead__closed_at",
)


@functools.cache
def _outbox_record_sql() -> str:
    """The UPDATE that records one e-mail's outcome, on its row only while this claim still holds it (still "sending",
    still carrying the claim's time). Written out once: the same statement through the ORM was half of the worker's
    CPU per notice (a queryset built and compiled for every e-mail). A failure keeps the claim's time (`COALESCE`)."""
    meta = Notification._meta
    status, sent_at, error = (meta.get_field(name).column for name in ("email_status", "email_sent_at", "email_error"))
    return (f'UPDATE "{meta.db_table}" SET "{status}" = %s, "{sent_at}" = COALESCE(%s, "{sent_at}"), "{error}" = %s '
            f'WHERE "dealer_id" = %s AND "id" = %s AND "{status}" = %s AND "{sent_at}" = %s')


def _outbox_record(n: Notification, claimed_at: dt.datetime, error: Exception | None) -> None:
    if error is None:
        status, sent_at, text = DeliveryStatus.SENT, timezone.now(), ""
    else:  # n.email_attempts is the count before this claim
        retry = n.email_attempts + 1 < MAX_EMAIL_ATTEMPTS
        status, sent_at, text = DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED, None, str(error)[:1000]
    connection = connections[router.db_for_write(Notification)]
    when = Notification._meta.get_field("email_sent_at")
    with connection.cursor() as cursor:
        execute_prepared(cursor, _outbox_record_sql(), [
            status, when.get_db_prep_save(sent_at, connection), text, n.dealer_id, n.pk, DeliveryStatus.SENDING,
            when.get_db_prep_save(claimed_at, connection)])


def lead_link(lead: Lead, dealer: Dealer) -> str:
    """The lead's page, in its dealer (for someone who works for several), as a path."""
    return f"{reverse('lead_detail', args=[lead.pk])}?{urlencode({'dealer': dealer.slug})}"


def notice_email_body(n: Notification, *, now: dt.datetime) -> str:
    """The notice as an e-mail, written when it goes out: a link straight to the lead, and how much time is left for the
    first response or how late it is (never "reply before" a time already past)."""
    lines = [n.body]
    lead = n.lead
    if lead is not None:
        due = lead.first_response_due_at
        if (n.kind in PUSHED_KINDS and due and lead.first_contact_at is None and lead.closed_at is None
                and n.kind != NotificationKind.MANAGER_ALERT):
            local_due = timezone.localtime(due, n.dealer.tz)
            if due > now:
                lines.append(_("Respond before %(due)s (%(left)s left).") % {
                    "due": f"{local_due:%H:%M}", "left": timeuntil(due, now, depth=1)})
            else:
                lines.append(_("The first response was due at %(due)s: it is %(late)s late.") % {
                    "due": f"{local_due:%d-%m %H:%M}", "late": timesince(due, now, depth=1)})
        lines.append(_("Open the lead: %(url)s") % {"url": settings.SITE_URL + lead_link(lead, n.dealer)})
    return "\n\n".join(filter(None, lines))


def _outbox_send(batch: list[Notification], claimed_at: dt.datetime) -> None:
    """Send outside any transaction, over one mail connection, recording each e-mail as soon as it went out (so a
    crash mid-batch sends again only what was not recorded)."""
    try:
        mail_connection = get_connection()
        mail_connection.open()
    except Exception as exc:  # the mail server is unreachable: the whole batch waits for the next flush
        for n in batch:
            _outbox_record(n, claimed_at, exc)
        return
    try:
        for i, n in enumerate(batch):
            if timezone.now() - claimed_at > SENDING_BATCH_MAX:  # a slow mail server: the rest go to the next claim
                Notification.objects.unscoped().filter(pk__in=[m.pk for m in batch[i:]], email_status=DeliveryStatus.SENDING,
                                            email_sent_at=claimed_at).update(
                    email_status=DeliveryStatus.PENDING, email_attempts=F("email_attempts") - 1)
                break
            try:
                body = notice_email_body(n, now=timezone.now())
                EmailMessage(n.subject, body, None, [n.recipient.email], connection=mail_connection).send()
            except Exception as exc:
                _outbox_record(n, claimed_at, exc)
            else:
                _outbox_record(n, claimed_at, None)
    finally:
        mail_connection.close()


# ---------------------------------------------------------------------------------------------- the push outbox

PUSH_BATCH = 20  # a batch is sent within PUSH_BATCH x WEB_PUSH_TIMEOUT, well inside PUSH_SENDING_STALE_AFTER
# A delivery still "sending" after this was lost with a crashed worker and is sent again.
PUSH_SENDING_STALE_AFTER = dt.timedelta(minutes=5)
PUSH_RETRY_DELAYS = (dt.timedelta(seconds=10), dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30))
# The e-mail of a pushed notice goes out anyway when no device accepted the push within this.
PUSH_EMAIL_FALLBACK_AFTER = dt.timedelta(minutes=2)


def push_payload(n: Notification) -> dict:
    """The contract's message: what kind of alert, which lead, title, body and the lead's page (in the notice's dealer)."""
    if n.kind == NotificationKind.REASSIGNED:
        kind = "new_lead" if n.lead.assignee_id == n.recipient_id else "escalation"
    else:
        kind = {NotificationKind.ASSIGNED: "new_lead", NotificationKind.HANDOVER: "handover",
                NotificationKind.REMINDER: "reminder", NotificationKind.MANAGER_ALERT: "escalation"}[n.kind]
    return {"kind": kind, "lead": str(n.lead_id), "title": n.subject, "body": n.body[:300],
            "url": lead_link(n.lead, n.dealer)}


def _push_fan_out(*, limit: int) -> int:
    """Turn owed pushes into one delivery row per device of the recipient; a recipient without a device settles the
    notice at once (its e-mail is the fallback). Idempotent: a delivery exists once per (notice, device)."""
    with transaction.atomic():
        notices = list(Notification.objects.unscoped().filter(push_status=PushStatus.PENDING).order_by("created_at")
                       .select_for_update(skip_locked=True, of=("self",)).only("pk", "dealer_id", "recipient_id")[:limit])
        if not notices:
            return 0
        devices: dict[int, list[int]] = {}
        recipients = {n.recipient_id for n in notices}
        for user_id, pk in PushSubscription.objects.filter(user_id__in=recipients).values_list("user_id", "pk"):
            devices.setdefault(user_id, []).append(pk)
        now = timezone.now()
        PushDelivery.objects.bulk_create([
            PushDelivery(dealer_id=n.dealer_id, notification_id=n.pk, subscription_id=device, due_at=now)
            for n in notices for device in devices.get(n.recipient_id, [])], ignore_conflicts=True)
        with_device = [n.pk for n in notices if n.recipient_id in devices]
        Notification.objects.unscoped().filter(pk__in=with_device).update(push_status=PushStatus.SENDING)
        Notification.objects.unscoped().filter(pk__in=[n.pk for n in notices if n.recipient_id not in devices]).update(
            push_status=PushStatus.SKIPPED)
    return len(notices)


def _push_claim(*, limit: int) -> tuple[list[PushDelivery], dt.datetime]:
    claimed_at = timezone.now()
    with transaction.atomic():
        batch = list(PushDelivery.objects.unscoped().filter(status=PushDeliveryStatus.PENDING, due_at__lte=claimed_at)
                     .order_by("due_at").select_for_update(skip_locked=True, of=("self",))
                     .select_related("subscription", "notification__lead", "notification__dealer")[:limit])
        PushDelivery.objects.unscoped().filter(pk__in=[d.pk for d in batch]).update(
            status=PushDeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=claimed_at)
    return batch, claimed_at


def _push_record(d: PushDelivery, claimed_at: dt.datetime, result: push.PushResult) -> dt.timedelta | None:
    """Record one delivery's outcome on the row still carrying this claim; returns the retry delay, if any."""
    now = timezone.now()
    mine = PushDelivery.objects.for_dealer(d.dealer_id).filter(pk=d.pk, status=PushDeliveryStatus.SENDING, claimed_at=claimed_at)
    if result.accepted:
        mine.update(status=PushDeliveryStatus.SENT, sent_at=now, error="")
        PushSubscription.objects.filter(pk=d.subscription_id).update(last_success_at=now, last_error="")
        return None
    if result.gone:  # the browser unsubscribed or the user revoked permission: never call this endpoint again
        mine.update(status=PushDeliveryStatus.GONE, error=result.error[:300])
        PushSubscription.objects.filter(pk=d.subscription_id).delete()
        return None
    PushSubscription.objects.filter(pk=d.subscription_id).update(last_failure_at=now, last_error=result.error[:300])
    attempt = d.attempts + 1  # d.attempts is the count before this claim
    if result.permanent or attempt > len(PUSH_RETRY_DELAYS):
        mine.update(status=PushDeliveryStatus.FAILED, error=result.error[:300])
        return None
    delay = PUSH_RETRY_DELAYS[attempt - 1]
    mine.update(status=PushDeliveryStatus.PENDING, due_at=now + delay, error=result.error[:300])
    return delay


def _push_send(batch: list[PushDelivery], claimed_at: dt.datetime) -> list[dt.timedelta]:
    """Send outside any transaction, recording each delivery as soon as its push service answered."""
    vapid = push.vapid_key()
    retries = []
    for d in batch:
        if d.subscription is None:  # deleted since it was fanned out
            result = push.PushResult(accepted=False, gone=True, error="subscription deleted")
        else:
            n = d.notification
            result = push.push_send(endpoint=d.subscription.endpoint, p256dh=d.subscription.p256dh, auth=d.subscription.auth,
                                    payload=push_payload(n), topic=f"notice-{n.pk}", vapid=vapid)
        delay = _push_record(d, claimed_at, result)
        if delay is not None:
            retries.append(delay)
    return retries


def _push_settle(notification_ids: set[int]) -> None:
    """A notice a device accepted needs no e-mail; one no device will take (all failed or gone) falls back to e-mail."""
    deliveries = PushDelivery.objects.unscoped().filter(notification_id=OuterRef("pk"))
    sending = Notification.objects.unscoped().filter(pk__in=notification_ids, push_status=PushStatus.SENDING)
    sending.filter(Exists(deliveries.filter(status=PushDeliveryStatus.SENT))).update(
        push_status=PushStatus.SENT,
        email_status=Case(When(email_status=DeliveryStatus.PENDING, then=Value(DeliveryStatus.PUSHED)),
                          default=F("email_status")))
    sending.exclude(Exists(deliveries.filter(status__in=[PushDeliveryStatus.PENDING, PushDeliveryStatus.SENDING]))).update(
        push_status=PushStatus.FAILED)


def push_flush(*, batch_size: int = PUSH_BATCH) -> int:
    """Send every push owed now; returns how many deliveries were tried. Takes back deliveries stuck in "sending"
    after a crash (sent again; the device shows one notification per notice, replaced by its tag)."""
    stale = timezone.now() - PUSH_SENDING_STALE_AFTER
    PushDelivery.objects.unscoped().filter(status=PushDeliveryStatus.SENDING, claimed_at__lt=stale).update(
        status=PushDeliveryStatus.PENDING)
    while _push_fan_out(limit=OUTBOX_BATCH) == OUTBOX_BATCH:
        pass
    tried, retries = 0, []
    while True:
        batch, claimed_at = _push_claim(limit=batch_size)
        if batch:
            retries += _push_send(batch, claimed_at)
            _push_settle({d.notification_id for d in batch})
        tried += len(batch)
        if len(batch) < batch_size:
            break
    if retries:  # beat would retry within 30 s anyway; this keeps the first retry close to its delay
        task_enqueue("leads.tasks.outbox_flush", countdown=min(retries).total_seconds())
    return tried


def outbox_flush(*, batch_size: int = OUTBOX_BATCH) -> int:
    """Send every push and e-mail still owed, pushes first (the e-mail may wait on their outcome); returns how many
    e-mails were tried.

    Also takes back e-mails stuck in "sending" after a crash mid-send (sent again: at least once, never lost).
    """
    stale = timezone.now() - SENDING_STALE_AFTER
    Notification.objects.unscoped().filter(email_status=DeliveryStatus.SENDING, email_sent_at__lt=stale).update(
        email_status=DeliveryStatus.PENDING)
    tried = 0
    while True:
        _outbox_wake_clear()  # before reading: whatever commits from here on wakes another flush
        push_flush()
        batch, claimed_at = _outbox_claim(limit=batch_size)
        if batch:
            _outbox_send(batch, claimed_at)
        tried += len(batch)
        if len(batch) < batch_size:
            return tried
