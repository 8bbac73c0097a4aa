"""Dates from outside (portals, feeds, mails, forms, query strings): read them, and refuse the impossible ones.

A portal that sends year 1 or year 9999 must not store an instant that PostgreSQL keeps but Python cannot read back
(every page showing that lead would fail). One rule for every channel: an instant from outside is usable only between
EARLIEST_INSTANT and a year from now; otherwise the caller keeps the text raw and uses its own time (the arrival).
"""

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_datetime

EARLIEST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_AHEAD = dt.timedelta(days=366)


def instant_in_range(value: dt.datetime, *, now: dt.datetime | None = None) -> bool:
    """Whether an aware instant is a plausible one for a lead, a mail or an appointment."""
    now = now or timezone.now()
    try:
        return EARLIEST_INSTANT <= value <= now + LATEST_AHEAD
    except (OverflowError, TypeError):
        return False


def instant_from_outside(value, *, now: dt.datetime | None = None) -> tuple[dt.datetime | None, bool]:
    """(the aware instant, or None; whether a date was given that is out of range).

    Accepts ISO 8601 text or a datetime; a naive one is read in the project's time zone. Unreadable text is
    (None, False): the caller keeps it raw, as it does for any date that is not ISO 8601.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = parse_datetime(value.strip())
        except (ValueError, OverflowError):  # well-formed but impossible, e.g. 2026-02-30 or hour 24
            return None, True
        if parsed is None:
            return None, False
    else:
        return None, False
    if timezone.is_naive(parsed):
        try:
            parsed = timezone.make_aware(parsed)
        except (ValueError, OverflowError):
            return None, True
    if not instant_in_range(parsed, now=now):
        return None, True
    return parsed, False
