"""A dealer's retention periods under the AVG/GDPR. The personal data itself lives in the other apps' tables."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from dealers.models import Dealer
from dealers.tenancy import TenantManager

MAX_RAW_RETENTION_DAYS = 3650
MAX_INACTIVE_MONTHS = 120


class PrivacySettings(models.Model):
    """How long a dealer keeps raw submissions, and after how long without activity a lead is anonymised."""

    dealer = models.OneToOneField(Dealer, on_delete=models.CASCADE, related_name="privacy_settings")
    raw_retention_days = models.PositiveIntegerField(
        _("keep raw submissions (days)"), default=90,
        help_text=_("Posted payloads, ADF documents, e-mails and call-tracking payloads are removed after this; "
                    "the lead itself stays."))
    inactive_lead_months = models.PositiveIntegerField(
        _("anonymise leads without activity after (months)"), default=24,
        help_text=_("A lead with no activity for this long loses what identifies the person; the figures stay."))
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("privacy settings")
        verbose_name_plural = _("privacy settings")
        constraints = [
            models.CheckConstraint(condition=models.Q(raw_retention_days__gte=1, inactive_lead_months__gte=1),
                                   name="privacy_periods_positive"),
        ]

    def __str__(self):
        return str(self.dealer)

    def clean(self):
        # The one place these rules live: the settings page and the API both save through full_clean().
        errors = {}
        if not 1 <= (self.raw_retention_days or 0) <= MAX_RAW_RETENTION_DAYS:
            errors["raw_retention_days"] = _("Choose between 1 and %(max)s days.") % {"max": MAX_RAW_RETENTION_DAYS}
        if not 1 <= (self.inactive_lead_months or 0) <= MAX_INACTIVE_MONTHS:
            errors["inactive_lead_months"] = _("Choose between 1 and %(max)s months.") % {"max": MAX_INACTIVE_MONTHS}
        if not errors and self.inactive_lead_months * 31 < self.raw_retention_days:
            errors["inactive_lead_months"] = _("Leads are anonymised only after their raw submissions are gone: "
                                               "choose at least as long as the raw-submission period.")
        if errors:
            raise ValidationError(errors)
