"""Request and response edges every view shares: chunked bodies read (bounded), customer data never cached."""

import io
import json

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

READ_CHUNK = 64 * 1024


def _too_large(request) -> HttpResponse:
    title = _("Request body too large")
    if request.path.startswith("/api/"):
        body = {"type": "https://opvolger.nl/problems/413", "title": title, "status": 413, "detail": title}
        return HttpResponse(json.dumps(body), status=413, content_type="application/problem+json")
    return HttpResponse(title, status=413, content_type="text/plain; charset=utf-8")


class ChunkedBodyMiddleware:
    """A body sent with `Transfer-Encoding: chunked` has no Content-Length, and Django and DRF read such a body as
    empty (a lead posted so was refused as having no contact method). Gunicorn de-chunks it into wsgi.input; read it
    here, at most CHUNKED_BODY_MAX_BYTES (413 beyond), and give the request its real length."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if not meta.get("CONTENT_LENGTH") and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            limit = settings.CHUNKED_BODY_MAX_BYTES
            stream, body = meta["wsgi.input"], bytearray()
            while len(body) <= limit:
                chunk = stream.read(min(READ_CHUNK, limit + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
            if len(body) > limit:
                return _too_large(request)
            meta["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(bytes(body)), len(body))
        return self.get_response(request)


class NoStoreMiddleware:
    """Pages and API answers with customer data must not stay in a browser's or a proxy's cache: every answer to a
    signed-in user, and every API answer (portal keys authenticate inside DRF, after this runs), is `no-store`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)
        return response
