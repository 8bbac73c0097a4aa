"""`parse_message(raw) -> MailReading`: what one e-mail says, as leads in the intake's shape or a reason it is none."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from . import fields as f
from .forwards import unwrap
from .mime import Mail, NotAMail, decode, header_text, message_from_bytes
from .portals import REGISTRY, Parsed, is_marketing, is_robot

__all__ = ["MailReading", "NotAMail", "parse_message"]

EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
AUTO_REPLY_SUBJECT = re.compile(r"^\s*(automatisch antwoord|automatic reply|auto(matic)?[- ]?reply|autoreply|"
                                r"out of (the )?office|afwezig|niet aanwezig|abwesenheit|auto:|absence)", re.I)
BOUNCE_SUBJECT = re.compile(r"^\s*(undeliver(ed|able)|delivery status notification|mail delivery (failed|failure)|"
                            r"returned mail|onbestelbaar|niet bezorgd|kan niet worden bezorgd|failure notice)", re.I)
BOUNCE_SENDERS = re.compile(r"^(mailer[-_.]?daemon|postmaster)$", re.I)
MAX_MESSAGE = 20000  # LeadInSerializer's limit on `message`


@dataclass
class MailReading:
    message_id: str | None
    sent_at: dt.datetime | None
    subject: str
    text: str = ""
    ignored: str | None = None  # auto-reply, bounce, marketing, call-answered
    source: str | None = None  # the portal, None when the mail is from no known portal
    needs_review: bool = False
    leads: list[dict] = field(default_factory=list)  # in the shape LeadInSerializer accepts
    kind: str | None = None  # lead, call, trade_in, test_drive, callback, review
    sender: str = ""  # the From address (of the forwarded mail, when unwrapped)
    answered_phone: str | None = None  # call-answered: the number the taken call was with
    forwarded: bool = False
    error: str = ""  # what went wrong reading it (the mail is kept and listed either way)
    # Message-IDs this mail answers (In-Reply-To, References) or, for a bounce, the ones it returns: how a customer's
    # reply or a bounce finds the mail a salesperson sent from a lead.
    refers_to: list[str] = field(default_factory=list)


def parse_message(raw: bytes, *, now: dt.datetime | None = None) -> MailReading:
    """Read one RFC 5322 message. Raises `NotAMail` only when the bytes have no header block at all."""
    msg = message_from_bytes(raw)
    reading = MailReading(message_id=_message_id(header_text(msg, "Message-ID")),
                          sent_at=_sent_at(header_text(msg, "Date"), now=now), subject=header_text(msg, "Subject")[:998])
    try:
        outer = decode(msg)
    except Exception as exc:  # noqa: BLE001 — a mail beyond repair is still kept; its headers still name the sender
        reading.error = f"The body could not be decoded: {type(exc).__name__}: {exc}"[:1000]
        outer = Mail(subject=reading.subject, headers=msg, text=_raw_body(raw))
        from .mime import first_address
        outer.from_name, outer.from_addr = first_address(header_text(msg, "From"))
        outer.reply_to_name, outer.reply_to_addr = first_address(header_text(msg, "Reply-To"))
    reading.text, reading.sender = outer.text, outer.from_addr
    reading.ignored = _bounce(outer) or _auto_reply(outer, strict=True)
    reading.refers_to = _referred_ids(msg, raw, own=reading.message_id, bounce=reading.ignored == "bounce")
    if reading.ignored:
        return reading
    try:
        mail = unwrap(outer)
        _read(mail, outer, reading)
    except Exception as exc:  # noqa: BLE001 — a parser bug must not lose a buyer's mail: keep it for a person to read
        reading.error = f"{type(exc).__name__}: {exc}"[:1000]
        reading.leads, reading.ignored, reading.source, reading.kind = [], None, None, None
        _person(outer, reading)
    for lead in reading.leads:
        _fit(lead)
        lead["needs_review"] = reading.needs_review
        if reading.sent_at and not lead.get("received_at"):
            lead["received_at"] = reading.sent_at.isoformat()
    return reading


def _read(mail: Mail, outer: Mail, reading: MailReading) -> None:
    reading.forwarded = mail.forwarded
    if mail.forwarded:
        reading.text, reading.sender = mail.text, mail.from_addr
        if mail.forwarded and (_bounce(mail) or AUTO_REPLY_SUBJECT.match(mail.subject)):
            reading.ignored = _bounce(mail) or "auto-reply"
            return
    portal = next((p for p in REGISTRY if p.matches(mail)), None)
    named = portal is not None and portal.SOURCE not in ("website", "adf")
    if named and is_marketing(mail, subject_only=True):
        reading.ignored, reading.source = "marketing", portal.SOURCE
        return
    if not named and _auto_reply(outer, strict=False):
        reading.ignored = "auto-reply"
        return
    if portal is not None:
        parsed: Parsed = portal.parse(mail)
        reading.source, reading.kind, reading.ignored = parsed.source, parsed.kind, parsed.ignored
        reading.answered_phone, reading.needs_review = parsed.answered_phone, parsed.needs_review
        if parsed.ignored:
            return
        leads = [lead for lead in parsed.leads if _has_contact(lead)]
        if leads:
            reading.leads = leads
            return
        if named and (_bulk(outer) or is_marketing(mail)):  # a portal's mail with no buyer in it
            reading.ignored = "marketing"
            return
        if named:  # a portal's notice with no contact we could read: a person looks at it
            reading.leads = parsed.leads or [{"customer": {}, "message": mail.text, "channel": "email"}]
            reading.needs_review = True
            return
        reading.source, reading.kind = None, None
    if _bulk(outer) or (is_robot(mail.from_addr) and is_marketing(mail)):
        reading.ignored = "marketing"
        return
    _person(mail, reading)


def _person(mail: Mail, reading: MailReading) -> None:
    """A mail in no known format is a lead for a person to review: the sender is the customer, the whole text the
    message. A buyer's mail is never dropped."""
    address = mail.reply_to_addr if mail.reply_to_addr and not is_robot(mail.reply_to_addr) else mail.from_addr
    name = mail.reply_to_name if address == mail.reply_to_addr and mail.reply_to_name else mail.from_name
    first, last = f.split_name(name)
    customer = {k: v for k, v in {"first_name": first, "last_name": last, "email": address}.items() if v}
    reading.leads = [{"customer": customer, "message": mail.text or mail.subject, "channel": "email"}]
    reading.kind, reading.needs_review = "review", True


