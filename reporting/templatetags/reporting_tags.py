"""Figures as the page writes them: `{{ row|cell:column }}`, `{{ rate|percent }}`, `{{ seconds|duration }}`."""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from reporting import formatting
from reporting.tables import cell_value

register = template.Library()


@register.filter
def cell(row, column) -> str:
    return formatting.figure(cell_value(row, column), column.kind)


@register.filter
def percent(rate) -> str:
    return formatting.percent(rate)


@register.filter
def duration(seconds) -> str:
    return formatting.duration(seconds)


@register.filter
def figure_count(value) -> str:
    return formatting.count(value)


@register.filter
def figure_decimal(value) -> str:
    return formatting.decimal(value)


@register.filter
def meets(row, target_name: str):
    """True/False when the row's rate meets the target, None without a target. `map_target` → appointment_rate."""
    rate = {"map_target": "appointment_rate", "contact_target": "contact_rate",
            "appointment_of_contacted_target": "appointment_of_contacted_rate"}[target_name]
    return row.meets(rate, target_name)


# Dutch builds long compounds ("Afsprakenpercentage"); a column head may break only where a soft hyphen allows it
# ("Afspraken-/percentage"), never in the middle of a syllable. Chromium ships no Dutch hyphenation dictionary offline.
_COMPOUND_TAILS = re.compile(r"(\w{4,})(percentage|gemiddelde|discipline|bevoegdheid|pogingen|poging|afspraken|contact)\b",
                             re.IGNORECASE)


@register.filter
def breakable(label) -> str:
    """A column head as safe HTML, with a soft hyphen before the tail of a long compound word."""
    text = escape(str(label))
    return mark_safe(_COMPOUND_TAILS.sub(lambda m: f"{m[1]}&shy;{m[2]}" if len(m[0]) >= 12 else m[0], text))
