"""The sales manager's dashboard in headless Chromium at 1440×900: readable, accessible, and the board's one action works."""

import datetime as dt
import random

import pytest
from django.utils import timezone

from dealers.models import Role
from followup.services import appointment_outcome_set, appointment_set, attempt_log, lead_close
from leads.models import Lead
from tests.factories import DealerFactory, MembershipFactory, UserFactory, make_group_admin
from tests.reporting.conftest import lead_at

from .conftest import login, screenshot, serious_accessibility_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SOURCES = ["marktplaats", "autoscout24", "website", "gaspedaal"]


def month_of_leads(dealer, people, n: int, seed: int = 7) -> None:
    """A month of worked leads (through the real services) and a few that are waiting right now."""
    rng = random.Random(seed)
    now = timezone.now()
    for i in range(n):
        received = now - dt.timedelta(days=rng.uniform(1, 28))
        person = people[i % len(people)]
        lead = lead_at(dealer, received, assignee=person, source=rng.choice(SOURCES),
                       kind="passive" if person.email.startswith("bdc") else "active")
        delay = dt.timedelta(seconds=rng.lognormvariate(5, 1.2))
        reached = rng.random() < 0.6
        attempt_log(lead=lead, by=person, channel="call", outcome="connected" if reached else "no_answer",
                    at=received + delay, verified=rng.random() < 0.3)
        if reached and rng.random() < 0.6:
            appointment = appointment_set(lead=lead, by=person, scheduled_at=received + dt.timedelta(days=1), kind="showroom")
            showed = rng.random() < 0.7
            appointment_outcome_set(appointment=appointment, by=person, showed=showed)
            if showed and rng.random() < 0.5:
                lead_close(lead=Lead.objects.unscoped().get(pk=lead.pk), by=person, outcome="sold")
    for minutes in (9, 26, 75):
        lead_at(dealer, now - dt.timedelta(minutes=minutes), assignee=people[0],
                deadline_at=now - dt.timedelta(minutes=minutes - 5))


def test_manager_dashboard_is_readable_and_accessible(live_server, desktop_page, cast):
    month_of_leads(cast.dealer_a, [cast.sales_a1, cast.sales_a2, cast.bdc_a], 40)
    login(desktop_page, live_server, cast.manager_a.email)
    desktop_page.goto(f"{live_server.url}/dashboard/")
    assert "Autobedrijf A" in desktop_page.locator("h1").inner_text()
    assert desktop_page.locator("svg[role=img]").count() >= 4
    assert desktop_page.locator("[data-figure=leads]").inner_text() == "43"
    screenshot(desktop_page, "dashboard-manager-1440")
    assert serious_accessibility_violations(desktop_page) == []
    desktop_page.locator("#chart-funnel summary").click()  # the chart's numbers as a table
    assert desktop_page.locator("#chart-funnel table").is_visible()
    desktop_page.goto(f"{live_server.url}/dashboard/#map")
    screenshot(desktop_page, "dashboard-manager-map-1440")


def test_reassigning_from_the_board_takes_one_action(live_server, desktop_page, cast):
    month_of_leads(cast.dealer_a, [cast.sales_a1, cast.sales_a2], 4)
    login(desktop_page, live_server, cast.manager_a.email)
    desktop_page.goto(f"{live_server.url}/dashboard/")
    form = desktop_page.locator("#now .reassign-form").first
    lead_id = form.get_attribute("action").split("/")[3]
    form.locator("select").select_option(str(cast.sales_a2.pk))
    form.locator("button").click()
    desktop_page.wait_for_load_state("networkidle")
    assert cast.sales_a2.display_name in desktop_page.locator(".messages").inner_text()
    assert Lead.objects.unscoped().get(pk=lead_id).assignee == cast.sales_a2


def test_group_admin_sees_every_rooftop(live_server, desktop_page, cast):
    dealer_c = DealerFactory(group=cast.dealer_a.group, slug="dealer-c", name="Autobedrijf C")
    sales_c = MembershipFactory(dealer=dealer_c, role=Role.SALESPERSON, user=UserFactory(email="sales@c.test")).user
    admin = UserFactory(email="groep@a.test", first_name="Femke", last_name="Hendriks")
    make_group_admin(cast.dealer_a, admin)
    month_of_leads(cast.dealer_a, [cast.sales_a1, cast.sales_a2], 20)
    month_of_leads(dealer_c, [sales_c], 12, seed=11)
    login(desktop_page, live_server, admin.email)
    desktop_page.goto(f"{live_server.url}/dashboard/")
    assert desktop_page.locator(".scope-switch [aria-current=page]").get_attribute("href") == "?scope=group"
    body = desktop_page.locator("main").inner_text()
    assert "Autobedrijf A" in body and "Autobedrijf C" in body and "Autobedrijf B" not in body
    screenshot(desktop_page, "dashboard-group-1440")
    assert serious_accessibility_violations(desktop_page) == []
