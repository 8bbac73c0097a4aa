"""A dealer scope that fails closed.

Every tenant model's `objects` refuses to query until it is told whose rows it reads:

    Lead.objects.for_dealer(dealer)        # one dealer's rows
    Lead.objects.for_dealers(dealer_ids)   # a group's rooftops (reports)
    Lead.objects.for_access(access)        # the dealer of a resolved access (dealers/access.py)
    Lead.objects.unscoped()                # system work across dealers: sweeps, imports, tasks, admin tooling

`unscoped()` is the one escape, named so that `grep -rn "unscoped()"` lists every place that sees all dealers.
Writes that carry their dealer (`create`, `bulk_create`) need no scope; nor do related managers
(`lead.events.all()`), which are scoped by the row they hang off. Raw SQL takes the dealer as a parameter.
"""

from django.db import models


class ScopeRequired(RuntimeError):
    """A tenant model was queried without saying for which dealer(s)."""


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    def get_queryset(self):
        if getattr(self, "instance", None) is not None:  # a related manager: filtered by its parent row
            return super().get_queryset()
        raise ScopeRequired(
            f"{self.model.__name__}.objects needs a scope: for_dealer(), for_dealers(), for_access(), or unscoped() "
            "for system work.")

    def unscoped(self) -> TenantQuerySet:
        """Every dealer's rows. Only for system work (sweeps, imports, tasks, admin tooling, migrations)."""
        return super().get_queryset()

    def for_dealer(self, dealer) -> TenantQuerySet:
        dealer_id = getattr(dealer, "pk", dealer)
        if dealer_id is None:
            raise ScopeRequired(f"{self.model.__name__}.objects.for_dealer() needs a dealer.")
        return self.unscoped().filter(dealer_id=dealer_id)

    def for_dealers(self, dealers) -> TenantQuerySet:
        return self.unscoped().filter(dealer_id__in=[getattr(d, "pk", d) for d in dealers])

    def for_access(self, access) -> TenantQuerySet:
        return self.for_dealer(access.dealer)

    def none(self) -> TenantQuerySet:
        return self.unscoped().none()  # reads nothing, so it needs no scope (schema generation, empty choices)

    # Writes carry their dealer: no scope to name.
    def create(self, **kwargs):
        return self.unscoped().create(**kwargs)

    def bulk_create(self, objs, *args, **kwargs):
        return self.unscoped().bulk_create(objs, *args, **kwargs)


class ScopedQuerysetMixin:
    """For views: the resolved scope's filters apply to every queryset; subclasses add theirs in
    `get_scoped_queryset` and cannot drop the dealer filter."""

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
