"""Writes for leads: intake (idempotent), the timeline, and the notification outbox."""

import contextlib
import contextvars
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from dealers.models import Dealer

from .models import (
    ConsentRecord,
    Customer,
    DeliveryStatus,
    EventType,
    IdempotencyKey,
    InboundDocument,
    Lead,
    LeadEvent,
    Notification,
)
from .quality import assess_contact, storable, warnings_for
from .scoring import score_lead

logger = logging.getLogger(__name__)
IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)


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


def parse_received_at(value) -> tuple[dt.datetime | None, str]:
    """(parsed aware datetime or None, the raw text). Dates that are not ISO 8601 are kept raw only."""
    if isinstance(value, dt.datetime):
        return (value if timezone.is_aware(value) else timezone.make_aware(value)), value.isoformat()
    raw = (value or "").strip() if isinstance(value, str) else ""
    if not raw:
        return None, ""
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed, raw


def _customer_for(*, dealer: Dealer, email: str, phone: str, data: dict) -> tuple[Customer, bool]:
    """The dealer's known customer with this e-mail (first) or phone, or a new one."""
    match = Q(email=email) if email else Q()
    if phone:
        match |= Q(phone=phone)
    known = None
    if match:
        known = (Customer.objects.for_dealer(dealer).filter(match)
                 .order_by(Case(When(email=email, then=0), default=1) if email else "pk", "pk").first())
    if known is not None:
        return known, True
    customer = Customer.objects.create(
        dealer=dealer, first_name=(data.get("first_name") or "")[:150], last_name=(data.get("last_name") or "")[:150],
        email=email[:254], phone=phone, phone_raw=(data.get("phone") or "")[:64],
        preferred_contact=data.get("preferred_contact") or "", language=data.get("language") or "",
    )
    return customer, False


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


def _lead_new(*, dealer, source, data, document, payload) -> tuple[Lead, LeadEvent]:
    """The lead, not yet inserted, with its customer (found, or inserted now) and its first timeline entry."""
    customer_data = data.get("customer") or {}
    contact = assess_contact(email=customer_data.get("email"), phone=customer_data.get("phone"),
                             first_name=customer_data.get("first_name"), last_name=customer_data.get("last_name"),
                             region=dealer.country)
    received_at, received_raw = parse_received_at(data.get("received_at"))
    score = score_lead(data)
    customer, known = _customer_for(dealer=dealer, email=contact.email, phone=contact.phone_e164, data=customer_data)
    lead = Lead(
        dealer=dealer, customer=customer, source=source, external_id=data.get("external_id") or None,
        channel=data.get("channel") or "web_form", reason=data.get("reason") or "",
        received_at=received_at or timezone.now(), received_at_raw=received_raw[:100],
        vehicle=data.get("vehicle") or {}, trade_in=data.get("trade_in") or {}, message=data.get("message") or "",
        consent_marketing=(data.get("consent") or {}).get("marketing"), data_flags=list(contact.flags),
        bant_budget=score.budget, bant_authority=score.authority, bant_need=score.need,
        bant_timeline=score.timeline, score=score.total, returning_customer=known,
        payload=payload if payload is not None else data, document=document,
    )
    received = lead_event_new(lead=lead, type=EventType.RECEIVED, text=source,
                              data={"flags": list(contact.flags), "returning_customer": known})
    return lead, received


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


def _route_or_leave_for_the_sweep(lead: Lead, route: Callable[..., Routed]) -> Routed:
    """Let the router set the lead's routing fields. If it fails, its writes are rolled back (a savepoint), the lead
    keeps its unrouted values and is stored as it is: the follow-up sweep routes it."""
    unrouted = {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields}
    try:
        with transaction.atomic():
            return route(lead=lead)
    except Exception:
        logger.exception("Routing failed for lead %s; the follow-up sweep will retry", lead.pk)
        for attname, value in unrouted.items():
            setattr(lead, attname, value)
        return Routed()


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
    for _attempt in range(2):
        try:
            with transaction.atomic():
                lead, received = _lead_new(dealer=dealer, source=source, data=data, document=document, payload=payload)
                routed = _route_or_leave_for_the_sweep(lead, route) if route is not None else Routed()
                lead.save(force_insert=True)
                consent = _consent_new(lead=lead, source=source, consent=data.get("consent"))
                if consent is not None:
                    consent.save(force_insert=True)
                if idempotency_key:
                    IdempotencyKey.objects.create(dealer=dealer, source=source, key=idempotency_key, lead=lead)
                if routed.notice is not None:
                    notification_send(routed.notice)
                LeadEvent.objects.bulk_create([received, *routed.events])  # the timeline's first entries at once
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


def document_store(*, dealer: Dealer, source: str, content_type: str, body: bytes) -> InboundDocument:
    return InboundDocument.objects.create(dealer=dealer, source=source, content_type=content_type[:100], body=body)


_outbox_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("outbox_batch", default=None)


def notification_new(*, dealer_id: int, recipient, kind: str, subject: str, body: str,
                     lead: Lead | None = None, digest_date=None) -> Notification:
    """A notice, not yet saved: `notification_send` saves it."""
    return Notification(dealer_id=dealer_id, recipient=recipient, lead=lead, kind=kind, subject=subject[:200], body=body,
                        digest_date=digest_date,
                        email_status=DeliveryStatus.PENDING if recipient.email else DeliveryStatus.SKIPPED)


