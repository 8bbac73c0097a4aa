"""Pages for working leads: the salesperson's inbox, the lead page and its one-tap actions (POST, then redirect).

Every action is a plain form POST that redirects (works without JavaScript); static/js only improves it. What a page
shows about a lead is built by followup/presenters.py; which leads a person may open comes from leads.selectors.
"""

import datetime as dt
import re
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from dealers.access import DealerAccess
from dealers.errors import DomainError
from dealers.hours import OpeningSchedule
from dealers.models import Role
from dealers.policy import attempts_owed
from dealers.services import policy_get
from dealers.views import DealerPage
from leads.dates import instant_from_outside
from leads.matching import names_contradict
from leads.models import CLOSE_OUTCOMES, ConsentRecord, ContactKind, EventType, Lead, Notification, Status
from leads.push import vapid_public_key
from leads.selectors import leads_workable, notices_unread
from leads.services import lead_event_add, notification_mark_read

from . import forms
from .contact import customer_email_address
from .messaging import customer_email_send, customer_template
from .models import REAL_CONTACT_OUTCOMES, AppointmentKind, AttemptChannel, AttemptOutcome
from .presenters import (
    CALL_OUTCOMES,
    FREE_TEXT_EVENTS,
    MESSAGE_OUTCOMES,
    CardTexts,
    appointment_slots,
    card_context,
    choice_label,
    event_summary,
    lead_card,
    local_text,
    outcome_buttons,
    vehicle_facts,
)
from .selectors import appointments_of_day, customer_leads_elsewhere, inbox_leads, lead_detail_queryset
from .services import (
    appointment_move,
    appointment_outcome_set,
    appointment_set,
    attempt_log,
    lead_close,
    score_update,
)

INBOX_ROLES = frozenset({Role.SALESPERSON, Role.MANAGER, Role.GROUP_ADMIN})
INBOX_PAGE_SIZE = 20  # a phone shows a handful; the rest is one "more" tap away, and the page stays fast at 500 leads
FEED_OVERLAP = dt.timedelta(minutes=2)  # a notice committed late still shows up; the page drops ones it already has
FEED_MAX_LOOKBACK = dt.timedelta(hours=1)
NOTIFICATION_ID = re.compile(r"[0-9]{1,18}")
FEED_MAX_LEADS = 20
# The lead page's sections that show their own confirmations (templates/partials/section_messages.html).
LEAD_PAGE_SECTIONS = ("summary", "log", "appointment", "email", "score", "close", "timeline", "handover")


class WorkPage(DealerPage):
    """A working page (inbox, lead page, BDC desk): the dealer's page with the person's unread notices in the bell."""

    def notice_context(self) -> dict:
        latest, count = notices_unread(access=self.access)
        return {"unread_notices": latest, "unread_notice_count": count}


OTHER_LEADS_SHOWN = 20


def _openable(access: DealerAccess) -> Q:
    """The leads this access may open, as a condition for an annotation (the one rule: leads_workable)."""
    return Q(pk__in=leads_workable(access=access).order_by().values("pk"))


def _group_accesses(request, access: DealerAccess) -> dict[int, DealerAccess] | None:
    """The viewer's accesses at the other rooftops of this dealer's group, when the viewer is its group admin."""
    accesses = getattr(request, "dealer_accesses_list", None) or [access]
    in_group = {a.dealer.pk: a for a in accesses if a.dealer.group_id == access.dealer.group_id}
    if not any(a.role == Role.GROUP_ADMIN for a in in_group.values()):
        return None
    in_group.pop(access.dealer.pk, None)
    return in_group


