"""Routing keeps its state on the dealer and the memberships; the BDC's call scripts and the round-robin's running
count of open leads live here."""

from django.conf import settings
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


class OpenLeadCount(models.Model):
    """Open leads per (dealer, person), for the round-robin: kept by PostgreSQL triggers on the leads (migration 0002)
    as rows of changes, +1 when a person gets an open lead and -1 when it leaves them (closed, moved, deleted). Their
    sum is the person's open leads. The round-robin reads a few rows instead of counting every open lead while it
    holds the dealer's lock, and folds them into one row a person once they pile up (`open_lead_counts_fold`).

    Rows are only inserted, never updated, so no writer waits for another's count: a statement that closes or moves
    leads of several people cannot deadlock on them. No foreign-key constraints: a trigger writes these rows while a
    dealer or a person is deleted, and their counts then sum to zero. Not kept on SQLite (the quick start), where the
    round-robin counts the leads."""

    dealer = models.ForeignKey(Dealer, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                               db_index=False)  # served by the index below
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+", db_index=False)
    open_leads = models.IntegerField()

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["dealer", "user"], include=["open_leads"], name="open_lead_count_dealer_user")]

    def __str__(self):
        return f"{self.user_id}: {self.open_leads:+d}"
