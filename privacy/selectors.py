"""Reads for the privacy pages: finding a person among a dealer's customers."""

from django.db.models import Count, Max, Q, QuerySet

from dealers.models import Dealer
from leads.models import Customer
from leads.quality import assess_contact

SEARCH_LIMIT = 50


def customer_search(*, dealer: Dealer, query: str) -> QuerySet[Customer]:
    """The dealer's customers whose name, e-mail or phone matches, with their number of leads; erased ones are left out."""
    query = " ".join(query.split())[:200]
    if not query:
        return Customer.objects.none()
    match = Q(email__icontains=query) | Q(phone_raw__icontains=query)
    phone = assess_contact(email=None, phone=query, first_name=None, last_name=None, region=dealer.country).phone_e164
    if phone:
        match |= Q(phone=phone)
    name = Q()
    for word in query.split():  # every word in the first or last name: "jan vries" finds Jan de Vries
        name &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    match |= name
    return (Customer.objects.for_dealer(dealer).filter(match, erased_at__isnull=True)
            .annotate(lead_count=Count("leads"), last_lead_at=Max("leads__received_at"))
            .order_by("last_name", "first_name", "pk")[:SEARCH_LIMIT])


def customer_queryset(*, dealer: Dealer) -> QuerySet[Customer]:
    return Customer.objects.for_dealer(dealer)
