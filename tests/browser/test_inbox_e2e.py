"""A salesperson on a phone (390×844): call a new lead, log it, set the appointment, and close unreachable leads fairly.

Taps are counted per step; the tel: link is asserted and tapped, but the dialer hand-off is blocked (no phone here).
"""

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from followup.models import Appointment, ContactAttempt
from followup.services import attempt_log
from leads.models import Lead, NotificationKind, Status
from leads.services import notify_assignee
from tests.factories import CustomerFactory, LeadFactory

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

# The OS would open the dialer, WhatsApp or the mail app here; in the test the tap happens but the hand-off does not.
BLOCK_APP_LINKS = """
document.addEventListener('click', (event) => {
  const link = event.target.closest && event.target.closest('a[href^="tel:"], a[href^="sms:"], a[href^="mailto:"], a[href^="https://wa.me/"]');
  if (link) { event.preventDefault(); window.__handedOff = (window.__handedOff || []).concat(link.getAttribute('href')); }
}, true);
"""


def new_lead(cast, *, first_name="Sanne", last_name="Bakker", phone="+31612345678", **kwargs):
    now = timezone.now()
    customer = CustomerFactory(dealer=cast.dealer_a, first_name=first_name, last_name=last_name, phone=phone,
                               phone_raw="06 12345678", email=f"{first_name.lower()}@example.nl")
    defaults = {"received_at": now, "first_response_due_at": now + dt.timedelta(minutes=5),
                "deadline_at": now + dt.timedelta(minutes=5), "next_action_at": now + dt.timedelta(minutes=5),
                "source": "autoscout24", "vehicle": {"make": "Hyundai", "model": "Tucson", "year": 2023, "price": 32950},
                "trade_in": {"make": "Kia", "model": "Picanto", "year": 2015, "mileage_km": 98000}}
    defaults.update(kwargs)
    return LeadFactory(dealer=cast.dealer_a, customer=customer, assignee=cast.sales_a1, **defaults)


def assert_phone_friendly(page, name: str) -> None:
    screenshot(page, name)
    assert not has_horizontal_scroll(page), f"{name}: horizontal scrolling at 390 px"
    assert small_tap_targets(page) == [], f"{name}: tap targets under 44 px"
    assert serious_accessibility_violations(page) == [], f"{name}: serious accessibility violations"


class Taps:
    """Counts the taps a person makes, per step."""

    def __init__(self):
        self.steps: dict[str, int] = {}

    def tap(self, step: str, locator) -> None:
        locator.tap()
        self.steps[step] = self.steps.get(step, 0) + 1


def test_new_lead_called_logged_and_booked_in_under_30_seconds(live_server, phone_page, cast):
    lead = new_lead(cast)
    page = phone_page
    page.add_init_script(BLOCK_APP_LINKS)
    login(page, live_server, cast.sales_a1.email)
    assert page.url == f"{live_server.url}/inbox/"
    card = page.locator(f"#lead-{lead.pk}")
    assert card.locator(".lead-name").inner_text() == "Sanne Bakker"
    assert "Hyundai Tucson 2023" in card.inner_text() and "autoscout24" in card.inner_text()
    assert re.fullmatch(r"\d+ min left", card.locator(".countdown").inner_text()), "read at a glance, no ticking seconds"
    assert_phone_friendly(page, "inbox-phone")

    taps = Taps()
    started = time.monotonic()
    # Call: one tap on a tel: link.
    call = card.locator("a[data-contact=call]")
    assert call.get_attribute("href") == "tel:+31612345678"
    taps.tap("call", call)
    assert page.evaluate("window.__handedOff") == ["tel:+31612345678"]
    assert "after-contact" in card.locator("form[data-outcome-form]").get_attribute("class")
    screenshot(page, "inbox-after-call-phone")
    # Log the outcome: one tap.
    with page.expect_navigation():
        taps.tap("log outcome", card.locator("button[name=outcome][value=connected]"))
    assert page.url.endswith(f"/leads/{lead.pk}/#appointment")
    # The appointment: a quick-pick time, then confirm.
    appointment_form = page.locator("form[data-appointment-form]")
    taps.tap("appointment", appointment_form.locator("label.chip").first)
    with page.expect_navigation():
        taps.tap("appointment", appointment_form.locator("button[type=submit]"))
    elapsed = time.monotonic() - started

    assert page.locator(".messages").inner_text().startswith("Appointment set")
    assert taps.steps == {"call": 1, "log outcome": 1, "appointment": 2}
    assert elapsed < 30
    attempt = ContactAttempt.objects.unscoped().get(lead=lead)
    assert (attempt.channel, attempt.outcome, attempt.user) == ("call", "connected", cast.sales_a1)
    appointment = Appointment.objects.unscoped().get(lead=lead)
    assert appointment.scheduled_at > timezone.now()
    assert Lead.objects.unscoped().get(pk=lead.pk).status == Status.APPOINTMENT
    print(f"\nTaps per step: {taps.steps}; machine time {elapsed:.1f} s")  # noqa: T201 - reported in the test log
    assert_phone_friendly(page, "lead-with-appointment-phone")


