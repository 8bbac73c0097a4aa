"""What the working pages show about a lead, built as plain values: cards, countdowns, contact links, timeline lines,
vehicle facts, quick-pick times. No rules and no queries of their own: the views hand them what was read."""

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dealers.hours import OpeningSchedule
from leads.models import Channel, EventType, Kind, Lead, LeadEvent, Queue, Reason, Status
from leads.quality import PHONE_PLACEHOLDER, flag_hint

from . import forms
from .contact import customer_email_address, vehicle_label
from .dates import date_text
from .messaging import CustomerTemplate, ReplyTemplates, mailto_href
from .models import Appointment, AppointmentKind, AttemptChannel, AttemptOutcome, EscalationAction

CARD_CALL_OUTCOMES = (AttemptOutcome.CONNECTED, AttemptOutcome.NO_ANSWER, AttemptOutcome.VOICEMAIL, AttemptOutcome.BUSY)
CALL_OUTCOMES = (*CARD_CALL_OUTCOMES, AttemptOutcome.WRONG_NUMBER)
MESSAGE_OUTCOMES = (AttemptOutcome.SENT, AttemptOutcome.REPLIED)


def countdown_formats() -> dict[str, str]:
    """The words of a countdown, translated once per page; static/js/app.js gets the same from the page's body."""
    return {"min_left": _("{m} min left"), "hours_left": _("{h} h {mm} left"), "at": _("at {time}"),
            "min_late": _("{m} min late"), "hours_late": _("{h} h {mm} late"), "days_late": _("{d} d late")}


