"""Team-API tokens: one per signed-in device, expiring, listed and revoked by their owner; managers add a code."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from dealers.api_views import LoginAttemptThrottle
from dealers.models import TeamToken
from dealers.services import recovery_codes_replace
from tests.dealers.test_two_factor import code_for

PASSWORD = "geheim-wachtwoord-1"
TOKEN_URL = "/api/v1/auth/token/"
TOKENS_URL = "/api/v1/auth/tokens/"
LEADS_URL = "/api/v1/team/leads/"

pytestmark = pytest.mark.django_db


def sign_in(email, agent="pytest", **extra):
    return APIClient().post(TOKEN_URL, {"email": email, "password": PASSWORD, **extra}, format="json",
                            HTTP_USER_AGENT=agent)


def with_token(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_expires_after_the_configured_hours(cast):
    response = sign_in("sales1@a.test", device="Jans telefoon")
    token = response.json()["token"]
    expires_at = dt.datetime.fromisoformat(response.json()["expires_at"])
    ttl = dt.timedelta(hours=settings.TEAM_TOKEN_TTL_HOURS)
    assert settings.TEAM_TOKEN_TTL_HOURS == 24 * 30
    assert abs(expires_at - (timezone.now() + ttl)) < dt.timedelta(minutes=1)

    with time_machine.travel(expires_at - dt.timedelta(minutes=1)):
        assert with_token(token).get(LEADS_URL).status_code == 200
    with time_machine.travel(expires_at + dt.timedelta(minutes=1)):
        expired = with_token(token).get(LEADS_URL)
    assert expired.status_code == 401 and expired["Content-Type"] == "application/problem+json"
    assert not TeamToken.objects.filter(user=cast.sales_a1).exists()  # knox deletes what expired


def test_the_lifetime_follows_the_setting(cast, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(hours=2)}
    expires_at = dt.datetime.fromisoformat(sign_in("sales1@a.test").json()["expires_at"])
    assert abs(expires_at - (timezone.now() + dt.timedelta(hours=2))) < dt.timedelta(minutes=1)


def test_each_device_is_listed_and_one_can_be_revoked_without_the_others(cast, django_assert_max_num_queries):
    phone = sign_in("sales1@a.test", device="Telefoon").json()["token"]
    laptop = sign_in("sales1@a.test", agent="Mozilla/5.0 laptop").json()["token"]
    sign_in("sales2@a.test", device="Collega")

    with django_assert_max_num_queries(4):
        listed = with_token(phone).get(TOKENS_URL)

    assert listed.status_code == 200
    rows = listed.json()
    assert [(r["device"], r["current"]) for r in rows] == [("Mozilla/5.0 laptop", False), ("Telefoon", True)]
    assert all(phone not in str(r) and laptop not in str(r) for r in rows)  # the secret is never shown again

    revoked = with_token(phone).delete(f"{TOKENS_URL}{rows[0]['id']}/")

    assert revoked.status_code == 204
    assert with_token(laptop).get(LEADS_URL).status_code == 401
    assert with_token(phone).get(LEADS_URL).status_code == 200


def test_someone_elses_token_is_a_404_and_keeps_working(cast):
    victim = sign_in("sales1@a.test", device="Telefoon").json()["token"]
    victim_id = with_token(victim).get(TOKENS_URL).json()[0]["id"]
    TOTPDevice.objects.create(user=cast.outsider_b, name="app", confirmed=True)
    device = TOTPDevice.objects.get(user=cast.outsider_b)
    outsider = sign_in("manager@b.test", otp=code_for(device)).json()["token"]

    assert with_token(outsider).delete(f"{TOKENS_URL}{victim_id}/").status_code == 404
    assert [r["id"] for r in with_token(outsider).get(TOKENS_URL).json()] != [victim_id]
    assert with_token(victim).get(LEADS_URL).status_code == 200


@pytest.mark.parametrize("path", ["not-a-uuid/", "00000000-0000-0000-0000-000000000000/", "%00/", "x" * 300 + "/"])
def test_hostile_token_ids_are_a_4xx(cast, path):
    token = sign_in("sales1@a.test").json()["token"]
    assert with_token(token).delete(f"{TOKENS_URL}{path}").status_code == 404


def test_the_token_list_needs_a_sign_in(cast):
    assert APIClient().get(TOKENS_URL).status_code == 401


def test_a_device_name_over_100_characters_is_a_400(cast):
    response = sign_in("sales1@a.test", device="x" * 101)
    assert response.status_code == 400 and "device" in response.json()["errors"]


# ---- managers: the second factor on the token endpoint (an additive extension of the contract) ----

def test_a_manager_without_a_code_gets_a_problem_saying_so(cast):
    TOTPDevice.objects.create(user=cast.manager_a, name="app", confirmed=True)
    response = sign_in("manager@a.test")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/otp-required") and "otp" in response.json()["detail"]
    assert not TeamToken.objects.filter(user=cast.manager_a).exists()


def test_a_manager_with_a_wrong_code_gets_no_token(cast):
    device = TOTPDevice.objects.create(user=cast.manager_a, name="app", confirmed=True)
    wrong = "000000" if code_for(device) != "000000" else "111111"
    response = sign_in("manager@a.test", otp=wrong)
    assert response.status_code == 400 and response.json()["type"].endswith("/otp-invalid")
    assert not TeamToken.objects.filter(user=cast.manager_a).exists()


def test_a_manager_with_the_right_code_gets_a_token_that_opens_the_team_api(cast):
    device = TOTPDevice.objects.create(user=cast.manager_a, name="app", confirmed=True)
    response = sign_in("manager@a.test", otp=code_for(device))
    assert response.status_code == 200
    assert with_token(response.json()["token"]).get(f"{LEADS_URL}?dealer=dealer-a").status_code == 200
    # The same code a second time is refused (no replay).
    assert sign_in("manager@a.test", otp=code_for(device)).status_code == 400


def test_a_manager_who_never_set_up_an_app_is_told_to_do_so_in_the_browser(cast):
    response = sign_in("manager@a.test", otp="123456")
    assert response.status_code == 403 and response.json()["type"].endswith("/second-factor-not-set-up")


def test_a_recovery_code_does_not_open_the_api(cast):
    TOTPDevice.objects.create(user=cast.manager_a, name="app", confirmed=True)
    codes = recovery_codes_replace(user=cast.manager_a)
    assert sign_in("manager@a.test", otp=codes[0]).status_code == 400


def test_wrong_codes_count_towards_the_sign_in_limit(cast):
    TOTPDevice.objects.create(user=cast.manager_a, name="app", confirmed=True)
    for _ in range(LoginAttemptThrottle.failures_allowed):
        sign_in("manager@a.test", otp="999999")
    assert sign_in("manager@a.test", otp="999999").status_code == 429


def test_a_salesperson_needs_no_code(cast):
    assert sign_in("sales1@a.test").status_code == 200


def test_the_security_page_lists_the_devices_and_signs_one_out(client, cast, django_assert_max_num_queries):
    tokens = [sign_in("sales1@a.test", device=f"Apparaat {i}").json()["token"] for i in range(5)]
    other = sign_in("sales2@a.test", device="Collega").json()["token"]
    client.force_login(cast.sales_a1)

    with django_assert_max_num_queries(12):
        page = client.get("/accounts/two-factor/")

    html = page.content.decode()
    assert all(f"Apparaat {i}" in html for i in range(5)) and "Collega" not in html
    newest = TeamToken.objects.filter(user=cast.sales_a1).order_by("-created").first()
    foreign = TeamToken.objects.get(user=cast.sales_a2)
    client.post("/accounts/two-factor/", {"action": "revoke-token", "token": str(foreign.public_id)})
    client.post("/accounts/two-factor/", {"action": "revoke-token", "token": "kapot"})
    client.post("/accounts/two-factor/", {"action": "revoke-token", "token": str(newest.public_id)})
    assert with_token(other).get(LEADS_URL).status_code == 200  # another person's token is untouched
    assert with_token(tokens[-1]).get(LEADS_URL).status_code == 401
    assert with_token(tokens[0]).get(LEADS_URL).status_code == 200


@pytest.mark.parametrize("otp", [["123456"], {"code": "123456"}, "1" * 65, "１２３４５６", "12345\x00"])
def test_hostile_codes_on_the_token_endpoint_are_a_4xx(cast, otp):
    TOTPDevice.objects.create(user=cast.manager_a, name="app", confirmed=True)
    response = sign_in("manager@a.test", otp=otp)
    assert 400 <= response.status_code < 500 and response["Content-Type"] == "application/problem+json"
    assert not TeamToken.objects.filter(user=cast.manager_a).exists()
