"""Reads for working leads: who sees which leads, most urgent first."""

from django.db.models import F, Prefetch, QuerySet

from dealers.access import DealerAccess
from dealers.models import Role
from leads.models import Kind, Lead, LeadEvent, Queue


def lead_list(*, access: DealerAccess, include_closed: bool = False) -> QuerySet[Lead]:
    """The leads this person may see in this dealer: a salesperson their own, a BDC agent the BDC queue, a manager all.

    Most urgent first: the earliest deadline (overdue ones are the earliest), then the BANT score, then arrival.
    """
    qs = Lead.objects.for_dealer(access.dealer)
    if not include_closed:
        qs = qs.filter(closed_at__isnull=True)
    if access.role == Role.SALESPERSON:
        qs = qs.filter(assignee=access.user)
    elif access.role == Role.BDC_AGENT:
        qs = qs.filter(queue=Queue.BDC)
        if access.via_bdc_company:  # an outsourced BDC sees the dealer's passive leads and nothing else
            qs = qs.filter(kind=Kind.PASSIVE)
    return qs.select_related("customer", "assignee").order_by(F("deadline_at").asc(nulls_last=True), "-score", "received_at")


def lead_detail_queryset(*, access: DealerAccess) -> QuerySet[Lead]:
    """One lead with everything its page or API detail shows, without N+1 queries."""
    return lead_list(access=access, include_closed=True).prefetch_related(
        Prefetch("events", queryset=LeadEvent.objects.for_access(access).select_related("actor").order_by("at", "pk")),
        "attempts__user", "appointments", "escalations",
    )
