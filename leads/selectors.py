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


def mail_list(*, dealer, set_aside_only: bool = False):
    """A dealer's kept mails, newest first; `set_aside_only`: those that gave no lead (ignored, or unreadable)."""
    mails = InboundMail.objects.filter(dealer=dealer).defer("raw").order_by("-received_at")
    if set_aside_only:
        mails = mails.filter(leads__isnull=True)
    return mails
