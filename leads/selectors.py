"""Reads for leads, and the one rule of who may see which lead."""

from django.db.models import Count, Q, QuerySet, Window

from dealers.models import Role

from .models import Kind, Lead, Notification, Queue


def leads_visible(*, access) -> QuerySet[Lead]:
    """Who may see which lead in the access's dealer: the one rule, for pages and the team API alike.

    A salesperson sees the leads assigned to them; a BDC agent the leads they claimed plus the unclaimed BDC queue they
    claim from (an outsourced BDC only passive leads); a manager and a group admin every lead of the dealer (a group
    admin reaches the group's other rooftops through their access to each).
    """
    leads = Lead.objects.for_access(access)
    if access.role == Role.SALESPERSON:
        return leads.filter(assignee=access.user)
    if access.role == Role.BDC_AGENT:
        leads = leads.filter(Q(assignee=access.user) | Q(queue=Queue.BDC, assignee__isnull=True))
        if access.via_bdc_company:  # an outsourced BDC works the dealer's passive leads and nothing else
            leads = leads.filter(kind=Kind.PASSIVE)
        return leads
    return leads


def leads_workable(*, access) -> QuerySet[Lead]:
    """The leads this person may open and act on: what they see, less the queue a BDC agent has not claimed yet."""
    leads = leads_visible(access=access)
    return leads.filter(assignee=access.user) if access.role == Role.BDC_AGENT else leads


def lead_readback_queryset(*, access) -> QuerySet[Lead]:
    """A portal's view of its leads: its dealer's leads from its source."""
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return (Lead.objects.for_access(access).filter(source=access.source)
            .select_related("dealer", "customer", "assignee").prefetch_related("escalations"))


def notices_unread(*, access, limit: int = 5) -> tuple[list[Notification], int]:
    """The person's newest unread notices in this dealer and how many there are, in one query (the window count is
    taken before the LIMIT)."""
    unread = Notification.objects.for_access(access).filter(recipient=access.user, read_at__isnull=True)
    latest = list(unread.only("pk", "lead_id", "subject", "created_at").annotate(total=Window(Count("pk")))
                  .order_by("-created_at")[:limit])
    return latest, (latest[0].total if latest else 0)
