"""Reads for leads."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import InboundMail, Lead


def lead_readback_queryset(*, access, api_key=None) -> QuerySet[Lead]:
    """A portal's view of its leads: its dealer's leads from its source, and those of the mails this key delivered
    (a mail's lead has the source of the portal the mail came from, not the key's)."""
    mine = Q(source=access.source)
    if api_key is not None:
        mine |= Q(Exists(InboundMail.leads.through.objects.filter(lead_id=OuterRef("pk"), inboundmail__api_key=api_key)))
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return (Lead.objects.for_access(access).filter(mine)
            .select_related("dealer", "customer", "assignee").prefetch_related("escalations"))


def mail_list(*, dealer, set_aside_only: bool = False) -> QuerySet[InboundMail]:
    """A dealer's kept mails, newest first; `set_aside_only`: those that gave no lead (ignored, or unreadable)."""
    mails = InboundMail.objects.for_dealer(dealer).defer("raw").order_by("-received_at")
    if set_aside_only:
        mails = mails.filter(leads__isnull=True)
    return mails