def customer_context(*, request, access: DealerAccess, lead: Lead) -> dict:
    """The lead page's customer block: this lead's own contact, the other details known for its customer, and the
    customer's other leads here and (for a group admin) at the group's other rooftops; links only where the viewer may
    open the lead. Two queries, a third for a group admin; none per lead."""
    customer = lead.customer
    points = list(customer.contacts.all())
    given = {lead.contact_email, lead.contact_phone}
    also_known = [value for value in [customer.email, customer.phone_raw or customer.phone] if value and value not in
                  {lead.contact_email, lead.contact_phone, lead.contact_phone_raw}]
    also_known += [p.raw or p.value for p in points if p.value not in given and (p.raw or p.value) not in also_known]
    here = list(Lead.objects.for_access(access).filter(customer_id=lead.customer_id).exclude(pk=lead.pk)
                .annotate(openable=ExpressionWrapper(_openable(access), output_field=BooleanField()))
                .defer("payload", "message", "trade_in", "close_reason").order_by("-received_at")[:OTHER_LEADS_SHOWN])
    elsewhere = None
    group = _group_accesses(request, access)
    if group is not None:
        emails = {v for v in [customer.email, *(p.value for p in points if p.kind == ContactKind.EMAIL)] if v}
        phones = {v for v in [customer.phone, *(p.value for p in points if p.kind == ContactKind.PHONE)] if v}
        elsewhere = [other for other in customer_leads_elsewhere(dealer_ids=list(group), emails=emails, phones=phones,
                                                                 openable=[(pk, _openable(a)) for pk, a in group.items()],
                                                                 limit=OTHER_LEADS_SHOWN)
                     if other.by_email or not names_contradict(
                         first_name=customer.first_name, last_name=customer.last_name,
                         other_first_name=other.customer.first_name, other_last_name=other.customer.last_name)]
    return {
        "customer": customer,
        "customer_also_known": also_known,
        "other_leads": [(other, other.openable) for other in here],
        "other_rooftop_leads": None if elsewhere is None else [(other, other.openable) for other in elsewhere],
        "can_change_customer": access.can_manage,
    }


def lead_page_context(*, request, access: DealerAccess, lead: Lead, next_url: str = "") -> dict:
    """Everything the lead page (and the BDC desk's lead page) shows."""
    now = timezone.now()
    policy = policy_get(dealer=access.dealer)
    events = list(lead.events.all())
    # The hand-over note and the open appointment head the page (the card reads them as the inbox prefetches them).
    lead.handovers = [e for e in reversed(events) if e.type == EventType.HANDED_OVER]
    open_appointments = sorted((a for a in lead.appointments.all() if a.showed is None), key=lambda a: a.scheduled_at)
    lead.open_appointments = open_appointments
    card = lead_card(lead, now=now, texts=CardTexts(sender=access.user, min_attempts=policy.min_attempts))
    reached = lead.first_connected_at is not None
    # Attempts are owed only while nobody has been reached; a customer who answered is not "unreachable".
    owed = 0 if reached else attempts_owed(counted_attempts=lead.counted_attempts, policy=policy)
    customer = customer_context(request=request, access=access, lead=lead)
    timeline = [{"event": e, "summary": event_summary(e), "quote": e.text if e.type in FREE_TEXT_EVENTS else ""}
                for e in reversed(events)]
    template = customer_template(lead=lead, sender=access.user)
    return {
        "lead": lead,
        "card": card,
        "vehicle_facts": vehicle_facts(lead.vehicle or {}),
        "trade_in_facts": vehicle_facts(lead.trade_in or {}),
        "appointment_kinds": AppointmentKind.choices,
        "timeline": timeline,
        **customer,
        "consents": list(ConsentRecord.objects.for_dealer(access.dealer).filter(customer_id=lead.customer_id)
                         .order_by("-given_at", "-pk")[:10]),
        "policy": policy,
        "attempts_owed": owed,
        # The manager still checks a "not interested" below the minimum, reached or not (followup.services.lead_close).
        "not_interested_flagged": attempts_owed(counted_attempts=lead.counted_attempts, policy=policy) > 0,
        "reached": reached,
        "uncounted_attempts": max(lead.attempt_count - lead.counted_attempts, 0),
        "close_outcomes": [(value, label, value == Status.UNREACHABLE and owed > 0) for value, label in CLOSE_OUTCOMES
                           if not (reached and value == Status.UNREACHABLE)],
        "appointment_slots": appointment_slots(schedule=OpeningSchedule.for_dealer(access.dealer), now=now),
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
        "placed_messages": [f"at-{section}" for section in LEAD_PAGE_SECTIONS],
        "is_open": lead.closed_at is None,
    }


