"""Sign-in limits for people (django-axes): by account and client together, plus a ceiling per client.

Axes counts failed sign-ins on the web login, the admin login and the team API's token endpoint alike (all go through
`authenticate(request, ...)`), in PostgreSQL. An account is locked for one client after AXES_FAILURE_LIMIT failures,
so a guesser elsewhere never locks the real user out of their own phone; a client that sprays many accounts is
stopped after LOGIN_FAILURES_PER_CLIENT failures in the cool-off window, whichever accounts they were for.
"""

import logging

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_ip_address, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


def login_username(request, credentials) -> str:
    """The account tried, as the login form (`username`) or the token endpoint (`email`) names it, lower-cased:
    `Jan@X.nl` and `jan@x.nl` are one account to guess at."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None and request.method == "POST":
        value = request.POST.get("username") or request.POST.get("email")
    return str(value or "").strip().lower()[:254]


def client_address(request) -> str:
    """The client as axes sees it (REMOTE_ADDR unless AXES_IPWARE_* says which proxy header to trust)."""
    return getattr(request, "axes_ip_address", None) or get_client_ip_address(request) or ""


class AccountAndClientHandler(AxesDatabaseHandler):
    """Axes' database handler, plus the per-client ceiling (axes has one failure limit for every parameter set)."""

    def get_failures(self, request, credentials=None) -> int:
        """The account's failures from this client; the lock's limit itself once the client is over its ceiling (so axes
        refuses, and answers 429, exactly as for one account guessed too often)."""
        failures = super().get_failures(request, credentials)
        if self.client_failures(request) >= settings.LOGIN_FAILURES_PER_CLIENT:
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def client_failures(self, request) -> int:
        since = timezone.now() - settings.AXES_COOLOFF_TIME
        failures = (AccessAttempt.objects.filter(ip_address=client_address(request), attempt_time__gte=since)
                    .aggregate(n=Sum("failures_since_start"))["n"])
        return failures or 0


def reset_mail_allowed(*, request, email: str) -> bool:
    """At most PASSWORD_RESETS_PER_HOUR reset mails per address, and ten times that per client, an hour: a reset form
    must not become a way to flood someone's mailbox. Without the cache the mail goes out (it proves nothing)."""
    limits = {f"reset:account:{email.strip().lower()[:254]}": settings.PASSWORD_RESETS_PER_HOUR,
              f"reset:client:{client_address(request)}": settings.PASSWORD_RESETS_PER_HOUR * 10}
    try:
        for key, limit in limits.items():
            cache.add(key, 0, timeout=3600)
            if cache.incr(key) > limit:
                return False
    except Exception as exc:
        logger.warning("Password-reset counter unavailable (%s)", exc)
    return True


def lockout_response(request, original_response=None, credentials=None, *, minutes: int | None = None):
    """The 429 page (Dutch or English, as the visitor's language) for a locked sign-in or too many reset mails."""
    if minutes is None:
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if request.path.startswith("/api/"):  # the token endpoint answers in the API's own shape
        body = {"type": "https://opvolger.nl/problems/429", "title": _("Too many attempts"), "status": 429,
                "detail": _("Too many failed sign-ins; try again later.")}
        return JsonResponse(body, status=429, content_type="application/problem+json",
                            headers={"Retry-After": str(minutes * 60)})
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
