"""Reads for leads."""

from .models import Lead


def lead_readback_queryset():
    """A portal's view of its leads; the caller's scope adds the dealer and source filter."""
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return Lead.objects.select_related("dealer", "assignee").prefetch_related("escalations")