# ---------------------------------------------------------------------------------------------- pages

class InboxView(WorkPage, TemplateView):
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
                "page_obj": page, "cards": cards, "open_count": page.paginator.count, "now": self.now, **card_context(),
                "placed_messages": [f"at-lead-{card.lead.pk}" for card in cards], "vapid_public_key": vapid_public_key()}


class InboxFeedView(WorkPage, View):
    """A small JSON answer for the inbox's polling (every 2 s while it is open): leads assigned or handed to me since
    `since`, and my unread count for the bell and the tab title. `have` lists leads the page already got from this
    feed, so a notice seen again in the overlap is not rendered again; with nothing new it is two indexed queries."""

    allowed_roles = INBOX_ROLES

    def get_scoped_queryset(self):
        return inbox_leads(self.access, self.now)

    def get(self, request):
        self.now = timezone.now()
        # An unreadable or impossible date (year 1, February 30th) is "nothing seen yet".
        since = instant_from_outside(request.GET.get("since") or "", now=self.now)[0] or self.now
        since = max(since - FEED_OVERLAP, self.now - FEED_MAX_LOOKBACK)  # a stale tab reloads; it doesn't fetch a day of cards
        have = set()
        for value in (request.GET.get("have") or "").split(",")[:FEED_MAX_LEADS * 3]:
            try:
                have.add(uuid.UUID(value))
            except ValueError:
                continue
        notices = list(Notification.objects.for_access(self.access).filter(
            recipient=self.access.user, lead__isnull=False, created_at__gt=since)
            .exclude(lead_id__in=have).order_by("-created_at")
            .values("pk", "lead_id", "subject", "body", "kind")[:FEED_MAX_LEADS])
        new = []
        leads = {}
        if notices:
            policy = policy_get(dealer=self.access.dealer)
            leads = {lead.pk: lead for lead in self.get_queryset().filter(pk__in={n["lead_id"] for n in notices})}
            context = card_context()
            texts = CardTexts(sender=self.access.user, min_attempts=policy.min_attempts)
            for lead in leads.values():
                card = lead_card(lead, now=self.now, texts=texts)
                new.append({"id": str(lead.pk), "url": reverse("lead_detail", args=[lead.pk]),
                            "html": render_to_string("followup/_lead_card.html", {**context, "card": card}, request=request)})
        unread = Notification.objects.for_access(self.access).filter(recipient=self.access.user, read_at__isnull=True).count()
        return JsonResponse({
            "now": self.now.isoformat(),
            "unread": unread,
            "unread_label": ngettext("%(counter)s unread notice", "%(counter)s unread notices", unread) % {"counter": unread},
            "leads": new,
            "notices": [{"id": n["pk"], "lead": str(n["lead_id"]), "title": n["subject"], "body": n["body"][:300],
                         "url": reverse("lead_detail", args=[n["lead_id"]])} for n in notices if n["lead_id"] in leads],
        })


class AppointmentDayView(WorkPage, TemplateView):
    """One day's appointments, one tap from the menu: mine as a salesperson or BDC agent, the dealer's as a manager;
    whether the customer showed is recorded right here."""

    template_name = "followup/appointments.html"

    def get_scoped_queryset(self):
        return appointments_of_day(access=self.access, day=self.day)

    def get_context_data(self, **kwargs):
        today = timezone.localdate()
        try:
            self.day = dt.date.fromisoformat(self.request.GET.get("day") or "")
        except ValueError:
            self.day = today
        if not dt.date(2000, 1, 1) <= self.day <= today + dt.timedelta(days=3660):
            self.day = today
        rows = list(self.get_queryset())
        query = f"?day={self.day.isoformat()}"
        return {**super().get_context_data(**kwargs), **self.notice_context(),
                "day": self.day, "today": today, "appointments": rows, "next_url": reverse("appointments") + query,
                "previous_day": self.day - dt.timedelta(days=1), "next_day": self.day + dt.timedelta(days=1),
                "now": timezone.now()}


