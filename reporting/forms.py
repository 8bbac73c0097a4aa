"""Input of the dashboard, its CSV exports and the JSON endpoint: the report filters, and the one-action reassignment."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealers.models import Membership, User
from leads.models import Kind

from .selectors import TEAM_ROLES, ReportFilters

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366  # a bounded period keeps every report query bounded
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)  # beyond these, date arithmetic would overflow


class ReportFilterForm(forms.Form):
    """`from`/`to` (YYYY-MM-DD, both inclusive; default the last 30 days), `source`, `kind` and `assignee`."""

    source = forms.CharField(label=_("Source"), required=False, max_length=64)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Active and passive")), *Kind.choices])
    assignee = forms.IntegerField(label=_("Person"), required=False, min_value=1)

    def __init__(self, data=None, *, tz, sources: list[str] = (), people: list[tuple[int, str]] = (), **kwargs):
        self.today = timezone.localtime(timezone.now(), tz).date()
        # Always bound: a missing date becomes the default period, so the inputs show the period the figures cover.
        data = {key: data.get(key) for key in ("from", "to", "source", "kind", "assignee")} if data else {}
        data["to"] = data.get("to") or self.today.isoformat()
        if not data.get("from"):
            to = forms.DateField().clean(data["to"]) if _is_date(data["to"]) else self.today
            to = min(max(to, EARLIEST + dt.timedelta(days=DEFAULT_DAYS)), LATEST)
            data["from"] = (to - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        super().__init__(data, **kwargs)
        self.fields["from"] = forms.DateField(label=_("From"), required=False,
                                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
        self.fields["to"] = forms.DateField(label=_("To"), required=False,
                                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
        self.order_fields(["from", "to", "source", "kind", "assignee"])
        if sources:
            self.fields["source"].widget = forms.Select(choices=[("", _("All sources")), *[(s, s) for s in sources]])
        if people:
            self.fields["assignee"].widget = forms.Select(choices=[("", _("Everyone")), *people])

    def clean(self):
        data = super().clean()
        date_to = data.get("to") or self.today
        date_from = data.get("from") or (date_to - dt.timedelta(days=DEFAULT_DAYS - 1))
        if not (EARLIEST <= date_from <= LATEST and EARLIEST <= date_to <= LATEST):
            raise forms.ValidationError({"from": _("Choose dates between 2000 and 2099.")})
        if date_from > date_to:
            raise forms.ValidationError({"from": _("The period starts after it ends.")})
        if (date_to - date_from).days >= MAX_DAYS:
            raise forms.ValidationError({"from": _("Choose a period of at most three years.")})
        data["from"], data["to"] = date_from, date_to
        return data

    def filters(self) -> ReportFilters:
        """The validated filters, or the default period when the input was invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        date_to = data.get("to") or self.today
        return ReportFilters(date_from=data.get("from") or date_to - dt.timedelta(days=DEFAULT_DAYS - 1), date_to=date_to,
                             source=data.get("source") or "", kind=data.get("kind") or "", assignee_id=data.get("assignee"))


def _is_date(value) -> bool:
    try:
        forms.DateField().clean(value)
    except forms.ValidationError:
        return False
    return True


class ReassignForm(forms.Form):
    """Whom a lead goes to: an on-duty salesperson or BDC agent of the lead's own dealer, never another dealer's user."""

    to_user = forms.ModelChoiceField(label=_("Reassign to"), queryset=User.objects.none())

    def __init__(self, *args, dealer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = User.objects.filter(
            pk__in=Membership.objects.filter(dealer=dealer, is_active=True, on_duty=True, role__in=TEAM_ROLES).values("user_id"))
