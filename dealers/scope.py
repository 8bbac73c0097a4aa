"""The dealer scope: which dealer a request works in, and as what. Resolved once per request."""

from dataclasses import dataclass

from django.http import Http404

from .models import BdcCompany, Dealer, DealerGroup, Membership, Role

MANAGING_ROLES = frozenset({Role.MANAGER, Role.GROUP_ADMIN})


@dataclass(frozen=True)
class DealerAccess:
    """What one user may do in one dealer."""

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


def dealer_accesses(user) -> list[DealerAccess]:
    """Every dealer the user may work in, first their own memberships, then group and BDC-company access."""
    if not user.is_authenticated:
        return []
    accesses: dict[int, DealerAccess] = {}
    for m in Membership.objects.filter(user=user, is_active=True).select_related("dealer").order_by("dealer__name"):
        accesses[m.dealer_id] = DealerAccess(dealer=m.dealer, user=user, role=m.role)
    for dealer in Dealer.objects.filter(group__in=DealerGroup.objects.filter(admins=user)).order_by("name"):
        accesses.setdefault(dealer.pk, DealerAccess(dealer=dealer, user=user, role=Role.GROUP_ADMIN))
    for dealer in Dealer.objects.filter(bdc_companies__in=BdcCompany.objects.filter(agents=user)).distinct().order_by("name"):
        accesses.setdefault(dealer.pk, DealerAccess(dealer=dealer, user=user, role=Role.BDC_AGENT, via_bdc_company=True))
    return list(accesses.values())


def resolve_dealer_access(user, slug: str | None = None, *, accesses: list[DealerAccess] | None = None) -> DealerAccess:
    """The access for the named dealer (or the user's first). A dealer the user has no access to is a 404."""
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


class ScopedQuerysetMixin:
    """Applies the scope's filters to every queryset; subclasses add filters in `get_scoped_queryset`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must implement get_scoped_queryset(), not get_queryset(): "
                            "the dealer filter may not be dropped.")

    def get_scoped_queryset(self):
        raise NotImplementedError

    def scope_filters(self) -> dict:
        raise NotImplementedError

    def get_queryset(self):
        return self.get_scoped_queryset().filter(**self.scope_filters())
