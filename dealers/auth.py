"""Portal authentication (Api-Key header) and per-key throttling."""

import functools
import logging
import time

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling

from .hours import schedule_rows_json_sql
from .models import ApiKey, Dealer, FollowUpPolicy, hash_api_key
from .rows import execute_prepared, instance_from_row

logger = logging.getLogger(__name__)


_JOINED = ((ApiKey, "k"), (Dealer, "d"), (FollowUpPolicy, "p"))


@functools.cache
def _api_key_sql(vendor: str) -> str:
    columns = ", ".join(f'{alias}."{f.column}"' for model, alias in _JOINED for f in model._meta.concrete_fields)
    if vendor == "postgresql":  # the dealer's opening schedule as a last column (JSON), for routing
        columns += f", {schedule_rows_json_sql('k.dealer_id')}"
    return (f"SELECT {columns} FROM {ApiKey._meta.db_table} k JOIN {Dealer._meta.db_table} d ON d.id = k.dealer_id "
            f"LEFT JOIN {FollowUpPolicy._meta.db_table} p ON p.dealer_id = k.dealer_id "
            "WHERE k.key_hash = %s AND k.revoked_at IS NULL LIMIT 1")


def api_key_active(*, key_hash: str) -> ApiKey | None:
    """The active key with this hash, its dealer and the dealer's follow-up policy (which routing reads), in one
    statement. The same rows as `ApiKey.objects.unscoped().active().filter(key_hash=...)
    .select_related("dealer__followup_policy")` (unscoped: the key is what names the dealer), written out because
    building that queryset cost ~3.9 M instructions on every portal request for a statement PostgreSQL answers at once.
    On PostgreSQL the dealer's opening schedule comes with it (`Dealer.schedule_rows`), for routing a lead: a statement
    of its own was a round trip on every lead, where two small subqueries cost a read-back next to nothing."""
    alias = router.db_for_read(ApiKey)
    vendor = connections[alias].vendor
    with connections[alias].cursor() as cursor:
        execute_prepared(cursor, _api_key_sql(vendor), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for model, _alias in _JOINED:
        width = len(model._meta.concrete_fields)
        values, start = row[start:start + width], start + width
        instances.append(instance_from_row(model, alias, values) if values[0] is not None else None)
    api_key, dealer, policy = instances
    if vendor == "postgresql":
        dealer.schedule_rows = row[-1] or []  # the last column, after the three models' own
    ApiKey._meta.get_field("dealer").set_cached_value(api_key, dealer)
    Dealer.followup_policy.related.set_cached_value(dealer, policy)  # None: none yet (policy_get creates it)
    if policy is not None:
        FollowUpPolicy._meta.get_field("dealer").set_cached_value(policy, dealer)
    return api_key


class PortalClient(AnonymousUser):
    """The request.user of a portal request: not a person, but authenticated by its key."""

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    @property
    def is_authenticated(self):
        return True

    def __str__(self):
        return f"portal:{self.api_key.source}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _sep, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed(_("No API key given."))
        api_key = api_key_active(key_hash=hash_api_key(raw_key))
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        api_key.touch()
        return PortalClient(api_key), api_key

    def authenticate_header(self, request):
        return self.keyword


class HasApiKey(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


def _counter_bump(key: str, *, timeout: int) -> int:
    """Add one to a counter in the cache and return it. On our Redis cache one round trip
    (`config.cache.ReusedClientRedisCache.incr_with_expiry`): Django's `cache.incr` asks EXISTS first, so the throttle
    cost every lead two round trips, three at a window's start."""
    if hasattr(cache, "incr_with_expiry"):
        return cache.incr_with_expiry(key, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # the first request of this window
        return 1 if cache.add(key, 1, timeout=timeout) else cache.incr(key)


class ApiKeyRateThrottle(throttling.BaseThrottle):
    """A fixed budget per key and clock minute (the key's own rate, default 1,200), kept as a counter in the cache.

    A counter per minute costs the same at any rate; a sliding log of timestamps (DRF's SimpleRateThrottle) would
    read and rewrite up to 1,200 of them on every request of a busy portal. If the cache is down, leads are let in:
    a throttle must never be the reason a lead is lost.
    """

    window_seconds = 60

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        now = time.time()
        window = int(now // self.window_seconds)
        key = f"throttle:apikey:{request.auth.pk}:{window}"
        self._retry_after = (window + 1) * self.window_seconds - now
        try:
            count = _counter_bump(key, timeout=self.window_seconds * 2)
        except Exception as exc:
            logger.warning("Throttle counter unavailable (%s); letting the request in", exc)
            return True
        return count <= request.auth.rate_per_minute

    def wait(self) -> float:
        return max(1.0, self._retry_after)
