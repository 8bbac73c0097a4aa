"""Forms of the privacy pages: they check the shape of the input; the model's clean() and the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import MAX_INACTIVE_MONTHS, MAX_RAW_RETENTION_DAYS, PrivacySettings


class PrivacySettingsForm(forms.Form):
    raw_retention_days = forms.IntegerField(
        label=PrivacySettings._meta.get_field("raw_retention_days").verbose_name,
        help_text=PrivacySettings._meta.get_field("raw_retention_days").help_text,
        min_value=1, max_value=MAX_RAW_RETENTION_DAYS, widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    inactive_lead_months = forms.IntegerField(
        label=PrivacySettings._meta.get_field("inactive_lead_months").verbose_name,
        help_text=PrivacySettings._meta.get_field("inactive_lead_months").help_text,
        min_value=1, max_value=MAX_INACTIVE_MONTHS, widget=forms.NumberInput(attrs={"inputmode": "numeric"}))


class CustomerSearchForm(forms.Form):
    q = forms.CharField(label=_("Name, e-mail or phone"), max_length=200, required=False)


class EraseConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("I understand that this cannot be undone."), required=True)
