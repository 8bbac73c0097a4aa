"""Reads for working leads: who sees which leads, most urgent first."""

from django.db.models import BooleanField, ExpressionWrapper, F, Prefetch, Q, QuerySet, Value

from dealers.access import DealerAccess
from dealers.models import Role
from leads.models import ContactKind, Customer, CustomerContact, Kind, Lead, LeadEvent, Queue


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
    # A lead shows its own contact details: lists need no customer join.
    return qs.select_related("assignee").order_by(F("deadline_at").asc(nulls_last=True), "-score", "received_at")


def lead_detail_queryset(*, access: DealerAccess) -> QuerySet[Lead]:
    """One lead with everything its page or API detail shows, without N+1 queries."""
    return lead_list(access=access, include_closed=True).select_related("customer").prefetch_related(
        Prefetch("events", queryset=LeadEvent.objects.for_access(access).select_related("actor").order_by("at", "pk")),
        "attempts__user", "appointments", "escalations",
    )


def customer_leads_elsewhere(*, dealer_ids: list[int], emails: set[str], phones: set[str],
                             openable: list[tuple[int, Q]], limit: int = 20) -> list[Lead]:
    """Leads at these (other) rooftops whose customer there has one of these e-mail addresses or phone numbers (own
    field or contact point), newest first, in one statement. Each carries `by_email` (matched by an e-mail, so the
    caller need not compare names) and `openable` (one of `openable`'s (dealer id, condition) pairs holds)."""
    if not dealer_ids or (not emails and not phones):
        return []
    customers = Customer.objects.for_dealers(dealer_ids)
    contacts = CustomerContact.objects.for_dealers(dealer_ids)
    by_email = [customers.filter(email__in=emails).values("pk"),
                contacts.filter(kind=ContactKind.EMAIL, value__in=emails).values("customer_id")] if emails else []
    by_phone = [customers.filter(phone__in=phones).values("pk"),
                contacts.filter(kind=ContactKind.PHONE, value__in=phones).values("customer_id")] if phones else []
    # UNIONs of index lookups: the cost follows the matches, not the size of the group.
    matched = by_email + by_phone
    matched_ids = matched[0].union(*matched[1:], all=True)
    email_ids = by_email[0].union(*by_email[1:], all=True) if by_email else None
    can_open = Value(False)
    if openable:
        condition = Q()
        for dealer_id, rule in openable:
            condition |= Q(dealer_id=dealer_id) & rule
        can_open = ExpressionWrapper(condition, output_field=BooleanField())
    return list(Lead.objects.for_dealers(dealer_ids).filter(customer_id__in=matched_ids)
                .annotate(by_email=ExpressionWrapper(Q(customer_id__in=email_ids), output_field=BooleanField())
                          if email_ids is not None else Value(False), openable=can_open)
                .select_related("dealer", "customer").defer("payload", "message", "trade_in", "close_reason")
                .order_by("-received_at")[:limit])