def countdown_text(deadline: dt.datetime, now: dt.datetime, formats_: dict | None = None) -> tuple[str, bool]:
    """A deadline read at a glance, to the minute: "12 min left", "8 h 45 left", "at 09:05" (12 hours or more away:
    the clock time, with the day when it is not today), "12 min late", "2 h 05 late", "3 d late". The same rules as
    static/js/app.js, which keeps the relative ones current."""
    texts = formats_ or countdown_formats()
    seconds = int((deadline - now).total_seconds())
    late = seconds < 0
    minutes = abs(seconds) // 60
    if late:
        if minutes < 60:
            text = texts["min_late"].replace("{m}", str(minutes))
        elif minutes < 48 * 60:
            text = texts["hours_late"].replace("{h}", str(minutes // 60)).replace("{mm}", f"{minutes % 60:02d}")
        else:
            text = texts["days_late"].replace("{d}", str(minutes // (24 * 60)))
        return text, True
    if minutes < 60:
        return texts["min_left"].replace("{m}", str(minutes)), False
    if minutes < 12 * 60:
        return texts["hours_left"].replace("{h}", str(minutes // 60)).replace("{mm}", f"{minutes % 60:02d}"), False
    local = timezone.localtime(deadline)
    when = local.strftime("%H:%M") if local.date() == timezone.localtime(now).date() else \
        formats.date_format(local, "D H:i")
    return texts["at"].replace("{time}", when), False


def arrival_text(received_at: dt.datetime, now: dt.datetime) -> str:
    """When a lead arrived, the way people say it: "3 min ago" within the hour, "14:05" today, "tue 14:05" this week,
    else "12 nov"; a follow-up scheduled for later says so ("planned for 2 jan 2027")."""
    if received_at > now:  # a follow-up the system scheduled (a lost sale to call again): it has not arrived yet
        return _("planned for %(when)s") % {"when": date_text(received_at, "short_date")}
    minutes = int((now - received_at).total_seconds()) // 60
    if minutes < 60:
        return _("%(m)s min ago") % {"m": minutes}
    local, today = timezone.localtime(received_at), timezone.localtime(now).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    if 0 < (today - local.date()).days < 7:
        return formats.date_format(local, "D H:i")
    return date_text(local, "day").split(" ", 1)[1]  # "12 nov" / "12 Nov"


@dataclass
class ContactLinks:
    tel: str = ""
    whatsapp: str = ""
    sms: str = ""
    mailto: str = ""
    email: str = ""
    phone_display: str = ""


def contact_links(lead: Lead, template: CustomerTemplate) -> ContactLinks:
    """One-tap links. A placeholder phone gets no call button (the hint says why); an odd-looking one still does."""
    links = ContactLinks()
    phone = lead.contact_phone  # the number given in this lead, not whatever the customer record holds
    if not phone and lead.contact_phone_raw and PHONE_PLACEHOLDER not in (lead.data_flags or []):
        phone = re.sub(r"[^\d+]", "", lead.contact_phone_raw)
    if phone:
        links.tel = f"tel:{phone}"
        links.sms = f"sms:{phone}?body={quote(template.short)}"
        links.phone_display = lead.contact_phone_raw or phone
    if lead.contact_phone:  # WhatsApp needs the international number
        links.whatsapp = f"https://wa.me/{lead.contact_phone.lstrip('+')}?text={quote(template.short)}"
    email = customer_email_address(lead)
    if email:
        links.email = email
        links.mailto = mailto_href(email=email, subject=template.subject, body=template.body)
    return links


class CardTexts:
    """Everything the cards of one page share, translated once per page (the inbox renders 25 cards)."""

    def __init__(self, *, sender, min_attempts: int):
        self.sender = sender
        self.min_attempts = min_attempts
        self.replies = ReplyTemplates(sender=sender)
        self.countdown = countdown_formats()
        self.labels = {"call": _("Call %(name)s"), "whatsapp": _("WhatsApp %(name)s"), "sms": _("SMS %(name)s"),
                       "email": _("E-mail %(name)s")}
        self.button_texts = {"call": _("Call"), "whatsapp": "WhatsApp", "sms": "SMS", "email": _("E-mail")}
        self.first_due = _("First response due %(when)s")
        self.next_due = _("Next attempt due %(when)s")
        self.attempts = _("attempts %(n)s/%(min)s")
        self.channels = {value: str(label) for value, label in Channel.choices}
        self.reasons = {value: str(label) for value, label in Reason.choices}


@dataclass
class LeadCard:
    lead: Lead
    name: str
    vehicle: str
    hints: list[str]
    contact: ContactLinks
    min_attempts: int
    detail_url: str
    attempt_url: str
    channel: str
    reason: str
    labels: dict  # accessible names of the contact buttons: "Call Sanne Bakker"
    contact_buttons: str = ""
    status_line: str = ""  # "First response due zo 22 nov 16:59 · attempts 0/4 · BANT 40"
    countdown: str = ""
    late: bool = False
    deadline_is_first_response: bool = False
    due_text: str = ""
    deadline_iso: str = ""
    arrival: str = ""
    handover_note: str = ""
    handover_by: str = ""
    next_appointment: Appointment | None = None


def contact_buttons(card: LeadCard, texts: CardTexts) -> str:
    """The row of one-tap contact links (tel:, wa.me, sms:, mailto:), built here rather than from ~20 template nodes."""
    links = (("call", card.contact.tel, "btn btn-primary"), ("whatsapp", card.contact.whatsapp, "btn"),
             ("sms", card.contact.sms, "btn"), ("email", card.contact.mailto, "btn"))
    parts = []
    for key, href, css in links:
        if not href:
            continue
        new_tab = ' target="_blank" rel="noopener"' if key == "whatsapp" else ""  # WhatsApp web opens beside the inbox
        parts.append(format_html('<a class="{}" href="{}" data-contact="{}" aria-label="{}"' + new_tab + ">{}</a>",
                                 css, href, key, card.labels[key], texts.button_texts[key]))
    return mark_safe("".join(parts))  # every part was escaped by format_html


def lead_card(lead: Lead, *, now: dt.datetime, texts: CardTexts) -> LeadCard:
    hints = []
    for code in lead.data_flags or []:
        try:
            hints.append(str(flag_hint(code)))
        except KeyError:
            continue
    name = lead.contact_label
    # Built here rather than in the template: the inbox renders 25 of these and must stay well under 50 ms.
    card = LeadCard(lead=lead, name=name, vehicle=vehicle_label(lead.vehicle or {}), hints=hints,
                    contact=contact_links(lead, texts.replies.for_lead(lead)), min_attempts=texts.min_attempts,
                    detail_url=reverse("lead_detail", args=[lead.pk]), attempt_url=reverse("lead_attempt", args=[lead.pk]),
                    channel=texts.channels.get(lead.channel, lead.channel), reason=texts.reasons.get(lead.reason, ""),
                    labels={key: label % {"name": name} for key, label in texts.labels.items()})
    card.contact_buttons = contact_buttons(card, texts)
    card.arrival = arrival_text(lead.received_at, now)
    due_at = lead.due_at  # how late it really is: a first response still owed counts from the deadline given on arrival
    if due_at:
        card.countdown, card.late = countdown_text(due_at, now, texts.countdown)
        card.deadline_is_first_response = lead.first_contact_at is None
        card.due_text = date_text(due_at, "day_time")
        card.deadline_iso = due_at.isoformat()
    parts = []
    if card.due_text:
        parts.append((texts.first_due if card.deadline_is_first_response else texts.next_due) % {"when": card.due_text})
    parts.append(texts.attempts % {"n": lead.counted_attempts, "min": texts.min_attempts})
    if lead.score:
        parts.append(f"BANT {lead.score}")
    card.status_line = " · ".join(parts)
    handovers = getattr(lead, "handovers", None)
    if handovers:
        card.handover_note = handovers[0].text
        card.handover_by = handovers[0].actor.display_name if handovers[0].actor else ""
    appointments = getattr(lead, "open_appointments", None)
    if appointments:
        card.next_appointment = appointments[0]
    return card


def local_text(value) -> str:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return ""
    return date_text(value, "long_day_time")


def choice_label(choices, value) -> str:
    return str(dict(choices.choices).get(value, value or ""))


def event_summary(event: LeadEvent) -> str:
    """One readable line for a timeline entry, from the event's data."""
    data = event.data or {}
    kind = event.type
    if kind == EventType.ATTEMPT:
        text = f"{choice_label(AttemptChannel, data.get('channel'))} · {choice_label(AttemptOutcome, data.get('outcome'))}"
        if data.get("verified"):
            text += " · " + _("verified")
        if data.get("counts_toward_minimum") is False:
            text += " · " + _("does not count toward the minimum (too soon after the previous attempt)")
        return text
    if kind == EventType.APPOINTMENT:
        if "to" in data:
            return _("Moved to %(when)s") % {"when": local_text(data.get("to"))}
        return f"{choice_label(AppointmentKind, data.get('kind'))} · {local_text(data.get('scheduled_at'))}"
    if kind == EventType.APPOINTMENT_OUTCOME:
        return _("Showed up") if data.get("showed") else _("Did not show")
    if kind == EventType.ESCALATION:
        return choice_label(EscalationAction, event.text)
    if kind == EventType.CLOSED:
        return choice_label(Status, data.get("outcome"))
    if kind == EventType.CLASSIFIED:  # written until 2026-12; the classification is now part of ROUTED
        return choice_label(Kind, event.text)
    if kind == EventType.ROUTED:
        queue = choice_label(Queue, event.text)
        return f"{queue} · {choice_label(Kind, data['kind'])}" if data.get("kind") else queue
    if kind == EventType.CUSTOMER_CHANGED:
        if data.get("action") == "split":
            return _("Split off into customer record %(id)s") % {"id": data.get("customer")}
        return _("Customer record %(other)s merged into record %(id)s") % {"other": data.get("merged_customer"),
                                                                          "id": data.get("customer")}
    if kind == EventType.SCORE_CHANGED:
        return _("Score %(old)s → %(new)s") % {"old": data.get("from"), "new": data.get("to")}
    return ""


# Event types whose `text` is a person's words (shown as a quote), not an internal code.
FREE_TEXT_EVENTS = frozenset({EventType.ATTEMPT, EventType.NOTE, EventType.HANDED_OVER, EventType.CLOSED})


VEHICLE_FIELDS = (
    ("make", gettext_lazy("Make")), ("model", gettext_lazy("Model")), ("year", gettext_lazy("Year")),
    ("status", gettext_lazy("New or used")), ("interest", gettext_lazy("Interest")), ("price", gettext_lazy("Price")),
    ("mileage_km", gettext_lazy("Mileage")), ("stock_number", gettext_lazy("Stock number")), ("vin", gettext_lazy("VIN")),
    ("url", gettext_lazy("Link")),
)


# What portals send as codes (ADF's interest and status), said in words; anything else is shown as it came.
VEHICLE_VALUES = {
    "interest": {"buy": gettext_lazy("buy"), "lease": gettext_lazy("lease"), "sell": gettext_lazy("sell"),
                 "trade-in": gettext_lazy("trade-in"), "test-drive": gettext_lazy("test drive"),
                 "finance": gettext_lazy("finance"), "service": gettext_lazy("service")},
    "status": {"new": gettext_lazy("new"), "used": gettext_lazy("used (occasion)")},
}


def vehicle_facts(vehicle: dict) -> list[tuple[str, str, bool]]:
    """(label, value, is_link) for a vehicle or trade-in, known fields first in a fixed order, then whatever else came."""
    facts = []
    known = dict(VEHICLE_FIELDS)
    keys = [k for k, _label in VEHICLE_FIELDS if vehicle.get(k) not in (None, "")]
    keys += [k for k, v in vehicle.items() if k not in known and v not in (None, "") and not isinstance(v, (dict, list))]
    for key in keys:
        value = vehicle[key]
        if key == "price" and isinstance(value, (int, float)):
            text = "€ " + formats.number_format(value, 0, use_l10n=True, force_grouping=True)
        elif key == "mileage_km" and isinstance(value, (int, float)):
            text = formats.number_format(value, 0, use_l10n=True, force_grouping=True) + " km"
        else:
            text = str(VEHICLE_VALUES.get(key, {}).get(str(value).lower(), value))
        is_link = key == "url" and text.startswith(("https://", "http://"))
        facts.append((str(known.get(key, key.replace("_", " "))), text, is_link))
    return facts


def appointment_slots(*, schedule: OpeningSchedule, now: dt.datetime) -> list[tuple[str, str]]:
    """Quick-pick chips for the times the dealer offers (OpeningSchedule.appointment_times): (form value, label)."""
    today = now.astimezone(schedule.tz).date()
    slots = []
    for at in schedule.appointment_times(now):
        if at.date() == today:
            day_text = _("today")
        elif at.date() == today + dt.timedelta(days=1):
            day_text = _("tomorrow")
        else:
            day_text = date_text(at, "day")
        slots.append((at.strftime(forms.LOCAL_DATETIME_FORMAT), f"{day_text} {at:%H:%M}"))
    return slots


def outcome_buttons(values) -> list[tuple[str, str]]:
    return [(v, choice_label(AttemptOutcome, v)) for v in values]


def card_context() -> dict:
    """What every inbox card shares, rendered once per page instead of once per card."""
    outcomes = {"card_outcomes": outcome_buttons(CARD_CALL_OUTCOMES), "message_outcomes": outcome_buttons(MESSAGE_OUTCOMES)}
    return {"card_outcome_buttons": render_to_string("followup/_card_outcome_buttons.html", outcomes),
            "inbox_url": reverse("inbox")}
