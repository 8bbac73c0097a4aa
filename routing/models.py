"""Routing keeps its state on the dealer and the memberships; the BDC's call scripts live here."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from dealers.models import Dealer
from dealers.tenancy import TenantManager
from leads.models import Reason


class CallScript(models.Model):
    """What a BDC agent says for a passive lead of one reason; editable by the manager."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="call_scripts")
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    body = models.TextField(_("script"))
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("call script")
        verbose_name_plural = _("call scripts")
        constraints = [models.UniqueConstraint(fields=["dealer", "reason"], name="callscript_one_per_reason")]

    def __str__(self):
        return self.get_reason_display()
