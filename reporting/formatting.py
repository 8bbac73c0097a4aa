"""How a figure reads on the page: rates as percentages with every decimal the figure has, durations in words.

A rate is rounded to 4 decimals in SQL; as a percentage that is at most 2 decimals, shown in full, so the page says
exactly what the JSON and the CSV say (0.382 → 38.2%, 0.6667 → 66.67%). Separators follow the active language.
"""

import datetime as dt
import functools
from decimal import Decimal

from django.utils.formats import date_format, get_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .tables import COUNT, DATE, DECIMAL, FLAG, RATE, SECONDS


@functools.lru_cache(maxsize=16)
def _separators(language: str | None) -> tuple[str, str]:
    # Looked up once per language: a group's page formats thousands of figures.
    return get_format("DECIMAL_SEPARATOR", language), get_format("THOUSAND_SEPARATOR", language)


def _grouped(whole: int) -> str:
    return f"{whole:,}".replace(",", _separators(get_language())[1])


def _localised(number: Decimal) -> str:
    """All the decimals the number has (none trailing), with the language's separators."""
    whole, _sep, fraction = f"{number.normalize():f}".partition(".")
    grouped = _grouped(int(whole))
    return f"{grouped}{_separators(get_language())[0]}{fraction}" if fraction else grouped


def percent(rate) -> str:
    if rate is None:
        return "–"
    return f"{_localised(Decimal(str(rate)) * 100)}%"


def decimal(value) -> str:
    return "–" if value is None else _localised(Decimal(str(value)))


def count(value) -> str:
    return "–" if value is None else _grouped(int(value))


def duration(seconds) -> str:
    """Whole seconds as '45 s', '3 min 05 s', '2 h 10 min', '3 d 4 h'."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)02d s") % {"m": minutes, "s": sec}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


def figure(value, kind: str) -> str:
    if kind == RATE:
        return percent(value)
    if kind == SECONDS:
        return duration(value)
    if kind == DECIMAL:
        return decimal(value)
    if kind == COUNT:
        return count(value)
    if kind == FLAG:
        return "–" if value is None else (_("yes") if value else _("no"))
    if kind == DATE and isinstance(value, dt.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    return "–" if value in (None, "") else str(value)
