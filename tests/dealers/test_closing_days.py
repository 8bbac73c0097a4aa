"""Public holidays and a dealer's own closing days stop the first-response clock: in routing, the sweep and the reports."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse

from dealers.hours import OpeningSchedule, Period
from dealers.models import AuditEntry, ClosingDay, OpeningHours
from dealers.services import closing_day_add
from followup.services import attempt_log, followup_sweep
from leads.models import Lead
from reporting.selectors import ReportFilters, report_scope, report_summary
from routing.services import lead_route
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=AMS)


def weekdays_nine_to_six(dealer) -> None:
    for weekday in range(5):
        OpeningHours.objects.create(dealer=dealer, weekday=weekday, opens=dt.time(9), closes=dt.time(18))


def routed(dealer, received: dt.datetime, **fields) -> Lead:
    lead = LeadFactory(dealer=dealer, received_at=received, routed_at=None, kind="", queue="", assignee=None,
                       clock_started_at=None, first_response_due_at=None, deadline_at=None, next_action_at=None, **fields)
    lead_route(lead=lead)
    lead.refresh_from_db()
    return lead


def test_a_lead_on_the_eve_of_koningsdag_is_due_the_day_after(cast):
    weekdays_nine_to_six(cast.dealer_a)
    lead = routed(cast.dealer_a, local(2027, 4, 26, 17, 58))  # Monday; Tuesday 27 April is Koningsdag
    assert lead.first_response_due_at == local(2027, 4, 28, 9, 3)  # two minutes on Monday, three on Wednesday
    arrived_on_the_day = routed(cast.dealer_a, local(2027, 4, 27, 11, 0))
    assert arrived_on_the_day.clock_started_at == local(2027, 4, 28, 9, 0)


def test_christmas_and_the_weekend_after_it_are_skipped(cast):
    weekdays_nine_to_six(cast.dealer_a)
    lead = routed(cast.dealer_a, local(2026, 12, 24, 20, 0))  # Thursday night; Friday 25th and Saturday 26th are holidays
    assert lead.first_response_due_at == local(2026, 12, 28, 9, 5)


def test_a_passive_lead_is_due_at_the_close_of_the_next_working_day_after_a_holiday(cast):
    weekdays_nine_to_six(cast.dealer_a)
    lead = routed(cast.dealer_a, local(2027, 4, 26, 11, 0), reason="lease_end", channel="outbound")
    assert lead.first_response_due_at == local(2027, 4, 28, 18, 0)


def test_the_dealers_own_closing_day_counts_too_and_another_country_has_other_holidays(cast):
    weekdays_nine_to_six(cast.dealer_a)
    weekdays_nine_to_six(cast.dealer_b)
    cast.dealer_b.country = "BE"  # 21 July is the Belgian national day, an ordinary Wednesday in the Netherlands
    cast.dealer_b.save()
    closing_day_add(dealer=cast.dealer_a, date=dt.date(2027, 7, 21), label="Bedrijfsuitje", by=cast.manager_a)
    for dealer in (cast.dealer_a, cast.dealer_b):
        assert routed(dealer, local(2027, 7, 20, 17, 58)).first_response_due_at == local(2027, 7, 22, 9, 3)
    assert routed(cast.dealer_a, local(2027, 7, 21, 12, 0)).clock_started_at == local(2027, 7, 22, 9, 0)
    cast.dealer_b.country = "NL"
    cast.dealer_b.save()
    assert routed(cast.dealer_b, local(2027, 7, 20, 17, 58)).first_response_due_at == local(2027, 7, 21, 9, 3)


def test_a_country_the_library_does_not_know_has_no_holidays():
    schedule = OpeningSchedule([Period(d, dt.time(9), dt.time(18)) for d in range(7)], AMS, country="ZZ")
    assert schedule.next_opening(local(2026, 12, 25, 10, 0)) == local(2026, 12, 25, 10, 0)


def test_a_dealer_without_opening_hours_is_always_open_holidays_included(cast):
    lead = routed(cast.dealer_a, local(2026, 12, 25, 10, 0))
    assert lead.first_response_due_at == local(2026, 12, 25, 10, 5)


def test_a_reassignment_by_the_sweep_gives_a_window_after_the_holiday(cast):
    weekdays_nine_to_six(cast.dealer_a)
    due = local(2026, 12, 24, 16, 55)
    lead = LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1, received_at=due - dt.timedelta(minutes=5),
                       first_response_due_at=due, deadline_at=due, next_action_at=due, escalation_level=2)
    [reassign] = followup_sweep(now=local(2026, 12, 24, 17, 58))
    assert reassign.action == "reassign"
    lead.refresh_from_db()
    assert lead.deadline_at == local(2026, 12, 28, 9, 3)


def test_the_report_counts_a_first_call_after_the_holiday_as_within_the_deadline(cast):
    weekdays_nine_to_six(cast.dealer_a)
    lead = routed(cast.dealer_a, local(2027, 4, 26, 17, 58))
    attempt_log(lead=lead, by=lead.assignee, channel="call", outcome="no_answer", at=local(2027, 4, 28, 9, 2))
    summary = report_summary(scope=report_scope(dealers=[cast.dealer_a]),
                             filters=ReportFilters(date_from=dt.date(2027, 4, 26), date_to=dt.date(2027, 4, 26)))
    assert (summary.leads, summary.within_deadline) == (1, 1)


# --------------------------------------------------------------------------------------------- the settings page

def login(client, user):
    client.force_login(user)
    return client


def test_the_hours_page_lists_the_next_holidays_and_own_closing_days(cast, client, time_machine,
                                                                     django_assert_max_num_queries):
    time_machine.move_to(local(2026, 12, 1, 10, 0), tick=False)
    weekdays_nine_to_six(cast.dealer_a)
    for n in range(15):
        ClosingDay.objects.create(dealer=cast.dealer_a, date=dt.date(2027, 8, 2) + dt.timedelta(days=n), label=f"Zomer {n}")
    login(client, cast.manager_a)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("settings:hours"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "vrijdag 25 december 2026" in page and "Eerste kerstdag" in page
    # Ten holidays up to Whit Monday, then the first two own days: twelve are shown.
    assert "Koningsdag" in page and "Zomer 1" in page and "Zomer 2" not in page
    assert "More closing days follow" in page or "Later in het jaar volgen" in page


def test_a_manager_adds_and_removes_a_closing_day_and_both_are_audited(cast, client, time_machine):
    time_machine.move_to(local(2026, 12, 1, 10, 0), tick=False)
    login(client, cast.manager_a)
    response = client.post(reverse("settings:closing_day_add"), {"date": "2026-12-31", "label": "Oudjaarsdag"})
    assert response.status_code == 302
    day = ClosingDay.objects.unscoped().get(dealer=cast.dealer_a)
    assert (day.date, day.label) == (dt.date(2026, 12, 31), "Oudjaarsdag")
    page = client.get(reverse("settings:hours")).content.decode()
    assert "Oudjaarsdag" in page and reverse("settings:closing_day_remove", args=[day.pk]) in page
    again = client.post(reverse("settings:closing_day_add"), {"date": "2026-12-31", "label": "twice"})
    assert again.status_code == 400 and "already a closing day" in again.content.decode()
    assert client.post(reverse("settings:closing_day_remove", args=[day.pk])).status_code == 302
    assert not ClosingDay.objects.unscoped().exists()
    assert list(AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a).values_list("action", flat=True).order_by("pk")) == [
        "closing_day.added", "closing_day.removed"]


@pytest.mark.parametrize("data", [
    {"date": "2026-02-30"}, {"date": "yesterday"}, {"date": "2026-11-30"}, {"date": "2031-01-01"}, {},
    {"date": "2026-12-31", "label": "x" * 101}, {"date": "2026-12-31\x00"},
])
def test_hostile_or_impossible_closing_days_are_refused(cast, client, time_machine, data):
    time_machine.move_to(local(2026, 12, 1, 10, 0), tick=False)
    response = login(client, cast.manager_a).post(reverse("settings:closing_day_add"), data)
    assert response.status_code == 400
    assert not ClosingDay.objects.unscoped().exists()


def test_another_dealers_closing_day_is_a_404_and_a_salesperson_gets_403(cast, client):
    day = ClosingDay.objects.create(dealer=cast.dealer_a, date=dt.date(2030, 1, 2), label="A")
    assert login(client, cast.outsider_b).post(reverse("settings:closing_day_remove", args=[day.pk])).status_code == 404
    assert login(client, cast.sales_a1).post(reverse("settings:closing_day_remove", args=[day.pk])).status_code == 403
    assert login(client, cast.sales_a1).post(reverse("settings:closing_day_add"), {"date": "2030-01-03"}).status_code == 403
    assert ClosingDay.objects.unscoped().filter(pk=day.pk).exists()
    assert login(client, cast.outsider_b).get(reverse("settings:hours")).status_code == 200  # B's own page: no A days
    assert "2030" not in client.get(reverse("settings:hours")).content.decode()
