"""Call-tracking webhooks: signed call events become verified contact attempts on the matching lead.

A provider signs `<timestamp>.<raw body>` with the dealer's secret (HMAC-SHA256). One call gives one attempt,
however many events (started, answered, ended) and replays arrive: the attempt's `external_ref` is the call id,
unique per dealer, and each event id is stored once per dealer.
"""

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from dealers.errors import DomainError
from dealers.models import Dealer, Membership
from dealers.services import audit_record
from leads.models import EventType, Lead
from leads.quality import normalise_phone
from leads.services import lead_event_add

from .models import AttemptChannel, AttemptOutcome, ContactAttempt, TelephonyEndpoint, TelephonyEvent, TelephonyEventType
from .services import attempt_log

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Opvolger-Signature"
TIMESTAMP_HEADER = "X-Opvolger-Timestamp"
ENDPOINT_HEADER = "X-Opvolger-Endpoint"
SIGNATURE_PREFIX = "sha256="
# A signed request older (or newer) than this is refused, so a captured request cannot be replayed later.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------- endpoint and secret

def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def telephony_endpoint_create(*, dealer: Dealer, by=None) -> TelephonyEndpoint:
    """The dealer's endpoint, created with a fresh secret on first use."""
    endpoint, created = TelephonyEndpoint.objects.for_dealer(dealer).get_or_create(
        dealer=dealer, defaults={"public_id": "tel_" + secrets.token_hex(12), "secret": _new_secret()})
    if created:
        audit_record(dealer=dealer, actor=by, action="telephony.endpoint_created", target=endpoint.public_id)
    return endpoint


@transaction.atomic
def telephony_secret_rotate(*, dealer: Dealer, by=None) -> TelephonyEndpoint:
    """A new secret, valid at once; the old one stops working immediately (rotation is what you do after a leak)."""
    endpoint_id = telephony_endpoint_create(dealer=dealer, by=by).pk
    endpoint = TelephonyEndpoint.objects.for_dealer(dealer).select_for_update().get(pk=endpoint_id)
    endpoint.secret = _new_secret()
    endpoint.rotated_at = timezone.now()
    endpoint.save(update_fields=["secret", "rotated_at"])
    audit_record(dealer=dealer, actor=by, action="telephony.secret_rotated", target=endpoint.public_id)
    return endpoint


# ---------------------------------------------------------------------------------------------- signatures

class SignatureError(Exception):
    """The request is not signed by the endpoint's secret (or too long ago); `.detail` says which."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def signature_compute(*, secret: str, timestamp: str, body: bytes) -> str:
    """The header value a provider sends: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def endpoint_for_request(*, public_id: str) -> TelephonyEndpoint:
    """The endpoint a request names. Unknown and missing look the same to the caller: not authenticated."""
    public_id = (public_id or "").strip()
    # A machine caller: the endpoint it names decides the dealer, so this one lookup reads across dealers.
    endpoint = (TelephonyEndpoint.objects.unscoped().select_related("dealer").filter(public_id=public_id).first()
                if public_id else None)
    if endpoint is None:
        raise SignatureError(_("Unknown or missing %(header)s.") % {"header": ENDPOINT_HEADER})
    return endpoint


