"""Team sign-in for scripts and the native app: e-mail and password in, a DRF token out."""

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, throttling
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from .api import problem_response
from .lockout import client_address

logger = logging.getLogger(__name__)
PROBLEM = OpenApiResponse(response=OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")


class SignInUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = gettext_lazy("Signing in is unavailable for a moment; please try again in a minute.")
    default_code = "sign_in_unavailable"


class LoginAttemptThrottle(throttling.BaseThrottle):
    """A brute-force guard: at most `failures_allowed` failed logins per e-mail address and client in a window (so a
    guesser elsewhere does not lock the real user out; django-axes counts the same failures, dealers/lockout.py).

    Every attempt is counted up front with an atomic Redis increment (so parallel guesses cannot slip past a
    read-then-write count) and a successful login wipes the count, so only failures accumulate. Without the
    counter (Redis down) sign-in is refused with a 503 rather than left unguarded.
    """

    scope = "login"
    failures_allowed = 10
    window_seconds = 15 * 60
    cache = cache

    def _key(self, request) -> str | None:
        data = request.data if isinstance(request.data, dict) else {}
        email = data.get("email")
        if not isinstance(email, str) or not email.strip():
            return None  # nothing to guess against; the serializer refuses the body
        account_and_client = f"{email.strip().lower()}|{client_address(request._request)}"
        digest = hashlib.sha256(account_and_client.encode()).hexdigest()  # no addresses in the cache's key space
        return f"throttle:{self.scope}:{digest}"

    def allow_request(self, request, view) -> bool:
        key = self._key(request)
        if key is None:
            return True
        now = time.time()
        try:
            attempts = self._count(key, now)
        except Exception as exc:
            logger.warning("Sign-in attempt counter unavailable (%s)", exc)
            raise SignInUnavailable() from exc
        self._now = now
        return attempts <= self.failures_allowed

    def _count(self, key: str, now: float) -> int:
        if self.cache.add(key, 0, timeout=self.window_seconds):
            self.cache.set(f"{key}:start", now, timeout=self.window_seconds)
        try:
            attempts = self.cache.incr(key)
        except ValueError:  # the window expired between add and incr
            self.cache.set(key, 1, timeout=self.window_seconds)
            self.cache.set(f"{key}:start", now, timeout=self.window_seconds)
            attempts = 1
        self._started = self.cache.get(f"{key}:start", now)
        return attempts

    def wait(self) -> float:
        return max(1.0, self._started + self.window_seconds - self._now)

    def reset(self, request) -> None:
        key = self._key(request)
        if key:
            self.cache.delete_many([key, f"{key}:start"])


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text=gettext_lazy("The e-mail address you sign in with."))
    password = serializers.CharField(max_length=1024, trim_whitespace=False, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=gettext_lazy("Send it as `Authorization: Token <token>`."))


class TokenObtainView(APIView):
    """POST e-mail and password, get the user's API token."""

    authentication_classes = []  # a stale token or session must not get in the way of signing in
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginAttemptThrottle]

    @extend_schema(
        operation_id="auth_token_create", summary="Sign in: get an API token", tags=["team"],
        request=TokenRequestSerializer,
        responses={200: TokenResponseSerializer, 400: PROBLEM, 429: PROBLEM, 503: PROBLEM},
        description="Wrong credentials are a 400; repeated failures for one e-mail address are throttled (429 with "
                    "Retry-After).",
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request._request, email=serializer.validated_data["email"].strip().lower(),
                            password=serializer.validated_data["password"])
        if user is None and getattr(request._request, "axes_locked_out", False):
            # Locked by the web login's counter (same account and client): the same answer as this endpoint's own.
            wait = int(settings.AXES_COOLOFF_TIME.total_seconds())
            return problem_response(status_code=429, title=_("Too many attempts"),
                                    detail=_("Too many failed sign-ins; try again later."),
                                    headers={"Retry-After": str(wait)})
        if user is None:
            return problem_response(status_code=400, title=_("Sign-in failed"),
                                    detail=_("The e-mail address or password is not correct."),
                                    problem_type="invalid-credentials")
        LoginAttemptThrottle().reset(request)
        # A sign-in like the web login's: axes clears this account's failures from this client, last_login is set.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response(TokenResponseSerializer({"token": token.key}).data)
