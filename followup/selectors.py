"""Reads for working leads: the visible leads most urgent first, and one lead with everything its page shows."""

from django.db.models import F, Prefetch, QuerySet

from dealers.access import DealerAccess
from leads.models import Lead, LeadEvent
from leads.selectors import leads_visible, leads_workable


def lead_list(*, access: DealerAccess, include_closed: bool = False) -> QuerySet[Lead]:
    """The leads this person may see (leads.selectors.leads_visible), most urgent first: the earliest deadline (overdue
    ones are the earliest), then the BANT score, then arrival."""
    qs = leads_visible(access=access)
    if not include_closed:
        qs = qs.filter(closed_at__isnull=True)
    return qs.select_related("customer", "assignee").order_by(F("deadline_at").asc(nulls_last=True), "-score", "received_at")


def lead_detail_queryset(*, access: DealerAccess) -> QuerySet[Lead]:
    """A lead this person may open and act on, with everything its page or API detail shows, without N+1 queries."""
    return leads_workable(access=access).select_related("customer", "assignee").prefetch_related(
        Prefetch("events", queryset=LeadEvent.objects.for_access(access).select_related("actor").order_by("at", "pk")),
        "attempts__user", "appointments", "escalations",
    )
