"""Portal authentication (Api-Key header) and per-key throttling."""

import logging
import time

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling

from .models import ApiKey, hash_api_key

logger = logging.getLogger(__name__)


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
        api_key = (
            ApiKey.objects.unscoped().active().filter(key_hash=hash_api_key(raw_key))
            # The dealer with its follow-up policy, which routing reads: one join, not another query. Opening hours
            # are left to routing, the only reader: a prefetch here would cost every request, read-backs too.
            .select_related("dealer__followup_policy").first()
        )
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
    """Add one to a counter in the cache and return it. On Redis one round trip (INCR and EXPIRE pipelined): Django's
    `cache.incr` asks EXISTS first, so the throttle cost every lead two round trips, three at a window's start."""
    backend = getattr(cache, "_cache", None)
    if hasattr(backend, "get_client"):
        full_key = cache.make_and_validate_key(key)
        pipe = backend.get_client(full_key, write=True).pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, timeout)
        return pipe.execute()[0]
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
