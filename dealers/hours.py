"""Opening-hours arithmetic: when the next opening is, and deadlines counted in open time only.

A day is closed when the week has no period for it, when it is a public holiday of the dealer's country (the
`holidays` library), or when the dealer entered it as one of its own closing days.
"""

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import holidays
from django.db import connection
from django.utils.translation import gettext as _

from .models import ClosingDay, Dealer, OpeningHours
from .rows import execute_prepared


def _schedule_sql(dealer: str) -> str:
    """Raw SQL, scoped by `dealer` (a parameter, or a column of an outer statement): the week's periods, then the
    dealer's own closing days, as rows of (weekday, opens, closes, day, label)."""
    return f"""
    SELECT weekday, opens, closes, CAST(NULL AS DATE), NULL FROM {OpeningHours._meta.db_table} WHERE dealer_id = {dealer}
    UNION ALL
    SELECT NULL, NULL, NULL, date, label FROM {ClosingDay._meta.db_table} WHERE dealer_id = {dealer}"""


_SCHEDULE_SQL = _schedule_sql("%s")


def schedule_rows_json_sql(dealer_column: str) -> str:
    """PostgreSQL: the same rows as one JSON array (NULL when there are none), for a column of another statement, so
    that the dealer's schedule comes with it (`Dealer.schedule_rows`)."""
    return (f"(SELECT json_agg(json_build_array(s.weekday, s.opens, s.closes, s.day, s.label)) "
            f"FROM ({_schedule_sql(dealer_column)}) AS s(weekday, opens, closes, day, label))")


def _time(value) -> dt.time:
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(value)  # SQLite's driver gives text


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


# How far ahead an opening is looked for: a fortnight's Christmas closure plus a week still finds the next one.
LOOKAHEAD_DAYS = 42


@functools.lru_cache(maxsize=256)
def public_holidays(country: str, year: int, language: str | None = None) -> Mapping[dt.date, str]:
    """The country's public holidays in one year (date -> name); empty for a country the library does not know."""
    try:
        calendar = holidays.country_holidays(country.upper(), years=year)
    except NotImplementedError:
        return {}
    if language:
        supported = getattr(calendar, "supported_languages", ())
        match = next((lang for lang in supported if lang.lower().replace("_", "-") == language.lower()), None) or next(
            (lang for lang in supported if lang.split("_")[0].lower() == language.split("-")[0].lower()), None)
        if match:
            calendar = holidays.country_holidays(country.upper(), years=year, language=match)
    return dict(calendar.items())


@dataclass(frozen=True)
class ClosedDay:
    date: dt.date
    label: str
    own: bool  # the dealer's own closing day, not a public holiday


@dataclass(frozen=True)
class Period:
    weekday: int
    opens: dt.time
    closes: dt.time


