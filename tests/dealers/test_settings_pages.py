"""The manager's settings pages: who may open them, what each change does, and that every change is on the audit trail."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from dealers.models import ApiKey, AuditEntry, FollowUpPolicy, Invitation, Membership, OpeningHours, Role, RoutingModel, User
from dealers.services import audit_record, policy_get
from routing.models import CallScript
from tests.factories import DealerFactory, MembershipFactory, UserFactory, api_key_for, make_group_admin

pytestmark = pytest.mark.django_db

PAGES = ["overview", "policy", "routing", "hours", "team", "keys", "scripts", "audit"]


def login(client, user):
    client.force_login(user)
    return client


def membership_of(user, dealer):
    return Membership.objects.get(user=user, dealer=dealer)


def key_of(dealer):
    api_key_for(dealer, source="marktplaats")
    return ApiKey.objects.unscoped().filter(dealer=dealer).latest("created_at")


def audit_actions(dealer):
    return list(AuditEntry.objects.unscoped().filter(dealer=dealer).order_by("at", "pk").values_list("action", flat=True))


def policy_post(**overrides):
    data = {"first_response_minutes": "5", "passive_first_response_days": "1", "min_attempts": "4",
            "attempt_spacing_minutes": "60", "cadence_days": "0, 1, 3, 6", "remind_after_minutes": "0",
            "manager_alert_after_minutes": "15", "reassign_after_minutes": "60", "lost_sale_followup_days": "30",
            "map_target": "36", "contact_target": "60", "appointment_of_contacted_target": "60"}
    data.update(overrides)
    return data


def week_post(**overrides):
    """Monday to Friday 09:00-18:00, Saturday 10:00-16:00, Sunday closed."""
    data = {}
    for day in range(5):
        data.update({f"d{day}_p0_opens": "09:00", f"d{day}_p0_closes": "18:00"})
    data.update({"d5_p0_opens": "10:00", "d5_p0_closes": "16:00", "d6_closed": "on"})
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ------------------------------------------------------------------------------------------------------ access

@pytest.mark.parametrize("page", PAGES)
def test_manager_opens_every_settings_page(cast, client, page):
    assert login(client, cast.manager_a).get(reverse(f"settings:{page}")).status_code == 200


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
def test_salesperson_and_bdc_agent_are_refused(cast, client, page, who):
    assert login(client, getattr(cast, who)).get(reverse(f"settings:{page}")).status_code == 403


def test_salesperson_cannot_change_anything_by_posting(cast, client):
    login(client, cast.sales_a1)
    key = key_of(cast.dealer_a)
    assert client.post(reverse("settings:key_revoke", args=[key.pk])).status_code == 403
    assert client.post(reverse("settings:member_update", args=[membership_of(cast.sales_a1, cast.dealer_a).pk]),
                       {"role": Role.MANAGER}).status_code == 403
    assert client.post(reverse("settings:routing"), {"routing_model": RoutingModel.SALES_ONLY}).status_code == 403
    key.refresh_from_db()
    assert key.is_active
    assert membership_of(cast.sales_a1, cast.dealer_a).role == Role.SALESPERSON


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("settings:overview"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_group_admin_manages_every_rooftop_of_the_group(cast, client):
    admin = UserFactory(email="groep@a.test")
    make_group_admin(cast.dealer_a, admin)
    response = login(client, admin).get(reverse("settings:team") + "?dealer=dealer-a")
    assert response.status_code == 200
    assert "sales1@a.test" in response.content.decode()


def test_outsider_cannot_open_dealer_a_by_slug(cast, client):
    assert login(client, cast.outsider_b).get(reverse("settings:team") + "?dealer=dealer-a").status_code == 404


def test_outsider_gets_404_on_dealer_a_objects_and_nothing_changes(cast, client):
    login(client, cast.outsider_b)
    key = key_of(cast.dealer_a)
    sales = membership_of(cast.sales_a1, cast.dealer_a)
    assert client.get(reverse("settings:key_revoke", args=[key.pk])).status_code == 404
    assert client.post(reverse("settings:key_revoke", args=[key.pk])).status_code == 404
    change = {"on_duty": "0", "role": Role.MANAGER}
    assert client.post(reverse("settings:member_update", args=[sales.pk]), change).status_code == 404
    assert client.post(reverse("settings:member_invite", args=[sales.pk])).status_code == 404
    key.refresh_from_db()
    sales.refresh_from_db()
    assert key.is_active and sales.on_duty and sales.role == Role.SALESPERSON
    assert not AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a, actor=cast.outsider_b).exists()


def test_outsider_sees_only_own_dealer_on_list_pages(cast, client):
    a_key, b_key = key_of(cast.dealer_a), key_of(cast.dealer_b)
    CallScript.objects.create(dealer=cast.dealer_a, reason="lease_end", body="Goedemorgen, uw leasecontract loopt af")
    audit_record(dealer=cast.dealer_a, actor=cast.manager_a, action="policy.updated", target="follow-up policy",
                 changes={"min_attempts": ["4", "5"]})
    login(client, cast.outsider_b)
    keys = client.get(reverse("settings:keys")).content.decode()
    assert b_key.prefix in keys and a_key.prefix not in keys
    team = client.get(reverse("settings:team")).content.decode()
    assert "manager@b.test" in team
    assert not any(email in team for email in ("manager@a.test", "sales1@a.test", "bdc@a.test"))
    assert "leasecontract" not in client.get(reverse("settings:scripts")).content.decode()
    audit = client.get(reverse("settings:audit")).content.decode()
    assert "Portal key created" in audit  # B's own key
    assert "Follow-up policy changed" not in audit and a_key.prefix not in audit


# ------------------------------------------------------------------------------------------------ follow-up policy

def test_policy_change_is_saved_and_audited(cast, client):
    login(client, cast.manager_a)
    response = client.post(reverse("settings:policy"), policy_post(min_attempts="5", cadence_days="0 1 2 4 7", map_target="40"))
    assert response.status_code == 302 and response["Location"] == reverse("settings:policy")
    policy = FollowUpPolicy.objects.get(dealer=cast.dealer_a)
    assert (policy.min_attempts, policy.cadence_days, policy.map_target) == (5, [0, 1, 2, 4, 7], Decimal("0.400"))
    entry = AuditEntry.objects.unscoped().get(dealer=cast.dealer_a, action="policy.updated")
    assert entry.actor == cast.manager_a
    assert entry.changes["min_attempts"] == ["4", "5"]
    assert set(entry.changes) == {"min_attempts", "cadence_days", "map_target"}
    page = client.get(reverse("settings:policy")).content.decode()
    assert "The follow-up policy is saved" in page
    assert 'value="0, 1, 2, 4, 7"' in page and 'value="40"' in page


def test_saving_an_unchanged_policy_writes_no_audit_entry(cast, client):
    policy_get(dealer=cast.dealer_a)
    login(client, cast.manager_a).post(reverse("settings:policy"), policy_post())
    assert not AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a).exists()
    assert "Nothing changed" in client.get(reverse("settings:policy")).content.decode()


@pytest.mark.parametrize("overrides, field, message", [
    ({"manager_alert_after_minutes": "10", "remind_after_minutes": "20"}, "manager_alert_after_minutes",
     "Must be at least 20 minutes"),
    ({"reassign_after_minutes": "5"}, "reassign_after_minutes", "Must be at least 15 minutes"),
    ({"min_attempts": "0"}, "min_attempts", "greater than or equal to 1"),
    ({"cadence_days": "0, een, 3"}, "cadence_days", "whole numbers of days"),
    ({"cadence_days": ""}, "cadence_days", "This field is required"),
    ({"map_target": "120"}, "map_target", "less than or equal to 100"),
])
def test_policy_validation_errors_are_shown_and_nothing_is_saved(cast, client, overrides, field, message):
    policy_get(dealer=cast.dealer_a)
    response = login(client, cast.manager_a).post(reverse("settings:policy"), policy_post(**overrides))
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert "Not saved" in body
    assert field in response.context["form"].errors
    policy = FollowUpPolicy.objects.get(dealer=cast.dealer_a)
    assert (policy.min_attempts, policy.cadence_days, policy.reassign_after_minutes) == (4, [0, 1, 3, 6], 60)
    assert not AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a).exists()


def test_policy_page_explains_fields_in_plain_words(cast, client):
    body = login(client, cast.manager_a).get(reverse("settings:policy")).content.decode()
    assert "count as one towards the minimum" in body
    assert 'value="0, 1, 3, 6"' in body and 'value="36"' in body


# --------------------------------------------------------------------------------------------------- routing model

def test_routing_page_explains_each_model(cast, client):
    body = login(client, cast.manager_a).get(reverse("settings:routing")).content.decode()
    assert "go to the BDC queue" in body and "Every lead enters the BDC queue" in body and "No BDC" in body
    assert re.search(r'value="split"\s+checked', body)


def test_routing_model_change_is_saved_and_audited(cast, client):
    response = login(client, cast.manager_a).post(reverse("settings:routing"), {"routing_model": RoutingModel.BDC_FIRST})
    assert response.status_code == 302
    cast.dealer_a.refresh_from_db()
    assert cast.dealer_a.routing_model == RoutingModel.BDC_FIRST
    entry = AuditEntry.objects.unscoped().get(dealer=cast.dealer_a)
    assert (entry.action, entry.changes) == ("dealer.routing_model_changed", {"routing_model": ["split", "bdc_first"]})
    assert "Routing model saved" in client.get(reverse("settings:routing")).content.decode()


def test_unknown_routing_model_is_refused(cast, client):
    response = login(client, cast.manager_a).post(reverse("settings:routing"), {"routing_model": "everyone"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    cast.dealer_a.refresh_from_db()
    assert cast.dealer_a.routing_model == RoutingModel.SPLIT


# --------------------------------------------------------------------------------------------------- opening hours

def test_a_week_of_opening_hours_replaces_the_old_one(cast, client):
    OpeningHours.objects.create(dealer=cast.dealer_a, weekday=6, opens=dt.time(11), closes=dt.time(15))
    response = login(client, cast.manager_a).post(
        reverse("settings:hours"), week_post(d0_p1_opens="19:00", d0_p1_closes="21:00"))
    assert response.status_code == 302
    week = OpeningHours.objects.unscoped().filter(dealer=cast.dealer_a).order_by("weekday", "opens")
    rows = [(h.weekday, h.opens, h.closes) for h in week]
    assert rows[:2] == [(0, dt.time(9), dt.time(18)), (0, dt.time(19), dt.time(21))]
    assert (5, dt.time(10), dt.time(16)) in rows
    assert not any(r[0] == 6 for r in rows)  # Sunday is closed now
    entry = AuditEntry.objects.unscoped().get(dealer=cast.dealer_a, action="opening_hours.replaced")
    assert entry.changes["monday"] == ["", "09:00-18:00, 19:00-21:00"]
    assert entry.changes["sunday"] == ["11:00-15:00", ""]
    page = client.get(reverse("settings:hours")).content.decode()
    assert "Opening hours saved" in page and 'value="19:00"' in page


@pytest.mark.parametrize("overrides, message", [
    ({"d2_p0_opens": "18:00", "d2_p0_closes": "09:00"}, "The closing time must be after the opening time."),
    ({"d2_p0_opens": "09:00", "d2_p0_closes": "09:00"}, "The closing time must be after the opening time."),
    ({"d3_p1_opens": "12:00", "d3_p1_closes": "20:00"}, "overlap"),
    ({"d4_p0_closes": ""}, "Fill in both the opening and the closing time."),
    ({"d6_closed": None}, "Fill in the opening hours or tick"),
])
def test_invalid_opening_hours_are_shown_and_the_old_week_stays(cast, client, overrides, message):
    OpeningHours.objects.create(dealer=cast.dealer_a, weekday=0, opens=dt.time(8, 30), closes=dt.time(17, 30))
    response = login(client, cast.manager_a).post(reverse("settings:hours"), week_post(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert [(h.weekday, h.opens) for h in OpeningHours.objects.unscoped().filter(dealer=cast.dealer_a)] == [(0, dt.time(8, 30))]
    assert not AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a).exists()


def test_a_closed_day_ignores_times_left_in_its_fields(cast, client):
    login(client, cast.manager_a).post(reverse("settings:hours"), week_post(d6_p0_opens="10:00", d6_p0_closes="14:00"))
    assert not OpeningHours.objects.unscoped().filter(dealer=cast.dealer_a, weekday=6).exists()


# ------------------------------------------------------------------------------------------------------------ team

def test_on_duty_toggle_and_role_change_are_audited(cast, client):
    sales = membership_of(cast.sales_a1, cast.dealer_a)
    login(client, cast.manager_a)
    assert client.post(reverse("settings:member_update", args=[sales.pk]), {"on_duty": "0"}).status_code == 302
    assert client.post(reverse("settings:member_update", args=[sales.pk]), {"role": Role.BDC_AGENT}).status_code == 302
    sales.refresh_from_db()
    assert (sales.on_duty, sales.role, sales.is_active) == (False, Role.BDC_AGENT, True)
    entries = AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a, action="membership.updated").order_by("at", "pk")
    changes = [e.changes for e in entries]
    assert changes == [{"on_duty": [True, False]}, {"role": ["salesperson", "bdc_agent"]}]
    assert "off duty" in client.get(reverse("settings:team")).content.decode()


def test_removing_and_bringing_back_a_team_member(cast, client):
    sales = membership_of(cast.sales_a2, cast.dealer_a)
    login(client, cast.manager_a).post(reverse("settings:member_update", args=[sales.pk]), {"is_active": "0"})
    sales.refresh_from_db()
    assert not sales.is_active
    page = client.get(reverse("settings:team")).content.decode()
    assert "No longer on the team" in page
    client.post(reverse("settings:member_update", args=[sales.pk]), {"is_active": "1"})
    sales.refresh_from_db()
    assert sales.is_active
    assert [e.changes for e in AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a).order_by("at", "pk")] == [
        {"is_active": [True, False]}, {"is_active": [False, True]}]


@pytest.mark.parametrize("change", [{"role": Role.SALESPERSON}, {"is_active": "0"}])
def test_a_manager_cannot_take_away_their_own_manager_role(cast, client, change):
    me = membership_of(cast.manager_a, cast.dealer_a)
    login(client, cast.manager_a).post(reverse("settings:member_update", args=[me.pk]), change)
    me.refresh_from_db()
    assert (me.role, me.is_active) == (Role.MANAGER, True)
    assert "take away your own manager role" in client.get(reverse("settings:team")).content.decode()
    assert not AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a).exists()


def test_another_manager_may_change_a_manager(cast, client):
    second = MembershipFactory(dealer=cast.dealer_a, role=Role.MANAGER, user=UserFactory(email="chef2@a.test"))
    me = membership_of(cast.manager_a, cast.dealer_a)
    login(client, second.user).post(reverse("settings:member_update", args=[me.pk]), {"role": Role.SALESPERSON})
    me.refresh_from_db()
    assert me.role == Role.SALESPERSON


def test_a_manager_cannot_hand_out_the_group_admin_role(cast, client):
    sales = membership_of(cast.sales_a1, cast.dealer_a)
    login(client, cast.manager_a)
    client.post(reverse("settings:member_update", args=[sales.pk]), {"role": Role.GROUP_ADMIN})
    client.post(reverse("settings:team_add"), {"email": "nieuw@a.test", "role": Role.GROUP_ADMIN})
    sales.refresh_from_db()
    assert sales.role == Role.SALESPERSON
    assert not User.objects.filter(email="nieuw@a.test").exists()
    assert 'value="group_admin"' not in client.get(reverse("settings:team")).content.decode()


def test_only_a_group_admin_removes_a_group_admin(cast, client):
    group_admin = MembershipFactory(dealer=cast.dealer_a, role=Role.GROUP_ADMIN, user=UserFactory(email="groep@a.test"))
    login(client, cast.manager_a).post(reverse("settings:member_update", args=[group_admin.pk]), {"is_active": "0"})
    group_admin.refresh_from_db()
    assert group_admin.is_active
    make_group_admin(cast.dealer_a, admin := UserFactory(email="holding@a.test"))
    login(client, admin).post(reverse("settings:member_update", args=[group_admin.pk]) + "?dealer=dealer-a", {"is_active": "0"})
    group_admin.refresh_from_db()
    assert not group_admin.is_active
    assert AuditEntry.objects.unscoped().get(dealer=cast.dealer_a).actor == admin


def invitation_link(message) -> str:
    return re.search(r"http://testserver(/accounts/invitation/\S+)", message.body).group(1)


def test_adding_an_existing_user_by_email_invites_them(cast, client, django_capture_on_commit_callbacks):
    existing = UserFactory(email="pieter.jansen@example.nl", first_name="Pieter", last_name="Jansen")
    with django_capture_on_commit_callbacks(execute=True):
        response = login(client, cast.manager_a).post(
            reverse("settings:team_add"), {"email": "Pieter.Jansen@example.nl", "role": Role.SALESPERSON})
    assert response.status_code == 302
    assert not Membership.objects.filter(user=existing, dealer=cast.dealer_a).exists()  # not before accepting
    entry = AuditEntry.objects.unscoped().get(dealer=cast.dealer_a)
    assert (entry.action, entry.target) == ("membership.invited", "pieter.jansen@example.nl")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pieter.jansen@example.nl"]
    link = invitation_link(mail.outbox[0])
    client.logout()
    assert client.get(link)["Location"].startswith(reverse("login"))  # an account accepts signed in
    client.force_login(existing)
    assert client.post(link).status_code == 302
    membership = membership_of(existing, cast.dealer_a)
    assert (membership.role, membership.is_active) == (Role.SALESPERSON, True)
    assert client.post(link).status_code == 404  # once
    assert audit_actions(cast.dealer_a) == ["membership.invited", "membership.added"]


def test_adding_a_new_person_sends_a_working_invitation(cast, client, django_capture_on_commit_callbacks):
    login(client, cast.manager_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("settings:team_add"), {"email": "sanne.bakker@example.nl", "first_name": "Sanne",
                                                              "last_name": "Bakker", "role": Role.BDC_AGENT})
    assert response.status_code == 302
    assert not User.objects.filter(email="sanne.bakker@example.nl").exists()  # the account comes with acceptance
    assert "Sanne Bakker" in client.get(reverse("settings:team")).content.decode()  # listed as invited
    # The manager can send it again while it is not accepted.
    invitation = Invitation.objects.unscoped().get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("settings:invitation_resend", args=[invitation.pk]))
    assert len(mail.outbox) == 2 and mail.outbox[0].to == ["sanne.bakker@example.nl"]
    link = invitation_link(mail.outbox[1])
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and 'name="new_password1"' in page.content.decode()
    answer = client.post(link, {"first_name": "Sanne", "last_name": "Bakker", "new_password1": "Lease-einde-2027",
                                "new_password2": "Lease-einde-2027"})
    assert answer.status_code == 302
    user = User.objects.get(email="sanne.bakker@example.nl")
    assert user.check_password("Lease-einde-2027") and user.get_full_name() == "Sanne Bakker"
    assert membership_of(user, cast.dealer_a).role == Role.BDC_AGENT
    assert client.get(reverse("home")).status_code == 302  # signed in
    assert audit_actions(cast.dealer_a) == ["membership.invited", "membership.invited", "membership.added"]


def test_adding_someone_already_on_the_team_is_refused(cast, client):
    response = login(client, cast.manager_a).post(reverse("settings:team_add"), {"email": "sales1@a.test", "role": Role.MANAGER})
    assert response.status_code == 200 and "already on the team" in response.content.decode()
    assert membership_of(cast.sales_a1, cast.dealer_a).role == Role.SALESPERSON


def test_team_page_query_count_does_not_grow_with_the_team(cast, client, django_assert_num_queries):
    login(client, cast.manager_a)
    url = reverse("settings:team")
    client.get(url)  # settle the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    assert Membership.objects.filter(dealer=cast.dealer_a).count() == 4
    for _ in range(16):
        MembershipFactory(dealer=cast.dealer_a, role=Role.SALESPERSON, on_duty=False)
    with django_assert_num_queries(len(few)):
        body = client.get(url).content.decode()
    assert body.count('class="card member') == 20


# ---------------------------------------------------------------------------------------------------- portal keys

def lead_body():
    return {"external_id": "MP-2026-118734", "customer": {"first_name": "Jan", "last_name": "de Vries", "phone": "06 12345678"}}


def test_a_new_key_is_shown_once_and_works_until_revoked(cast, client):
    login(client, cast.manager_a)
    response = client.post(reverse("settings:keys"), {"source": "AutoScout24"})
    assert response.status_code == 302 and response["Location"] == reverse("settings:key_created")
    shown = client.get(reverse("settings:key_created"))
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    raw_key = re.search(r"(opv_[0-9a-f]{8}_[\w-]+)", shown.content.decode()).group(1)
    # Never again: not on a second visit, not on the list.
    again = client.get(reverse("settings:key_created"), follow=True)
    assert raw_key not in again.content.decode() and "shown only once" in again.content.decode()
    api_key = ApiKey.objects.unscoped().get(dealer=cast.dealer_a)
    assert api_key.source == "autoscout24" and api_key.created_by == cast.manager_a
    keys_page = client.get(reverse("settings:keys")).content.decode()
    assert raw_key not in keys_page and api_key.prefix in keys_page
    assert raw_key not in str(dict(client.session))

    portal = APIClient()
    portal.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    created = portal.post("/api/v1/leads/", lead_body(), format="json")
    assert created.status_code == 201, created.content

    confirm = client.get(reverse("settings:key_revoke", args=[api_key.pk]))
    assert confirm.status_code == 200 and "can no longer send leads" in confirm.content.decode()
    api_key.refresh_from_db()
    assert api_key.is_active  # the confirmation page itself changes nothing
    assert client.post(reverse("settings:key_revoke", args=[api_key.pk])).status_code == 302
    refused = portal.post("/api/v1/leads/", {**lead_body(), "external_id": "MP-2"}, format="json")
    assert refused.status_code == 401
    assert audit_actions(cast.dealer_a) == ["api_key.created", "api_key.revoked"]
    assert "Revoked keys" in client.get(reverse("settings:keys")).content.decode()


def test_a_key_with_an_invalid_source_is_not_created(cast, client):
    response = login(client, cast.manager_a).post(reverse("settings:keys"), {"source": "mijn portal!"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not ApiKey.objects.unscoped().exists()


def test_keys_page_query_count_does_not_grow_with_the_keys(cast, client, django_assert_num_queries):
    login(client, cast.manager_a)
    url = reverse("settings:keys")
    api_key_for(cast.dealer_a, created_by=cast.manager_a)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(12):
        api_key_for(cast.dealer_a, source=f"portal-{n}", created_by=cast.sales_a1 if n % 2 else cast.manager_a)
    with django_assert_num_queries(len(few)):
        client.get(url)


# --------------------------------------------------------------------------------------------------- call scripts

def test_call_script_per_reason_is_saved_removed_and_audited(cast, client):
    login(client, cast.manager_a)
    url = reverse("settings:script_save", args=["lease_end"])
    response = client.post(url, {"lease_end-body": "Goedemorgen, u spreekt met Autobedrijf A. Uw leasecontract loopt af..."})
    assert response.status_code == 302 and response["Location"].endswith("#script-lease_end")
    assert CallScript.objects.unscoped().get(dealer=cast.dealer_a, reason="lease_end").body.startswith("Goedemorgen")
    page = client.get(reverse("settings:scripts")).content.decode()
    assert "Uw leasecontract loopt af" in page and 'id="script-lost_sale"' in page and 'id="script-callback"' in page
    client.post(url, {"lease_end-body": "  "})
    assert not CallScript.objects.unscoped().filter(dealer=cast.dealer_a).exists()
    assert audit_actions(cast.dealer_a) == ["call_script.saved", "call_script.removed"]


def test_unknown_script_reason_is_404(cast, client):
    url = reverse("settings:script_save", args=["koffie"])
    assert login(client, cast.manager_a).post(url, {"koffie-body": "x"}).status_code == 404


# ---------------------------------------------------------------------------------------------------- audit trail

def test_audit_trail_shows_actor_and_readable_diff_newest_first(cast, client):
    login(client, cast.manager_a)
    client.post(reverse("settings:routing"), {"routing_model": RoutingModel.SALES_ONLY})
    client.post(reverse("settings:policy"), policy_post(min_attempts="6"))
    body = client.get(reverse("settings:audit")).content.decode()
    assert body.index("Follow-up policy changed") < body.index("Routing model changed")
    assert cast.manager_a.display_name in body
    assert "Minimum attempts before unreachable" in body
    assert re.search(r"<del>Split: active leads to sales, passive leads to the BDC</del>.*<ins>Sales only: no BDC</ins>",
                     body, re.S)


def test_audit_trail_is_paginated_with_constant_queries(cast, client, django_assert_num_queries):
    login(client, cast.manager_a)
    url = reverse("settings:audit")
    for n in range(3):
        audit_record(dealer=cast.dealer_a, actor=cast.manager_a, action="policy.updated", changes={"min_attempts": [n, n + 1]})
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    other = UserFactory(email="chef3@a.test")
    for n in range(40):
        audit_record(dealer=cast.dealer_a, actor=other if n % 2 else cast.manager_a, action="membership.updated",
                     target=f"medewerker{n}@a.test", changes={"on_duty": [True, False]})
    with django_assert_num_queries(len(few)):
        first = client.get(url).content.decode()
    assert "medewerker39@a.test" in first and "Page 1 of 2" in first
    second = client.get(url + "?page=2").content.decode()
    assert "medewerker0@a.test" in second and "medewerker39@a.test" not in second


def test_other_dealer_of_the_same_user_is_kept_apart(cast, client):
    """A manager of two rooftops edits the one chosen; the other's settings are untouched."""
    sister = DealerFactory(group=cast.dealer_a.group, slug="dealer-a-zuid")
    MembershipFactory(dealer=sister, user=cast.manager_a, role=Role.MANAGER)
    login(client, cast.manager_a)
    client.post(reverse("settings:routing") + "?dealer=dealer-a-zuid", {"routing_model": RoutingModel.SALES_ONLY})
    sister.refresh_from_db()
    cast.dealer_a.refresh_from_db()
    assert (sister.routing_model, cast.dealer_a.routing_model) == (RoutingModel.SALES_ONLY, RoutingModel.SPLIT)
    assert AuditEntry.objects.unscoped().get().dealer == sister