class LeadDetailView(WorkPage, TemplateView):
    """The whole lead: timeline, earlier leads, flags, BANT, vehicle and trade-in, and every action."""

    template_name = "followup/lead_detail.html"

    def get_scoped_queryset(self):
        return lead_detail_queryset(access=self.access)

    def get_context_data(self, **kwargs):
        lead = get_object_or_404(self.get_queryset(), pk=kwargs["pk"])
        notification_mark_read(recipient=self.access.user, dealer=self.access.dealer, lead=lead)  # opening it is reading it
        return {**super().get_context_data(**kwargs), **self.notice_context(),
                **lead_page_context(request=self.request, access=self.access, lead=lead)}


# ---------------------------------------------------------------------------------------------- actions

class LeadActionView(WorkPage, View):
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
                    messages.error(request, f"{label}: {error}" if label else error, extra_tags=self.section_tag())
            return HttpResponseRedirect(self.failure_url())
        try:
            target = self.perform(form.cleaned_data)
        except DomainError as exc:
            messages.error(request, exc.detail, extra_tags=self.section_tag())
            return HttpResponseRedirect(self.failure_url())
        return HttpResponseRedirect(target or self.success_url())

    def perform(self, data) -> str | None:
        raise NotImplementedError

    def section_tag(self, anchor: str = "") -> str:
        """A message's tag naming the lead-page section it belongs to: the page shows it there, where the redirect's
        anchor puts the eye, not at the top of a page scrolled away from it (templates/partials/section_messages.html)."""
        return f"at-{anchor or self.anchor}" if (anchor or self.anchor) else ""

    def say(self, text: str, *, anchor: str = "") -> None:
        messages.success(self.request, text, extra_tags=self.section_tag(anchor))

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
        outcome = choice_label(AttemptOutcome, data["outcome"])
        if data["outcome"] in REAL_CONTACT_OUTCOMES:
            self.say(_("Logged: %(outcome)s. Now set the appointment.") % {"outcome": outcome}, anchor="appointment")
            # After a real conversation the next tap is the appointment: land on it.
            back = self.safe_next()
            if not back or back.startswith(reverse("inbox")):
                back = self.lead_url()
            return back.split("#")[0] + "#appointment"
        policy = policy_get(dealer=self.access.dealer)
        counted = Lead.objects.for_access(self.access).values_list("counted_attempts", flat=True).get(pk=self.lead.pk)
        owed = attempts_owed(counted_attempts=counted, policy=policy)
        # On the inbox the confirmation shows in the card that was tapped; on the lead page in the log section.
        anchor = f"lead-{self.lead.pk}" if self.safe_next().startswith(reverse("inbox")) else "log"
        if self.lead.first_connected_at:  # reached before: no talk of "unreachable"
            self.say(_("Logged: %(outcome)s.") % {"outcome": outcome}, anchor=anchor)
        elif owed:
            self.say(ngettext("Logged: %(outcome)s. %(owed)s more attempt before you may close it as unreachable.",
                              "Logged: %(outcome)s. %(owed)s more attempts before you may close it as unreachable.",
                              owed) % {"outcome": outcome, "owed": owed}, anchor=anchor)
        else:
            self.say(_("Logged: %(outcome)s. The minimum of %(min)s attempts is reached; you may "
                       "close it as unreachable.") % {"outcome": outcome, "min": policy.min_attempts}, anchor=anchor)
        return None


