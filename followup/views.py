"""Pages for working leads: the salesperson's inbox, the lead page and its one-tap actions (POST, then redirect).

Every action is a plain form POST that redirects (works without JavaScript); static/js only improves it.
"""

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Prefetch, Value, When, Window
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from dealers.access import DealerAccess
from dealers.hours import OpeningSchedule
from dealers.models import Role
from dealers.services import policy_get
from dealers.views import DealerScopedMixin
from leads.models import Channel, ConsentRecord, EventType, Kind, Lead, LeadEvent, Notification, Queue, Reason, Status
from leads.quality import PHONE_PLACEHOLDER, flag_hint
from leads.selectors import leads_workable
from leads.services import lead_event_add

from . import forms
from .messaging import (
    CustomerTemplate,
    ReplyTemplates,
    customer_email_address,
    customer_email_send,
    customer_template,
    mailto_href,
    notifications_mark_read,
    vehicle_label,
)
from .models import (
    REAL_CONTACT_OUTCOMES,
    Appointment,
    AppointmentKind,
    AttemptChannel,
    AttemptOutcome,
    EscalationAction,
)
from .selectors import lead_detail_queryset, lead_list
from .services import (
    FollowUpError,
    appointment_move,
    appointment_outcome_set,
    appointment_set,
    attempt_log,
    attempts_owed,
    lead_close,
    score_update,
)

INBOX_ROLES = frozenset({Role.SALESPERSON, Role.MANAGER, Role.GROUP_ADMIN})
INBOX_PAGE_SIZE = 20  # a phone shows a handful; the rest is one "more" tap away, and the page stays fast at 500 leads
CARD_CALL_OUTCOMES = (AttemptOutcome.CONNECTED, AttemptOutcome.NO_ANSWER, AttemptOutcome.VOICEMAIL, AttemptOutcome.BUSY)
CALL_OUTCOMES = (*CARD_CALL_OUTCOMES, AttemptOutcome.WRONG_NUMBER)
MESSAGE_OUTCOMES = (AttemptOutcome.SENT, AttemptOutcome.REPLIED)
FEED_OVERLAP = dt.timedelta(minutes=2)  # a notice committed late still shows up; the page drops ones it already has
FEED_MAX_LOOKBACK = dt.timedelta(hours=1)
FEED_MAX_LEADS = 20


# ---------------------------------------------------------------------------------------------- foundations

class _DealerClock:
    """Times on these pages are the dealer's wall-clock time; the response is rendered before the zone is reset."""

    def dispatch(self, request, *args, **kwargs):
        timezone.activate(self.access.dealer.tz)
        try:
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            return response
        finally:
            timezone.deactivate()


class DealerPage(DealerScopedMixin, _DealerClock):
    """A page in the current dealer, shown in its time zone, with the user's unread notices in the top bar."""

    def notice_context(self) -> dict:
        unread = Notification.objects.for_dealer(self.access.dealer).filter(recipient=self.access.user, read_at__isnull=True)
        # The newest five and the total in one query: the window count is taken before the LIMIT.
        latest = list(unread.only("pk", "lead_id", "subject", "created_at").annotate(total=Window(Count("pk")))
                      .order_by("-created_at")[:5])
        return {"unread_notices": latest, "unread_notice_count": latest[0].total if latest else 0}

    def safe_next(self) -> str:
        target = self.request.POST.get("next") or self.request.GET.get("next") or ""
        if target.startswith("/") and url_has_allowed_host_and_scheme(
                target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()):
            return target
        return ""


