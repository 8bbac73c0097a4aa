"""Input for the lead pages' one-tap actions. Forms only validate; the services in followup.services decide."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.dates import instant_in_range
from leads.models import CLOSE_OUTCOMES

from .models import AppointmentKind, AttemptChannel, AttemptOutcome

LOCAL_DATETIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> and the quick-pick chips send
APPOINTMENT_PAST_SLACK = dt.timedelta(minutes=5)  # a chip picked at 15:59 and sent at 16:01 is still fine


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock time in the current (the dealer's) time zone, as a datetime-local input sends it."""

    input_formats = [LOCAL_DATETIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M"]
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_DATETIME_FORMAT)


def _not_in_the_past(value: dt.datetime) -> dt.datetime:
    if value < timezone.now() - APPOINTMENT_PAST_SLACK:
        raise forms.ValidationError(_("That time has already passed; pick a time in the future."))
    if not instant_in_range(value):
        raise forms.ValidationError(_("That time is too far ahead; pick a time within a year."))
    return value


class AttemptForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=AttemptChannel.choices, initial=AttemptChannel.CALL)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=AttemptOutcome.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AppointmentForm(forms.Form):
    """Either a quick-pick slot (one tap) or a time of one's own choosing, plus the kind of appointment."""

    slot = forms.CharField(required=False, max_length=40)
    scheduled_at = LocalDateTimeField(label=_("Other date and time"), required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=AppointmentKind.choices, initial=AppointmentKind.SHOWROOM)

    def clean_slot(self):
        raw = self.cleaned_data.get("slot") or ""
        if not raw:
            return None
        try:
            return LocalDateTimeField().clean(raw)
        except forms.ValidationError:
            raise forms.ValidationError(_("Pick one of the suggested times."))

    def clean(self):
        data = super().clean()
        # A typed time wins over a chip: the chip may have been tapped first by mistake.
        when = data.get("scheduled_at") or data.get("slot")
        if when is None:
            if not self.errors:
                raise forms.ValidationError(_("Pick a time for the appointment."))
            return data
        data["when"] = _not_in_the_past(when)
        return data


class AppointmentMoveForm(forms.Form):
    scheduled_at = LocalDateTimeField(label=_("New date and time"))

    def clean_scheduled_at(self):
        return _not_in_the_past(self.cleaned_data["scheduled_at"])


class AppointmentOutcomeForm(forms.Form):
    showed = forms.TypedChoiceField(choices=[("yes", _("Showed up")), ("no", _("Did not show"))],
                                    coerce=lambda v: v == "yes")


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=CLOSE_OUTCOMES)
    reason = forms.CharField(label=_("Reason or remark"), required=False, max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))


class ScoreForm(forms.Form):
    budget = forms.IntegerField(label=_("Budget"), min_value=0, max_value=25)
    authority = forms.IntegerField(label=_("Authority (decision-maker)"), min_value=0, max_value=25)
    need = forms.IntegerField(label=_("Need"), min_value=0, max_value=25)
    timeline = forms.IntegerField(label=_("Timeline"), min_value=0, max_value=25)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError(_("Write something first."))
        return text


class CustomerEmailForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Message"), max_length=10000, widget=forms.Textarea(attrs={"rows": 8}))


class HandoverForm(forms.Form):
    """The BDC hands a lead to a salesperson; `salespeople` is the dealer's own, so no other dealer's user can be picked."""

    salesperson = forms.ModelChoiceField(label=_("Salesperson"), queryset=None, required=False,
                                         empty_label=_("Automatic: the least busy salesperson on duty"))
    note = forms.CharField(label=_("Note for the salesperson"), max_length=2000, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("What the customer said, what was agreed, what to prepare."))

    def __init__(self, *args, salespeople, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["salesperson"].queryset = salespeople
        self.fields["salesperson"].label_from_instance = lambda user: user.display_name
