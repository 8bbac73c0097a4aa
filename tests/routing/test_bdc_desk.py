"""The BDC agent's desk: the passive queue, "next lead" (an atomic claim), the call script and the hand-over."""

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dealers.models import BdcCompany, Role
from leads.models import Notification, NotificationKind, Queue
from routing.models import CallScript
from tests.factories import CustomerFactory, LeadFactory, MembershipFactory, UserFactory


def passive_lead(dealer, *, first_name="Karin", last_name="Mulder", reason="lease_end", due_in=dt.timedelta(hours=4), **kwargs):
    due = timezone.now() + due_in
    return LeadFactory(dealer=dealer, customer=CustomerFactory(dealer=dealer, first_name=first_name, last_name=last_name),
                       kind="passive", queue=Queue.BDC, channel="outbound", reason=reason, source="lease-portfolio",
                       assignee=kwargs.pop("assignee", None), deadline_at=due, next_action_at=due, first_response_due_at=due,
                       vehicle=kwargs.pop("vehicle", {"make": "Volkswagen", "model": "ID.3", "year": 2022}), **kwargs)


@pytest.fixture
def agent_client(client, cast):
    client.force_login(cast.bdc_a)
    return client


def test_the_desk_shows_the_queue_by_due_time_and_reason(agent_client, cast):
    passive_lead(cast.dealer_a, first_name="Later", due_in=dt.timedelta(hours=6))
    passive_lead(cast.dealer_a, first_name="Eerst", reason="lost_sale", due_in=-dt.timedelta(minutes=30))
    passive_lead(cast.dealer_b, first_name="Buiten")
    passive_lead(cast.dealer_a, first_name="Geclaimd", assignee=cast.bdc_a)

    html = agent_client.get(reverse("bdc")).content.decode()
    queue = html[html.index('class="queue"'):]

    assert queue.index("Eerst") < queue.index("Later")
    assert "Buiten" not in html and "Geclaimd" not in queue
    assert "Geclaimd" in html  # under "my leads in progress"
    assert "Lost sale follow-up (1)" in html and "Lease contract ending (1)" in html
    filtered = agent_client.get(reverse("bdc"), {"reason": "lost_sale"}).content.decode()
    filtered_queue = filtered[filtered.index('class="queue"'):]
    assert "Eerst" in filtered_queue and "Later" not in filtered_queue


def test_next_lead_claims_the_most_urgent_and_opens_it(agent_client, cast):
    urgent = passive_lead(cast.dealer_a, first_name="Urgent", due_in=-dt.timedelta(minutes=5))
    passive_lead(cast.dealer_a, first_name="Rustig", due_in=dt.timedelta(days=1))

    response = agent_client.post(reverse("bdc_next"))

    assert response["Location"] == reverse("bdc_lead", args=[urgent.pk])
    urgent.refresh_from_db()
    assert urgent.assignee == cast.bdc_a
    page = agent_client.get(response["Location"]).content.decode()
    assert "Urgent Mulder" in page and 'href="tel:' in page


def test_an_empty_queue_says_so(agent_client, cast):
    response = agent_client.post(reverse("bdc_next"), follow=True)
    assert "The queue is empty." in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_agents_pressing_next_at_once_get_different_leads(cast):
    second_agent = MembershipFactory(dealer=cast.dealer_a, role=Role.BDC_AGENT, user=UserFactory(email="bdc2@a.test")).user
    for i in range(2):
        passive_lead(cast.dealer_a, first_name=f"Klant{i}", due_in=dt.timedelta(minutes=i))
    clients = []
    for agent in (cast.bdc_a, second_agent):
        c = Client()
        c.force_login(agent)
        clients.append(c)
    start = threading.Barrier(2)
    locations = {}

    def press(index):
        try:
            start.wait()
            locations[index] = clients[index].post(reverse("bdc_next"))["Location"]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(locations) == 2
    assert locations[0] != locations[1]
    assert all(loc.startswith("/bdc/leads/") for loc in locations.values())


