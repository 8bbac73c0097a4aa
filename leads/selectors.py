"""Reads for leads."""

from django.db.models import QuerySet

from .models import Lead


def lead_readback_queryset(*, access) -> QuerySet[Lead]:
    """A portal's view of its leads: its dealer's leads from its source."""
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return (Lead.objects.for_access(access).filter(source=access.source)
            .select_related("dealer", "customer", "assignee").prefetch_related("escalations"))
