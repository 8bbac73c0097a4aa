"""The manager's settings pages: follow-up policy, routing model, opening hours, team, portal keys, call scripts, audit.

Managers and group admins only (salespeople and BDC agents get 403); another dealer's objects are 404 because every
object is looked up through the scoped queryset. Each page validates, calls a service, and redirects (Post-Redirect-Get).
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from leads.models import Reason
from routing.models import CallScript
from routing.services import call_script_save

from .access import MANAGING_ROLES
from .forms import (
    PERCENT_FIELDS,
    ApiKeyCreateForm,
    CallScriptForm,
    ClosingDayForm,
    FollowUpPolicyForm,
    MemberAddForm,
    MemberUpdateForm,
    OpeningHoursForm,
    RoutingModelForm,
    percent_of,
)
from .hours import OpeningSchedule, Period
from .models import ApiKey, AuditEntry, ClosingDay, FollowUpPolicy, Invitation, Membership, OpeningHours, Role, RoutingModel
from .services import (
    WEEKDAY_KEYS,
    api_key_create,
    api_key_revoke,
    closing_day_add,
    closing_day_remove,
    dealer_routing_model_set,
    invitation_send,
    membership_invite_resend,
    membership_update,
    opening_hours_replace,
    policy_get,
    policy_update,
)
from .views import DealerScopedMixin

NEW_KEY_SESSION_KEY = "settings_new_api_key"
KNOWN_SOURCES = ("marktplaats", "autoscout24", "autotrack", "gaspedaal", "website", "facebook", "dms")

# What each routing model means, in the words of the domain (shown beside the choice).
ROUTING_EXPLANATIONS = {
    RoutingModel.SPLIT: gettext_lazy(
        "Active leads (the customer reached out: a form, a call, a chat) go straight to a salesperson, who converts "
        "best by calling while the customer is still in the moment. Passive leads (lease ends, lost sales, data mining, "
        "service customers) go to the BDC queue, which works them more steadily. The usual choice."),
    RoutingModel.BDC_FIRST: gettext_lazy(
        "Every lead enters the BDC queue. A BDC agent calls, makes the appointment and hands the customer over to a "
        "salesperson. For dealers whose salespeople are rarely free to call at once."),
    RoutingModel.SALES_ONLY: gettext_lazy(
        "No BDC: every lead, active or passive, goes to the salespeople on duty by turn. For dealers without a BDC."),
}

ACTION_LABELS = {
    "policy.updated": gettext_lazy("Follow-up policy changed"),
    "dealer.routing_model_changed": gettext_lazy("Routing model changed"),
    "opening_hours.replaced": gettext_lazy("Opening hours changed"),
    "closing_day.added": gettext_lazy("Closing day added"),
    "closing_day.removed": gettext_lazy("Closing day removed"),
    "membership.added": gettext_lazy("Team member added"),
    "membership.reactivated": gettext_lazy("Team member back on the team"),
    "membership.updated": gettext_lazy("Team member changed"),
    "membership.invited": gettext_lazy("Set-password e-mail sent again"),
    "api_key.created": gettext_lazy("Portal key created"),
    "api_key.revoked": gettext_lazy("Portal key revoked"),
    "call_script.saved": gettext_lazy("Call script saved"),
    "call_script.removed": gettext_lazy("Call script removed"),
    "customer.merged": gettext_lazy("Customer records merged"),
    "customer.split": gettext_lazy("Lead split off into a customer record of its own"),
    "customer.exported": gettext_lazy("Customer's data exported"),
    "customer.erased": gettext_lazy("Customer's data erased"),
    "privacy.settings_updated": gettext_lazy("Retention periods changed"),
    "privacy.retention": gettext_lazy("Retention run: old data removed"),
}


class SettingsMixin(DealerScopedMixin):
    allowed_roles = MANAGING_ROLES
    section = ""

    @property
    def dealer(self):
        return self.access.dealer

    def get_scoped_queryset(self):
        raise Http404  # pages without objects never look one up

    def get_context_data(self, **kwargs):
        kwargs.setdefault("dealer", self.dealer)
        kwargs.setdefault("section", self.section)
        return super().get_context_data(**kwargs)

    def site_url(self) -> str:
        return self.request.build_absolute_uri("/")

    def error_messages(self, error: ValidationError) -> None:
        for text in error.messages:
            messages.error(self.request, text)


class OverviewView(SettingsMixin, TemplateView):
    template_name = "dealers/settings/overview.html"
    section = "overview"

    def get_context_data(self, **kwargs):
        dealer = self.dealer
        policy = policy_get(dealer=dealer)
        hours = OpeningHours.objects.for_dealer(dealer)
        return super().get_context_data(
            policy=policy,
            routing_explanation=ROUTING_EXPLANATIONS[dealer.routing_model],
            open_days=len({h.weekday for h in hours}),
            team_size=Membership.objects.filter(dealer=dealer, is_active=True).count(),
            on_duty=Membership.objects.filter(dealer=dealer, is_active=True, on_duty=True).count(),
            active_keys=ApiKey.objects.for_dealer(dealer).active().count(),
            scripts=CallScript.objects.for_dealer(dealer).count(),
            reasons=len(Reason.values),
            **kwargs,
        )


class PolicyView(SettingsMixin, TemplateView):
    template_name = "dealers/settings/policy.html"
    section = "policy"

    def get(self, request, *args, **kwargs):
        form = FollowUpPolicyForm(initial=FollowUpPolicyForm.initial_for(policy_get(dealer=self.dealer)))
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request, *args, **kwargs):
        form = FollowUpPolicyForm(request.POST)
        if form.is_valid():
            changes = form.policy_changes()
            current = policy_get(dealer=self.dealer)
            changed = any(getattr(current, name) != value for name, value in changes.items())
            try:
                policy_update(dealer=self.dealer, by=request.user, changes=changes)
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                if changed:
                    messages.success(request, _("The follow-up policy is saved. It applies to deadlines set from now on."))
                else:
                    messages.info(request, _("Nothing changed."))
                return redirect("settings:policy")
        return self.render_to_response(self.get_context_data(form=form))


class RoutingView(SettingsMixin, TemplateView):
    template_name = "dealers/settings/routing.html"
    section = "routing"

    def get(self, request, *args, **kwargs):
        form = RoutingModelForm(initial={"routing_model": self.dealer.routing_model})
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        form = kwargs["form"]
        current = form["routing_model"].value()
        kwargs["choices"] = [{"value": value, "label": label, "explanation": ROUTING_EXPLANATIONS[value],
                              "checked": value == current} for value, label in RoutingModel.choices]
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        form = RoutingModelForm(request.POST)
        if form.is_valid():
            changed = form.cleaned_data["routing_model"] != self.dealer.routing_model
            dealer_routing_model_set(dealer=self.dealer, routing_model=form.cleaned_data["routing_model"], by=request.user)
            if changed:
                messages.success(request, _("Routing model saved. Leads that arrive from now on are routed this way."))
            else:
                messages.info(request, _("Nothing changed."))
            return redirect("settings:routing")
        return self.render_to_response(self.get_context_data(form=form))


class HoursView(SettingsMixin, TemplateView):
    template_name = "dealers/settings/hours.html"
    section = "hours"

    def current_periods(self):
        return [Period(h.weekday, h.opens, h.closes) for h in OpeningHours.objects.for_dealer(self.dealer)]

    def get_context_data(self, **kwargs):
        # The next closed days, as the deadlines see them: the country's public holidays and the dealer's own days.
        dealer = self.dealer
        own = list(dealer.closing_days.all())
        schedule = OpeningSchedule(self.current_periods(), dealer.tz, country=dealer.country,
                                   closing_days={c.date: c.label for c in own})
        today = timezone.localdate(timezone=dealer.tz)
        pks = {c.date: c.pk for c in own}
        closed = [(day, pks[day.date] if day.own else None)
                  for day in schedule.closed_days(today, today + dt.timedelta(days=365), language=get_language())]
        kwargs.setdefault("closing_form", ClosingDayForm())
        return super().get_context_data(closed_days=closed[:CLOSED_DAYS_SHOWN], closed_days_more=len(closed) > CLOSED_DAYS_SHOWN,
                                        always_open=schedule.always_open, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data(form=OpeningHoursForm(periods=self.current_periods())))

    def post(self, request, *args, **kwargs):
        form = OpeningHoursForm(request.POST, periods=self.current_periods())
        if form.is_valid():
            try:
                opening_hours_replace(dealer=self.dealer, periods=form.periods, by=request.user)
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                messages.success(request, _("Opening hours saved."))
                return redirect("settings:hours")
        return self.render_to_response(self.get_context_data(form=form))


CLOSED_DAYS_SHOWN = 12


class ClosingDayAddView(HoursView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        form = ClosingDayForm(request.POST)
        if form.is_valid():
            try:
                day = closing_day_add(dealer=self.dealer, date=form.cleaned_data["date"], label=form.cleaned_data["label"],
                                      by=request.user)
            except ValidationError as error:
                form.add_error("date", error.messages)
            else:
                messages.success(request, _("Closing day added: deadlines do not run on %(date)s.")
                                 % {"date": date_format(day.date, "DATE_FORMAT")})
                return redirect("settings:hours")
        return self.render_to_response(self.get_context_data(
            form=OpeningHoursForm(periods=self.current_periods()), closing_form=form), status=400)


class ClosingDayRemoveView(HoursView):
    http_method_names = ["post"]

    def get_scoped_queryset(self):
        return ClosingDay.objects.for_access(self.access)

    def post(self, request, *args, **kwargs):
        day = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        closing_day_remove(closing_day=day, by=request.user)
        messages.success(request, _("Closing day removed."))
        return redirect("settings:hours")


class TeamMixin(SettingsMixin):
    section = "team"

    def get_scoped_queryset(self):
        return Membership.objects.select_related("user")

    def can_grant_group_admin(self) -> bool:
        return self.access.is_group_admin


class TeamView(TeamMixin, TemplateView):
    template_name = "dealers/settings/team.html"

    def get_context_data(self, **kwargs):
        dealer = self.dealer
        can_grant = self.can_grant_group_admin()
        # One query for the whole team, with each person's open leads here (what a deactivation leaves behind).
        members = list(self.get_queryset().annotate(open_leads=Count("user__assigned_leads", filter=Q(
            user__assigned_leads__dealer=dealer, user__assigned_leads__closed_at__isnull=True)))
            .order_by("-is_active", "user__first_name", "user__last_name", "user__email"))
        for m in members:
            m.is_me = m.user_id == self.request.user.pk
            m.editable = can_grant or m.role != Role.GROUP_ADMIN
            m.invited = not m.user.has_usable_password()
        kwargs.setdefault("add_form", MemberAddForm(can_grant_group_admin=can_grant))
        kwargs.setdefault("invitations", list(Invitation.objects.for_dealer(dealer).filter(accepted_at__isnull=True)
                                              .order_by("-sent_at")))
        return super().get_context_data(
            active_members=[m for m in members if m.is_active], former_members=[m for m in members if not m.is_active],
            roles=MemberAddForm(can_grant_group_admin=can_grant).fields["role"].choices, **kwargs)


class TeamAddView(TeamView):
    def get(self, request, *args, **kwargs):
        return redirect("settings:team")

    def post(self, request, *args, **kwargs):
        form = MemberAddForm(request.POST, can_grant_group_admin=self.can_grant_group_admin())
        if form.is_valid():
            data = form.cleaned_data
            try:
                invitation = invitation_send(dealer=self.dealer, email=data["email"], role=data["role"], by=request.user,
                                             site_url=self.site_url(), first_name=data["first_name"],
                                             last_name=data["last_name"])
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                # One answer whether or not the address has an account somewhere: it says nothing about it.
                messages.success(request, _("An invitation to join the team went to %(email)s.") % {"email": invitation.email})
                return redirect("settings:team")
        return self.render_to_response(self.get_context_data(add_form=form))


class InvitationResendView(SettingsMixin, View):
    section = "team"

    def get_scoped_queryset(self):
        return Invitation.objects.for_access(self.access).filter(accepted_at__isnull=True)

    def post(self, request, pk):
        invitation = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            invitation_send(dealer=self.dealer, email=invitation.email, role=invitation.role, by=request.user,
                            site_url=self.site_url(), first_name=invitation.first_name, last_name=invitation.last_name)
        except ValidationError as error:
            self.error_messages(error)
        else:
            messages.success(request, _("An invitation to join the team went to %(email)s.") % {"email": invitation.email})
        return redirect("settings:team")


class MemberUpdateView(TeamMixin, View):
    def post(self, request, pk):
        membership = get_object_or_404(self.get_queryset(), pk=pk)
        form = MemberUpdateForm(request.POST, can_grant_group_admin=self.can_grant_group_admin())
        if not form.is_valid():
            messages.error(request, _("That change could not be saved."))
            return redirect("settings:team")
        try:
            updated = membership_update(membership=membership, by=request.user, **form.changes())
        except ValidationError as error:
            self.error_messages(error)
        else:
            messages.success(request, _("%(name)s: saved (%(role)s, %(duty)s%(gone)s).") % {
                "name": updated.user.display_name, "role": updated.get_role_display(),
                "duty": _("on duty") if updated.on_duty else _("off duty"),
                "gone": "" if updated.is_active else ", " + _("no longer on the team")})
        return redirect("settings:team")


class MemberInviteView(TeamMixin, View):
    def post(self, request, pk):
        membership = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            membership_invite_resend(membership=membership, by=request.user, site_url=self.site_url())
        except ValidationError as error:
            self.error_messages(error)
        else:
            messages.success(request, _("The set-password e-mail was sent to %(email)s.") % {"email": membership.user.email})
        return redirect("settings:team")


class KeysMixin(SettingsMixin):
    section = "keys"

    def get_scoped_queryset(self):
        return ApiKey.objects.for_access(self.access).select_related("created_by")


class KeysView(KeysMixin, TemplateView):
    template_name = "dealers/settings/keys.html"

    def get_context_data(self, **kwargs):
        keys = list(self.get_queryset().order_by("source", "-created_at"))
        revoked = sorted((k for k in keys if not k.is_active), key=lambda k: k.revoked_at, reverse=True)
        kwargs.setdefault("form", ApiKeyCreateForm())
        return super().get_context_data(
            active_keys=[k for k in keys if k.is_active], revoked_keys=revoked,
            known_sources=sorted(set(KNOWN_SOURCES) | {k.source for k in keys}), **kwargs)

    def post(self, request, *args, **kwargs):
        form = ApiKeyCreateForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        api_key, raw_key = api_key_create(dealer=self.dealer, source=form.cleaned_data["source"], created_by=request.user)
        # The key is never stored; the session carries it to the next page only, which removes it on display.
        request.session[NEW_KEY_SESSION_KEY] = {"id": api_key.pk, "key": raw_key}
        return redirect("settings:key_created")


@method_decorator(never_cache, name="dispatch")
class KeyCreatedView(KeysMixin, TemplateView):
    template_name = "dealers/settings/key_created.html"

    def get(self, request, *args, **kwargs):
        shown = request.session.pop(NEW_KEY_SESSION_KEY, None)
        api_key = self.get_queryset().filter(pk=shown["id"]).first() if shown else None
        if api_key is None:
            messages.info(request, _("A key is shown only once, right after it was created. Create a new key if it was lost."))
            return redirect("settings:keys")
        return self.render_to_response(self.get_context_data(api_key=api_key, raw_key=shown["key"],
                                                             api_url=request.build_absolute_uri("/api/v1/leads/")))


class KeyRevokeView(KeysMixin, TemplateView):
    template_name = "dealers/settings/key_revoke.html"

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        api_key = self.get_object()
        if not api_key.is_active:
            messages.info(request, _("This key was already revoked."))
            return redirect("settings:keys")
        return self.render_to_response(self.get_context_data(api_key=api_key))

    def post(self, request, *args, **kwargs):
        api_key = api_key_revoke(api_key=self.get_object(), by=request.user)
        messages.success(request, _("The key %(source)s %(prefix)s… is revoked: the portal can no longer send leads with it.")
                         % {"source": api_key.source, "prefix": api_key.prefix})
        return redirect("settings:keys")


class ScriptsView(SettingsMixin, TemplateView):
    template_name = "dealers/settings/scripts.html"
    section = "scripts"

    def get_scoped_queryset(self):
        return CallScript.objects.for_access(self.access)

    def get_context_data(self, **kwargs):
        scripts = {s.reason: s for s in self.get_queryset()}
        failed = kwargs.pop("failed", None)
        rows = []
        for value, label in Reason.choices:
            if failed and failed[0] == value:
                form = failed[1]
            else:
                form = CallScriptForm(prefix=value, initial={"body": scripts[value].body if value in scripts else ""})
            rows.append({"reason": value, "label": label, "form": form, "script": scripts.get(value)})
        return super().get_context_data(rows=rows, **kwargs)


class ScriptSaveView(ScriptsView):
    def get(self, request, *args, **kwargs):
        return redirect("settings:scripts")

    def post(self, request, reason):
        if reason not in Reason.values:
            raise Http404
        form = CallScriptForm(request.POST, prefix=reason)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(failed=(reason, form)))
        script = call_script_save(dealer=self.dealer, reason=reason, body=form.cleaned_data["body"], by=request.user)
        label = Reason(reason).label
        if script is None:
            messages.success(request, _("No script for \"%(reason)s\" any more.") % {"reason": label})
        else:
            messages.success(request, _("Script for \"%(reason)s\" saved.") % {"reason": label})
        return redirect(reverse("settings:scripts") + f"#script-{reason}")


# ------------------------------------------------------------------------------------------------- the audit trail

def _field_labels() -> dict:
    labels = {f.name: f.verbose_name for f in FollowUpPolicy._meta.get_fields() if hasattr(f, "verbose_name")}
    labels.update({f.name: f.verbose_name for f in Membership._meta.get_fields() if hasattr(f, "verbose_name")})
    labels["routing_model"] = _("routing model")
    labels["body"] = _("script")
    # Retention settings and runs (the privacy app's audit entries; dealers imports no app above it).
    labels["raw_retention_days"] = _("keep raw submissions (days)")
    labels["inactive_lead_months"] = _("anonymise leads without activity after (months)")
    labels["raw_removed"] = _("raw submissions removed")
    labels["leads_anonymised"] = _("leads anonymised")
    labels["customers_erased"] = _("customers erased")
    weekdays = OpeningHours._meta.get_field("weekday").choices
    labels.update({key: label for key, (_n, label) in zip(WEEKDAY_KEYS, weekdays, strict=True)})
    return labels


def _readable(action: str, field: str, value) -> str:
    """A stored, language-neutral value as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if field == "role" and value in Role.values:
        return str(Role(value).label)
    if field == "routing_model" and value in RoutingModel.values:
        return str(RoutingModel(value).label)
    if field in PERCENT_FIELDS:
        try:
            return f"{percent_of(Decimal(str(value)))}%"
        except InvalidOperation:
            return str(value)
    if field == "cadence_days":
        return str(value).strip("[]")
    if action == "opening_hours.replaced" and value == "":
        return _("closed")
    if value == "":
        return "—"
    return str(value)


def audit_rows(entries, *, labels: dict) -> list[dict]:
    rows = []
    for entry in entries:
        changes = []
        for field, change in (entry.changes or {}).items():
            old, new = change if isinstance(change, list) and len(change) == 2 else (None, change)
            changes.append({"field": str(labels.get(field, field.replace("_", " "))),
                            "old": _readable(entry.action, field, old), "new": _readable(entry.action, field, new)})
        target = entry.target
        if entry.action.startswith("call_script.") and target in Reason.values:
            target = Reason(target).label
        rows.append({"entry": entry, "action": ACTION_LABELS.get(entry.action, entry.action), "target": target,
                     "changes": changes})
    return rows


class AuditView(SettingsMixin, TemplateView):
    template_name = "dealers/settings/audit.html"
    section = "audit"
    paginate_by = 25

    def get_scoped_queryset(self):
        return AuditEntry.objects.for_access(self.access).select_related("actor").order_by("-at", "-pk")

    def get_context_data(self, **kwargs):
        page = Paginator(self.get_queryset(), self.paginate_by).get_page(self.request.GET.get("page"))
        return super().get_context_data(page=page, rows=audit_rows(page.object_list, labels=_field_labels()), **kwargs)

