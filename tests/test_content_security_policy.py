"""The Content-Security-Policy and Permissions-Policy on every page, and no inline script or style that it would block."""

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from dealers.models import ApiKey, ClosingDay, Invitation, Membership
from followup.models import Appointment, ImportStatus, LeadImport
from leads.models import InboundMail, Mailbox, Reason
from tests.factories import LeadFactory, api_key_for

pytestmark = pytest.mark.django_db

REQUIRED_DIRECTIVES = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                       "object-src 'none'", "base-uri 'self'", "form-action 'self'", "connect-src 'self'",
                       "worker-src 'self'"]
# Pages a person opens (not the API, the admin's own screens or Django's language switch).
SKIPPED_PREFIXES = ("admin:", "api-", "team-", "api_", "telephony-")
SKIPPED_NAMES = {"set_language", "healthz"}
# Pages that must render in full for one of the cast (so the walk cannot pass by redirecting everything).
MUST_RENDER = {"dashboard", "inbox", "bdc", "bdc_lead", "lead_detail", "settings:overview", "settings:policy",
               "settings:routing", "settings:hours", "settings:team", "settings:keys", "settings:scripts",
               "settings:audit", "lead_import", "lead_import_detail", "telephony_settings", "two_factor",
               "login", "password_reset", "mailbox_settings", "inbound_mail"}


class InlineCode(HTMLParser):
    """Collects what a strict CSP blocks: <script> without src (JSON data blocks excepted), on…= handlers,
    style= attributes and <style> elements."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, _value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            if name == "style":
                self.found.append(f"<{tag} style=…>")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in attributes and attributes.get("type") != "application/json":
            self._in_inline_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.found.append(f"<script>{data.strip()[:40]}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def page_patterns():
    """(name, pattern) of every named URL, walked from the root URLconf."""
    def walk(patterns, prefix="", namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name:
                yield (f"{namespace}:{p.name}" if namespace else p.name), prefix + str(p.pattern)
    return [(n, pat) for n, pat in walk(get_resolver().url_patterns)
            if not n.startswith(SKIPPED_PREFIXES) and n not in SKIPPED_NAMES]


@pytest.fixture
def world(cast):
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, queue="bdc", kind="passive")
    appointment = Appointment.objects.create(dealer=cast.dealer_a, lead=lead, scheduled_at=timezone.now() + dt.timedelta(days=1))
    api_key_for(cast.dealer_a)
    lead_import = LeadImport.objects.create(dealer=cast.dealer_a, uploaded_by=cast.manager_a, filename="x.csv",
                                            file_sha256="0" * 64, status=ImportStatus.DONE)
    uid = urlsafe_base64_encode(force_bytes(cast.sales_a2.pk))
    return {
        "lead_pk": lead.pk, "appointment_id": appointment.pk, "uidb64": uid,
        "token": default_token_generator.make_token(cast.sales_a2), "reason": Reason.values[0], "table": "summary",
        "settings:member_update": Membership.objects.get(user=cast.sales_a1).pk,
        "settings:member_invite": Membership.objects.get(user=cast.sales_a1).pk,
        "settings:key_revoke": ApiKey.objects.for_dealer(cast.dealer_a).get().pk,
        "lead_import_detail": lead_import.pk,
        "settings:closing_day_remove": ClosingDay.objects.create(dealer=cast.dealer_a, date=dt.date(2030, 1, 2)).pk,
        "settings:invitation_resend": Invitation.objects.create(dealer=cast.dealer_a, email="nieuw@a.test",
                                                                role="salesperson").pk,
        "inbound_mail_promote": InboundMail.objects.create(
            dealer=cast.dealer_a, message_identity="<csp@a>", sha256="0" * 64, raw=b"x", channel="api",
            ignored="auto-reply").pk,
        "mailbox_active": Mailbox.objects.create(dealer=cast.dealer_a, host="imap.a.test", port=993,
                                                 username="verkoop@a.test", password_encrypted="x").pk,
        **{name: lead.customer_id for name in ("privacy_customer", "privacy_customer_export", "privacy_customer_erase")},
    }


def kwargs_for(name, pattern, world):
    kwargs = {}
    for part in pattern.split("<")[1:]:
        key = part.split(">")[0].split(":")[-1]
        kwargs[key] = world["lead_pk"] if key == "pk" and "uuid:" in part else world.get(key, world.get(name))
    return kwargs


def test_every_page_carries_the_policy_and_contains_no_inline_code(cast, world):
    clients = {}
    for role in ("manager_a", "sales_a1", "bdc_a"):
        clients[role] = Client()
        clients[role].force_login(getattr(cast, role))  # as after both sign-in steps (tests/conftest.py)
    anonymous = Client()
    rendered, reached, offenders, missing_header = set(), set(), {}, []

    for name, pattern in page_patterns():
        url = reverse(name, kwargs=kwargs_for(name, pattern, world))
        for who, client in [*clients.items(), ("anonymous", anonymous)]:
            response = client.get(url)
            policy = response.get("Content-Security-Policy", "")
            if not all(d in policy for d in REQUIRED_DIRECTIVES) or "camera=()" not in response.get("Permissions-Policy", ""):
                missing_header.append((url, who, response.status_code))
            if response.status_code in (301, 302):  # e.g. the reset link's set-password page: check where it lands
                response = client.get(url, follow=True)
            elif response.status_code == 200:
                rendered.add(name)
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                reached.add(response.request["PATH_INFO"])
                found = inline_code(response.content.decode())
                if found:
                    offenders[url] = found

    assert not missing_header
    assert not offenders
    assert MUST_RENDER <= rendered, MUST_RENDER - rendered
    assert f"/accounts/reset/{world['uidb64']}/set-password/" in reached


def test_the_policy_forbids_inline_script_and_framing_and_allows_only_our_own_origin(client, cast):
    client.force_login(cast.manager_a)
    policy = client.get("/dashboard/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "*" not in policy
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_the_admin_and_the_error_pages_carry_the_policy_too(client, cast):
    client.force_login(cast.manager_a)
    for url in ("/admin/", "/no-such-page/", f"/leads/{LeadFactory(dealer=cast.dealer_b).pk}/"):
        response = client.get(url)
        assert "script-src 'self'" in response["Content-Security-Policy"], url


def test_the_api_docs_load_their_script_from_a_url_and_only_add_data_images(client, cast):
    client.force_login(cast.manager_a)
    page = client.get("/api/v1/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and not inline_code(html)
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "img-src 'self' data:" in policy
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def test_the_finder_sees_what_the_policy_would_block():
    assert inline_code('<p onclick="x()">') == ["<p onclick=…>"]
    assert inline_code("<script>alert(1)</script>") == ["<script>alert(1)"]
    assert inline_code('<div style="color:red">') == ["<div style=…>"]
    assert inline_code('<script src="/static/js/app.js"></script><script type="application/json">{}</script>') == []
