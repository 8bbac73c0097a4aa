"""Opening-hours arithmetic: when the next opening is, and deadlines counted in open time only."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .models import Dealer


@dataclass(frozen=True)
class Period:
    weekday: int
    opens: dt.time
    closes: dt.time


class OpeningSchedule:
    """A dealer's week of opening periods in its own time zone. No periods at all means always open."""

    def __init__(self, periods: Iterable[Period], tz):
        self.tz = tz
        self.by_day: dict[int, list[Period]] = {}
        for p in sorted(periods, key=lambda p: (p.weekday, p.opens)):
            self.by_day.setdefault(p.weekday, []).append(p)

    @classmethod
    def for_dealer(cls, dealer: Dealer) -> "OpeningSchedule":
        rows = dealer.opening_hours.all()
        return cls([Period(r.weekday, r.opens, r.closes) for r in rows], dealer.tz)

    @property
    def always_open(self) -> bool:
        return not self.by_day

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
        """Open intervals (local aware datetimes) from the day of `start` on, for up to two weeks."""
        local = start.astimezone(self.tz)
        for offset in range(15):
            day = local.date() + dt.timedelta(days=offset)
            for p in self.by_day.get(day.weekday(), []):
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
        seen_days: list[dt.date] = []
        last_close: dict[dt.date, dt.datetime] = {}
        for opens, closes in self._intervals_from(dt.datetime.combine(local_day, dt.time.min, tzinfo=self.tz)):
            d = opens.date()
            if d not in last_close:
                seen_days.append(d)
            last_close[d] = closes
        working = [d for d in seen_days if d > local_day] if days_after else [d for d in seen_days if d >= local_day]
        index = max(days_after - 1, 0)
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
