"""Every place that holds a customer's personal data, one small entry per model.

A holder knows how to show what its model holds about a person (`export`), how to remove it while keeping the row
that the report figures count (`erase`), and, for raw submissions, how to drop what is older than the retention
period (`purge_raw`). A new model with personal data is one more entry in HOLDERS; the services loop over the list.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Case, Q, Value, When
from django.utils import timezone, translation

from dealers.models import Dealer
from followup.models import (
    Appointment,
    ContactAttempt,
    CustomerMessage,
    CustomerMessageKind,
    CustomerMessageStatus,
    LeadImport,
    TelephonyEvent,
)
from leads.models import (
    LEAD_CONTACT_FIELDS,
    ConsentRecord,
    Customer,
    CustomerContact,
    EventType,
    InboundDocument,
    InboundMail,
    Lead,
    LeadEvent,
    Notification,
    NotificationKind,
)

# What stays of a vehicle or trade-in: enough for the reports and the stock figures, nothing that points at one car.
VEHICLE_KEEP = frozenset({"interest", "status", "make", "model", "year"})
# Timeline entries whose text is what a person wrote (notes, attempt notes, hand-over notes, close reasons).
FREE_TEXT_EVENTS = frozenset({EventType.ATTEMPT, EventType.NOTE, EventType.HANDED_OVER, EventType.CLOSED,
                              EventType.DUPLICATE})
# Keys in a timeline entry's data that carry what a portal or caller sent.
EVENT_DATA_PERSONAL = frozenset({"external_id", "idempotency_key", "number", "phone", "email", "name"})


@dataclass
class Subject:
    """Whose data: customers (with all their leads), or only some leads (retention of inactive leads)."""

    dealer: Dealer
    customers: list[Customer] = field(default_factory=list)  # whose contact details go; empty: only the leads
    lead_ids: list = field(default_factory=list)

    @property
    def customer(self) -> Customer | None:
        """The one person of an export."""
        return self.customers[0] if self.customers else None

    @property
    def customer_ids(self) -> list[int]:
        return [c.pk for c in self.customers]


@dataclass(frozen=True)
class Holder:
    name: str
    export: Callable[[Subject], object] | None = None
    erase: Callable[[Subject], int] | None = None
    purge_raw: Callable[[Dealer, dt.datetime], int] | None = None


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _text(body: bytes) -> str:
    return bytes(body).decode("utf-8", errors="replace")


# ------------------------------------------------------------------------------------------------ the customer

def customer_export(subject: Subject):
    c = subject.customer
    if c is None:
        return None
    return {"id": c.pk, "first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": c.phone,
            "phone_raw": c.phone_raw, "preferred_contact": c.preferred_contact, "language": c.language,
            "created_at": _iso(c.created_at), "erased_at": _iso(c.erased_at)}


def customer_erase(subject: Subject) -> int:
    if not subject.customers:
        return 0
    now = timezone.now()
    return Customer.objects.for_dealer(subject.dealer).filter(pk__in=subject.customer_ids).update(
        first_name="", last_name="", email="", phone="", phone_raw="", preferred_contact="", language="", erased_at=now)


# ------------------------------------------------------------------------------------------------ leads

def _leads(subject: Subject):
    return Lead.objects.for_dealer(subject.dealer).filter(pk__in=subject.lead_ids)


def leads_export(subject: Subject):
    return [{"id": str(lead.pk), "source": lead.source, "external_id": lead.external_id, "channel": lead.channel,
             "reason": lead.reason, "status": lead.status, "received_at": _iso(lead.received_at),
             "received_at_raw": lead.received_at_raw, "closed_at": _iso(lead.closed_at), "close_reason": lead.close_reason,
             "vehicle": lead.vehicle, "trade_in": lead.trade_in, "message": lead.message,
             "consent_marketing": lead.consent_marketing, "payload": lead.payload,
             "document_id": lead.document_id, "anonymised_at": _iso(lead.anonymised_at),
             "contact_as_given": lead.contact_details()}
            for lead in _leads(subject).order_by("received_at", "pk")]


def _vehicle_kept(vehicle) -> dict:
    return {k: v for k, v in (vehicle or {}).items() if k in VEHICLE_KEEP} if isinstance(vehicle, dict) else {}


def leads_erase(subject: Subject) -> int:
    # Nobody is to chase a person who is erased: no next step, no escalation. The status (a figure) stays.
    # manager_flag stays too: it is the system's own words about the follow-up.
    erased = _leads(subject).update(payload={}, message="", close_reason="", external_id=None, received_at_raw="",
                                    deadline_at=None, next_action_at=None, anonymised_at=timezone.now(),
                                    **{name: "" for name in LEAD_CONTACT_FIELDS})  # the contact as given in each lead
    changed = []
    for lead in _leads(subject).only("pk", "vehicle", "trade_in"):
        vehicle, trade_in = _vehicle_kept(lead.vehicle), _vehicle_kept(lead.trade_in)
        if (vehicle, trade_in) != (lead.vehicle, lead.trade_in):
            lead.vehicle, lead.trade_in = vehicle, trade_in
            changed.append(lead)
    Lead.objects.for_dealer(subject.dealer).bulk_update(changed, ["vehicle", "trade_in"], batch_size=500)
    return erased


def leads_purge_raw(dealer: Dealer, before: dt.datetime) -> int:
    return Lead.objects.for_dealer(dealer).filter(received_at__lt=before).exclude(payload={}).update(payload={})


# ------------------------------------------------------------------------------------------------ mails as received

def _mails(subject: Subject):
    return InboundMail.objects.for_dealer(subject.dealer).filter(leads__pk__in=subject.lead_ids).distinct()


def mails_export(subject: Subject):
    return [{"id": m.pk, "received_at": _iso(m.received_at), "sender": m.sender, "subject": m.subject,
             "raw": _text(bytes(m.raw))} for m in _mails(subject).order_by("received_at", "pk")]


def mails_erase(subject: Subject) -> int:
    # The row stays (its identity keeps the same mail from being read into a lead twice); what it said goes.
    return InboundMail.objects.for_dealer(subject.dealer).filter(pk__in=_mails(subject).values("pk")).update(
        raw=b"", subject="", sender="", message_id="", error="")


def mails_purge_raw(dealer: Dealer, before: dt.datetime) -> int:
    return InboundMail.objects.for_dealer(dealer).filter(received_at__lt=before).exclude(raw=b"").update(raw=b"")


# ------------------------------------------------------------------------------------------------ further contact points

def contacts_export(subject: Subject):
    return [{"kind": c.kind, "value": c.value, "raw": c.raw, "first_seen_at": _iso(c.first_seen_at),
             "last_seen_at": _iso(c.last_seen_at)}
            for c in CustomerContact.objects.for_dealer(subject.dealer).filter(customer_id__in=subject.customer_ids)
            .order_by("first_seen_at", "pk")]


def contacts_erase(subject: Subject) -> int:
    return CustomerContact.objects.for_dealer(subject.dealer).filter(customer_id__in=subject.customer_ids).delete()[0]


# ------------------------------------------------------------------------------------------------ raw documents (ADF)

def _documents(subject: Subject):
    return InboundDocument.objects.for_dealer(subject.dealer).filter(leads__pk__in=subject.lead_ids).distinct()


def documents_export(subject: Subject):
    return [{"id": d.pk, "source": d.source, "content_type": d.content_type, "received_at": _iso(d.received_at),
             "body": _text(d.body)} for d in _documents(subject).order_by("received_at", "pk")]


def documents_erase(subject: Subject) -> int:
    # A document is the raw copy of what its leads hold parsed; one that also carries other people's prospects goes
    # too (their leads keep everything parsed from it).
    ids = list(_documents(subject).values_list("pk", flat=True))
    InboundDocument.objects.for_dealer(subject.dealer).filter(pk__in=ids).delete()
    return len(ids)


def documents_purge_raw(dealer: Dealer, before: dt.datetime) -> int:
    return InboundDocument.objects.for_dealer(dealer).filter(received_at__lt=before).delete()[0]


# ------------------------------------------------------------------------------------------------ follow-up

def attempts_export(subject: Subject):
    return [{"lead": str(a.lead_id), "at": _iso(a.at), "channel": a.channel, "outcome": a.outcome, "note": a.note,
             "by": a.user.display_name if a.user else None, "verified": a.verified,
             "duration_seconds": a.duration_seconds}
            for a in ContactAttempt.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
            .select_related("user").order_by("at", "pk")]


def attempts_erase(subject: Subject) -> int:
    # The attempt stays (it is a figure); its note is what a person wrote, or the subject of a mail sent to them.
    return ContactAttempt.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids).exclude(note="").update(note="")


def appointments_export(subject: Subject):
    return [{"lead": str(a.lead_id), "kind": a.kind, "scheduled_at": _iso(a.scheduled_at), "showed": a.showed,
             "created_at": _iso(a.created_at)}
            for a in Appointment.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
            .order_by("scheduled_at", "pk")]


def customer_messages_export(subject: Subject):
    return [{"lead": str(m.lead_id), "kind": m.kind, "to": m.to_email, "subject": m.subject, "body": m.body,
             "calendar_invite": m.ics, "created_at": _iso(m.created_at), "status": m.status, "sent_at": _iso(m.sent_at)}
            for m in CustomerMessage.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
            .order_by("created_at", "pk")]


def customer_messages_erase(subject: Subject) -> int:
    messages = CustomerMessage.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
    # Nothing more goes out to an erased person: a message still owed is given up.
    messages.filter(status__in=[CustomerMessageStatus.PENDING, CustomerMessageStatus.SENDING]).update(
        status=CustomerMessageStatus.FAILED, error="erased")
    with translation.override(settings.LANGUAGE_CODE):
        neutral = Case(*(When(kind=kind, then=Value(str(label))) for kind, label in CustomerMessageKind.choices),
                       default=Value(""))
        return messages.update(to_email="", subject=neutral, body="", ics="")


def telephony_export(subject: Subject):
    return [{"lead": str(e.lead_id), "type": e.type, "call_started_at": _iso(e.call_started_at),
             "received_at": _iso(e.received_at), "payload": e.payload}
            for e in TelephonyEvent.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
            .order_by("received_at", "pk")]


def telephony_erase(subject: Subject) -> int:
    return (TelephonyEvent.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids).exclude(payload={})
            .update(payload={}))


def telephony_purge_raw(dealer: Dealer, before: dt.datetime) -> int:
    return TelephonyEvent.objects.for_dealer(dealer).filter(received_at__lt=before).exclude(payload={}).update(payload={})


def lead_imports_purge_raw(dealer: Dealer, before: dt.datetime) -> int:
    # An uploaded CSV holds many people: the file (normally dropped once imported) and the check's sample rows and
    # row errors, which quote cells.
    imports = (LeadImport.objects.for_dealer(dealer).filter(created_at__lt=before)
               .filter(~Q(content=b"") | Q(summary__has_key="sample") | Q(summary__has_key="errors")))
    purged = 0
    for lead_import in imports.only("pk", "summary"):
        summary = {k: v for k, v in (lead_import.summary or {}).items() if k not in ("sample", "errors")}
        purged += LeadImport.objects.for_dealer(dealer).filter(pk=lead_import.pk).update(content=b"", summary=summary)
    return purged


# ------------------------------------------------------------------------------------------------ timeline, outbox

def timeline_export(subject: Subject):
    return [{"lead": str(e.lead_id), "at": _iso(e.at), "type": e.type, "text": e.text, "data": e.data}
            for e in LeadEvent.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids).order_by("at", "pk")]


def timeline_erase(subject: Subject) -> int:
    events = LeadEvent.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
    changed = events.filter(type__in=FREE_TEXT_EVENTS).exclude(text="").update(text="")
    with_ids = list(events.filter(data__has_any_keys=sorted(EVENT_DATA_PERSONAL)).only("pk", "data"))
    for event in with_ids:
        event.data = {k: v for k, v in event.data.items() if k not in EVENT_DATA_PERSONAL}
    LeadEvent.objects.for_dealer(subject.dealer).bulk_update(with_ids, ["data"], batch_size=500)
    return changed + len(with_ids)


def notifications_export(subject: Subject):
    return [{"lead": str(n.lead_id), "kind": n.kind, "to": n.recipient.display_name, "subject": n.subject,
             "body": n.body, "created_at": _iso(n.created_at)}
            for n in Notification.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
            .select_related("recipient").order_by("created_at", "pk")]


def _quoted(customer: Customer) -> list[str]:
    return [v for v in {customer.full_name, customer.email, customer.phone, customer.phone_raw} if len(v) >= 3]


def notifications_erase(subject: Subject) -> int:
    with translation.override(settings.LANGUAGE_CODE):
        neutral = Case(*(When(kind=kind, then=Value(str(label))) for kind, label in NotificationKind.choices),
                       default=Value(""))
        changed = (Notification.objects.for_dealer(subject.dealer).filter(lead_id__in=subject.lead_ids)
                   .update(subject=neutral, body=""))
    # A daily digest lists several leads by name: only these people's names and addresses go.
    quoted = sorted({text for customer in subject.customers for text in _quoted(customer)}, key=len, reverse=True)
    if quoted:
        match = Q()
        for text in quoted:
            match |= Q(body__contains=text) | Q(subject__contains=text)
        digests = Notification.objects.for_dealer(subject.dealer).filter(match, kind=NotificationKind.DIGEST)
        for n in digests.only("pk", "subject", "body"):
            for text in quoted:
                n.subject, n.body = n.subject.replace(text, "—"), n.body.replace(text, "—")
            n.save(update_fields=["subject", "body"])
            changed += 1
    return changed


# ------------------------------------------------------------------------------------------------ consent

def consents_export(subject: Subject):
    match = Q(lead_id__in=subject.lead_ids) | Q(customer_id__in=subject.customer_ids)
    return [{"lead": str(c.lead_id) if c.lead_id else None, "purpose": c.purpose, "given": c.given,
             "given_at": _iso(c.given_at), "source": c.source, "channel": c.channel, "text": c.text,
             "recorded_at": _iso(c.recorded_at)}
            for c in ConsentRecord.objects.for_dealer(subject.dealer).filter(match).order_by("given_at", "pk")]


def consents_erase(subject: Subject) -> int:
    # Consent proves a right to process; once the person is erased there is nothing left to process.
    if not subject.customers:
        return 0
    return ConsentRecord.objects.for_dealer(subject.dealer).filter(customer_id__in=subject.customer_ids).delete()[0]


HOLDERS: list[Holder] = [
    Holder("customer", customer_export, customer_erase),
    Holder("leads", leads_export, leads_erase, leads_purge_raw),
    Holder("contact_points", contacts_export, contacts_erase),
    Holder("mails", mails_export, mails_erase, mails_purge_raw),
    Holder("documents", documents_export, documents_erase, documents_purge_raw),
    Holder("attempts", attempts_export, attempts_erase),
    Holder("appointments", appointments_export),  # kind, time, showed: nothing that identifies the person
    Holder("messages_to_customer", customer_messages_export, customer_messages_erase),
    Holder("telephony_events", telephony_export, telephony_erase, telephony_purge_raw),
    Holder("timeline", timeline_export, timeline_erase),
    Holder("notifications", notifications_export, notifications_erase),
    Holder("consent_records", consents_export, consents_erase),
    Holder("lead_imports", purge_raw=lead_imports_purge_raw),
]
