"""The BDC desk in a real browser: next lead, the script, the outcome, the appointment, the hand-over to a salesperson."""

import datetime as dt

import pytest
from django.utils import timezone

from dealers.models import Role
from followup.models import Appointment, ContactAttempt
from leads.models import Lead, Queue
from routing.models import CallScript
from tests.factories import CustomerFactory, LeadFactory, MembershipFactory, UserFactory

from .conftest import (
    DESKTOP,
    has_horizontal_scroll,
    login,
    new_page,
    new_phone_page,
    screenshot,
    serious_accessibility_violations,
    small_tap_targets,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def passive_lead(dealer, *, first_name, last_name="Mulder", reason="lease_end", due_in=dt.timedelta(hours=2)):
    due = timezone.now() + due_in
    customer = CustomerFactory(dealer=dealer, first_name=first_name, last_name=last_name)
    return LeadFactory(dealer=dealer, customer=customer, kind="passive", queue=Queue.BDC, channel="outbound", reason=reason,
                       source="lease-portfolio", assignee=None, deadline_at=due, next_action_at=due, first_response_due_at=due,
                       vehicle={"make": "Volkswagen", "model": "ID.3", "year": 2022})


def assert_usable(page, name: str) -> None:
    screenshot(page, name)
    assert not has_horizontal_scroll(page), f"{name}: horizontal scrolling"
    assert small_tap_targets(page) == [], f"{name}: tap targets under 44 px"
    assert serious_accessibility_violations(page) == [], f"{name}: serious accessibility violations"


def test_an_agent_works_a_lease_end_lead_and_hands_it_over(live_server, desktop_page, browser, cast):
    urgent = passive_lead(cast.dealer_a, first_name="Lotte", due_in=-dt.timedelta(minutes=20))
    passive_lead(cast.dealer_a, first_name="Bram", reason="service")
    CallScript.objects.create(dealer=cast.dealer_a, reason="lease_end",
                              body="Goedemiddag {customer}, u spreekt met {agent} van {dealer}. "
                                   "Uw lease van de {vehicle} loopt af.")
    page = desktop_page
    login(page, live_server, cast.bdc_a.email)
    assert page.url == f"{live_server.url}/bdc/"
    assert page.locator("#queue-count").inner_text() == "2"
    assert page.locator("table.queue tbody tr").first.inner_text().find("Lotte") >= 0
    assert_usable(page, "bdc-desk-desktop")

    with page.expect_navigation():
        page.get_by_role("button", name="Next lead").click()
    assert page.url == f"{live_server.url}/bdc/leads/{urgent.pk}/"
    assert "Goedemiddag Lotte Mulder, u spreekt met" in page.locator("#script").inner_text()
    assert "Volkswagen ID.3 2022" in page.locator("#script").inner_text()
    assert_usable(page, "bdc-lead-desktop")

    with page.expect_navigation():
        page.locator("form[data-attempt-form] button[value=connected]").click()
    assert page.url.endswith("#appointment")
    page.locator("form[data-appointment-form] label.chip").first.click()
    page.select_option("#appointment-kind", "test_drive")
    with page.expect_navigation():
        page.locator("form[data-appointment-form] button[type=submit]").click()
    page.select_option("#handover-salesperson", str(cast.sales_a2.pk))
    page.fill("#handover-note", "Wil de ID.7 proefrijden; lease loopt af in maart")
    with page.expect_navigation():
        page.get_by_role("button", name="Hand over").click()

    assert page.url == f"{live_server.url}/bdc/"
    assert "handed over to" in page.locator(".messages").inner_text()
    assert page.locator("#queue-count").inner_text() == "1"
    lead = Lead.objects.unscoped().get(pk=urgent.pk)
    assert (lead.queue, lead.assignee) == (Queue.SALES, cast.sales_a2)
    assert ContactAttempt.objects.unscoped().filter(lead=lead, outcome="connected", user=cast.bdc_a).exists()
    assert Appointment.objects.unscoped().filter(lead=lead, kind="test_drive").exists()

    # The salesperson, on a phone, is notified and finds the lead in the inbox with the BDC's note.
    phone = new_phone_page(browser)
    try:
        login(phone, live_server, cast.sales_a2.email)
        assert phone.locator(".notice-link").is_visible()
        card = phone.locator(f"#lead-{lead.pk}")
        assert "Wil de ID.7 proefrijden; lease loopt af in maart" in card.inner_text()
        assert "Test drive" in card.inner_text()
        assert_usable(phone, "inbox-after-handover-phone")
    finally:
        phone.context.close()


def test_the_desk_on_a_phone_is_usable_too(live_server, phone_page, cast):
    for i in range(12):
        passive_lead(cast.dealer_a, first_name=f"Klant{i}", reason=("lease_end", "lost_sale", "data_mining", "service")[i % 4])
    login(phone_page, live_server, cast.bdc_a.email)
    assert_usable(phone_page, "bdc-desk-phone")
    with phone_page.expect_navigation():
        phone_page.get_by_role("button", name="Next lead").tap()
    assert_usable(phone_page, "bdc-lead-phone")


def test_two_agents_pressing_next_lead_at_once_get_different_leads(live_server, browser, cast):
    second = MembershipFactory(dealer=cast.dealer_a, role=Role.BDC_AGENT, user=UserFactory(email="bdc2@a.test")).user
    for i in range(3):
        passive_lead(cast.dealer_a, first_name=f"Klant{i}", due_in=dt.timedelta(minutes=i))
    pages = [new_page(browser, DESKTOP), new_page(browser, DESKTOP)]
    try:
        for page, agent in zip(pages, (cast.bdc_a, second), strict=True):
            login(page, live_server, agent.email)
        for page in pages:  # both presses leave before either answer comes back
            page.get_by_role("button", name="Next lead").click(no_wait_after=True)
        for page in pages:
            page.wait_for_url("**/bdc/leads/**")
        urls = [page.url for page in pages]
    finally:
        for page in pages:
            page.context.close()
    assert urls[0] != urls[1]
    claimed = set(Lead.objects.unscoped().filter(assignee__in=[cast.bdc_a, second]).values_list("assignee_id", flat=True))
    assert claimed == {cast.bdc_a.pk, second.pk}
