"""Portal authentication (Api-Key header) and per-key throttling."""

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling

from .models import ApiKey, hash_api_key


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
            ApiKey.objects.active().select_related("dealer").filter(key_hash=hash_api_key(raw_key)).first()
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


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """A fixed budget per key and minute (the key's own rate, default 1,200)."""

    scope = "portal"

    def get_rate(self):
        return None  # set per request from the key

    def allow_request(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        self.rate = f"{request.auth.rate_per_minute}/min"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return f"throttle:apikey:{request.auth.pk}"
