"""Two-step sign-in: a manager's session opens no page and no API call until the second factor is given."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from .api import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE
from .selectors import authenticator_for, second_step_required

# Reachable half-signed-in: signing in and out, the second step itself, the language switch, health and assets.
EXEMPT_URL_NAMES = ("login", "logout", "password_reset", "password_reset_done", "password_reset_complete",
                    "two_factor_setup", "two_factor_verify", "set_language", "healthz", "api-auth-token")


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt_paths: frozenset[str] | None = None

    def exempt_paths(self) -> frozenset[str]:
        if self._exempt_paths is None:
            self._exempt_paths = frozenset(reverse(name) for name in EXEMPT_URL_NAMES)
        return self._exempt_paths

    def __call__(self, request):
        user = request.user
        if (not user.is_authenticated or user.is_verified() or self._exempt(request.path_info)
                or not second_step_required(user=user)):
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            body = {"type": PROBLEM_TYPE_BASE + "second-factor-required", "title": _("Second sign-in step required"),
                    "status": 403, "detail": _("Confirm your sign-in with your authenticator app in the browser first, "
                                               "or use a team-API token.")}
            return JsonResponse(body, status=403, content_type=PROBLEM_CONTENT_TYPE)
        target = "two_factor_verify" if authenticator_for(user=user) else "two_factor_setup"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")

    def _exempt(self, path: str) -> bool:
        return (path in self.exempt_paths() or path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/")
                                                                   else "/" + settings.STATIC_URL)
                or path.startswith("/accounts/reset/"))
