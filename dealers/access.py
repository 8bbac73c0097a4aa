"""The one access decision: who is asking, for which dealer(s), in which role.

Every way in resolves its caller here, once, and hands the result down: pages (`page_access`), the team API
(`resolve_dealer_access`), portal keys and webhooks (`MachineAccess`), reports (`group_dealers`), the admin
(`managed_dealer_ids`). Celery tasks and management commands work across dealers and say so with `unscoped()`
(dealers/tenancy.py) or name the one dealer they act for.

A group admin is a person with an active group-admin membership at any rooftop of the group: that one row is the
truth, and it gives them every rooftop of that group.
"""

from dataclasses import dataclass

from django.http import Http404

from .models import BdcCompany, Dealer, Membership, Role

MANAGING_ROLES = frozenset({Role.MANAGER, Role.GROUP_ADMIN})
SESSION_DEALER_KEY = "dealer_slug"


@dataclass(frozen=True)
class DealerAccess:
    """What one person may do in one dealer."""

    dealer: Dealer
    user: object
    role: str
    via_bdc_company: bool = False

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGING_ROLES

    @property
    def is_salesperson(self) -> bool:
        return self.role == Role.SALESPERSON

    @property
    def is_bdc_agent(self) -> bool:
        return self.role == Role.BDC_AGENT

    @property
    def is_group_admin(self) -> bool:
        return self.role == Role.GROUP_ADMIN


@dataclass(frozen=True)
class MachineAccess:
    """A portal key or a webhook endpoint: one dealer, one named source, no person."""

    dealer: Dealer
    source: str


def administered_group_ids(user) -> set[int]:
    """The groups this person administers (an active group-admin membership at any of their rooftops)."""
    if user is None or not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user=user, role=Role.GROUP_ADMIN, is_active=True)
               .values_list("dealer__group_id", flat=True))


def is_group_admin(*, user, group_id: int) -> bool:
    return group_id in administered_group_ids(user)


def dealer_accesses(user) -> list[DealerAccess]:
    """Every dealer the person may work in: their own memberships first, then the rooftops of the groups they
    administer, then the dealers whose passive queues their BDC company works."""
    if user is None or not user.is_authenticated:
        return []
    accesses: dict[int, DealerAccess] = {}
    groups = set()
    for m in Membership.objects.filter(user=user, is_active=True).select_related("dealer").order_by("dealer__name"):
        accesses[m.dealer_id] = DealerAccess(dealer=m.dealer, user=user, role=m.role)
        if m.role == Role.GROUP_ADMIN:
            groups.add(m.dealer.group_id)
    if groups:
        for dealer in Dealer.objects.filter(group_id__in=groups).order_by("name"):
            accesses.setdefault(dealer.pk, DealerAccess(dealer=dealer, user=user, role=Role.GROUP_ADMIN))
    for dealer in Dealer.objects.filter(bdc_companies__in=BdcCompany.objects.filter(agents=user)).distinct().order_by("name"):
        accesses.setdefault(dealer.pk, DealerAccess(dealer=dealer, user=user, role=Role.BDC_AGENT, via_bdc_company=True))
    return list(accesses.values())


def resolve_dealer_access(user, slug: str | None = None, *, accesses: list[DealerAccess] | None = None) -> DealerAccess:
    """The access for the named dealer (or the person's first). A dealer they have no access to is a 404."""
    if accesses is None:
        accesses = dealer_accesses(user)
    if not accesses:
        raise Http404("No dealer")
    if not slug:
        return accesses[0]
    for access in accesses:
        if access.dealer.slug == slug:
            return access
    raise Http404("No such dealer")


def page_access(request) -> DealerAccess:
    """A page's dealer: `?dealer=` for this request only, else the one the person switched to, else their first.

    Reading a query string never changes the session: switching dealer is the explicit act of `dealer_switch`.
    """
    accesses = dealer_accesses(request.user)
    request.dealer_accesses_list = accesses  # the menu's dealer switch reuses it
    slug = request.GET.get("dealer")
    if slug is not None:
        access = resolve_dealer_access(request.user, slug, accesses=accesses)
    else:
        try:
            access = resolve_dealer_access(request.user, request.session.get(SESSION_DEALER_KEY), accesses=accesses)
        except Http404:
            access = resolve_dealer_access(request.user, accesses=accesses)  # a stale choice falls back to the first
    request.dealer_access = access
    return access


def dealer_switch(request, slug: str | None) -> DealerAccess:
    """Make another dealer the current one for this person's session (404 if they have no access to it)."""
    access = resolve_dealer_access(request.user, slug)
    request.session[SESSION_DEALER_KEY] = access.dealer.slug
    return access


def group_dealers(*, access: DealerAccess) -> list[Dealer] | None:
    """Every rooftop of the current dealer's group when the person administers that group; otherwise None."""
    if not is_group_admin(user=access.user, group_id=access.dealer.group_id):
        return None
    return list(Dealer.objects.filter(group_id=access.dealer.group_id).select_related("group").order_by("name"))


def managed_dealer_ids(user) -> list[int]:
    """The dealers a person may administer (the admin site): as manager, or every rooftop of a group they administer."""
    if user is None or not user.is_active:
        return []
    return sorted(a.dealer.pk for a in dealer_accesses(user) if a.can_manage)