def notification_send(notification: Notification) -> Notification:
    """Save an in-app notice; its e-mail goes out after commit. If the broker is down, the periodic flush sends it."""
    notification.save(force_insert=True)
    if notification.email_status == DeliveryStatus.PENDING:
        batch = _outbox_batch.get()
        if batch is not None:
            batch.append(notification.pk)
        else:
            transaction.on_commit(outbox_wake)
    return notification


def notification_queue(*, dealer_id: int, recipient, kind: str, subject: str, body: str,
                       lead: Lead | None = None, digest_date=None) -> Notification:
    """An in-app notice now; its e-mail goes out after commit."""
    return notification_send(notification_new(dealer_id=dealer_id, recipient=recipient, kind=kind, subject=subject,
                                               body=body, lead=lead, digest_date=digest_date))


def assignee_notice(*, lead: Lead, user, kind: str, note: str = "") -> Notification:
    """The notice, not yet saved, that a lead is now this person's to follow up."""
    customer = lead.customer
    subject = _("New lead: %(name)s") % {"name": customer}
    vehicle = " ".join(str(lead.vehicle.get(k, "")) for k in ("make", "model")).strip()
    body = "\n".join(filter(None, [
        _("%(name)s is waiting for your call.") % {"name": customer},
        vehicle, note, lead.message[:500],
        _("Respond before %(due)s.") % {"due": timezone.localtime(lead.first_response_due_at).strftime("%d-%m-%Y %H:%M")}
        if lead.first_response_due_at else "",
    ]))
    return notification_new(dealer_id=lead.dealer_id, recipient=user, lead=lead, kind=kind, subject=subject, body=body)


def notify_assignee(*, lead: Lead, user, kind: str, note: str = "") -> Notification:
    """The in-app notice (and its e-mail, through the outbox) that a lead is now this person's to follow up."""
    return notification_send(assignee_notice(lead=lead, user=user, kind=kind, note=note))


def notification_mark_read(*, dealer, recipient, ids: list[int] | None = None) -> int:
    """Mark a person's notices in one dealer read (all of them, or the given ones); returns how many changed."""
    unread = Notification.objects.for_dealer(dealer).filter(recipient=recipient, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


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
# A claimed batch is sent within minutes (EMAIL_TIMEOUT per message, a few dozen messages); an e-mail still "sending"
# after this was lost with a crashed worker and is sent again (at least once, never lost).
SENDING_STALE_AFTER = dt.timedelta(minutes=30)
OUTBOX_BATCH = 50
MAX_EMAIL_ATTEMPTS = 5


def outbox_wake() -> None:
    """Ask the worker for an outbox flush: one task per burst of notices, not one per notice.

    The flag stays up from the first notice until the flush starts reading (OUTBOX_GATHER_SECONDS later), so notices
    committed meanwhile are read by that flush; one committed after it started reading finds the flag gone and asks
    again. This needs a cache the worker shares (Redis); without one every notice asks, at once.
    """
    countdown = None
    if settings.OUTBOX_COALESCE_WAKEUPS:
        try:
            if not cache.add(OUTBOX_WAKE_KEY, 1, timeout=OUTBOX_WAKE_TTL):
                return
            countdown = OUTBOX_GATHER_SECONDS
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
    The claim's time marks them as this flush's: results are recorded only on rows still carrying it."""
    claimed_at = timezone.now()
    with transaction.atomic():
        batch = list(Notification.objects.unscoped().filter(email_status=DeliveryStatus.PENDING).order_by("created_at")
                     .select_for_update(skip_locked=True, of=("self",)).select_related("recipient")[:limit])
        Notification.objects.unscoped().filter(pk__in=[n.pk for n in batch]).update(
            email_status=DeliveryStatus.SENDING, email_attempts=F("email_attempts") + 1, email_sent_at=claimed_at)
    return batch, claimed_at


def _outbox_record(n: Notification, claimed_at: dt.datetime, error: Exception | None) -> None:
    if error is None:
        changes = {"email_status": DeliveryStatus.SENT, "email_sent_at": timezone.now(), "email_error": ""}
    else:  # n.email_attempts is the count before this claim
        retry = n.email_attempts + 1 < MAX_EMAIL_ATTEMPTS
        changes = {"email_status": DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED, "email_error": str(error)[:1000]}
    Notification.objects.for_dealer(n.dealer_id).filter(
        pk=n.pk, email_status=DeliveryStatus.SENDING, email_sent_at=claimed_at).update(**changes)


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
        for n in batch:
            try:
                EmailMessage(n.subject, n.body, None, [n.recipient.email], connection=mail_connection).send()
            except Exception as exc:
                _outbox_record(n, claimed_at, exc)
            else:
                _outbox_record(n, claimed_at, None)
    finally:
        mail_connection.close()


def outbox_flush(*, batch_size: int = OUTBOX_BATCH) -> int:
    """Send every e-mail still owed, in batches; returns how many were tried.

    Also takes back e-mails stuck in "sending" after a crash mid-send (sent again: at least once, never lost).
    """
    stale = timezone.now() - SENDING_STALE_AFTER
    Notification.objects.unscoped().filter(email_status=DeliveryStatus.SENDING, email_sent_at__lt=stale).update(
        email_status=DeliveryStatus.PENDING)
    tried = 0
    while True:
        _outbox_wake_clear()  # before reading: whatever commits from here on wakes another flush
        batch, claimed_at = _outbox_claim(limit=batch_size)
        if batch:
            _outbox_send(batch, claimed_at)
        tried += len(batch)
        if len(batch) < batch_size:
            return tried
