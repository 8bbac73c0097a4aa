"""The first thing anyone does: log in on a phone and land where they work."""

import pytest

from .conftest import (
    PHONE,
    has_horizontal_scroll,
    login,
    new_page,
    screenshot,
    serious_accessibility_violations,
    small_tap_targets,
)

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


def test_a_dutch_browser_gets_dutch_and_can_switch_to_english(live_server, browser):
    page = new_page(browser, PHONE, locale="nl-NL")
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        assert page.locator("h1").inner_text() == "Inloggen"
        page.click("header button[name=language][value=en]")
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text() == "Log in"
    finally:
        page.context.close()