LIMITS = {  # LeadInSerializer's lengths: a value read too long is cut, never a reason to lose the lead
    "customer": {"first_name": 150, "last_name": 150, "email": 254, "phone": 64, "preferred_contact": 16},
    "vehicle": {"make": 100, "model": 100, "vin": 64, "stock_number": 64, "url": 2000, "plate": 16, "currency": 3,
                "interest": 32, "status": 32},
    "trade_in": {"make": 100, "model": 100, "plate": 16, "remarks": 2000},
}


def _fit(lead: dict) -> None:
    lead["message"] = (lead.get("message") or "")[:MAX_MESSAGE]
    if lead.get("external_id"):
        lead["external_id"] = str(lead["external_id"])[:200]
    if len(lead.get("received_at") or "") > 100:
        lead.pop("received_at")
    for part, limits in LIMITS.items():
        values = lead.get(part)
        if not isinstance(values, dict):
            continue
        for key, limit in limits.items():
            if isinstance(values.get(key), str):
                values[key] = values[key][:limit].strip()
        if part == "customer" and len(values.get("email") or "") >= 254:
            values.pop("email")
        year = values.get("year")
        if year is not None and not (isinstance(year, int) and 1886 <= year <= 2100):
            values.pop("year")


def _has_contact(lead: dict) -> bool:
    customer = lead.get("customer") or {}
    return bool((customer.get("email") or "").strip() or (customer.get("phone") or "").strip())


def _bounce(mail: Mail) -> str | None:
    if mail.is_report or BOUNCE_SENDERS.match(mail.from_local) or BOUNCE_SUBJECT.match(mail.subject):
        return "bounce"
    return None


def _auto_reply(mail: Mail, *, strict: bool) -> str | None:
    """RFC 3834 and the vendors' own headers. `strict`: only what is surely an auto-reply; otherwise also
    `Auto-Submitted: auto-generated`, which portals put on their lead notices too (so it counts only without one)."""
    submitted = mail.header("Auto-Submitted").lower()
    if submitted.startswith("auto-replied") or mail.header("X-Autoreply") or mail.header("X-Autorespond"):
        return "auto-reply"
    if mail.header("Precedence").lower() == "auto_reply" or AUTO_REPLY_SUBJECT.match(mail.subject):
        return "auto-reply"
    if not strict and submitted and submitted != "no":
        return "auto-reply"
    return None


def _bulk(mail: Mail) -> bool:
    return bool(mail.header("List-Unsubscribe")) or mail.header("Precedence").lower() in ("bulk", "list", "junk")


def _referred_ids(msg, raw: bytes, *, own: str | None, bounce: bool) -> list[str]:
    """The Message-IDs this mail answers; a bounce also names the returned mail's, in its report or quoted headers."""
    text = " ".join(header_text(msg, name) for name in ("In-Reply-To", "References"))
    if bounce:
        text += " " + " ".join(re.findall(r"(?im)^message-id:\s*(<[^<>\s]+>)", raw.decode("latin-1")))
    ids = []
    for found in re.findall(r"<[^<>\s]{3,900}>", text):
        if found != own and found not in ids:
            ids.append(found)
    return ids[:50]


def _message_id(value: str) -> str | None:
    value = value.strip()
    m = re.search(r"<[^<>\s]+>", value)
    return (m.group(0) if m else value)[:998] or None


def _sent_at(value: str, *, now: dt.datetime | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return sent if EARLIEST <= sent <= now + dt.timedelta(days=1) else None


def _raw_body(raw: bytes) -> str:
    head, _sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    return body[:200_000].decode("utf-8", errors="replace")