def inbox_leads(access: DealerAccess, now: dt.datetime):
    """My open leads: an overdue first response first, then the next step due, then the BANT score."""
    first_response_overdue = Case(
        When(first_contact_at__isnull=True, first_response_due_at__lte=now, then=Value(0)),
        default=Value(1), output_field=IntegerField())
    return (lead_list(access=access).filter(assignee=access.user)
            .annotate(first_response_overdue=first_response_overdue)
            .order_by("first_response_overdue", F("deadline_at").asc(nulls_last=True), "-score", "received_at")
            .select_related(None).select_related("customer", "dealer")  # the assignee is me; the reply names the dealer
            .defer("payload", "trade_in", "message", "close_reason", "received_at_raw")  # not on a card; a payload can be large
            .prefetch_related(
                Prefetch("events", to_attr="handovers",
                         queryset=LeadEvent.objects.for_access(access).filter(type=EventType.HANDED_OVER).select_related("actor").order_by("-at")),
                Prefetch("appointments", to_attr="open_appointments",
                         queryset=Appointment.objects.for_access(access).filter(showed__isnull=True).order_by("scheduled_at"))))


# ---------------------------------------------------------------------------------------------- presentation

def countdown_formats() -> dict[str, str]:
    return {"left": _("{time} left"), "late": _("{time} late"), "days": _("{days} d")}


