"""Writes for the AVG/GDPR: export, erase, retention, and the dealer's retention settings.

Each works through `privacy.holders.HOLDERS`, so a model that starts holding personal data is one entry there.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from dealers.models import Dealer
from dealers.services import audit_record
from leads.models import Customer, Lead, LeadEvent

from .holders import HOLDERS, Subject
from .models import PrivacySettings

logger = logging.getLogger(__name__)
RETENTION_BATCH = 200
DAYS_PER_MONTH = 30.44


def privacy_settings_get(*, dealer: Dealer) -> PrivacySettings:
    settings_row, _created = PrivacySettings.objects.for_dealer(dealer).get_or_create(dealer=dealer)
    return settings_row


@transaction.atomic
def privacy_settings_update(*, dealer: Dealer, by, changes: dict) -> PrivacySettings:
    """Change the retention periods; the model's clean() decides what is allowed. Changes go on the audit trail."""
    row = privacy_settings_get(dealer=dealer)
    row = PrivacySettings.objects.for_dealer(dealer).select_for_update().get(pk=row.pk)
    diff = {name: [getattr(row, name), value] for name, value in changes.items() if getattr(row, name) != value}
    for name, (_old, new) in diff.items():
        setattr(row, name, new)
    row.full_clean(exclude=["dealer"])
    if diff:
        row.save()
        audit_record(dealer=dealer, actor=by, action="privacy.settings_updated", target="privacy", changes=diff)
    return row


def _subject(*, dealer: Dealer, customer: Customer) -> Subject:
    lead_ids = list(Lead.objects.for_dealer(dealer).filter(customer=customer).values_list("pk", flat=True))
    return Subject(dealer=dealer, customers=[customer], lead_ids=lead_ids)


def customer_export(*, dealer: Dealer, customer: Customer, by) -> dict:
    """Everything this dealer holds about the person, one section per holder. The export is on the audit trail."""
    subject = _subject(dealer=dealer, customer=customer)
    data = {"dealer": dealer.name, "exported_at": timezone.now().isoformat()}
    for holder in HOLDERS:
        if holder.export is not None:
            data[holder.name] = holder.export(subject)
    audit_record(dealer=dealer, actor=by, action="customer.exported", target=f"customer {customer.pk}")
    return data


def _erase(subject: Subject) -> dict[str, int]:
    return {holder.name: holder.erase(subject) for holder in HOLDERS if holder.erase is not None}


@transaction.atomic
def customer_erase(*, dealer: Dealer, customer: Customer, by) -> Customer:
    """Remove the person's data everywhere; every row the figures count stays, anonymous. Who and when is audited,
    not what."""
    customer = Customer.objects.for_dealer(dealer).select_for_update().get(pk=customer.pk)  # one erasure at a time
    _erase(_subject(dealer=dealer, customer=customer))
    audit_record(dealer=dealer, actor=by, action="customer.erased", target=f"customer {customer.pk}")
    customer.refresh_from_db()
    return customer


# ------------------------------------------------------------------------------------------------ retention

def _last_activity(dealer: Dealer):
    """A lead's latest sign of life: arrival, an attempt, closing, or any timeline entry (a repeat enquiry too)."""
    last_event = (LeadEvent.objects.for_dealer(dealer).filter(lead=OuterRef("pk"))  # the index's order
                  .order_by().values("lead").annotate(at=Max("at")).values("at"))
    return Greatest(F("received_at"), F("created_at"), Coalesce(F("last_attempt_at"), F("received_at")),
                    Coalesce(F("closed_at"), F("received_at")), Coalesce(Subquery(last_event), F("received_at")))


def raw_purge(*, dealer: Dealer, before: dt.datetime) -> dict[str, int]:
    """Drop raw submissions (payloads, documents, mails, call payloads) received before `before`."""
    with transaction.atomic():
        return {h.name: h.purge_raw(dealer, before) for h in HOLDERS if h.purge_raw is not None}


def _inactive_leads(*, dealer: Dealer, before: dt.datetime):
    # Activity is never before arrival, so only leads that arrived before `before` are looked at (an index range).
    return (Lead.objects.for_dealer(dealer).filter(anonymised_at__isnull=True, received_at__lt=before)
            .annotate(last_activity=_last_activity(dealer)).filter(last_activity__lt=before))


def inactive_leads_anonymise(*, dealer: Dealer, before: dt.datetime) -> tuple[int, int]:
    """Anonymise leads without activity since `before`; a customer whose every lead is anonymised is erased.

    Returns (leads anonymised, customers erased). Batches keep each transaction short.
    """
    ids = list(_inactive_leads(dealer=dealer, before=before).values_list("pk", flat=True))
    leads_done = customers_done = 0
    for start in range(0, len(ids), RETENTION_BATCH):
        with transaction.atomic():
            # Re-checked under the leads' row locks: an attempt logged since the scan keeps its lead as it is.
            batch = list(_inactive_leads(dealer=dealer, before=before).filter(pk__in=ids[start:start + RETENTION_BATCH])
                         .select_for_update(of=("self",)).values_list("pk", flat=True))
            _erase(Subject(dealer=dealer, lead_ids=batch))
        leads_done += len(batch)
    leads = Lead.objects.for_dealer(dealer).filter(customer=OuterRef("pk"))
    done = Customer.objects.for_dealer(dealer).filter(Exists(leads), ~Exists(leads.filter(anonymised_at__isnull=True)),
                                                      erased_at__isnull=True)
    customer_ids = list(done.values_list("pk", flat=True))
    for start in range(0, len(customer_ids), RETENTION_BATCH):
        with transaction.atomic():
            # Still all anonymous, under the customers' row locks?
            customers = list(done.filter(pk__in=customer_ids[start:start + RETENTION_BATCH]).select_for_update(of=("self",)))
            _erase(Subject(dealer=dealer, customers=customers))
        customers_done += len(customers)
    return leads_done, customers_done


def retention_run(*, now: dt.datetime | None = None, dealers=None) -> list[dict]:
    """The daily pass: per dealer, purge old raw submissions and anonymise inactive leads. Safe to run twice."""
    now = now or timezone.now()
    report = []
    for dealer in dealers if dealers is not None else Dealer.objects.order_by("pk"):  # system work: every dealer
        row = privacy_settings_get(dealer=dealer)
        purged = raw_purge(dealer=dealer, before=now - dt.timedelta(days=row.raw_retention_days))
        leads_done, customers_done = inactive_leads_anonymise(
            dealer=dealer, before=now - dt.timedelta(days=round(row.inactive_lead_months * DAYS_PER_MONTH)))
        result = {"dealer": dealer.slug, "raw": purged, "leads_anonymised": leads_done, "customers_erased": customers_done}
        if any(purged.values()) or leads_done or customers_done:
            # Counts only: what was removed is not kept anywhere, the audit trail included.
            audit_record(dealer=dealer, actor=None, action="privacy.retention", target="retention",
                         changes={"raw_removed": sum(purged.values()), "leads_anonymised": leads_done,
                                  "customers_erased": customers_done})
        report.append(result)
    return report