def test_the_call_script_fits_the_reason_default_or_the_dealers_own(agent_client, cast):
    lease = passive_lead(cast.dealer_a, first_name="Lotte", reason="lease_end", assignee=cast.bdc_a)
    lost = passive_lead(cast.dealer_a, first_name="Bram", reason="lost_sale", assignee=cast.bdc_a)
    CallScript.objects.create(dealer=cast.dealer_a, reason="lost_sale", body="Goedemiddag {customer}, met {agent} van {dealer}.")

    lease_page = agent_client.get(reverse("bdc_lead", args=[lease.pk])).content.decode()
    assert "the lease contract of your Volkswagen ID.3 2022 ends in the coming months" in lease_page
    assert "Lotte Mulder" in lease_page and "The standard script" in lease_page

    lost_page = agent_client.get(reverse("bdc_lead", args=[lost.pk])).content.decode()
    assert f"Goedemiddag Bram Mulder, met {cast.bdc_a.first_name} van Autobedrijf A." in lost_page
    assert "The standard script" not in lost_page


def test_the_agent_logs_sets_the_appointment_and_hands_over(agent_client, cast):
    lead = passive_lead(cast.dealer_a, first_name="Ruud", assignee=cast.bdc_a)
    page = reverse("bdc_lead", args=[lead.pk])
    back = agent_client.post(reverse("lead_attempt", args=[lead.pk]), {"channel": "call", "outcome": "connected", "next": page})
    assert back["Location"] == page + "#appointment"
    when = (timezone.localtime(timezone.now()) + dt.timedelta(days=2)).replace(hour=10, minute=0)
    agent_client.post(reverse("lead_appointment", args=[lead.pk]),
                      {"scheduled_at": when.strftime("%Y-%m-%dT%H:%M"), "kind": "test_drive", "next": page})

    response = agent_client.post(reverse("bdc_handover", args=[lead.pk]),
                                 {"salesperson": cast.sales_a2.pk, "note": "Wil de ID.7 proefrijden, lease loopt af in maart"})

    assert response["Location"] == reverse("bdc")
    lead.refresh_from_db()
    assert (lead.queue, lead.assignee) == (Queue.SALES, cast.sales_a2)
    notice = Notification.objects.unscoped().get(recipient=cast.sales_a2, lead=lead)
    assert notice.kind == NotificationKind.HANDOVER
    # The salesperson finds it in the inbox, with the BDC's note and the appointment.
    salesperson = Client()
    salesperson.force_login(cast.sales_a2)
    inbox = salesperson.get(reverse("inbox")).content.decode()
    assert "Ruud Mulder" in inbox and "Wil de ID.7 proefrijden, lease loopt af in maart" in inbox
    assert "Test drive" in inbox
    # And the agent no longer works it.
    assert agent_client.get(page).status_code == 404


def test_a_hand_over_to_another_dealers_user_is_refused(agent_client, cast):
    lead = passive_lead(cast.dealer_a, assignee=cast.bdc_a)
    response = agent_client.post(reverse("bdc_handover", args=[lead.pk]), {"salesperson": cast.outsider_b.pk}, follow=True)
    assert "Select a valid choice" in response.content.decode()
    lead.refresh_from_db()
    assert (lead.queue, lead.assignee) == (Queue.BDC, cast.bdc_a)