def signature_verify(*, endpoint: TelephonyEndpoint, timestamp: str, signature: str, body: bytes, now=None) -> None:
    """Raise SignatureError unless the body is signed with the endpoint's secret within the last five minutes."""
    now = now or timezone.now()
    try:
        sent_at = dt.datetime.fromtimestamp(int((timestamp or "").strip()), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureError(_("Missing or malformed %(header)s (Unix seconds).") % {"header": TIMESTAMP_HEADER})
    if abs(now - sent_at) > MAX_CLOCK_SKEW:
        raise SignatureError(_("The timestamp is more than five minutes away from our clock; sign the request again."))
    expected = signature_compute(secret=endpoint.secret, timestamp=timestamp.strip(), body=body)
    if not hmac.compare_digest(expected.encode(), (signature or "").strip().encode()):
        raise SignatureError(_("The signature does not match the body."))


# ---------------------------------------------------------------------------------------------- events → attempts

@dataclass(frozen=True)
class CallEvent:
    """A validated call event (the webhook's JSON after validation)."""

    event_id: str
    call_id: str
    type: str
    direction: str  # outbound: the dealer calls the customer; inbound: the customer calls the dealer
    caller: str
    callee: str
    started_at: dt.datetime
    duration_seconds: int | None = None
    answered: bool | None = None
    recording_url: str = ""
    agent_email: str = ""

    @property
    def customer_numbers(self) -> list[str]:
        """The customer's side first; the other side too, in case a provider swaps them."""
        return [self.caller, self.callee] if self.direction == "inbound" else [self.callee, self.caller]

    @property
    def was_answered(self) -> bool:
        if self.type == TelephonyEventType.ANSWERED:
            return True
        if self.answered is not None:
            return self.answered
        return bool(self.duration_seconds)


@dataclass(frozen=True)
class TelephonyResult:
    event: TelephonyEvent
    duplicate: bool
    lead: Lead | None
    attempt: ContactAttempt | None


def _lead_for_call(*, dealer: Dealer, call: CallEvent) -> tuple[Lead | None, str]:
    """The dealer's open lead of the customer on this call, the most recent received before the call; and the number."""
    for number in call.customer_numbers:
        e164, _raw = normalise_phone(number, region=dealer.country)
        if not e164:
            continue
        # The number given in the lead itself, or its customer's own number (a lead may have given only an e-mail).
        lead = (Lead.objects.for_dealer(dealer).open().filter(Q(contact_phone=e164) | Q(customer__phone=e164),
                                                                received_at__lte=call.started_at)
                .select_related("customer").order_by("-received_at", "-pk").first())
        if lead is not None:
            return lead, e164
    return None, ""


def _employee_for_call(*, dealer: Dealer, call: CallEvent, customer_e164: str):
    """Who made or took the call: the agent e-mail the provider sent, else the member whose phone is the other side."""
    members = Membership.objects.filter(dealer=dealer, is_active=True).select_related("user")
    if call.agent_email:
        membership = members.filter(user__email__iexact=call.agent_email).first()
        if membership:
            return membership.user
    for number in (call.caller, call.callee):
        e164, _raw = normalise_phone(number, region=dealer.country)
        if not e164 or e164 == customer_e164:
            continue
        for membership in members.exclude(Q(user__phone="")):
            if normalise_phone(membership.user.phone, region=dealer.country)[0] == e164:
                return membership.user
    return None


def _call_ref(call: CallEvent) -> str:
    return f"call:{call.call_id}"


def _attempt_outcome(call: CallEvent) -> str | None:
    """The attempt an event proves, or None when it proves none (yet)."""
    if call.type == TelephonyEventType.STARTED:
        return None  # the call's answer is still to come; `answered` or `ended` decides
    if call.was_answered:
        return AttemptOutcome.CONNECTED
    if call.direction == "inbound":
        return None  # a missed call from the customer is not an attempt by the dealer
    return AttemptOutcome.NO_ANSWER


def _attempt_for_call(*, lead: Lead, call: CallEvent, by) -> ContactAttempt | None:
    """One attempt per call: the first answered/ended event logs it, a later `ended` adds the duration and recording."""
    ref = _call_ref(call)
    existing = ContactAttempt.objects.for_dealer(lead.dealer_id).filter(external_ref=ref).first()
    if existing is None:
        outcome = _attempt_outcome(call)
        if outcome is None:
            return None
        try:
            with transaction.atomic():
                return attempt_log(lead=lead, by=by, channel=AttemptChannel.CALL, outcome=outcome, note=call.recording_url,
                                   duration_seconds=call.duration_seconds, at=call.started_at, verified=True,
                                   external_ref=ref)
        except IntegrityError:
            # Another event of the same call won the race; it holds the attempt.
            existing = ContactAttempt.objects.for_dealer(lead.dealer_id).filter(external_ref=ref).first()
            if existing is None:
                raise
    if call.type == TelephonyEventType.ENDED:
        changes = {}
        if call.duration_seconds is not None and existing.duration_seconds is None:
            changes["duration_seconds"] = call.duration_seconds
        if call.recording_url and not existing.note:
            changes["note"] = call.recording_url
        if changes:
            ContactAttempt.objects.for_dealer(existing.dealer_id).filter(pk=existing.pk).update(**changes)
    return existing


def telephony_event_record(*, endpoint: TelephonyEndpoint, call: CallEvent, payload: dict) -> TelephonyResult:
    """Store one call event once and turn it into a verified attempt on the matching lead.

    A replayed event id changes nothing. An event for a number no open lead has is stored unmatched.
    """
    dealer = endpoint.dealer
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = TelephonyEvent.objects.create(
                    dealer=dealer, event_id=call.event_id, call_id=call.call_id, type=call.type,
                    call_started_at=call.started_at, payload=payload)
        except IntegrityError:
            event = TelephonyEvent.objects.for_dealer(dealer).select_related("lead", "attempt").get(event_id=call.event_id)
            return TelephonyResult(event=event, duplicate=True, lead=event.lead, attempt=event.attempt)
        lead, customer_e164 = _lead_for_call(dealer=dealer, call=call)
        attempt = None
        if lead is not None:
            by = _employee_for_call(dealer=dealer, call=call, customer_e164=customer_e164)
            try:
                attempt = _attempt_for_call(lead=lead, call=call, by=by)
            except DomainError:
                attempt = None  # the lead was closed a moment ago; the event stays on record against it
            if attempt is not None and attempt.lead_id != lead.pk:
                lead = attempt.lead  # a later event of a call that is already an attempt on another lead
            if (attempt is None and call.type == TelephonyEventType.ENDED and call.direction == "inbound"
                    and not call.was_answered):
                lead_event_add(lead=lead, type=EventType.NOTE, at=call.started_at,
                               text=_("Missed call from the customer (%(number)s): call back.") % {"number": customer_e164},
                               data={"telephony_event": call.event_id})
        event.lead, event.attempt = lead, attempt
        event.save(update_fields=["lead", "attempt"])
    return TelephonyResult(event=event, duplicate=False, lead=lead, attempt=attempt)
