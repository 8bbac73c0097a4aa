"""API foundations: problem+json errors and the one base class that scopes every API view to a dealer."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .access import DealerAccess, MachineAccess, resolve_dealer_access
from .auth import ApiKeyAuthentication, ApiKeyRateThrottle, HasApiKey
from .errors import DomainError
from .tenancy import ScopedQuerysetMixin

logger = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://opvolger.nl/problems/"


def problem_response(*, status_code: int, title: str, detail: str = "", errors: dict | None = None,
                     problem_type: str = "", headers: dict | None = None, **extra) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + (problem_type or str(status_code)),
        "title": title,
        "status": status_code,
        "detail": detail or title,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"customer.email": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name or "body")
            flat.update(flatten_errors(value, path))
    elif isinstance(detail, list) and detail and all(not isinstance(d, (dict, list)) for d in detail):
        flat.setdefault(prefix or "body", []).extend(str(d) for d in detail)
    elif isinstance(detail, list):
        for i, value in enumerate(detail):
            flat.update(flatten_errors(value, f"{prefix}[{i}]"))
    else:
        flat.setdefault(prefix or "body", []).append(str(detail))
    return flat


TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem_exception_handler(exc, context):
    if isinstance(exc, DomainError):  # a rule refused the action: its own problem type, said once here
        return problem_response(status_code=exc.status_code, title=exc.title, detail=exc.detail,
                                problem_type=exc.problem_type, **exc.extra)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        # Never a bare 5xx page for a portal: log it and answer in the contract's shape.
        logger.exception("Unhandled API error", exc_info=exc)
        return problem_response(status_code=500, title="Internal error",
                                detail="The request could not be processed; nothing was stored twice. Please retry.")
    code = response.status_code
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(data)
        return problem_response(status_code=code, title=TITLES[400], detail=_("The request body is not valid."),
                                errors=errors, problem_type="invalid-body", headers=headers)
    detail = data.get("detail", "") if isinstance(data, dict) else str(data)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait)))
    return problem_response(status_code=code, title=TITLES.get(code, "Error"), detail=str(detail), headers=headers)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than 1 MiB."
    default_code = "too_large"


class PortalAPIView(ScopedQuerysetMixin, generics.GenericAPIView):
    """Base for the portal API: an Api-Key authenticates one dealer and one source; nothing else is visible."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    access: MachineAccess

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.access = MachineAccess(dealer=self.api_key.dealer, source=self.api_key.source)

    @property
    def api_key(self):
        return self.request.auth

    def scope_filters(self):
        return {"dealer": self.access.dealer, "source": self.access.source}


class TeamAPIView(ScopedQuerysetMixin, generics.GenericAPIView):
    """Base for the team API: the user's dealer (`?dealer=slug`, default their first) is resolved once."""

    access: DealerAccess
    allowed_roles: frozenset | None = None  # None: every role of the dealer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.access = resolve_dealer_access(request.user, request.query_params.get("dealer"))
        if self.allowed_roles is not None and self.access.role not in self.allowed_roles:
            raise exceptions.PermissionDenied(_("Your role in this dealer does not allow this."))

    def scope_filters(self):
        return {"dealer": self.access.dealer}

