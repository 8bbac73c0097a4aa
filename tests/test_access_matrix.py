"""Every URL pattern, walked with dealer A's objects by dealer B's people of every role: nothing of A is reachable.

The routes come from the URL resolver itself, so a new route that is in neither table below fails this suite until
someone decides how it is scoped. A lead-, appointment- or member-sized object of dealer A answers exactly as an
object that does not exist (404; 403 where the person's role may not use that route at all, for any object); a
dealer-wide page asked for with `?dealer=dealer-a` is a 404.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from dealers.models import BdcCompany, ClosingDay, Invitation, Role
from followup.models import Appointment, LeadImport
from leads.models import InboundMail, Mailbox, PushSubscription
from tests.factories import DealerFactory, LeadFactory, MembershipFactory, UserFactory, api_key_for, make_group_admin

pytestmark = pytest.mark.django_db

LEAD = "{lead}"
APPOINTMENT = "{appointment}"

# name -> (method, path with placeholders for dealer A's objects, client kind)
TENANT_ROUTES = {
    "api-leads-detail": ("get", f"/api/v1/leads/{LEAD}/", "portal"),
    "team-leads": ("get", "/api/v1/team/leads/?dealer=dealer-a", "team"),
    "team-lead-detail": ("get", f"/api/v1/team/leads/{LEAD}/", "team"),
    "team-lead-attempts": ("post", f"/api/v1/team/leads/{LEAD}/attempts/", "team"),
    "team-lead-appointments": ("post", f"/api/v1/team/leads/{LEAD}/appointments/", "team"),
    "team-lead-appointment-outcome": ("post", f"/api/v1/team/leads/{LEAD}/appointments/{APPOINTMENT}/outcome/", "team"),
    "team-lead-close": ("post", f"/api/v1/team/leads/{LEAD}/close/", "team"),
    "team-lead-handover": ("post", f"/api/v1/team/leads/{LEAD}/handover/", "team"),
    "team-lead-score": ("patch", f"/api/v1/team/leads/{LEAD}/score/", "team"),
    "team-bdc-next": ("post", "/api/v1/team/bdc/next/?dealer=dealer-a", "team"),
    "team-policy": ("get", "/api/v1/team/policy/?dealer=dealer-a", "team"),
    "team-notifications": ("get", "/api/v1/team/notifications/?dealer=dealer-a", "team"),
    "team-notifications-read": ("post", "/api/v1/team/notifications/read/?dealer=dealer-a", "team"),
    "team-push-subscriptions": ("get", "/api/v1/team/push-subscriptions/?dealer=dealer-a", "team"),
    "team-push-subscription": ("delete", "/api/v1/team/push-subscriptions/{push_subscription}/", "team"),
    "api_report_summary": ("get", "/api/v1/team/reports/summary/?dealer=dealer-a", "team"),
    "settings:overview": ("get", "/settings/?dealer=dealer-a", "page"),
    "settings:policy": ("get", "/settings/policy/?dealer=dealer-a", "page"),
    "settings:routing": ("get", "/settings/routing/?dealer=dealer-a", "page"),
    "settings:hours": ("get", "/settings/hours/?dealer=dealer-a", "page"),
    "settings:closing_day_add": ("post", "/settings/hours/closing-days/?dealer=dealer-a", "page"),
    "settings:closing_day_remove": ("post", "/settings/hours/closing-days/{closing_day}/remove/", "page"),
    "settings:team": ("get", "/settings/team/?dealer=dealer-a", "page"),
    "settings:team_add": ("post", "/settings/team/add/?dealer=dealer-a", "page"),
    "settings:member_update": ("post", "/settings/team/{membership}/", "page"),
    "settings:member_invite": ("post", "/settings/team/{membership}/invite/", "page"),
    "settings:invitation_resend": ("post", "/settings/team/invitations/{invitation}/resend/", "page"),
    "settings:keys": ("get", "/settings/keys/?dealer=dealer-a", "page"),
    "settings:key_created": ("get", "/settings/keys/new/?dealer=dealer-a", "page"),
    "settings:key_revoke": ("post", "/settings/keys/{api_key}/revoke/", "page"),
    "settings:scripts": ("get", "/settings/scripts/?dealer=dealer-a", "page"),
    "settings:script_save": ("post", "/settings/scripts/lease_end/?dealer=dealer-a", "page"),
    "settings:audit": ("get", "/settings/audit/?dealer=dealer-a", "page"),
    "lead_import": ("get", "/settings/import/?dealer=dealer-a", "page"),
    "lead_import_detail": ("get", "/settings/import/{lead_import}/", "page"),
    "telephony_settings": ("get", "/settings/telephony/?dealer=dealer-a", "page"),
    "inbound_mail": ("get", "/settings/mail/?dealer=dealer-a", "page"),
    "inbound_mail_promote": ("post", "/settings/mail/{inbound_mail}/promote/", "page"),
    "mailbox_settings": ("get", "/settings/mailbox/?dealer=dealer-a", "page"),
    "mailbox_active": ("post", "/settings/mailbox/{mailbox}/active/", "page"),
    "inbox": ("get", "/inbox/?dealer=dealer-a", "page"),
    "inbox_feed": ("get", "/inbox/feed/?dealer=dealer-a", "page"),
    "notices_read": ("post", "/notices/read/?dealer=dealer-a", "page"),
    "appointments": ("get", "/appointments/?dealer=dealer-a", "page"),
    "lead_detail": ("get", f"/leads/{LEAD}/", "page"),
    "lead_attempt": ("post", f"/leads/{LEAD}/attempts/", "page"),
    "lead_appointment": ("post", f"/leads/{LEAD}/appointments/", "page"),
    "lead_appointment_move": ("post", f"/leads/{LEAD}/appointments/{APPOINTMENT}/move/", "page"),
    "lead_appointment_outcome": ("post", f"/leads/{LEAD}/appointments/{APPOINTMENT}/outcome/", "page"),
    "lead_close": ("post", f"/leads/{LEAD}/close/", "page"),
    "lead_score": ("post", f"/leads/{LEAD}/score/", "page"),
    "lead_note": ("post", f"/leads/{LEAD}/notes/", "page"),
    "lead_email": ("post", f"/leads/{LEAD}/email/", "page"),
    "lead_customer": ("get", f"/leads/{LEAD}/customer/", "page"),
    "lead_customer_merge": ("post", f"/leads/{LEAD}/customer/merge/", "page"),
    "lead_customer_split": ("post", f"/leads/{LEAD}/customer/split/", "page"),
    "bdc": ("get", "/bdc/?dealer=dealer-a", "page"),
    "bdc_next": ("post", "/bdc/next/?dealer=dealer-a", "page"),
    "bdc_lead": ("get", f"/bdc/leads/{LEAD}/", "page"),
    "bdc_handover": ("post", f"/bdc/leads/{LEAD}/handover/", "page"),
    "dashboard": ("get", "/dashboard/?dealer=dealer-a", "page"),
    "dashboard_export": ("get", "/dashboard/export/people.csv?dealer=dealer-a", "page"),
    "dashboard_reassign": ("post", f"/dashboard/leads/{LEAD}/reassign/", "page"),
    "team-customer-export": ("get", "/api/v1/team/customers/{customer}/export/", "team"),
    "team-customer-erase": ("post", "/api/v1/team/customers/{customer}/erase/", "team"),
    "team-privacy": ("patch", "/api/v1/team/privacy/?dealer=dealer-a", "team"),
    "privacy_settings": ("post", "/settings/privacy/?dealer=dealer-a", "page"),
    "privacy_customers": ("get", "/settings/privacy/customers/?dealer=dealer-a&q=a", "page"),
    "privacy_customer": ("get", "/settings/privacy/customers/{customer}/", "page"),
    "privacy_customer_export": ("get", "/settings/privacy/customers/{customer}/export.json", "page"),
    "privacy_customer_erase": ("post", "/settings/privacy/customers/{customer}/erase/", "page"),
}

# Routes that hold no dealer's data, or authenticate a machine and are covered by their own tests.
NOT_TENANT_ROUTES = {
    "set_language": "language cookie",
    "healthz": "node health, no dealer data",
    "service_worker": "the app's service worker script, the same for everyone",
    "api-schema": "the public OpenAPI schema",
    "api-docs": "the public API docs",
    "api-leads-create": "a portal key files under its own dealer; the body cannot name another",
    "api-leads-adf": "as api-leads-create",
    "api-leads-mail": "as api-leads-create; its read-back scope is tested in tests/leads/test_mail_api.py",
    "api-auth-token": "sign-in",
    "telephony-events": "HMAC-signed by the endpoint that names the dealer (tests/followup/test_telephony.py)",
    "home": "redirects to the person's own page",
    "switch_dealer": "tests/dealers/test_tenancy.py: another dealer is a 404",
    "login": "sign-in",
    "logout": "sign-out",
    "password_reset": "sign-in",
    "password_reset_done": "sign-in",
    "password_reset_confirm": "sign-in",
    "password_reset_complete": "sign-in",
    "invitation_accept": "a signed one-time link names its invitation (tests/dealers/test_team_invitations.py)",
    "two_factor": "the person's own second factor and tokens",
    "two_factor_setup": "sign-in (second step)",
    "two_factor_verify": "sign-in (second step)",
    "api-auth-tokens": "the person's own tokens (tests/dealers/test_team_tokens.py)",
    "api-auth-token-detail": "another person's token is a 404 (tests/dealers/test_team_tokens.py)",
}


def _route_names(patterns, namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            if p.app_name == "admin":
                continue  # the admin's own scoping: tests/dealers/test_tenancy.py
            yield from _route_names(p.url_patterns, p.namespace or namespace)
        elif isinstance(p, URLPattern):
            yield f"{namespace}:{p.name}" if namespace else p.name


def test_every_route_is_in_the_matrix_or_says_why_not():
    names = set(_route_names(get_resolver().url_patterns))
    unaccounted = names - TENANT_ROUTES.keys() - NOT_TENANT_ROUTES.keys()
    assert not unaccounted, f"new routes without a tenancy decision: {sorted(unaccounted)}"
    assert not (TENANT_ROUTES.keys() | NOT_TENANT_ROUTES.keys()) - names, "the matrix names routes that are gone"


@pytest.fixture
def world_a(cast):
    """Dealer A's objects, one of each kind a URL can name."""
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    appointment = Appointment.objects.create(dealer=cast.dealer_a, lead=lead, scheduled_at=lead.received_at, kind="showroom",
                                             created_by=cast.sales_a1)
    lead_import = LeadImport.objects.create(dealer=cast.dealer_a, uploaded_by=cast.manager_a, filename="a.csv", content=b"")
    api_key = cast.dealer_a.api_keys.get() if cast.dealer_a.api_keys.exists() else None
    if api_key is None:
        api_key_for(cast.dealer_a)
        api_key = cast.dealer_a.api_keys.get()
    closing_day = ClosingDay.objects.create(dealer=cast.dealer_a, date=lead.received_at.date(), label="A")
    inbound_mail = InboundMail.objects.create(dealer=cast.dealer_a, message_identity="<a@a>", sha256="0" * 64, raw=b"x",
                                              channel="api", ignored="auto-reply")
    return {"lead": lead.pk, "appointment": appointment.pk, "lead_import": lead_import.pk, "api_key": api_key.pk,
            "membership": cast.sales_a1.memberships.get().pk, "inbound_mail": inbound_mail.pk,
            "closing_day": closing_day.pk,
            "invitation": Invitation.objects.create(dealer=cast.dealer_a, email="nieuw@a.test", role=Role.SALESPERSON).pk,
            "mailbox": Mailbox.objects.create(dealer=cast.dealer_a, host="imap.a.test", port=993, username="verkoop@a.test",
                                              password_encrypted="x").pk,
            "push_subscription": PushSubscription.objects.create(
                user=cast.sales_a1, endpoint="https://fcm.googleapis.com/fcm/send/a1", p256dh="x", auth="y").pk,
            "customer": lead.customer_id}


