"""The e-mail channel: a raw mail is stored first, then each lead it holds goes through the same intake service (and
the caller's routing decision) as a JSON lead. Read once per dealer, however often it arrives.

Routing and follow-up sit above leads (`reporting → followup → routing → leads`), so the caller hands them in:
`route=routing.services.lead_route_new` and `on_call_answered=followup.services.call_answered_log`
(the portal API and the mailbox poller both do).
"""

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from dealers import locks
from dealers.api import flatten_errors
from dealers.models import Dealer

from .mail import MailReading, parse_message
from .models import EventType, InboundMail, Lead, MailChannel
from .quality import normalise_email, normalise_phone, storable
from .serializers import LeadInSerializer
from .services import IntakeResult, lead_event_add, lead_intake

logger = logging.getLogger(__name__)
RESEND_WINDOW = dt.timedelta(minutes=30)  # portals send the same lead two or three times, minutes apart


@dataclass
class MailIngestResult:
    mail: InboundMail
    leads: list[IntakeResult] = field(default_factory=list)
    ignored: str | None = None
    duplicate: bool = False  # the same mail (same Message-ID for this dealer) was read before: nothing new was created


def mail_identity(*, message_id: str | None, raw: bytes) -> tuple[str, str]:
    """(identity, sha256): the Message-ID, or `sha256:<hex>` of the bytes for a mail without one."""
    digest = hashlib.sha256(raw).hexdigest()
    return storable(message_id or f"sha256:{digest}")[:1000], digest


def mail_ingest(*, dealer: Dealer, raw: bytes, fallback_source: str, channel: str, api_key=None,
                route: Callable | None = None, on_call_answered: Callable | None = None,
                on_reply: Callable | None = None, on_bounce: Callable | None = None) -> MailIngestResult:
    """Store one raw mail and the leads it holds. Raises `leads.mail.NotAMail` (nothing stored) when the bytes are not
    an e-mail message at all.

    The mail row and its leads commit together, so a concurrent second delivery waits on the unique constraint
    (dealer, identity) and then finds the first delivery's leads: `duplicate=True`, nothing created. A mail whose
    leads cannot be stored is kept with its error (listed for the manager), never skipped.
    `on_call_answered(dealer=, phone=, at=, ref=, source=)` logs a portal's answered-call notice on the caller's lead.
    `on_reply(dealer=, message_ids=, text=, at=, ref=)` returns the lead a customer's answer to one of our mails
    belongs to (the mail joins that lead instead of making a new one); `on_bounce(dealer=, message_ids=)` undoes the
    attempts of mails that came back. Both run in the mail's transaction, so a second delivery changes nothing.
    """
    reading = parse_message(raw)  # NotAMail propagates: nothing is stored for bytes that are no mail
    identity, digest = mail_identity(message_id=reading.message_id, raw=raw)
    source = (reading.source or fallback_source)[:64]
    try:
        with transaction.atomic():
            mail = InboundMail.objects.create(
                dealer=dealer, message_identity=identity, message_id=storable(reading.message_id or "")[:998], sha256=digest,
                raw=raw, subject=storable(reading.subject), sender=storable(reading.sender)[:254],
                sent_at=reading.sent_at, ignored=reading.ignored or "", error=storable(reading.error), source=source,
                channel=channel if channel in MailChannel.values else MailChannel.API, needs_review=reading.needs_review,
                api_key=api_key)
            answered = None
            if reading.refers_to and not reading.ignored and on_reply is not None:
                answered = on_reply(dealer=dealer, message_ids=reading.refers_to, text=reading.text,
                                    at=reading.sent_at or mail.received_at, ref=f"reply:{identity}")
            if answered is not None:  # a customer's answer joins its lead: no new lead, no new customer
                mail.leads.add(answered)
                results = [IntakeResult(lead=answered, created=False)]
            else:
                results = _leads_store(mail=mail, reading=reading, source=source, route=route)
            if reading.ignored == "bounce" and reading.refers_to and on_bounce is not None:
                on_bounce(dealer=dealer, message_ids=reading.refers_to)
    except IntegrityError:
        mail = InboundMail.objects.for_dealer(dealer).filter(message_identity=identity).first()
        if mail is None:
            raise
        leads = list(mail.leads.select_related("dealer", "customer", "assignee").order_by("created_at"))
        return MailIngestResult(mail=mail, leads=[IntakeResult(lead=lead, created=False) for lead in leads],
                                ignored=mail.ignored or None, duplicate=True)
    if reading.ignored == "call-answered" and reading.answered_phone and on_call_answered is not None:
        _answered_call_log(mail=mail, reading=reading, on_call_answered=on_call_answered)
    return MailIngestResult(mail=mail, leads=results, ignored=reading.ignored)


