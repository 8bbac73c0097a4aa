"""Team sign-in for scripts and the native app: e-mail and password (and a managing user's code) in, a token out.

Each sign-in is one device's own token (django-rest-knox: stored hashed, expiring after TEAM_TOKEN_TTL_HOURS); a
person lists and revokes their devices' tokens here too.
"""

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
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .api import problem_response
from .lockout import client_address
from .models import TeamToken
from .selectors import authenticator_for, second_step_required, team_token_list

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
    otp = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text=gettext_lazy("The current code of your authenticator app. Required for managers and group admins "
                               "(extension of the contract: without it they get a 400 `otp-required` problem)."))
    device = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text=gettext_lazy("A name for the device this token is for (shown when you list or revoke tokens); "
                               "default: the User-Agent."))


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=gettext_lazy("Send it as `Authorization: Token <token>`."))
    expires_at = serializers.DateTimeField(allow_null=True, help_text=gettext_lazy("When the token stops working."))


class TokenObtainView(APIView):
    """POST e-mail and password, get the user's API token."""

    authentication_classes = []  # a stale token or session must not get in the way of signing in
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginAttemptThrottle]

    @extend_schema(
        operation_id="auth_token_create", summary="Sign in: get an API token", tags=["team"],
        request=TokenRequestSerializer,
        responses={200: TokenResponseSerializer, 400: PROBLEM, 403: PROBLEM, 429: PROBLEM, 503: PROBLEM},
        description="Wrong credentials are a 400; repeated failures for one e-mail address are throttled (429 with "
                    "Retry-After). Every sign-in issues a new token for that device, valid for TEAM_TOKEN_TTL_HOURS. "
                    "Managers and group admins also send `otp`, their authenticator app's current code: without it "
                    "a 400 `otp-required`, with a wrong one a 400 `otp-invalid` (counted as a failed attempt), and "
                    "a 403 `second-factor-not-set-up` if they have not set up the app in the browser yet.",
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
        if second_step_required(user=user):
            refused = self._second_factor_refusal(user, serializer.validated_data.get("otp", ""))
            if refused is not None:
                return refused
        LoginAttemptThrottle().reset(request)
        # A sign-in like the web login's: axes clears this account's failures from this client, last_login is set.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        device_name = serializer.validated_data.get("device") or request.headers.get("User-Agent", "")
        token, raw_token = services.team_token_create(user=user, device_name=device_name.strip())
        return Response(TokenResponseSerializer({"token": raw_token, "expires_at": token.expiry}).data)

    @staticmethod
    def _second_factor_refusal(user, code: str):
        if authenticator_for(user=user) is None:
            return problem_response(
                status_code=403, title=_("Second sign-in step not set up"), problem_type="second-factor-not-set-up",
                detail=_("Sign in once in the browser and set up your authenticator app; then ask for a token."))
        if not code.strip():
            return problem_response(status_code=400, title=_("Code required"), problem_type="otp-required",
                                    detail=_("Send the current code of your authenticator app in the field `otp`."))
        if not services.second_factor_totp_verify(user=user, code=code):
            return problem_response(status_code=400, title=_("Sign-in failed"), problem_type="otp-invalid",
                                    detail=_("The code is not right, or was used already. Wait for the next code."))
        return None


class TeamTokenSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    device = serializers.CharField(source="device_name", read_only=True)
    created_at = serializers.DateTimeField(source="created", read_only=True)
    expires_at = serializers.DateTimeField(source="expiry", read_only=True, allow_null=True)
    current = serializers.SerializerMethodField(help_text=gettext_lazy("True for the token of this request."))

    class Meta:
        model = TeamToken
        fields = ["id", "device", "created_at", "expires_at", "current"]

    def get_current(self, token) -> bool:
        auth = self.context["request"].auth
        return isinstance(auth, TeamToken) and auth.digest == token.digest


class TeamTokenListView(APIView):
    """Your own team-API tokens, one per signed-in device."""

    @extend_schema(operation_id="auth_tokens_list", summary="List your signed-in devices", tags=["team"],
                   responses={200: TeamTokenSerializer(many=True), 401: PROBLEM})
    def get(self, request):
        tokens = team_token_list(user=request.user)
        return Response(TeamTokenSerializer(tokens, many=True, context={"request": request}).data)


class TeamTokenDetailView(APIView):
    """Revoke one of your own tokens (sign a lost device out); another person's token is a 404."""

    @extend_schema(operation_id="auth_tokens_destroy", summary="Sign a device out", tags=["team"],
                   responses={204: None, 401: PROBLEM, 404: PROBLEM})
    def delete(self, request, token_id):
        if not services.team_token_revoke(user=request.user, public_id=token_id):
            raise exceptions.NotFound()
        return Response(status=204)
