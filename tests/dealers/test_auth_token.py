"""Signing in to the team API: a token for e-mail and password, the browser's session, and the brute-force guard."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from dealers.api_views import LoginAttemptThrottle
from dealers.models import TeamToken
from tests.factories import LeadFactory

PASSWORD = "geheim-wachtwoord-1"  # tests.factories.UserFactory's password
TOKEN_URL = "/api/v1/auth/token/"
LEADS_URL = "/api/v1/team/leads/"


def sign_in(email, password, client=None):
    return (client or APIClient()).post(TOKEN_URL, {"email": email, "password": password}, format="json")


def test_the_token_url_is_the_contracts():
    assert reverse("api-auth-token") == TOKEN_URL


def test_token_sign_in_then_the_token_opens_the_team_api(cast):
    own = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a2)

    response = sign_in("sales1@a.test", PASSWORD)

    assert response.status_code == 200
    token = response.json()["token"]
    stored = TeamToken.objects.get(user=cast.sales_a1)
    assert token not in (stored.digest, stored.token_key)  # only a hash and a lookup prefix are kept
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    leads = client.get(LEADS_URL)
    assert leads.status_code == 200
    assert [item["id"] for item in leads.json()["results"]] == [str(own.pk)]


def test_signing_in_again_gives_that_device_its_own_token_and_the_address_is_case_insensitive(cast):
    first = sign_in("sales1@a.test", PASSWORD).json()["token"]
    again = sign_in("  Sales1@A.test ", PASSWORD)
    assert again.status_code == 200
    assert again.json()["token"] != first
    for token in (first, again.json()["token"]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert client.get(LEADS_URL).status_code == 200


@pytest.mark.parametrize("email,password", [
    ("sales1@a.test", "verkeerd-wachtwoord"),
    ("niemand@a.test", PASSWORD),
])
def test_wrong_credentials_are_a_400_problem_without_a_token(cast, email, password):
    response = sign_in(email, password)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert body["type"].endswith("/invalid-credentials")
    assert "token" not in body
    assert not TeamToken.objects.exists()


def test_an_inactive_user_gets_no_token(cast):
    cast.sales_a1.is_active = False
    cast.sales_a1.save(update_fields=["is_active"])
    assert sign_in("sales1@a.test", PASSWORD).status_code == 400


def test_a_body_without_password_is_a_400_naming_the_field(cast):
    response = APIClient().post(TOKEN_URL, {"email": "sales1@a.test"}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "password" in response.json()["errors"]


def test_a_bad_token_and_no_credentials_are_401(cast):
    client = APIClient()
    assert client.get(LEADS_URL).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.get(LEADS_URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_session_login_works_for_the_same_endpoints(cast):
    own = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    client = APIClient()
    assert client.post(reverse("login"), {"username": "sales1@a.test", "password": PASSWORD}).status_code == 302

    response = client.get(LEADS_URL)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(own.pk)]


def test_a_session_write_needs_the_csrf_token(cast):
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast.sales_a1)

    response = client.post(f"/api/v1/team/leads/{lead.pk}/attempts/", {"channel": "call", "outcome": "no_answer"},
                           format="json")

    assert response.status_code == 403
    assert not lead.attempts.exists()


def test_repeated_failures_for_one_address_are_throttled_even_with_the_right_password(cast):
    for _ in range(LoginAttemptThrottle.failures_allowed - 1):
        assert sign_in("sales1@a.test", "raden-1234").status_code == 400
    assert sign_in("sales1@a.test", "raden-1234").status_code == 429  # the last failure allowed locks

    blocked = sign_in("sales1@a.test", PASSWORD)

    assert blocked.status_code == 429
    assert blocked["Content-Type"] == "application/problem+json"
    assert 0 < int(blocked["Retry-After"]) <= LoginAttemptThrottle.window_seconds
    assert not TeamToken.objects.filter(user=cast.sales_a1).exists()
    # Another address is not affected, and neither is the real user on their own device (issue 16, defect 3).
    assert sign_in("sales2@a.test", PASSWORD).status_code == 200
    assert sign_in("sales1@a.test", PASSWORD, client=APIClient(REMOTE_ADDR="10.1.2.3")).status_code == 200


def test_a_successful_sign_in_clears_the_failure_count(cast):
    for _ in range(LoginAttemptThrottle.failures_allowed - 1):
        sign_in("sales1@a.test", "typfout")
    assert sign_in("sales1@a.test", PASSWORD).status_code == 200

    for _ in range(LoginAttemptThrottle.failures_allowed - 1):
        assert sign_in("sales1@a.test", "typfout").status_code == 400
    assert sign_in("sales1@a.test", "typfout").status_code == 429


def test_a_body_that_is_not_json_is_a_400_problem(cast):
    response = APIClient().post(TOKEN_URL, data="{email: sales1", content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_without_redis_sign_in_is_refused_with_a_503_not_left_unguarded(cast, settings):
    settings.CACHES = {"default": {"BACKEND": "config.cache.ReusedClientRedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens there
    response = sign_in("sales1@a.test", PASSWORD)
    assert response.status_code == 503 and response["Content-Type"] == "application/problem+json"
    assert "try again" in response.json()["detail"] and not TeamToken.objects.filter(user=cast.sales_a1).exists()
