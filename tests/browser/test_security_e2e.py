"""In Chromium with the real Content-Security-Policy: the main pages run without a single CSP violation, and a
manager's first sign-in goes through setting up the authenticator app."""

import pytest

from tests.factories import LeadFactory

from .conftest import login, screenshot, serious_accessibility_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Blocked resources are reported both as console errors and as `securitypolicyviolation` events: record both.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def watch(page) -> list[str]:
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script(RECORD_VIOLATIONS)
    return console


def visit(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__cspViolations")


def test_the_main_pages_run_without_csp_violations(live_server, desktop_page, browser, cast):
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, queue="bdc", kind="passive")
    console = watch(desktop_page)
    violations: dict[str, list[str]] = {}

    login(desktop_page, live_server, cast.manager_a.email)  # sets up the authenticator on the way
    assert desktop_page.url.endswith("/dashboard/"), desktop_page.url
    for path in ("/dashboard/", "/settings/", "/settings/policy/", "/settings/routing/", "/settings/hours/",
                 "/settings/team/", "/settings/keys/", "/settings/scripts/", "/settings/audit/", "/settings/import/",
                 "/settings/telephony/", f"/leads/{lead.pk}/", "/accounts/two-factor/", "/api/v1/docs/"):
        found = visit(desktop_page, f"{live_server.url}{path}")
        if found:
            violations[path] = found
    assert violations == {} and console == []
    # The hours page's script (now a file) still works: closing a day disables its times.
    desktop_page.goto(f"{live_server.url}/settings/hours/")
    day = desktop_page.locator("[data-day]").first
    day.locator("input[type=checkbox]").check()
    assert day.locator("input[type=time]").first.is_disabled()
    # Swagger UI rendered the schema from its split-out script.
    desktop_page.goto(f"{live_server.url}/api/v1/docs/")
    desktop_page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)

    for email, paths in ((cast.sales_a1.email, ["/inbox/", f"/leads/{lead.pk}/"]),
                         (cast.bdc_a.email, ["/bdc/", f"/bdc/leads/{lead.pk}/"])):
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
        page = context.new_page()
        console += watch(page)
        try:
            login(page, live_server, email)
            for path in paths:
                found = visit(page, f"{live_server.url}{path}")
                if found:
                    violations[f"{email} {path}"] = found
        finally:
            context.close()

    assert violations == {}
    assert console == []


def test_a_managers_first_sign_in_sets_up_the_app_and_shows_the_recovery_codes(live_server, desktop_page, cast):
    desktop_page.goto(f"{live_server.url}/accounts/login/")
    desktop_page.fill("#id_username", cast.manager_a.email)
    desktop_page.fill("#id_password", "geheim-wachtwoord-1")
    desktop_page.click("main form button[type=submit]")
    desktop_page.wait_for_load_state("networkidle")

    assert "/accounts/two-factor/setup/" in desktop_page.url
    assert desktop_page.locator("svg.qr").is_visible()
    screenshot(desktop_page, "two-factor-setup-1440")
    assert serious_accessibility_violations(desktop_page) == []
