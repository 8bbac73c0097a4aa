"""One date style per context: Dutch months and days lower case, English ones capitalised, in the dealer's time."""

import datetime as dt

from django.utils import translation

from followup.dates import date_text
from reporting.charts import _wrap
from reporting.templatetags.reporting_tags import breakable

AT = dt.datetime(2026, 12, 2, 13, 5, tzinfo=dt.UTC)  # 14:05 in Amsterdam


def test_dutch_dates_are_lower_case_and_english_ones_capitalised():
    with translation.override("nl"):
        assert date_text(AT, "day_time") == "wo 2 dec 14:05"
        assert date_text(AT, "date_time") == "2 december 2026 14:05"
        assert date_text(AT.date(), "short_date") == "2 dec 2026"
    with translation.override("en"):
        assert date_text(AT, "day_time") == "Wed 2 Dec 14:05"
        assert date_text(AT, "long_date") == "Wednesday 2 December 2026"
    assert date_text(None) == ""


def test_long_dutch_column_heads_break_only_between_the_parts_of_a_compound():
    assert str(breakable("Afsprakenpercentage")) == "Afspraken&shy;percentage"
    assert str(breakable("Leads")) == "Leads"
    assert str(breakable("<b>x</b>")) == "&lt;b&gt;x&lt;/b&gt;"


def test_histogram_labels_wrap_onto_two_lines_instead_of_overlapping():
    assert _wrap("meer dan 24 uur", max_chars=10) == ["meer dan", "24 uur"]
    assert _wrap("1-2 min", max_chars=10) == ["1-2 min"]
