"""Telling the customer about their appointment: a confirmation with a calendar invite when it is booked, an update
when it moves, a cancellation when the lead is closed before it, and a reminder the day before.

Messages are `CustomerMessage` rows written in the caller's transaction and sent after commit by the worker (beat
sends whatever an outage left). The invite is RFC 5545 (icalendar) in the dealer's time zone, one UID per
appointment, its SEQUENCE raised by every change, so the customer's calendar updates the event instead of adding one.
"""

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vCalAddress, vText

from leads.models import Lead
from leads.services import task_enqueue

from .contact import customer_email_address, vehicle_label
from .models import Appointment, AppointmentKind, CustomerMessage, CustomerMessageKind, CustomerMessageStatus

logger = logging.getLogger(__name__)
DURATION = {AppointmentKind.TEST_DRIVE: dt.timedelta(minutes=60), AppointmentKind.CALL: dt.timedelta(minutes=15)}
DEFAULT_DURATION = dt.timedelta(minutes=45)
MAX_ATTEMPTS = 5
SENDING_STALE_AFTER = dt.timedelta(minutes=5)
BATCH = 50


def appointment_ics(appointment: Appointment, *, kind: str, sequence: int) -> str:
    """The calendar invite: REQUEST for a booked or moved appointment, CANCEL for a cancelled one."""
    lead, dealer = appointment.lead, appointment.lead.dealer
    salesperson = lead.assignee or appointment.created_by
    start = timezone.localtime(appointment.scheduled_at, dealer.tz)
    calendar = Calendar()
    calendar.add("prodid", "-//Opvolger//NL")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if kind == CustomerMessageKind.CANCELLATION else "REQUEST")
    event = Event()
    event.add("uid", f"appointment-{appointment.pk}-{dealer.pk}@opvolger")
    event.add("sequence", sequence)
    event.add("dtstamp", timezone.now())
    event.add("dtstart", start)
    event.add("dtend", start + DURATION.get(appointment.kind, DEFAULT_DURATION))
    event.add("summary", _subject_line(appointment))
    event.add("location", dealer.name)
    event.add("description", _description(appointment))
    event.add("status", "CANCELLED" if kind == CustomerMessageKind.CANCELLATION else "CONFIRMED")
    if salesperson is not None and salesperson.email:
        organizer = vCalAddress(f"mailto:{salesperson.email}")
        organizer.params["cn"] = vText(salesperson.display_name)
        event.add("organizer", organizer)
    address = customer_email_address(lead)
    if address:
        attendee = vCalAddress(f"mailto:{address}")
        if lead.customer.full_name:
            attendee.params["cn"] = vText(lead.customer.full_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    calendar.add_component(event)
    calendar.add_missing_timezones()  # the VTIMEZONE of the dealer's zone, so every calendar shows the right hour
    return calendar.to_ical().decode()


def _subject_line(appointment: Appointment) -> str:
    vehicle = vehicle_label(appointment.lead.vehicle or {})
    names = {"kind": appointment.get_kind_display(), "dealer": appointment.lead.dealer.name, "vehicle": vehicle}
    return (_("%(kind)s at %(dealer)s: %(vehicle)s") if vehicle else _("%(kind)s at %(dealer)s")) % names


def _description(appointment: Appointment) -> str:
    lead = appointment.lead
    salesperson = lead.assignee or appointment.created_by
    lines = [_subject_line(appointment)]
    if salesperson is not None:
        lines.append(_("You will be welcomed by %(name)s.") % {"name": salesperson.display_name})
    lines.append(_("Can't make it? Simply reply to this e-mail and we will find another time."))
    return "\n".join(lines)


SUBJECTS = {
    CustomerMessageKind.CONFIRMATION: lambda: _("Your appointment at %(dealer)s on %(when)s"),
    CustomerMessageKind.UPDATE: lambda: _("Your appointment at %(dealer)s has moved to %(when)s"),
    CustomerMessageKind.REMINDER: lambda: _("Reminder: your appointment at %(dealer)s tomorrow, %(when)s"),
    CustomerMessageKind.CANCELLATION: lambda: _("Your appointment at %(dealer)s on %(when)s is cancelled"),
}


def customer_message_queue(*, appointment: Appointment, kind: str) -> CustomerMessage | None:
    """Write the message (in the customer's language) for sending after commit; None when the customer has no usable
    e-mail address (the salesperson confirms by phone, as the lead page says)."""
    lead = appointment.lead
    address = customer_email_address(lead)
    if not address:
        return None
    language = lead.customer.language or settings.LANGUAGE_CODE
    sequence = CustomerMessage.objects.for_dealer(lead.dealer_id).filter(
        appointment=appointment).exclude(kind=CustomerMessageKind.REMINDER).count()
    with translation.override(language):
        when = formats.date_format(timezone.localtime(appointment.scheduled_at, lead.dealer.tz), "l j F Y, H:i")
        names = {"dealer": lead.dealer.name, "when": when}
        subject = SUBJECTS[kind]() % names
        greeting = _("Dear %(name)s,") % {"name": lead.customer.full_name} if lead.customer.full_name else _("Hello,")
        body = "\n\n".join([greeting, subject + ".", _description(appointment), _("Kind regards,") + "\n" + lead.dealer.name])
        ics = appointment_ics(appointment, kind=kind, sequence=sequence)
    try:
        with transaction.atomic():
            message = CustomerMessage.objects.create(
                dealer_id=lead.dealer_id, lead=lead, appointment=appointment, kind=kind,
                scheduled_at=appointment.scheduled_at, to_email=address, subject=subject[:200], body=body, ics=ics)
    except IntegrityError:  # this reminder was already written
        return None
    transaction.on_commit(_wake)
    return message


def _wake() -> None:
    task_enqueue("followup.tasks.customer_messages_send")


REMINDER_FROM_HOUR = 9  # the day before, from nine in the morning: nobody gets a reminder at midnight


def appointment_reminders_queue(*, now: dt.datetime | None = None) -> int:
    """The day before, from 09:00 in the dealer's time zone: a reminder for every open appointment tomorrow, once."""
    now = now or timezone.now()
    candidates = (Appointment.objects.unscoped()  # system work: every dealer's appointments of the next two days
                  .filter(showed__isnull=True, lead__closed_at__isnull=True, scheduled_at__gt=now,
                          scheduled_at__lt=now + dt.timedelta(days=2))
                  .select_related("lead__dealer", "lead__customer", "lead__assignee", "created_by"))
    queued = 0
    for appointment in candidates:
        tz = appointment.lead.dealer.tz
        local_now = timezone.localtime(now, tz)
        if local_now.hour < REMINDER_FROM_HOUR or \
                timezone.localtime(appointment.scheduled_at, tz).date() != local_now.date() + dt.timedelta(days=1):
            continue
        with transaction.atomic():
            queued += customer_message_queue(appointment=appointment, kind=CustomerMessageKind.REMINDER) is not None
    return queued


def _claim(limit: int) -> tuple[list[CustomerMessage], dt.datetime]:
    claimed_at = timezone.now()
    with transaction.atomic():
        batch = list(CustomerMessage.objects.unscoped().filter(status=CustomerMessageStatus.PENDING).order_by("created_at")
                     .select_for_update(skip_locked=True)[:limit])
        CustomerMessage.objects.unscoped().filter(pk__in=[m.pk for m in batch]).update(
            status=CustomerMessageStatus.SENDING, attempts=F("attempts") + 1, sent_at=claimed_at)
    return batch, claimed_at


def _record(message: CustomerMessage, claimed_at: dt.datetime, error: Exception | None) -> None:
    if error is None:
        changes = {"status": CustomerMessageStatus.SENT, "sent_at": timezone.now(), "error": ""}
    else:
        retry = message.attempts + 1 < MAX_ATTEMPTS
        changes = {"status": CustomerMessageStatus.PENDING if retry else CustomerMessageStatus.FAILED,
                   "error": str(error)[:1000]}
    CustomerMessage.objects.for_dealer(message.dealer_id).filter(
        pk=message.pk, status=CustomerMessageStatus.SENDING, sent_at=claimed_at).update(**changes)


def customer_messages_send(*, batch_size: int = BATCH) -> int:
    """Send every owed customer message, outside any transaction, over one mail connection; returns how many were
    tried. A message still 'sending' after a crash is taken back and sent again (at least once, never lost)."""
    CustomerMessage.objects.unscoped().filter(status=CustomerMessageStatus.SENDING,
                                              sent_at__lt=timezone.now() - SENDING_STALE_AFTER).update(
        status=CustomerMessageStatus.PENDING)
    tried = 0
    while True:
        batch, claimed_at = _claim(batch_size)
        if batch:
            try:
                connection = get_connection()
                connection.open()
            except Exception as exc:
                for message in batch:
                    _record(message, claimed_at, exc)
                return tried + len(batch)
            try:
                for message in batch:
                    mail = EmailMultiAlternatives(message.subject, message.body, None, [message.to_email],
                                                  connection=connection)
                    method = "CANCEL" if message.kind == CustomerMessageKind.CANCELLATION else "REQUEST"
                    mail.attach("invite.ics", message.ics, f"text/calendar; charset=utf-8; method={method}")
                    try:
                        mail.send()
                    except Exception as exc:
                        _record(message, claimed_at, exc)
                    else:
                        _record(message, claimed_at, None)
            finally:
                connection.close()
        tried += len(batch)
        if len(batch) < batch_size:
            return tried


def open_appointments_cancel(*, lead: Lead) -> None:
    """A lead closed before its appointment: the customer's calendar is told the appointment is off."""
    for appointment in lead.appointments.filter(showed__isnull=True, scheduled_at__gt=timezone.now()):
        customer_message_queue(appointment=appointment, kind=CustomerMessageKind.CANCELLATION)