def _leads_store(*, mail: InboundMail, reading: MailReading, source: str, route) -> list[IntakeResult]:
    results, errors = [], []
    for index, data in enumerate(reading.leads):
        serializer = LeadInSerializer(data=storable(data))
        if not serializer.is_valid():
            errors.append(f"lead {index}: {flatten_errors(serializer.errors)}")
            # What was read about the car may be odd; the buyer and their words are what must not be lost.
            serializer = LeadInSerializer(data=storable({k: data[k] for k in ("customer", "message", "channel",
                                                                               "needs_review") if k in data}))
            if not serializer.is_valid():
                continue
        lead_data = serializer.validated_data
        first = _resend_of(dealer=mail.dealer, source=source, data=lead_data)
        if first is not None:
            lead_event_add(lead=first, type=EventType.DUPLICATE, text=source,
                           data={"mail_id": mail.pk, "message_id": mail.message_id, "resend": True})
            result = IntakeResult(lead=first, created=False)
        else:
            payload = {"mail": {"id": mail.pk, "message_id": mail.message_id, "subject": mail.subject,
                                "kind": reading.kind, "forwarded": reading.forwarded}, "lead": data}
            result = lead_intake(dealer=mail.dealer, source=source, data=lead_data, payload=payload, route=route)
        mail.leads.add(result.lead)
        results.append(result)
    if errors:
        mail.error = "\n".join(filter(None, [mail.error, *errors]))[:5000]
        mail.save(update_fields=["error"])
    return results


def _resend_of(*, dealer: Dealer, source: str, data: dict) -> Lead | None:
    """The lead a portal already sent: same buyer (e-mail or phone) and same ad (link or plate) within 30 minutes.

    Called inside the mail's transaction: the buyer's lock (below) makes a resend that arrives at the same moment as
    the first mail wait until that mail's lead is committed, and then find it."""
    customer = data.get("customer") or {}
    vehicle = data.get("vehicle") or {}
    email = normalise_email(customer.get("email"))
    phone, _raw = normalise_phone(customer.get("phone"), region=dealer.country)
    _lock_buyer(dealer=dealer, contacts=[c for c in (email, phone) if c])
    # The same buyer as the portal gave them before (the lead's own contact, not what the customer record holds now).
    same_buyer = (Q(contact_email=email) if email else Q()) | (Q(contact_phone=phone) if phone else Q())
    same_ad = (Q(vehicle__url=vehicle["url"]) if vehicle.get("url") else Q()) | (
        Q(vehicle__plate=vehicle["plate"]) if vehicle.get("plate") else Q())
    if not same_buyer or not same_ad:
        return None
    return (Lead.objects.for_dealer(dealer).filter(source=source, channel=data.get("channel") or "email",
                                created_at__gte=timezone.now() - RESEND_WINDOW, mails__isnull=False)
            .filter(same_buyer).filter(same_ad).order_by("created_at").first())


def _lock_buyer(*, dealer: Dealer, contacts: list[str]) -> None:
    """Mails about one buyer at one dealer are stored one after the other, until the end of the transaction.

    A transaction-scoped advisory lock per contact (in a fixed order, so two mails naming the same two contacts never
    deadlock), not a row lock: there is no row yet to lock. On the embedded SQLite, writers are serialised anyway."""
    for contact in sorted(set(contacts)):
        locks.advisory_xact_lock(locks.BUYER, f"{dealer.pk}:{contact}")


def _answered_call_log(*, mail: InboundMail, reading: MailReading, on_call_answered: Callable) -> None:
    """Best effort after the mail is stored: a failure here is recorded on the mail, never loses it."""
    try:
        on_call_answered(dealer=mail.dealer, phone=reading.answered_phone, at=reading.sent_at or mail.received_at,
                         ref=f"mail:{mail.sha256}", source=mail.source)
    except Exception as exc:
        logger.exception("Logging the answered call of mail %s failed", mail.pk)
        InboundMail.objects.for_dealer(mail.dealer_id).filter(pk=mail.pk).update(error=f"answered call not logged: {exc}"[:1000])


@transaction.atomic
def mail_promote(*, mail: InboundMail, by, route: Callable | None = None) -> IntakeResult:
    """A manager turns a kept mail (ignored, or unreadable) into a lead. Twice is once: the first lead is returned."""
    mail = InboundMail.objects.for_dealer(mail.dealer_id).select_for_update().get(pk=mail.pk)
    existing = mail.leads.order_by("created_at").first()
    if existing is not None:
        return IntakeResult(lead=existing, created=False)
    reading = parse_message(bytes(mail.raw))
    data = dict(reading.leads[0]) if reading.leads else {
        "customer": {"email": reading.sender, "phone": reading.answered_phone or ""},
        "message": reading.text or reading.subject, "channel": "call" if reading.answered_phone else "email",
        "received_at": reading.sent_at.isoformat() if reading.sent_at else ""}
    data["needs_review"] = False  # a manager has read it
    serializer = LeadInSerializer(data=storable(data))
    serializer.is_valid(raise_exception=True)
    result = lead_intake(dealer=mail.dealer, source=mail.source or "email", data=serializer.validated_data,
                         payload={"mail": {"id": mail.pk, "message_id": mail.message_id, "promoted": True}, "lead": data},
                         route=route)
    mail.leads.add(result.lead)
    mail.promoted_at, mail.promoted_by = timezone.now(), by
    mail.save(update_fields=["promoted_at", "promoted_by"])
    lead_event_add(lead=result.lead, type=EventType.NOTE, actor=by,
                   text=_("Made a lead from a mail that was set aside (%(reason)s).")
                   % {"reason": mail.get_ignored_display() or mail.error[:100] or "-"})
    return result
