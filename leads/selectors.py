"""Reads for leads."""

from django.db.models import Exists, OuterRef, Q

from .models import InboundMail, Lead, Mailbox


def lead_readback_queryset(*, api_key):
    """A portal's view of its leads: its source's, and those of the mails this key delivered (whose source is the
    portal the mail came from). The caller's scope adds the dealer filter."""
    delivered = InboundMail.leads.through.objects.filter(lead_id=OuterRef("pk"), inboundmail__api_key=api_key)
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return (Lead.objects.filter(Q(source=api_key.source) | Q(Exists(delivered)))
            .select_related("dealer", "customer", "assignee").prefetch_related("escalations"))


def mailboxes_failing_count() -> int:
    """Active mailboxes whose last read failed, over every dealer (system work: /healthz)."""
    return Mailbox.objects.filter(is_active=True, consecutive_failures__gt=0).count()


def mailboxes_failing(*, dealers) -> list[Mailbox]:
    """These dealers' active mailboxes whose last read failed (the manager's dashboard warns about them)."""
    return list(Mailbox.objects.filter(dealer__in=dealers, is_active=True, consecutive_failures__gt=0)
                .select_related("dealer").order_by("dealer__name", "pk"))


def mails_recent(*, dealer, limit: int = 50) -> list[InboundMail]:
    """The dealer's newest mails (mailbox and API) with the leads they became; the raw bytes stay in the database."""
    return list(InboundMail.objects.filter(dealer=dealer).defer("raw").order_by("-received_at", "-pk")
                .prefetch_related("leads__assignee")[:limit])