class OpeningSchedule:
    """A dealer's week of opening periods in its own time zone, less its closed days (public holidays of `country`
    and the dealer's own `closing_days`). No periods at all means always open, holidays included."""

    def __init__(self, periods: Iterable[Period], tz, *, country: str = "", closing_days: Mapping[dt.date, str] | None = None):
        self.tz = tz
        self.country = country
        self.closing_days = dict(closing_days or {})
        self.by_day: dict[int, list[Period]] = {}
        for p in sorted(periods, key=lambda p: (p.weekday, p.opens)):
            self.by_day.setdefault(p.weekday, []).append(p)

    @classmethod
    def for_dealer(cls, dealer: Dealer) -> "OpeningSchedule":
        """The dealer's schedule, from the rows read with it (a portal's lead) or else in one statement of its own."""
        rows = dealer.schedule_rows
        if rows is None:
            with connection.cursor() as cursor:
                execute_prepared(cursor, _SCHEDULE_SQL, [dealer.pk, dealer.pk])
                rows = cursor.fetchall()
        periods, closing = [], {}
        for weekday, opens, closes, day, label in rows:
            if day is None:
                periods.append(Period(weekday, _time(opens), _time(closes)))
            else:
                closing[_date(day)] = label
        return cls(periods, dealer.tz, country=dealer.country, closing_days=closing)

    @property
    def always_open(self) -> bool:
        return not self.by_day

    def is_closed_day(self, day: dt.date) -> bool:
        """A whole day off: the dealer's own closing day or a public holiday (the week's closed weekdays aside)."""
        return day in self.closing_days or (bool(self.country) and day in public_holidays(self.country, day.year))

    def closed_days(self, start: dt.date, end: dt.date, *, language: str | None = None) -> list[ClosedDay]:
        """Holidays and own closing days from `start` to `end` (inclusive), in date order; own days win on a clash."""
        found: dict[dt.date, ClosedDay] = {}
        if self.country:
            for year in range(start.year, end.year + 1):
                for day, name in public_holidays(self.country, year, language).items():
                    if start <= day <= end:
                        found[day] = ClosedDay(day, name, own=False)
        for day, label in self.closing_days.items():
            if start <= day <= end:
                found[day] = ClosedDay(day, label, own=True)
        return [found[d] for d in sorted(found)]
    APPOINTMENT_HOURS = (10, 14, 16)

    def appointment_times(self, now: dt.datetime, count: int = 4) -> list[dt.datetime]:
        """Times to offer a customer: the next open 10:00, 14:00 and 16:00 at least an hour from now (two weeks ahead)."""
        local_now = now.astimezone(self.tz)
        times: list[dt.datetime] = []
        for offset in range(14):
            day = local_now.date() + dt.timedelta(days=offset)
            for hour in self.APPOINTMENT_HOURS:
                at = dt.datetime.combine(day, dt.time(hour), tzinfo=self.tz)
                if at >= local_now + dt.timedelta(hours=1) and self.is_open(at):
                    times.append(at)
                    if len(times) == count:
                        return times
        return times

    def _intervals_from(self, start: dt.datetime):
        """Open intervals (local aware datetimes) from the day of `start` on, for up to LOOKAHEAD_DAYS days."""
        local = start.astimezone(self.tz)
        for offset in range(LOOKAHEAD_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            periods = self.by_day.get(day.weekday(), [])
            if periods and self.is_closed_day(day):
                continue
            for p in periods:
                opens = dt.datetime.combine(day, p.opens, tzinfo=self.tz)
                closes = dt.datetime.combine(day, p.closes, tzinfo=self.tz)
                if closes > local:
                    yield max(opens, local), closes

    def next_opening(self, at: dt.datetime) -> dt.datetime:
        """`at` itself when open, else the start of the next opening period."""
        if self.always_open:
            return at
        for opens, _closes in self._intervals_from(at):
            return opens.astimezone(dt.UTC)
        return at

    def is_open(self, at: dt.datetime) -> bool:
        return self.always_open or self.next_opening(at) == at

    def add_open_minutes(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """The moment `minutes` of opening time have passed after `start`."""
        if self.always_open:
            return start + dt.timedelta(minutes=minutes)
        remaining = dt.timedelta(minutes=minutes)
        for opens, closes in self._intervals_from(start):
            if opens + remaining <= closes:
                return (opens + remaining).astimezone(dt.UTC)
            remaining -= closes - opens
        return start + dt.timedelta(minutes=minutes)

    def end_of_working_day(self, start: dt.datetime, days_after: int) -> dt.datetime:
        """Closing time of the `days_after`-th working day after the day of `start` (0 = that day itself)."""
        if self.always_open:
            return start + dt.timedelta(days=days_after)
        local_day = start.astimezone(self.tz).date()
        index = max(days_after - 1, 0)
        working: list[dt.date] = []  # working days that count, in order
        last_close: dict[dt.date, dt.datetime] = {}
        for opens, closes in self._intervals_from(dt.datetime.combine(local_day, dt.time.min, tzinfo=self.tz)):
            d = opens.date()
            if len(working) > index and d != working[index]:
                break  # the wanted day's last period is behind us: no need to look further ahead
            if d not in last_close and (d > local_day or not days_after):
                working.append(d)
            last_close[d] = closes
        if index < len(working):
            return last_close[working[index]].astimezone(dt.UTC)
        return start + dt.timedelta(days=days_after)


def opening_periods_problems(periods: Iterable[Period]) -> list[tuple[int, str]]:
    """What is wrong with a set of opening periods, as (weekday, problem); empty when they can be saved. The one check
    behind the settings form and the service that saves a week."""
    problems: list[tuple[int, str]] = []
    by_day: dict[int, list[Period]] = {}
    for period in periods:
        if not 0 <= period.weekday <= 6:
            problems.append((period.weekday, _("Unknown weekday.")))
            continue
        if period.closes <= period.opens:
            problems.append((period.weekday, _("The closing time must be after the opening time.")))
        by_day.setdefault(period.weekday, []).append(period)
    for day, day_periods in sorted(by_day.items()):
        day_periods.sort(key=lambda p: p.opens)
        if any(later.opens < earlier.closes for earlier, later in zip(day_periods, day_periods[1:], strict=False)):
            problems.append((day, _("The opening periods of this day overlap.")))
    return problems
