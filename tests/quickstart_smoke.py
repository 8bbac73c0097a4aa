"""The Quick start's database, exercised: run by tests/test_quickstart_sqlite.py in a process of its own, on the
SQLite file that `migrate` and `seed_demo` made (config.settings.local, no Redis), because the suite itself runs on
PostgreSQL. Every page without a path argument, a lead page, a lead posted by a portal, the sweep and the outbox
(its notices recorded as sent): any 5xx or exception fails it. Prints one line per request."""

import sys

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import URLPattern, URLResolver, get_resolver  # noqa: E402

from dealers.models import Dealer, Membership  # noqa: E402
from dealers.services import api_key_create  # noqa: E402
from leads.models import DeliveryStatus, Lead, Notification  # noqa: E402
from leads.services import outbox_flush  # noqa: E402
from tests.conftest import pass_second_factor  # noqa: E402

USERS = ["manager@demo.test", "sales1@demo.test", "bdc@demo.test", "groep@demo.test"]


def plain_paths(patterns=None, prefix: str = "") -> list[str]:
    """Every route the resolver knows that takes no argument from its path."""
    paths = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if "<" in route or "(?P" in route or route.startswith(("admin/", "^")):
            continue
        if isinstance(entry, URLResolver):
            paths += plain_paths(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            paths.append("/" + route.lstrip("^").rstrip("$"))
    return sorted(set(paths))


def signed_in(email: str) -> Client:
    """A client past both sign-in steps, as tests/conftest.py's force_login."""
    user = get_user_model().objects.get(email=email)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    pass_second_factor(client, user)
    return client


def main() -> int:
    failures = []

    def check(label: str, response) -> None:
        print(response.status_code, label)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {label}")

    paths = plain_paths()
    check("anonymous /", Client(HTTP_HOST="localhost").get("/"))
    for email in USERS:
        client = signed_in(email)
        for path in paths:
            check(f"{email} GET {path}", client.get(path))
        dealer_ids = Membership.objects.filter(user__email=email).values_list("dealer_id", flat=True)
        for lead in Lead.objects.for_dealers(dealer_ids)[:3]:
            check(f"{email} GET /leads/{lead.pk}/", client.get(f"/leads/{lead.pk}/"))

    dealer = Dealer.objects.order_by("pk").first()
    key = api_key_create(dealer=dealer, source="website")[1]
    portal = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Api-Key {key}")
    lead = {"external_id": "quickstart-smoke-1",
            "customer": {"first_name": "Sanne", "last_name": "de Vries", "email": "sanne@example.nl",
                         "phone": "06 12345678"},
            "vehicle": {"make": "Volkswagen", "model": "Golf"}, "message": "Is deze auto nog beschikbaar?"}
    for attempt, expected in ((1, 201), (2, 200)):  # the second is a portal's retry: the same lead, not a new one
        response = portal.post("/api/v1/leads/", lead, content_type="application/json",
                               HTTP_IDEMPOTENCY_KEY="quickstart-smoke-1")
        check(f"portal POST /api/v1/leads/ ({attempt})", response)
        if response.status_code != expected:
            failures.append(f"portal POST {attempt}: {response.status_code}, expected {expected}: {response.content[:300]}")
    if Lead.objects.for_dealer(dealer).filter(external_id="quickstart-smoke-1").count() != 1:
        failures.append("the portal's lead is not stored exactly once")

    call_command("followup_sweep")
    call_command("followup_sweep")
    outbox_flush()
    owed = (Notification.objects.for_dealer(dealer).filter(lead__external_id="quickstart-smoke-1")
            .exclude(email_status=DeliveryStatus.SENT).values_list("kind", "email_status", "email_error"))
    if owed:
        failures.append(f"the portal lead's notices were not recorded as sent: {list(owed)}")
    if failures:
        print("FAILED:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print("quick start smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