def test_agents_see_only_their_own_claims_and_their_own_dealers(client, cast):
    colleague = MembershipFactory(dealer=cast.dealer_a, role=Role.BDC_AGENT, user=UserFactory(email="bdc3@a.test")).user
    theirs = passive_lead(cast.dealer_a, assignee=colleague)
    other_dealer = passive_lead(cast.dealer_b)
    client.force_login(cast.bdc_a)

    assert client.get(reverse("bdc_lead", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("lead_attempt", args=[theirs.pk]), {"channel": "call", "outcome": "busy"}).status_code == 404
    assert client.get(reverse("bdc_lead", args=[other_dealer.pk])).status_code == 404
    assert client.get(reverse("bdc"), {"dealer": "dealer-b"}).status_code == 404

    client.force_login(cast.sales_a1)
    assert client.get(reverse("bdc")).status_code == 403
    assert client.post(reverse("bdc_next")).status_code == 403
    client.force_login(cast.outsider_b)
    assert client.get(reverse("bdc_lead", args=[theirs.pk])).status_code == 404


def test_an_outsourced_bdc_works_only_the_dealers_that_contract_it(client, cast):
    agent = UserFactory(email="agent@bdc-bedrijf.test")
    company = BdcCompany.objects.create(name="Belcentrum Utrecht", slug="belcentrum")
    company.agents.add(agent)
    company.dealers.add(cast.dealer_b)
    passive_lead(cast.dealer_a, first_name="VanA")
    passive_lead(cast.dealer_b, first_name="VanB")
    client.force_login(agent)

    html = client.get(reverse("bdc")).content.decode()
    assert "VanB" in html and "VanA" not in html
    assert client.get(reverse("bdc"), {"dealer": "dealer-a"}).status_code == 404


def test_desk_query_count_is_the_same_for_10_and_200_leads(agent_client, cast, django_assert_num_queries):
    def create(n, offset=0):
        for i in range(n):
            passive_lead(cast.dealer_a, first_name=f"Klant{offset + i}", reason=("lease_end", "service", "data_mining")[i % 3])
        for i in range(n // 10):
            passive_lead(cast.dealer_a, first_name=f"Mijn{offset + i}", assignee=cast.bdc_a)

    create(10)
    agent_client.get(reverse("bdc"))
    with CaptureQueriesContext(connection) as few:
        agent_client.get(reverse("bdc"))
    create(190, offset=10)
    with django_assert_num_queries(len(few.captured_queries)):
        response = agent_client.get(reverse("bdc"))
    assert response.context["queue_count"] == 200 and len(response.context["queue"]) == 50


def test_the_call_script_names_what_the_imported_file_said(agent_client, cast):
    """The CSV import stores the file's date as the payload's due_date: the lease end, or the service visit."""
    lease = passive_lead(cast.dealer_a, first_name="Lotte", reason="lease_end", assignee=cast.bdc_a,
                         payload={"due_date": "2027-03-31"},
                         vehicle={"make": "Volkswagen", "model": "ID.3", "year": 2022, "license_plate": "AB-123-C"})
    service = passive_lead(cast.dealer_a, first_name="Sem", reason="service", assignee=cast.bdc_a,
                           payload={"due_date": "2026-11-12"})
    nonsense = passive_lead(cast.dealer_a, first_name="Noor", reason="service", assignee=cast.bdc_a,
                            payload={"due_date": "31-31-2026"})

    lease_page = agent_client.get(reverse("bdc_lead", args=[lease.pk])).content.decode()
    assert "Good morning/afternoon Lotte Mulder" in lease_page
    assert "the lease contract of your Volkswagen ID.3 2022 ends on 31 March 2027" in lease_page
    assert "<dt>Lease ends</dt><dd>31 March 2027</dd>" in lease_page and "AB-123-C" in lease_page
    service_page = agent_client.get(reverse("bdc_lead", args=[service.pk])).content.decode()
    assert "the service visit of your Volkswagen ID.3 2022 on 12 November 2026" in service_page
    nl_page = agent_client.get(reverse("bdc_lead", args=[service.pk]), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "het werkplaatsbezoek van uw Volkswagen ID.3 2022 op 12 november 2026" in nl_page
    odd = agent_client.get(reverse("bdc_lead", args=[nonsense.pk]))
    assert odd.status_code == 200 and "the service visit of your Volkswagen ID.3 2022." in odd.content.decode()


def test_queue_dates_carry_the_year_and_lower_case_months(agent_client, cast):
    passive_lead(cast.dealer_a, first_name="Jaar", due_in=dt.timedelta(days=3))
    html = agent_client.get(reverse("bdc"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    due = timezone.localtime(timezone.now() + dt.timedelta(days=3))
    months = ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    assert f"{due.day} {months[due.month - 1]} {due.year}" in html
