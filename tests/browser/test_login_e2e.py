"""The first thing anyone does: log in on a phone and land where they work."""

import pytest

from .conftest import has_horizontal_scroll, login, screenshot, serious_accessibility_violations, small_tap_targets

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_on_a_phone_is_usable_and_accessible(live_server, phone_page):
    phone_page.goto(f"{live_server.url}/accounts/login/")
    screenshot(phone_page, "login-phone")
    assert not has_horizontal_scroll(phone_page)
    assert small_tap_targets(phone_page) == []
    assert serious_accessibility_violations(phone_page) == []


def test_wrong_password_says_so(live_server, phone_page, cast):
    login(phone_page, live_server, cast.sales_a1.email, password="fout")
    assert phone_page.locator("[role=alert]").is_visible()