def countdown_text(deadline: dt.datetime, now: dt.datetime, formats_: dict | None = None) -> tuple[str, bool]:
    """"4:12 left" / "12:03 late" — the same digits static/js/app.js keeps ticking."""
    texts = formats_ or countdown_formats()
    seconds = int((deadline - now).total_seconds())
    late = seconds < 0
    seconds = abs(seconds)
    if seconds >= 48 * 3600:
        digits = texts["days"].replace("{days}", str(seconds // 86400))
    else:
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        digits = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return texts["late" if late else "left"].replace("{time}", digits), late


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
    customer = lead.customer
    links = ContactLinks()
    phone = customer.phone
    if not phone and customer.phone_raw and PHONE_PLACEHOLDER not in (lead.data_flags or []):
        phone = re.sub(r"[^\d+]", "", customer.phone_raw)
    if phone:
        links.tel = f"tel:{phone}"
        links.sms = f"sms:{phone}?body={quote(template.short)}"
        links.phone_display = customer.phone_raw or phone
    if customer.phone:  # WhatsApp needs the international number
        links.whatsapp = f"https://wa.me/{customer.phone.lstrip('+')}?text={quote(template.short)}"
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
    name = lead.customer.full_name or str(lead.customer)
    # Built here rather than in the template: the inbox renders 25 of these and must stay well under 50 ms.
    card = LeadCard(lead=lead, name=name, vehicle=vehicle_label(lead.vehicle or {}), hints=hints,
                    contact=contact_links(lead, texts.replies.for_lead(lead)), min_attempts=texts.min_attempts,
                    detail_url=reverse("lead_detail", args=[lead.pk]), attempt_url=reverse("lead_attempt", args=[lead.pk]),
                    channel=texts.channels.get(lead.channel, lead.channel), reason=texts.reasons.get(lead.reason, ""),
                    labels={key: label % {"name": name} for key, label in texts.labels.items()})
    card.contact_buttons = contact_buttons(card, texts)
    if lead.deadline_at and lead.closed_at is None:
        card.countdown, card.late = countdown_text(lead.deadline_at, now, texts.countdown)
        card.deadline_is_first_response = lead.first_contact_at is None
        card.due_text = formats.date_format(timezone.localtime(lead.deadline_at), "D j M H:i")
        card.deadline_iso = lead.deadline_at.isoformat()
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


def _local_text(value) -> str:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _label(choices, value) -> str:
    return str(dict(choices.choices).get(value, value or ""))


def event_summary(event: LeadEvent) -> str:
    """One readable line for a timeline entry, from the event's data."""
    data = event.data or {}
    kind = event.type
    if kind == EventType.ATTEMPT:
        text = f"{_label(AttemptChannel, data.get('channel'))} · {_label(AttemptOutcome, data.get('outcome'))}"
        if data.get("verified"):
            text += " · " + _("verified")
        if data.get("counts_toward_minimum") is False:
            text += " · " + _("does not count toward the minimum (too soon after the previous attempt)")
        return text
    if kind == EventType.APPOINTMENT:
        if "to" in data:
            return _("Moved to %(when)s") % {"when": _local_text(data.get("to"))}
        return f"{_label(AppointmentKind, data.get('kind'))} · {_local_text(data.get('scheduled_at'))}"
    if kind == EventType.APPOINTMENT_OUTCOME:
        return _("Showed up") if data.get("showed") else _("Did not show")
    if kind == EventType.ESCALATION:
        return _label(EscalationAction, event.text)
    if kind == EventType.CLOSED:
        return _label(Status, data.get("outcome"))
    if kind == EventType.CLASSIFIED:
        return _label(Kind, event.text)
    if kind == EventType.ROUTED:
        return _label(Queue, event.text)
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
            text = str(value)
        is_link = key == "url" and text.startswith(("https://", "http://"))
        facts.append((str(known.get(key, key.replace("_", " "))), text, is_link))
    return facts


def appointment_slots(*, dealer, now: dt.datetime, count: int = 4) -> list[tuple[str, str]]:
    """Quick-pick chips: the next opening times at 10:00, 14:00 and 16:00, at least an hour from now."""
    schedule = OpeningSchedule.for_dealer(dealer)
    local_now = timezone.localtime(now, dealer.tz)
    slots: list[tuple[str, str]] = []
    for offset in range(14):
        day = local_now.date() + dt.timedelta(days=offset)
        for hour in (10, 14, 16):
            at = dt.datetime.combine(day, dt.time(hour), tzinfo=dealer.tz)
            if at < local_now + dt.timedelta(hours=1) or not schedule.is_open(at):
                continue
            if offset == 0:
                day_text = _("today")
            elif offset == 1:
                day_text = _("tomorrow")
            else:
                day_text = formats.date_format(at, "D j M")
            slots.append((at.strftime(forms.LOCAL_DATETIME_FORMAT), f"{day_text} {at:%H:%M}"))
            if len(slots) == count:
                return slots
    return slots


def outcome_buttons(values) -> list[tuple[str, str]]:
    return [(v, _label(AttemptOutcome, v)) for v in values]


def card_context() -> dict:
    """What every inbox card shares, rendered once per page instead of once per card."""
    outcomes = {"card_outcomes": outcome_buttons(CARD_CALL_OUTCOMES), "message_outcomes": outcome_buttons(MESSAGE_OUTCOMES)}
    return {"card_outcome_buttons": render_to_string("followup/_card_outcome_buttons.html", outcomes),
            "inbox_url": reverse("inbox")}


def lead_page_context(*, request, access: DealerAccess, lead: Lead, next_url: str = "") -> dict:
    """Everything the lead page (and the BDC desk's lead page) shows."""
    now = timezone.now()
    policy = policy_get(dealer=access.dealer)
    card = lead_card(lead, now=now, texts=CardTexts(sender=access.user, min_attempts=policy.min_attempts))
    owed = attempts_owed(lead=lead, policy=policy)
    earlier = list(Lead.objects.for_dealer(access.dealer).filter(customer_id=lead.customer_id).exclude(pk=lead.pk)
                   .order_by("-received_at")[:20])
    # A customer's other leads are listed; only the ones this person may open are links.
    visible = set(leads_workable(access=access).filter(pk__in=[e.pk for e in earlier]).values_list("pk", flat=True))
    timeline = [{"event": e, "summary": event_summary(e), "quote": e.text if e.type in FREE_TEXT_EVENTS else ""}
                for e in reversed(list(lead.events.all()))]
    template = customer_template(lead=lead, sender=access.user)
    open_appointments = [a for a in lead.appointments.all() if a.showed is None]
    return {
        "lead": lead,
        "card": card,
        "vehicle_facts": vehicle_facts(lead.vehicle or {}),
        "trade_in_facts": vehicle_facts(lead.trade_in or {}),
        "appointment_kinds": AppointmentKind.choices,
        "timeline": timeline,
        "earlier_leads": [(e, e.pk in visible) for e in earlier],
        "consents": list(ConsentRecord.objects.for_dealer(access.dealer).filter(customer_id=lead.customer_id)
                         .order_by("-given_at", "-pk")[:10]),
        "policy": policy,
        "attempts_owed": owed,
        "close_outcomes": [(value, label, value == Status.UNREACHABLE and owed > 0) for value, label in forms.CLOSE_OUTCOMES],
        "appointment_slots": appointment_slots(dealer=access.dealer, now=now),
        "appointment_form": forms.AppointmentForm(),
        "appointments": list(lead.appointments.all()),
        "open_appointments": open_appointments,
        "now": now,
        "attempt_channels": AttemptChannel.choices,
        "call_outcomes": outcome_buttons(CALL_OUTCOMES),
        "message_outcomes": outcome_buttons(MESSAGE_OUTCOMES),
        "score_form": forms.ScoreForm(initial={"budget": lead.bant_budget, "authority": lead.bant_authority,
                                               "need": lead.bant_need, "timeline": lead.bant_timeline}),
        "email_form": forms.CustomerEmailForm(initial={"subject": template.subject, "body": template.body}),
        "note_form": forms.NoteForm(),
        "next_url": next_url or request.get_full_path(),
        "is_open": lead.closed_at is None,
    }


# ---------------------------------------------------------------------------------------------- pages

class InboxView(DealerPage, TemplateView):
    """A salesperson's open leads, most urgent first, each with one-tap contact and one-tap outcome buttons."""

    template_name = "followup/inbox.html"
    allowed_roles = INBOX_ROLES

    def get_scoped_queryset(self):
        return inbox_leads(self.access, self.now)

    def get_context_data(self, **kwargs):
        self.now = timezone.now()
        page = Paginator(self.get_queryset(), INBOX_PAGE_SIZE).get_page(self.request.GET.get("page"))
        policy = policy_get(dealer=self.access.dealer)
        texts = CardTexts(sender=self.access.user, min_attempts=policy.min_attempts)
        cards = [lead_card(lead, now=self.now, texts=texts) for lead in page]
        return {**super().get_context_data(**kwargs), **self.notice_context(),
                "page_obj": page, "cards": cards, "open_count": page.paginator.count, "now": self.now, **card_context()}


class InboxFeedView(DealerPage, View):
    """A small JSON answer for the inbox's polling: leads that were assigned or handed to me since `since`."""

    allowed_roles = INBOX_ROLES

    def get_scoped_queryset(self):
        return inbox_leads(self.access, self.now)

    def get(self, request):
        self.now = timezone.now()
        try:
            since = parse_datetime(request.GET.get("since") or "") or self.now
        except ValueError:  # a well-formed but impossible date: treat as "nothing seen yet"
            since = self.now
        if timezone.is_naive(since):
            since = timezone.make_aware(since, dt.UTC)
        since = max(since - FEED_OVERLAP, self.now - FEED_MAX_LOOKBACK)  # a stale tab reloads; it doesn't fetch a day of cards
        notices = list(Notification.objects.for_access(self.access).filter(
            recipient=self.access.user, lead__isnull=False, created_at__gt=since)
            .order_by("-created_at").values("pk", "lead_id", "subject", "body", "kind")[:FEED_MAX_LEADS])
        policy = policy_get(dealer=self.access.dealer)
        leads = {lead.pk: lead for lead in self.get_queryset().filter(pk__in={n["lead_id"] for n in notices})}
        context = card_context()
        new = []
        texts = CardTexts(sender=self.access.user, min_attempts=policy.min_attempts)
        for lead in leads.values():
            card = lead_card(lead, now=self.now, texts=texts)
            new.append({"id": str(lead.pk), "url": reverse("lead_detail", args=[lead.pk]),
                        "html": render_to_string("followup/_lead_card.html", {**context, "card": card}, request=request)})
        unread = Notification.objects.for_access(self.access).filter(recipient=self.access.user, read_at__isnull=True).count()
        return JsonResponse({
            "now": self.now.isoformat(),
            "unread": unread,
            "leads": new,
            "notices": [{"id": n["pk"], "lead": str(n["lead_id"]), "title": n["subject"], "body": n["body"][:300],
                         "url": reverse("lead_detail", args=[n["lead_id"]])} for n in notices if n["lead_id"] in leads],
        })


class LeadDetailView(DealerPage, TemplateView):
    """The whole lead: timeline, earlier leads, flags, BANT, vehicle and trade-in, and every action."""

    template_name = "followup/lead_detail.html"

    def get_scoped_queryset(self):
        return lead_detail_queryset(access=self.access)

    def get_context_data(self, **kwargs):
        lead = get_object_or_404(self.get_queryset(), pk=kwargs["pk"])
        notifications_mark_read(user=self.access.user, dealer=self.access.dealer, lead=lead)  # opening it is reading it
        return {**super().get_context_data(**kwargs), **self.notice_context(),
                **lead_page_context(request=self.request, access=self.access, lead=lead)}


# ---------------------------------------------------------------------------------------------- actions

class LeadActionView(DealerPage, View):
    """POST, validate, call one service, say what happened, redirect back (to `next` or the lead page)."""

    http_method_names = ["post"]
    form_class = forms.forms.Form
    anchor = ""

    def get_scoped_queryset(self):
        return leads_workable(access=self.access)

    def get_form(self):
        return self.form_class(self.request.POST)

    def post(self, request, pk, **kwargs):
        self.lead = get_object_or_404(self.get_queryset(), pk=pk)
        form = self.get_form()
        if not form.is_valid():
            for name, errors in form.errors.items():
                label = form.fields[name].label if name in form.fields else None
                for error in errors:
                    messages.error(request, f"{label}: {error}" if label else error)
            return HttpResponseRedirect(self.failure_url())
        try:
            target = self.perform(form.cleaned_data)
        except FollowUpError as exc:
            messages.error(request, exc.detail)
            return HttpResponseRedirect(self.failure_url())
        return HttpResponseRedirect(target or self.success_url())

    def perform(self, data) -> str | None:
        raise NotImplementedError

    def lead_url(self) -> str:
        return reverse("lead_detail", args=[self.lead.pk])

    def failure_url(self) -> str:
        return self.safe_next() or self.lead_url() + (f"#{self.anchor}" if self.anchor else "")

    def success_url(self) -> str:
        return self.failure_url()

    def done_url(self) -> str:
        """Where to go once the lead has left this person's hands."""
        return reverse("bdc") if self.access.is_bdc_agent else reverse("inbox")


class AttemptLogView(LeadActionView):
    form_class = forms.AttemptForm
    anchor = "log"

    def perform(self, data):
        attempt_log(lead=self.lead, by=self.request.user, channel=data["channel"], outcome=data["outcome"], note=data["note"])
        outcome = _label(AttemptOutcome, data["outcome"])
        if data["outcome"] in REAL_CONTACT_OUTCOMES:
            messages.success(self.request, _("Logged: %(outcome)s. Now set the appointment.") % {"outcome": outcome})
            # After a real conversation the next tap is the appointment: land on it.
            back = self.safe_next()
            if not back or back.startswith(reverse("inbox")):
                back = self.lead_url()
            return back.split("#")[0] + "#appointment"
        policy = policy_get(dealer=self.access.dealer)
        counted = Lead.objects.for_access(self.access).values_list("counted_attempts", flat=True).get(pk=self.lead.pk)
        owed = max(policy.min_attempts - counted, 0)
        if owed:
            messages.success(self.request, _("Logged: %(outcome)s. %(owed)s more attempt(s) before you may close it as "
                                             "unreachable.") % {"outcome": outcome, "owed": owed})
        else:
            messages.success(self.request, _("Logged: %(outcome)s. The minimum of %(min)s attempts is reached; you may "
                                             "close it as unreachable.") % {"outcome": outcome, "min": policy.min_attempts})
        return None


class AppointmentSetView(LeadActionView):
    form_class = forms.AppointmentForm
    anchor = "appointment"

    def perform(self, data):
        appointment = appointment_set(lead=self.lead, by=self.request.user, scheduled_at=data["when"], kind=data["kind"])
        messages.success(self.request, _("Appointment set: %(kind)s, %(when)s.") % {
            "kind": appointment.get_kind_display(), "when": _local_text(appointment.scheduled_at)})
        back = self.safe_next()
        return (back.split("#")[0] if back else self.lead_url()) + "#appointment"


class AppointmentMoveView(LeadActionView):
    form_class = forms.AppointmentMoveForm
    anchor = "appointment"

    def perform(self, data):
        appointment = get_object_or_404(self.lead.appointments, pk=self.kwargs["appointment_id"])
        appointment_move(appointment=appointment, by=self.request.user, scheduled_at=data["scheduled_at"])
        messages.success(self.request, _("Appointment moved to %(when)s.") % {"when": _local_text(data["scheduled_at"])})


class AppointmentOutcomeView(LeadActionView):
    form_class = forms.AppointmentOutcomeForm
    anchor = "appointment"

    def perform(self, data):
        appointment = get_object_or_404(self.lead.appointments, pk=self.kwargs["appointment_id"])
        appointment_outcome_set(appointment=appointment, by=self.request.user, showed=data["showed"])
        messages.success(self.request, _("Saved: %(outcome)s.") % {
            "outcome": _("Showed up") if data["showed"] else _("Did not show")})


class LeadCloseView(LeadActionView):
    form_class = forms.CloseForm
    anchor = "close"

    def perform(self, data):
        lead_close(lead=self.lead, by=self.request.user, outcome=data["outcome"], reason=data["reason"])
        messages.success(self.request, _("%(name)s closed: %(outcome)s.") % {
            "name": self.lead.customer, "outcome": _label(Status, data["outcome"])})
        return self.done_url()


class ScoreUpdateView(LeadActionView):
    form_class = forms.ScoreForm
    anchor = "score"

    def perform(self, data):
        lead = score_update(lead=self.lead, by=self.request.user, budget=data["budget"], authority=data["authority"],
                            need=data["need"], timeline=data["timeline"])
        messages.success(self.request, _("BANT score saved: %(score)s.") % {"score": lead.score})


class NoteAddView(LeadActionView):
    form_class = forms.NoteForm
    anchor = "timeline"

    def perform(self, data):
        lead_event_add(lead=self.lead, type=EventType.NOTE, actor=self.request.user, text=data["text"])
        messages.success(self.request, _("Note saved."))


class CustomerEmailView(LeadActionView):
    """Send the mail through the product, so it counts as a verified attempt."""

    form_class = forms.CustomerEmailForm
    anchor = "email"

    def perform(self, data):
        delivery = customer_email_send(lead=self.lead, by=self.request.user, subject=data["subject"], body=data["body"])
        if delivery.sent:
            messages.success(self.request, _("E-mail sent to %(to)s and logged as a verified attempt.") % {
                "to": self.lead.customer.email})
        elif delivery.sent is False:
            messages.error(self.request, _("The e-mail could not be sent, so no attempt was logged. Try again, or use "
                                           "your own mail app and log the attempt."))
        else:
            messages.info(self.request, _("The e-mail will be sent in a moment."))


class NoticesReadView(DealerPage, View):
    """Mark in-app notices as read: one (`notification`) or all of mine in this dealer."""

    http_method_names = ["post"]

    def post(self, request):
        raw = request.POST.get("notification") or ""
        notifications_mark_read(user=self.access.user, dealer=self.access.dealer,
                                notification_id=int(raw) if raw.isdigit() else None)
        return HttpResponseRedirect(self.safe_next() or reverse("inbox"))

