"""Headless Chromium from the OS packages, driven by Playwright against the live test server.

Screenshots go to artifacts/screenshots/ (kept by CI as test artifacts).
"""

import base64
import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
PASSWORD = "geheim-wachtwoord-1"  # tests.factories.UserFactory's password

# Playwright's sync API runs an event loop in this thread; Django's async-safety check must not trip on it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def playwright_driver():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Chromium from the OS packages (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


def launch(playwright_driver):
    """Headless Chromium from the OS packages."""
    return playwright_driver.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = launch(playwright_driver)
    yield browser
    browser.close()


def new_page(browser, viewport: dict, locale: str = "en-GB", **context_options):
    """A page in a fresh context. The tests read English; test_login_e2e checks that a Dutch browser gets Dutch."""
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="Europe/Amsterdam", **context_options)
    context.set_default_timeout(10_000)
    return context.new_page()


def new_phone_page(browser):
    """A page on a phone: its screen, touch, and twice the pixels."""
    return new_page(browser, PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)


@pytest.fixture
def phone_page(browser):
    page = new_phone_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def desktop_page(browser):
    page = new_page(browser, DESKTOP)
    yield page
    page.context.close()


def login(page, live_server, email: str, password: str = PASSWORD) -> None:
    """Sign in as a person would, including the second step for managers: the first time, set up the app from the
    key on the page; later, type the app's current code."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")
    if "/accounts/two-factor/setup/" in page.url:
        key = base64.b32decode(page.locator("code.secret-key").inner_text().replace(" ", ""))
        page.fill("#id_code", authenticator_code(key))
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.click("text=I have saved them")
        page.wait_for_load_state("networkidle")
    elif "/accounts/two-factor/verify/" in page.url:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.get(user__email=email, confirmed=True)
        page.fill("#id_code", authenticator_code(device.bin_key, after_step=device.last_t))
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")


def authenticator_code(key: bytes, after_step: int = -1) -> str:
    """What an authenticator app shows for this key: the current code, or the next one if this one was used."""
    from django_otp.oath import TOTP

    totp = TOTP(key)
    if totp.t() <= after_step:
        totp.time = totp.time + 30
    return f"{totp.token():06d}"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_accessibility_violations(page) -> list[dict]:
    """axe-core (bundled by axe-playwright-python): the violations with impact serious or critical."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


def has_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")


def small_tap_targets(page, minimum: int = 44) -> list[str]:
    """Visible links, buttons and form controls smaller than minimum×minimum CSS pixels."""
    return page.evaluate(
        """(minimum) => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]
            .filter(el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
                            // the content of a closed <details> is laid out by Chromium but not shown: not a target
                            const shut = el.closest('details:not([open])');
                            const summary = el.closest('summary');
                            if (shut && !(summary && summary.parentElement === shut)) { return false; }
                            return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !el.closest('.skip-link'); })
            .filter(el => { const r = el.getBoundingClientRect(); return r.width < minimum || r.height < minimum; })
            .map(el => `${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name || '').trim().slice(0, 30)}" `
                       + `${Math.round(el.getBoundingClientRect().width)}x${Math.round(el.getBoundingClientRect().height)}`)""",
        minimum,
    )
