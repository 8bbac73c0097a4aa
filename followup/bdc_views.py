"""Pages of the BDC agent's desk: the passive-lead queue, "next lead" (an atomic claim), the call script and the hand-over."""

import datetime as dt

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from dealers.errors import DomainError
from dealers.models import Membership, Role, User
from leads.models import Lead, Reason
from leads.services import notification_mark_read
from routing.models import CallScript
from routing.scripts import default_script
from routing.services import bdc_claim_next, bdc_handover, bdc_queue

from .contact import vehicle_label
from .dates import date_text
from .forms import HandoverForm
from .presenters import countdown_text
from .selectors import lead_detail_queryset, lead_list
from .views import WorkPage, lead_page_context

BDC_ROLES = frozenset({Role.BDC_AGENT, Role.MANAGER, Role.GROUP_ADMIN})
QUEUE_ROWS = 50  # the desk shows the head of the queue; "next lead" always takes the most urgent one anyway

def file_date(lead: Lead) -> dt.date | None:
    """The date the dealer's file gave this lead (the lease end, the service visit): the CSV import's `due_date`."""
    raw = (lead.payload or {}).get("due_date") if isinstance(lead.payload, dict) else None
    try:
        return dt.date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def script_facts(lead: Lead) -> list[tuple[str, str]]:
    """What the lead knows, above the script: the car, its plate, the file's date named for the reason, the note."""
    vehicle = lead.vehicle or {}
    facts = [(_("Customer"), lead.customer.full_name or str(lead.customer))]
    if vehicle_label(vehicle):
        facts.append((_("Car"), vehicle_label(vehicle)))
    if vehicle.get("license_plate"):
        facts.append((_("Licence plate"), str(vehicle["license_plate"])))
    if when := file_date(lead):
        label = {Reason.LEASE_END: _("Lease ends"), Reason.SERVICE: _("Service visit")}.get(lead.reason, _("Date from the file"))
        facts.append((label, date_text(when, "date")))
    return facts


def script_text(*, lead: Lead, agent, script: CallScript | None) -> str:
    """The dealer's script for this reason (or the default), with the lead's names and file date filled in."""
    text = script.body if script else default_script(lead.reason)
    when = file_date(lead)
    names = {"{customer}": lead.contact_name or _("sir/madam"), "{agent}": agent.first_name or agent.display_name,
             "{dealer}": lead.dealer.name, "{vehicle}": vehicle_label(lead.vehicle or {}) or _("car"),
             "{lease_end}": _("on %(date)s") % {"date": date_text(when, "date")} if when else _("in the coming months"),
             "{service_visit}": " " + _("on %(date)s") % {"date": date_text(when, "date")} if when else ""}
    for placeholder, value in names.items():
        text = text.replace(placeholder, value)
    return text


class BdcDeskView(WorkPage, TemplateView):
    """The queue of passive leads by due time and reason, my claimed leads, and the "next lead" button."""

    template_name = "routing/desk.html"
    allowed_roles = BDC_ROLES

    def get_scoped_queryset(self):
        return bdc_queue(dealer=self.access.dealer, passive_only=self.access.via_bdc_company)

    def get_context_data(self, **kwargs):
        queue = self.get_queryset()
        reason = self.request.GET.get("reason") or ""
        reasons = dict(Reason.choices)
        shown = queue.filter(reason=reason) if reason in reasons else queue
        by_reason = {row["reason"]: row["n"] for row in queue.order_by().values("reason").annotate(n=Count("pk"))}
        now = timezone.now()
        mine = list(lead_list(access=self.access).filter(assignee=self.access.user).order_by("next_action_at", "received_at")
                    if self.access.role == Role.BDC_AGENT else [])
        rows = list(shown[:QUEUE_ROWS])
        for lead in rows + mine:
            lead.countdown, lead.late = countdown_text(lead.due_at, now) if lead.due_at else ("", False)
        return {
            **super().get_context_data(**kwargs), **self.notice_context(),
            "queue": rows,
            "queue_count": sum(by_reason.values()),
            "reason_filter": [(value, label, by_reason.get(value, 0)) for value, label in Reason.choices],
            "other_count": by_reason.get("", 0),
            "selected_reason": reason if reason in reasons else "",
            "mine": mine,
            "now": now,
            "links_to_leads": self.access.can_manage,
        }


class BdcClaimNextView(WorkPage, View):
    """One press, one lead: the claim is atomic, so two agents pressing at once get different leads."""

    http_method_names = ["post"]
    allowed_roles = BDC_ROLES

    def post(self, request):
        lead = bdc_claim_next(dealer=self.access.dealer, agent=self.access.user, passive_only=self.access.via_bdc_company)
        if lead is None:
            messages.info(request, _("The queue is empty. Well done."))
            return HttpResponseRedirect(reverse("bdc"))
        return HttpResponseRedirect(reverse("bdc_lead", args=[lead.pk]))


def _salespeople(dealer):
    return User.objects.filter(memberships__dealer=dealer, memberships__role=Role.SALESPERSON,
                               memberships__is_active=True).order_by("first_name", "last_name")


class BdcLeadView(WorkPage, TemplateView):
    """One claimed lead at the desk: the script for its reason, outcome logging, the appointment, the hand-over."""

    template_name = "routing/lead.html"
    allowed_roles = BDC_ROLES

    def get_scoped_queryset(self):
        return lead_detail_queryset(access=self.access)

    def get_context_data(self, **kwargs):
        lead = get_object_or_404(self.get_queryset(), pk=kwargs["pk"])
        notification_mark_read(recipient=self.access.user, dealer=self.access.dealer, lead=lead)
        script = CallScript.objects.for_dealer(self.access.dealer).filter(reason=lead.reason).first() if lead.reason else None
        on_duty = set(Membership.objects.filter(dealer=self.access.dealer, role=Role.SALESPERSON, is_active=True,
                                                on_duty=True).values_list("user_id", flat=True))
        return {
            **super().get_context_data(**kwargs), **self.notice_context(),
            **lead_page_context(request=self.request, access=self.access, lead=lead),
            "script": script_text(lead=lead, agent=self.access.user, script=script),
            "script_is_default": script is None,
            "script_facts": script_facts(lead),
            "salespeople": [(u, u.pk in on_duty) for u in _salespeople(self.access.dealer)],
        }


class BdcHandoverView(WorkPage, View):
    """The BDC hands the lead (usually with an appointment) to a salesperson, who is notified and finds it in their inbox."""

    http_method_names = ["post"]
    allowed_roles = BDC_ROLES

    def get_scoped_queryset(self):
        return lead_detail_queryset(access=self.access).filter(closed_at__isnull=True)

    def post(self, request, pk):
        lead = get_object_or_404(self.get_queryset(), pk=pk)
        form = HandoverForm(request.POST, salespeople=_salespeople(self.access.dealer))
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return HttpResponseRedirect(reverse("bdc_lead", args=[lead.pk]) + "#handover")
        try:
            lead = bdc_handover(lead=lead, agent=self.access.user, salesperson=form.cleaned_data["salesperson"],
                                note=form.cleaned_data["note"])
        except DomainError as exc:  # closed meanwhile, or the salesperson left the team
            messages.error(request, exc.detail)
            return HttpResponseRedirect(reverse("bdc_lead", args=[lead.pk]) + "#handover")
        who = lead.assignee.display_name if lead.assignee else _("the sales manager")
        messages.success(request, _("%(name)s handed over to %(who)s.") % {"name": lead.contact_label, "who": who})
        return HttpResponseRedirect(reverse("bdc"))