@pytest.fixture
def people_b(cast):
    """Dealer B's people, one of every role, including a group admin of B's group and an outsourced BDC agent."""
    people = {"manager": cast.outsider_b}
    for role in (Role.SALESPERSON, Role.BDC_AGENT):
        people[role] = MembershipFactory(dealer=cast.dealer_b, role=role, user=UserFactory(email=f"{role}@b.test")).user
    people["group_admin"] = UserFactory(email="groep@b.test")
    make_group_admin(DealerFactory(group=cast.dealer_b.group, slug="dealer-b-zuid"), people["group_admin"])
    agent = UserFactory(email="agent@belteam.test")
    company = BdcCompany.objects.create(name="Belteam", slug="belteam")
    company.agents.add(agent)
    company.dealers.add(cast.dealer_b)
    people["outsourced_bdc"] = agent
    return people


def _client(kind, user, cast):
    if kind == "portal":
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_b)}")
        return client
    client = APIClient()
    client.force_login(user)
    return client


def _fill(path, objects):
    return path.format(**{k: str(v) for k, v in objects.items()})


def _missing(objects):
    """The same kinds of object, none of which exists: what the answer must look like."""
    return {k: (uuid.uuid4() if isinstance(v, uuid.UUID) else 987654321) for k, v in objects.items()}


@pytest.mark.parametrize("name", sorted(TENANT_ROUTES))
def test_dealer_b_reaches_nothing_of_dealer_a(name, cast, world_a, people_b):
    method, path, kind = TENANT_ROUTES[name]
    people = {"portal": None} if kind == "portal" else people_b
    for role, user in people.items():
        client = _client(kind, user, cast)
        response = getattr(client, method)(_fill(path, world_a), {}, format="json")
        assert response.status_code in (403, 404), (name, role, response.status_code)
        if "?dealer=dealer-a" in path:
            assert response.status_code == 404, (name, role)
        else:  # an object of A answers exactly as an object that does not exist
            missing = getattr(client, method)(_fill(path, _missing(world_a)), {}, format="json")
            assert response.status_code == missing.status_code, (name, role)
        assert b"Autobedrijf A" not in response.content
