"""Issue 16, defect 3: password guessing on the web login, the admin and the reset form is stopped (django-axes)."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "geheim-wachtwoord-1"  # tests.factories.UserFactory's password


def log_in(client, email, password):
    return client.post(reverse("login"), {"username": email, "password": password})


def guess(client, email, times):
    return [log_in(client, email, f"raden-{i}").status_code for i in range(times)]


def test_guessing_one_account_is_stopped_and_the_right_password_does_not_open_a_session(client, cast):
    answers = guess(client, "sales1@a.test", settings.AXES_FAILURE_LIMIT)
    assert answers[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1) and answers[-1] == 429
    locked = log_in(client, "sales1@a.test", PASSWORD)
    assert locked.status_code == 429 and "Too many attempts" in locked.content.decode()
    assert locked["Retry-After"] == "900"
    # No session came of it: the team API, which a session would open, stays shut.
    assert client.get("/api/v1/team/leads/").status_code in (401, 403)


def test_the_lockout_page_is_dutch_for_a_dutch_visitor(client, cast):
    guess(client, "sales1@a.test", settings.AXES_FAILURE_LIMIT)
    page = client.post(reverse("login"), {"username": "sales1@a.test", "password": PASSWORD},
                       HTTP_ACCEPT_LANGUAGE="nl")
    assert page.status_code == 429 and "Te veel pogingen" in page.content.decode()


def test_the_real_user_on_another_device_is_not_locked_out(client, cast):
    guess(client, "sales1@a.test", settings.AXES_FAILURE_LIMIT)
    own_phone = client.__class__(REMOTE_ADDR="10.9.8.7")
    assert log_in(own_phone, "sales1@a.test", PASSWORD).status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, cast):
    guess(client, "sales1@a.test", settings.AXES_FAILURE_LIMIT)
    assert log_in(client, "sales1@a.test", PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + dt.timedelta(seconds=5)):
        assert log_in(client, "sales1@a.test", PASSWORD).status_code == 302


def test_spraying_many_accounts_from_one_client_is_stopped(client, cast, settings):
    settings.LOGIN_FAILURES_PER_CLIENT = 6
    for i in range(6):  # one or two guesses per account stay under the per-account limit
        log_in(client, f"medewerker{i}@a.test", "Welkom01!")
    assert log_in(client, "sales2@a.test", "Welkom01!").status_code == 429
    assert log_in(client, "sales2@a.test", PASSWORD).status_code == 429
    assert log_in(client.__class__(REMOTE_ADDR="10.9.8.7"), "sales2@a.test", PASSWORD).status_code == 302


def test_the_admin_login_is_guarded_too(client, cast):
    UserFactory(email="beheer@opvolger.test", is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    answers = [client.post(url, {"username": "beheer@opvolger.test", "password": f"raden-{i}"}).status_code
               for i in range(settings.AXES_FAILURE_LIMIT)]
    assert answers[-1] == 429
    assert client.post(url, {"username": "beheer@opvolger.test", "password": PASSWORD}).status_code == 429


def test_password_reset_mails_are_limited_per_address(client, cast):
    url = reverse("password_reset")
    answers = [client.post(url, {"email": "sales1@a.test"}).status_code for _ in range(settings.PASSWORD_RESETS_PER_HOUR + 2)]
    assert answers[:settings.PASSWORD_RESETS_PER_HOUR] == [302] * settings.PASSWORD_RESETS_PER_HOUR
    assert answers[-1] == 429
    assert len(mail.outbox) == settings.PASSWORD_RESETS_PER_HOUR