def test_open_a_lead_log_the_fourth_attempt_and_close_it_as_unreachable(live_server, phone_page, cast):
    lead = new_lead(cast, first_name="Dirk", last_name="Hendriks")
    start = timezone.now() - dt.timedelta(days=3)
    for day in range(3):  # three earlier attempts on three days: all count toward the minimum of four
        attempt_log(lead=lead, by=cast.sales_a1, channel="call", outcome="no_answer", at=start + dt.timedelta(days=day))
    page = phone_page
    login(page, live_server, cast.sales_a1.email)

    page.locator(f"#lead-{lead.pk} .lead-name").tap()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Dirk Hendriks"
    close = page.locator("#close")
    assert "1 more contact attempt is needed" in close.inner_text()
    assert close.locator("button[value=unreachable]").is_disabled()
    assert "Kia" in page.locator("#details").inner_text()
    assert page.locator("#timeline li").count() >= 3
    assert_phone_friendly(page, "lead-page-phone")

    with page.expect_navigation():
        page.locator("form[data-attempt-form] button[name=outcome][value=no_answer]").tap()  # one tap: call, no answer
    assert "minimum of 4 attempts is reached" in page.locator(".messages").inner_text()
    assert page.locator("#close button[value=unreachable]").is_enabled()
    page.fill("#close-reason", "Vier keer gebeld, voicemail ingesproken")
    with page.expect_navigation():
        page.locator("#close button[value=unreachable]").tap()

    assert page.url == f"{live_server.url}/inbox/"
    assert "closed: Unreachable" in page.locator(".messages").inner_text()
    assert page.locator(f"#lead-{lead.pk}").count() == 0
    assert Lead.objects.unscoped().get(pk=lead.pk).status == Status.UNREACHABLE
    screenshot(page, "inbox-after-close-phone")


def test_a_new_lead_appears_within_two_seconds_with_vibration_the_bell_and_the_tab_title(live_server, phone_page, cast):
    page = phone_page
    page.add_init_script("""
      window.__vibrations = [];
      navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
    """)
    login(page, live_server, cast.sales_a1.email)
    assert page.locator("#inbox-empty").is_visible()
    page.locator(".alert-setup summary").tap()
    page.locator("[data-toggle=vibrate]").tap()
    assert page.locator("[data-toggle=vibrate]").get_attribute("aria-pressed") == "true"

    assert not page.locator("#notice-bell").is_visible() and not page.title().startswith("(")
    lead = new_lead(cast, first_name="Noor", last_name="de Boer")
    notify_assignee(lead=lead, user=cast.sales_a1, kind=NotificationKind.ASSIGNED)
    started = time.monotonic()
    page.locator(f"#lead-{lead.pk}").wait_for(timeout=4000)  # the page's own 2 s poll: nobody calls it
    assert time.monotonic() - started < 2.5  # a poll interval and the answer (the wait itself checks every ~100 ms)

    assert page.url == f"{live_server.url}/inbox/"
    assert page.locator("#new-leads").inner_text() == "New lead: Noor de Boer"
    assert page.locator("#open-count").inner_text() == "1"
    assert page.locator("#notice-bell [data-count]").inner_text() == "1" and page.locator("#notice-bell").is_visible()
    assert page.title() == "(1) My leads · Opvolger"
    assert len(page.evaluate("window.__vibrations")) == 2  # the toggle's test buzz, then the new lead
    assert page.locator(f"#lead-{lead.pk} a[data-contact=call]").get_attribute("href") == "tel:+31612345678"
    assert_phone_friendly(page, "inbox-new-lead-phone")


def test_the_core_actions_work_without_javascript(live_server, browser, cast):
    lead = new_lead(cast, first_name="Willem", last_name="Peters")
    page = new_page(browser, PHONE, has_touch=True, is_mobile=True, java_script_enabled=False)
    try:
        login(page, live_server, cast.sales_a1.email)
        card = page.locator(f"#lead-{lead.pk}")
        with page.expect_navigation():
            card.locator("button[name=outcome][value=voicemail]").tap()
        assert "Logged: Voicemail" in page.locator(".messages").inner_text()
        page.locator(f"#lead-{lead.pk} .lead-name").tap()
        page.wait_for_load_state()
        page.locator("form[data-appointment-form] label.chip").nth(1).tap()
        with page.expect_navigation():
            page.locator("form[data-appointment-form] button[type=submit]").tap()
        assert "Appointment set" in page.locator(".messages").inner_text()
        screenshot(page, "lead-page-no-javascript-phone")
    finally:
        page.context.close()
    assert ContactAttempt.objects.unscoped().filter(lead=lead, outcome="voicemail").exists()
    assert Appointment.objects.unscoped().filter(lead=lead).exists()


def test_the_inbox_can_be_added_to_the_home_screen(live_server, phone_page, cast):
    login(phone_page, live_server, cast.sales_a1.email)
    href = phone_page.locator("link[rel=manifest]").get_attribute("href")
    manifest = phone_page.request.get(f"{live_server.url}{href}").json()
    assert manifest["start_url"] == "/inbox/" and manifest["display"] == "standalone"