class AppointmentSetView(LeadActionView):
    form_class = forms.AppointmentForm
    anchor = "appointment"

    def perform(self, data):
        appointment = appointment_set(lead=self.lead, by=self.request.user, scheduled_at=data["when"], kind=data["kind"])
        self.say(_("Appointment set: %(kind)s, %(when)s.") % {
            "kind": appointment.get_kind_display(), "when": local_text(appointment.scheduled_at)})
        back = self.safe_next()
        return (back.split("#")[0] if back else self.lead_url()) + "#appointment"


class AppointmentMoveView(LeadActionView):
    form_class = forms.AppointmentMoveForm
    anchor = "appointment"

    def perform(self, data):
        appointment = get_object_or_404(self.lead.appointments, pk=self.kwargs["appointment_id"])
        appointment_move(appointment=appointment, by=self.request.user, scheduled_at=data["scheduled_at"])
        self.say(_("Appointment moved to %(when)s.") % {"when": local_text(data["scheduled_at"])})


class AppointmentOutcomeView(LeadActionView):
    form_class = forms.AppointmentOutcomeForm
    anchor = "appointment"

    def perform(self, data):
        appointment = get_object_or_404(self.lead.appointments, pk=self.kwargs["appointment_id"])
        appointment_outcome_set(appointment=appointment, by=self.request.user, showed=data["showed"])
        self.say(_("Saved: %(outcome)s.") % {
            "outcome": _("Showed up") if data["showed"] else _("Did not show")})


class LeadCloseView(LeadActionView):
    form_class = forms.CloseForm
    anchor = "close"

    def perform(self, data):
        lead_close(lead=self.lead, by=self.request.user, outcome=data["outcome"], reason=data["reason"])
        messages.success(self.request, _("%(name)s closed: %(outcome)s.") % {
            "name": self.lead.contact_label, "outcome": choice_label(Status, data["outcome"])})
        return self.done_url()


class ScoreUpdateView(LeadActionView):
    form_class = forms.ScoreForm
    anchor = "score"

    def perform(self, data):
        lead = score_update(lead=self.lead, by=self.request.user, budget=data["budget"], authority=data["authority"],
                            need=data["need"], timeline=data["timeline"])
        self.say(_("BANT score saved: %(score)s.") % {"score": lead.score})


class NoteAddView(LeadActionView):
    form_class = forms.NoteForm
    anchor = "timeline"

    def perform(self, data):
        lead_event_add(lead=self.lead, type=EventType.NOTE, actor=self.request.user, text=data["text"])
        self.say(_("Note saved."))


class CustomerEmailView(LeadActionView):
    """Send the mail through the product, so it counts as a verified attempt."""

    form_class = forms.CustomerEmailForm
    anchor = "email"

    def perform(self, data):
        delivery = customer_email_send(lead=self.lead, by=self.request.user, subject=data["subject"], body=data["body"])
        if delivery.sent:
            self.say(_("E-mail sent to %(to)s and logged as a verified attempt.") % {
                "to": customer_email_address(self.lead)})
        elif delivery.sent is False:
            messages.error(self.request, _("The e-mail could not be sent, so no attempt was logged. Try again, or use "
                                           "your own mail app and log the attempt."), extra_tags=self.section_tag())
        else:
            messages.info(self.request, _("The e-mail will be sent in a moment."), extra_tags=self.section_tag())


class NoticesReadView(WorkPage, View):
    """Mark in-app notices as read: one (`notification`) or all of mine in this dealer."""

    http_method_names = ["post"]

    def post(self, request):
        raw = request.POST.get("notification") or ""
        if raw and not NOTIFICATION_ID.fullmatch(raw):  # "²" passes str.isdigit; a huge number overflows bigint
            return HttpResponseBadRequest(_("That notice does not exist."))
        notification_mark_read(recipient=self.access.user, dealer=self.access.dealer, ids=[int(raw)] if raw else None)
        return HttpResponseRedirect(self.safe_next() or reverse("inbox"))

