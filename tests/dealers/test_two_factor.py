"""Two-step sign-in: mandatory for managers and group admins (pages and session API), optional for everyone else."""

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from dealers.models import Role
from dealers.services import recovery_codes_replace
from tests.factories import LeadFactory, MembershipFactory, UserFactory

PASSWORD = "geheim-wachtwoord-1"

pytestmark = pytest.mark.django_db


def code_for(device, offset_steps: int = 0) -> str:
    """What the person's authenticator app shows now (or `offset_steps` periods later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + offset_steps * device.step
    return f"{totp.token():06d}"


def authenticator(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="app", confirmed=True)


def password_login(client, email):
    # Through the login page: django-axes guards authenticate() and needs the request (client.login() has none).
    assert client.post("/accounts/login/", {"username": email, "password": PASSWORD}).status_code == 302
    return client


def test_a_manager_without_an_app_is_sent_to_set_one_up_before_any_page(client, cast):
    password_login(client, "manager@a.test")

    for url in ("/dashboard/", "/settings/", "/settings/team/", "/", "/accounts/two-factor/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/two-factor/setup/?next="), url


def test_a_manager_with_an_app_is_asked_for_the_code_and_the_session_api_is_closed(client, cast):
    authenticator(cast.manager_a)
    password_login(client, "manager@a.test")

    page = client.get("/dashboard/?dealer=dealer-a")
    api = client.get("/api/v1/team/leads/")

    assert page.status_code == 302 and page["Location"] == "/accounts/two-factor/verify/?next=%2Fdashboard%2F%3Fdealer%3Ddealer-a"
    assert api.status_code == 403 and api["Content-Type"] == "application/problem+json"
    assert api.json()["type"].endswith("/second-factor-required")
    # Setting up a new app is not a way around the code: the existing app must be used first.
    assert client.get("/accounts/two-factor/setup/")["Location"].startswith("/accounts/two-factor/verify/")


def test_a_group_admin_must_use_the_second_step_too(client, cast):
    MembershipFactory(dealer=cast.dealer_a, role=Role.GROUP_ADMIN, user=UserFactory(email="groep@a.test"))
    password_login(client, "groep@a.test")
    assert client.get("/")["Location"].startswith("/accounts/two-factor/setup/")


def test_half_signed_in_the_login_logout_health_static_and_language_pages_still_work(client, cast):
    password_login(client, "manager@a.test")
    assert client.get("/accounts/login/").status_code in (200, 302)
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/accounts/two-factor/setup/").status_code == 200
    assert client.post("/i18n/setlang/", {"language": "nl", "next": "/accounts/two-factor/setup/"}).status_code == 302
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")


def test_enrolment_shows_a_qr_code_takes_the_first_code_and_shows_recovery_codes_once(client, cast):
    password_login(client, "manager@a.test")

    setup = client.get("/accounts/two-factor/setup/?next=/dashboard/")
    html = setup.content.decode()
    assert setup.status_code == 200 and '<svg class="qr"' in html
    assert setup["Cache-Control"].startswith("max-age=0") and "no-store" in setup["Cache-Control"]
    device = TOTPDevice.objects.get(user=cast.manager_a, confirmed=False)
    shown_key = re.search(r'<code class="secret-key">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    assert base64.b32decode(shown_key) == device.bin_key  # the manual-entry key is the device's

    wrong = client.post("/accounts/two-factor/setup/", {"code": "000000" if code_for(device) != "000000" else "111111",
                                                        "next": "/dashboard/"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert client.get("/dashboard/").status_code == 302

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=5)):  # after a wrong code, the next try waits
        done = client.post("/accounts/two-factor/setup/", {"code": code_for(device), "next": "/dashboard/"})

    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/dashboard/"' in done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/dashboard/").status_code == 200
    # The codes are not shown again anywhere.
    account = client.get("/accounts/two-factor/").content.decode()
    assert "10 recovery codes left" in account and not any(code in account for code in codes)


def test_a_code_verifies_the_session_and_cannot_be_used_twice(client, cast):
    device = authenticator(cast.manager_a)
    password_login(client, "manager@a.test")
    code = code_for(device)

    response = client.post("/accounts/two-factor/verify/", {"code": code, "next": "/settings/"})

    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert client.get("/settings/").status_code == 200
    assert client.get("/api/v1/team/leads/?dealer=dealer-a").status_code == 200

    other = password_login(type(client)(), "manager@a.test")
    replay = other.post("/accounts/two-factor/verify/", {"code": code, "next": "/settings/"})
    assert replay.status_code == 400
    assert other.get("/settings/").status_code == 302


def test_verify_refuses_an_outside_next_url(client, cast):
    device = authenticator(cast.manager_a)
    password_login(client, "manager@a.test")
    response = client.post("/accounts/two-factor/verify/", {"code": code_for(device), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_recovery_code_signs_in_once(client, cast):
    authenticator(cast.manager_a)
    codes = recovery_codes_replace(user=cast.manager_a)
    password_login(client, "manager@a.test")

    first = client.post("/accounts/two-factor/verify/", {"code": codes[0].upper(), "next": "/dashboard/"}, follow=True)

    assert first.status_code == 200 and first.redirect_chain[0][0] == "/dashboard/"
    assert "9 codes are left" in first.content.decode()
    again = password_login(type(client)(), "manager@a.test")
    assert again.post("/accounts/two-factor/verify/", {"code": codes[0]}).status_code == 400
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=5)):  # after a wrong code, the next try waits
        assert again.post("/accounts/two-factor/verify/", {"code": codes[1]}).status_code == 302
    assert StaticDevice.objects.get(user=cast.manager_a).token_set.count() == 8


@pytest.mark.parametrize("code", ["", "x" * 5000, "' OR 1=1 --", "１２３４５６", "\x00"])
def test_hostile_codes_are_a_4xx(client, cast, code):
    authenticator(cast.manager_a)
    password_login(client, "manager@a.test")
    assert client.post("/accounts/two-factor/verify/", {"code": code}).status_code == 400
    assert client.post("/accounts/two-factor/setup/", {"code": code}).status_code in (302, 400)


def test_wrong_codes_slow_down_further_tries(client, cast):
    device = authenticator(cast.manager_a)
    password_login(client, "manager@a.test")
    for _ in range(3):
        client.post("/accounts/two-factor/verify/", {"code": "000000" if code_for(device) != "000000" else "111111"})
    # django-otp's throttle: even the right code waits until the back-off has passed.
    assert client.post("/accounts/two-factor/verify/", {"code": code_for(device)}).status_code == 400
    with time_machine.travel(device.throttling_failure_timestamp, tick=False) as traveller:
        traveller.shift(60)
        assert client.post("/accounts/two-factor/verify/", {"code": code_for(device)}).status_code == 302


def test_a_salesperson_is_not_forced_and_can_turn_it_on_and_off(client, cast):
    password_login(client, "sales1@a.test")
    assert client.get("/inbox/").status_code == 200
    assert "Off." in client.get("/accounts/two-factor/").content.decode()

    client.get("/accounts/two-factor/setup/")
    device = TOTPDevice.objects.get(user=cast.sales_a1)
    assert client.post("/accounts/two-factor/setup/", {"code": code_for(device)}).status_code == 200

    # Once on, the salesperson's next sign-in needs the second step as well.
    later = password_login(type(client)(), "sales1@a.test")
    assert later.get("/inbox/")["Location"].startswith("/accounts/two-factor/verify/")
    # Turning it off is theirs to decide (a manager has no such button).
    assert client.post("/accounts/two-factor/", {"action": "turn-off"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=cast.sales_a1).exists()
    assert later.get("/inbox/").status_code == 200


def test_a_manager_cannot_turn_it_off(client, cast):
    client.force_login(cast.manager_a)
    assert "Turn two-step sign-in off" not in client.get("/accounts/two-factor/").content.decode()
    client.post("/accounts/two-factor/", {"action": "turn-off"})
    assert TOTPDevice.objects.filter(user=cast.manager_a, confirmed=True).exists()


def test_the_account_menu_links_to_the_security_page(client, cast):
    client.force_login(cast.sales_a1)
    assert 'href="/accounts/two-factor/"' in client.get("/inbox/").content.decode()


def test_otp_reset_removes_the_app_and_codes_so_the_user_sets_up_again(client, cast):
    authenticator(cast.manager_a)
    recovery_codes_replace(user=cast.manager_a)

    call_command("otp_reset", "Manager@A.test")

    assert not TOTPDevice.objects.filter(user=cast.manager_a).exists()
    assert not StaticDevice.objects.filter(user=cast.manager_a).exists()
    password_login(client, "manager@a.test")
    assert client.get("/dashboard/")["Location"].startswith("/accounts/two-factor/setup/")


def test_otp_reset_of_an_unknown_address_fails_loudly(cast):
    with pytest.raises(CommandError):
        call_command("otp_reset", "niemand@a.test")


def test_the_lead_page_of_a_verified_manager_still_hides_other_dealers(client, cast):
    other = LeadFactory(dealer=cast.dealer_b)
    client.force_login(cast.manager_a)
    assert client.get(f"/leads/{other.pk}/").status_code == 404


def test_the_second_step_speaks_dutch(client, cast):
    authenticator(cast.manager_a)
    password_login(client, "manager@a.test")
    client.cookies["django_language"] = "nl"
    html = client.get("/accounts/two-factor/verify/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Tweede inlogstap" in html and "herstelcodes" in html


@pytest.mark.password_only
def test_force_login_without_the_second_step_stops_at_it(client, cast):
    client.force_login(cast.manager_a)
    assert client.get("/dashboard/")["Location"].startswith("/accounts/two-factor/setup/")
