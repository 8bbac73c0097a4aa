"""One date style per context, in both languages: Dutch months and days lower case ("wo 2 dec", "2 december 2026"),
English ones capitalised ("Wed 2 Dec"). Django's `M` capitalises every language, `b` lowercases every language, so
the short month is chosen per language here; pages and mails call `date_text`, templates the `when` filter."""

import datetime as dt

from django.utils import formats, timezone, translation

# style -> (Dutch format, English format)
STYLES = {
    "day_time": ("D j b H:i", "D j M H:i"),  # lists, cards, timelines: "wo 2 dec 14:05"
    "day": ("D j b", "D j M"),  # quick-pick chips, day navigation: "wo 2 dec"
    "short_date": ("j b Y", "j M Y"),  # earlier leads: "2 dec 2026"
    "short_date_time": ("j b Y H:i", "j M Y H:i"),  # the BDC queue: "2 dec 2026 14:05"
    "date": ("j F Y", "j F Y"),  # "2 december 2026"
    "date_time": ("j F Y H:i", "j F Y H:i"),  # detail lines and messages: "2 december 2026 14:05"
    "long_date": ("l j F Y", "l j F Y"),  # "woensdag 2 december 2026"
    "long_date_time": ("l j F Y H:i", "l j F Y H:i"),
    "long_day_time": ("l j F H:i", "l j F H:i"),  # "woensdag 2 december 14:05"
}


def date_text(value, style: str = "day_time") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    dutch, english = STYLES[style]
    lang = (translation.get_language() or "nl").split("-")[0]
    return formats.date_format(value, english if lang == "en" else dutch)
