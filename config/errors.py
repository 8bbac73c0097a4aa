"""Error pages: problem+json under /api/, the site's own pages elsewhere."""

import json

from django.http import HttpResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error


def _problem(status: int, title: str) -> HttpResponse:
    body = {"type": f"https://opvolger.nl/problems/{status}", "title": title, "status": status, "detail": title}
    return HttpResponse(json.dumps(body), status=status, content_type="application/problem+json")


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return _problem(404, "Not found")
    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return _problem(500, "Internal error")
    return html_server_error(request)
