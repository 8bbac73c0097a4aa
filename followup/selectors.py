"""Reads for working leads: the visible leads most urgent first, and one lead with everything its page shows."""

import datetime as dt

from django.db.models import BooleanField, Case, ExpressionWrapper, F, IntegerField, Prefetch, Q, QuerySet, Value, When

from dealers.access import DealerAccess
from leads.models import ContactKind, Customer, CustomerContact, EventType, Lead, LeadEvent, due_at_expression
from leads.selectors import leads_visible, leads_workable

from .models import Appointment


def lead_list(*, access: DealerAccess, include_closed: bool = False) -> QuerySet[Lead]:
    """The leads this person may see (leads.selectors.leads_visible), most urgent first: the earliest deadline (overdue
    ones are the earliest), then the BANT score, then arrival."""
    qs = leads_visible(access=access)
    if not include_closed:
        qs = qs.filter(closed_at__isnull=True)
    # A lead shows its own contact details: lists need no customer join.
    return qs.select_related("assignee").order_by(F("deadline_at").asc(nulls_last=True), "-score", "received_at")


def lead_detail_queryset(*, access: DealerAccess) -> QuerySet[Lead]:
    """A lead this person may open and act on, with everything its page or API detail shows, without N+1 queries."""
    return leads_workable(access=access).select_related("customer", "assignee").prefetch_related(
        Prefetch("events", queryset=LeadEvent.objects.for_access(access).select_related("actor").order_by("at", "pk")),
        "attempts__user", "appointments", "escalations",
    )


def inbox_leads(access: DealerAccess, now: dt.datetime):
    """My open leads: a customer still waiting for a first response past its deadline first (speed to lead), then by
    how late each really is (Lead.due_at: a first response still owed counts from the deadline given on arrival,
    whoever holds the lead now), then the BANT score, then arrival."""
    first_response_overdue = Case(When(first_contact_at__isnull=True, first_response_due_at__lte=now, then=Value(0)),
                                  default=Value(1), output_field=IntegerField())
    return (lead_list(access=access).filter(assignee=access.user)
            .annotate(first_response_overdue=first_response_overdue, due_at_sort=due_at_expression())
            .order_by("first_response_overdue", F("due_at_sort").asc(nulls_last=True), "-score", "received_at")
            .select_related(None).select_related("dealer")  # the assignee is me; the reply names the dealer
            .defer("payload", "trade_in", "message", "close_reason", "received_at_raw")  # not on a card; a payload can be large
            .prefetch_related(
                Prefetch("events", to_attr="handovers",
                         queryset=LeadEvent.objects.for_access(access).filter(type=EventType.HANDED_OVER)
                         .select_related("actor").order_by("-at")),
                Prefetch("appointments", to_attr="open_appointments",
                         queryset=Appointment.objects.for_access(access).filter(showed__isnull=True).order_by("scheduled_at"))))


def appointments_of_day(*, access: DealerAccess, day: dt.date) -> QuerySet[Appointment]:
    """The appointments of one day (the dealer's calendar day) of the leads this person may see, in time order."""
    tz = access.dealer.tz
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return (Appointment.objects.for_access(access)
            .filter(lead__in=leads_visible(access=access), scheduled_at__gte=start, scheduled_at__lt=start + dt.timedelta(days=1))
            .select_related("lead__customer", "lead__assignee").order_by("scheduled_at", "pk"))


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
