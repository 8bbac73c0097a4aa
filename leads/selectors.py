"""Reads for leads."""

from django.db.models import Exists, OuterRef, Q

from .models import InboundMail, Lead


def lead_readback_queryset(*, api_key):
    """A portal's view of its leads: its source's, and those of the mails this key delivered (whose source is the
    portal the mail came from). The caller's scope adds the dealer filter."""
    delivered = InboundMail.leads.through.objects.filter(lead_id=OuterRef("pk"), inboundmail__api_key=api_key)
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return (Lead.objects.filter(Q(source=api_key.source) | Q(Exists(delivered)))
            .select_related("dealer", "customer", "assignee").prefetch_related("escalations"))
