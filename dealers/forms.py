"""Forms of the manager's settings pages. They check the shape of the input; the services apply the rules."""

import datetime as dt
import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .hours import Period, opening_periods_problems
from .models import FollowUpPolicy, OpeningHours, Role, RoutingModel
from .policy import policy_problems

PERCENT_FIELDS = ("map_target", "contact_target", "appointment_of_contacted_target")


def _minutes(label, help_text, *, min_value=0):
    return forms.IntegerField(label=label, help_text=help_text, min_value=min_value, max_value=100_000,
                              widget=forms.NumberInput(attrs={"inputmode": "numeric"}))


def _percent(label, help_text):
    return forms.DecimalField(label=label, help_text=help_text, min_value=0, max_value=100, max_digits=4, decimal_places=1,
                              widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.1"}))


def percent_of(fraction: Decimal) -> Decimal | int:
    """0.360 → 36; 0.125 → 12.5 (how a manager thinks of a target)."""
    value = (Decimal(fraction) * 100).quantize(Decimal("0.1"))
    return int(value) if value == value.to_integral_value() else value


def parse_cadence(text: str) -> list[int]:
    """ "0, 1, 3, 6" → [0, 1, 3, 6]; sorted, each day once. """
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if not parts or not all(re.fullmatch(r"[0-9]{1,4}", p) for p in parts):
        raise ValidationError(_("Enter whole numbers of days separated by commas, for example: 0, 1, 3, 6."))
    days = sorted({int(p) for p in parts})
    if days[-1] > 365:
        raise ValidationError(_("A follow-up day more than a year after arrival is not allowed."))
    return days


class FollowUpPolicyForm(forms.Form):
    first_response_minutes = _minutes(
        _("First response to an active lead (minutes)"),
        _("A customer who filled in a form, called or chatted gets a first attempt within this many minutes. "
          "Only opening hours count. Five minutes is what the best dealers manage."), min_value=1)
    passive_first_response_days = forms.IntegerField(
        label=_("First response to a passive lead (working days)"), min_value=0, max_value=30,
        help_text=_("Lease ends, lost sales, service customers: the first attempt is due at closing time of this "
                    "working day. 0 = the same day, 1 = the next working day."))
    min_attempts = forms.IntegerField(
        label=_("Minimum attempts before \"unreachable\""), min_value=1, max_value=20,
        help_text=_("Nobody may close a lead as unreachable before this many attempts. Most people give up after two; "
                    "four is the standard."))
    attempt_spacing_minutes = _minutes(
        _("Time between counted attempts (minutes)"),
        _("Attempts closer together than this count as one towards the minimum, so three calls in a row are one "
          "attempt. 0 counts every attempt."))
    cadence_days = forms.CharField(
        label=_("Follow-up days"), max_length=200,
        help_text=_("On which days after arrival the next attempt is due while nobody has been reached, "
                    "separated by commas. For example: 0, 1, 3, 6."))
    remind_after_minutes = _minutes(
        _("Remind the person working the lead after (minutes late)"),
        _("When a deadline passes, the person working the lead gets a reminder after this many minutes. 0 = at once."))
    manager_alert_after_minutes = _minutes(
        _("Alert the manager after (minutes late)"),
        _("If still nothing has happened, you get an alert. At least as late as the reminder."))
    reassign_after_minutes = _minutes(
        _("Give the lead to someone else after (minutes late)"),
        _("Then the lead goes to the next salesperson on duty (or back into the BDC queue). "
          "At least as late as the manager alert."))
    lost_sale_followup_days = forms.IntegerField(
        label=_("Call a lost sale again after (days)"), min_value=1, max_value=365,
        help_text=_("A sale lost after a real conversation comes back to the BDC as a passive lead after this many days: "
                    "customers often tell a neutral caller the real objection."))
    map_target = _percent(
        _("MAP: appointments per 100 leads"),
        _("The Minimum Acceptance Performance. With the 60% rule (60% reached, 60% of those an appointment) it is 36."))
    contact_target = _percent(_("Target: leads reached (%)"), _("The share of leads with a real conversation. Standard: 60."))
    appointment_of_contacted_target = _percent(
        _("Target: appointments of reached leads (%)"),
        _("Of the customers reached, the share that makes an appointment. Standard: 60."))

    @classmethod
    def initial_for(cls, policy: FollowUpPolicy) -> dict:
        initial = {name: getattr(policy, name) for name in cls.base_fields}
        initial["cadence_days"] = ", ".join(str(d) for d in policy.cadence_days or [])
        for name in PERCENT_FIELDS:
            initial[name] = percent_of(getattr(policy, name))
        return initial

    def clean_cadence_days(self):
        return parse_cadence(self.cleaned_data["cadence_days"])

    def clean(self):
        data = super().clean()
        for field, problems in policy_problems(data).items():
            for problem in problems:
                self.add_error(field, problem)
        return data

    def policy_changes(self) -> dict:
        """The cleaned values in the policy's own units (targets as fractions)."""
        changes = dict(self.cleaned_data)
        for name in PERCENT_FIELDS:
            changes[name] = (changes[name] / 100).quantize(Decimal("0.001"))
        return changes


class RoutingModelForm(forms.Form):
    routing_model = forms.ChoiceField(label=_("Routing model"), choices=RoutingModel.choices, widget=forms.RadioSelect)


WEEKDAY_NAMES = [label for _value, label in OpeningHours._meta.get_field("weekday").choices]


class OpeningHoursForm(forms.Form):
    """A week: per day a "closed" box and a few opening periods (two by default: morning and afternoon)."""

    def __init__(self, *args, periods=(), **kwargs):
        super().__init__(*args, **kwargs)
        by_day: dict[int, list] = {}
        for p in sorted(periods, key=lambda p: (p.weekday, p.opens)):
            by_day.setdefault(p.weekday, []).append(p)
        self.slots = max([2, *(len(v) for v in by_day.values())])
        time_widget = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
        for day in range(7):
            self.fields[f"d{day}_closed"] = forms.BooleanField(
                label=_("Closed"), required=False, initial=not by_day.get(day))
            for slot in range(self.slots):
                period = by_day.get(day, [])[slot] if slot < len(by_day.get(day, [])) else None
                self.fields[f"d{day}_p{slot}_opens"] = forms.TimeField(
                    label=_("Opens"), required=False, widget=time_widget, initial=period.opens if period else None)
                self.fields[f"d{day}_p{slot}_closes"] = forms.TimeField(
                    label=_("Closes"), required=False, widget=time_widget, initial=period.closes if period else None)

    def days(self):
        """For the template: per weekday its name, the closed box, its (opens, closes) pairs and its errors."""
        for day in range(7):
            pairs = [(self[f"d{day}_p{s}_opens"], self[f"d{day}_p{s}_closes"]) for s in range(self.slots)]
            names = [f"d{day}_closed", *(f"d{day}_p{s}_{k}" for s in range(self.slots) for k in ("opens", "closes"))]
            errors = [e for name in names for e in self.errors.get(name, [])]
            yield {"name": WEEKDAY_NAMES[day], "closed": self[f"d{day}_closed"], "pairs": pairs, "errors": errors}

    def clean(self):
        data = super().clean()
        self.periods: list[Period] = []
        for day in range(7):
            if data.get(f"d{day}_closed"):
                continue
            day_periods = []
            for slot in range(self.slots):
                opens, closes = data.get(f"d{day}_p{slot}_opens"), data.get(f"d{day}_p{slot}_closes")
                if f"d{day}_p{slot}_opens" in self.errors or f"d{day}_p{slot}_closes" in self.errors:
                    continue
                if opens is None and closes is None:
                    continue
                if opens is None or closes is None:
                    self.add_error(f"d{day}_p{slot}_opens" if opens is None else f"d{day}_p{slot}_closes",
                                   _("Fill in both the opening and the closing time."))
                else:
                    day_periods.append(Period(day, opens, closes))
            for _day, problem in opening_periods_problems(day_periods):
                self.add_error(f"d{day}_closed", problem)
            if not day_periods and not any(n.startswith(f"d{day}_") for n in self.errors):
                self.add_error(f"d{day}_closed", _("Fill in the opening hours or tick \"Closed\"."))
            self.periods.extend(day_periods)
        return data


def role_choices(*, can_grant_group_admin: bool):
    return [(v, label) for v, label in Role.choices if can_grant_group_admin or v != Role.GROUP_ADMIN]


class ClosingDayForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    label = forms.CharField(label=_("Description"), max_length=100, required=False,
                            help_text=_("For example: company outing, stocktaking."))

    def clean_date(self):
        day = self.cleaned_data["date"]
        today = timezone.localdate()
        if day < today:
            raise ValidationError(_("This day has passed."))
        if day > today + dt.timedelta(days=2 * 366):
            raise ValidationError(_("Enter a day within the next two years."))
        return day


class MemberAddForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False,
                                 help_text=_("Only needed for someone who has no account yet."))
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), initial=Role.SALESPERSON)

    def __init__(self, *args, can_grant_group_admin: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(can_grant_group_admin=can_grant_group_admin)


def _yes_no(value):
    return {"1": True, "0": False}.get(value)


class MemberUpdateForm(forms.Form):
    """Role and on-duty; a field that is not posted stays as it is (the on-duty toggle posts only that)."""

    role = forms.ChoiceField(label=_("Role"), required=False)
    on_duty = forms.TypedChoiceField(label=_("On duty"), required=False, choices=[("1", _("Yes")), ("0", _("No"))],
                                     coerce=_yes_no, empty_value=None)
    is_active = forms.TypedChoiceField(label=_("Works here"), required=False, choices=[("1", _("Yes")), ("0", _("No"))],
                                       coerce=_yes_no, empty_value=None)

    def __init__(self, *args, can_grant_group_admin: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [("", "")] + role_choices(can_grant_group_admin=can_grant_group_admin)

    def changes(self) -> dict:
        return {"role": self.cleaned_data.get("role") or None, "on_duty": self.cleaned_data.get("on_duty"),
                "is_active": self.cleaned_data.get("is_active")}


class ApiKeyCreateForm(forms.Form):
    source = forms.SlugField(
        label=_("Source"), max_length=64,
        help_text=_("The portal or website that will send leads with this key, e.g. marktplaats, autoscout24, website. "
                    "Its leads are filed under this name."),
        widget=forms.TextInput(attrs={"list": "known-sources", "autocapitalize": "none", "autocomplete": "off"}))

    def clean_source(self):
        return self.cleaned_data["source"].lower()


class CallScriptForm(forms.Form):
    body = forms.CharField(label=_("Script"), required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 8}),
                           help_text=_("What the BDC agent says, step by step. Leave empty to remove the script."))
