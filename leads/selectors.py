"""Reads for leads, and the one rule of who may see which lead."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Window

from dealers.models import Role

from .models import ContactKind, Customer, CustomerContact, InboundMail, Kind, Lead, Mailbox, Notification, Queue


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


def lead_readback_queryset(*, access, api_key=None) -> QuerySet[Lead]:
    """A portal's view of its leads: its dealer's leads from its source, and those of the mails this key delivered
    (a mail's lead has the source of the portal the mail came from, not the key's)."""
    mine = Q(source=access.source)
    if api_key is not None:
        mine |= Q(Exists(InboundMail.leads.through.objects.filter(lead_id=OuterRef("pk"), inboundmail__api_key=api_key)))
    # "escalations" is follow-up's reverse relation, ordered by its Meta; named by string so leads imports nothing above it.
    return (Lead.objects.for_access(access).filter(mine)
            .select_related("dealer", "assignee").prefetch_related("escalations"))


def mail_list(*, dealer, set_aside_only: bool = False) -> QuerySet[InboundMail]:
    """A dealer's kept mails, newest first; `set_aside_only`: those that gave no lead (ignored, or unreadable)."""
    mails = InboundMail.objects.for_dealer(dealer).defer("raw").order_by("-received_at")
    if set_aside_only:
        mails = mails.filter(leads__isnull=True)
    return mails


def notices_unread(*, access, limit: int = 5) -> tuple[list[Notification], int]:
    """The person's newest unread notices in this dealer and how many there are, in one query (the window count is
    taken before the LIMIT)."""
    unread = Notification.objects.for_access(access).filter(recipient=access.user, read_at__isnull=True)
    latest = list(unread.only("pk", "lead_id", "subject", "created_at").annotate(total=Window(Count("pk")))
                  .order_by("-created_at")[:limit])
    return latest, (latest[0].total if latest else 0)


def customer_contact_points(*, customer: Customer) -> list[CustomerContact]:
    """The further addresses and numbers known for a customer, most recently seen first."""
    return list(customer.contacts.select_related("lead").order_by("-last_seen_at", "pk"))


def customer_merge_candidates(*, customer: Customer, points: list[CustomerContact], query: str = "",
                              limit: int = 20) -> list[Customer]:
    """Customers of the same dealer a manager may merge this one with: those that share an e-mail address or phone
    number with it (own field or contact point), or, with `query`, those whose name, e-mail or phone contains it."""
    customers = Customer.objects.for_dealer(customer.dealer_id).exclude(pk=customer.pk)
    query = " ".join(query.split())[:100]
    if query:
        found = customers.filter(Q(first_name__icontains=query) | Q(last_name__icontains=query)
                                 | Q(email__icontains=query) | Q(phone__icontains=query) | Q(phone_raw__icontains=query))
    else:
        emails = {v for v in [customer.email, *(p.value for p in points if p.kind == ContactKind.EMAIL)] if v}
        phones = {v for v in [customer.phone, *(p.value for p in points if p.kind == ContactKind.PHONE)] if v}
        contacts = CustomerContact.objects.for_dealer(customer.dealer_id)
        shared = [customers.filter(email__in=emails).values("pk"),
                  contacts.filter(kind=ContactKind.EMAIL, value__in=emails).values("customer_id"),
                  customers.filter(phone__in=phones).values("pk"),
                  contacts.filter(kind=ContactKind.PHONE, value__in=phones).values("customer_id")]
        found = customers.filter(pk__in=shared[0].union(*shared[1:], all=True)) if emails or phones else customers.none()
    return list(found.annotate(lead_count=Count("leads")).order_by("last_name", "first_name", "pk")[:limit])


def mailboxes_failing_count() -> int:
    """Active mailboxes whose last read failed, over every dealer (system work: /healthz)."""
    return Mailbox.objects.unscoped().filter(is_active=True, consecutive_failures__gt=0).count()


def mailboxes_failing(*, dealers) -> list[Mailbox]:
    """These dealers' active mailboxes whose last read failed (the manager's dashboard warns about them)."""
    return list(Mailbox.objects.for_dealers(dealers).filter(is_active=True, consecutive_failures__gt=0)
                .select_related("dealer").order_by("dealer__name", "pk"))


def mails_recent(*, dealer, limit: int = 50) -> list[InboundMail]:
    """The dealer's newest mails (mailbox and API) with the leads they became; the raw bytes stay in the database."""
    return list(mail_list(dealer=dealer).prefetch_related("leads__assignee")[:limit])


def mailbox_reply_address(*, dealer) -> str:
    """The address of the dealer's connected mailbox (read by Opvolger), so a customer's answer comes back through the
    intake onto its lead; empty when the dealer has none."""
    usernames = Mailbox.objects.for_dealer(dealer).filter(is_active=True, username__contains="@").values_list(
        "username", flat=True)
    return next(iter(usernames.order_by("pk")[:1]), "")
