"""The installable app's service worker, served at the site root so it may control every page (/inbox/, /leads/…)."""

import hashlib

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

_rendered: dict[str, str] = {}


@require_GET
def service_worker(request):
    """Rendered once per process and language: the static URLs in it are the deployed ones, and its version (the
    cache names) is a hash of the result, so a deploy that changes an asset replaces the caches."""
    language = getattr(request, "LANGUAGE_CODE", "")
    if language not in _rendered:
        body = render_to_string("pwa/sw.js", {"LANGUAGE_CODE": language})
        version = hashlib.sha256(body.encode()).hexdigest()[:12]
        _rendered[language] = body.replace("__VERSION__", version)
    response = HttpResponse(_rendered[language], content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"  # the browser checks for a new worker on every visit
    return response
