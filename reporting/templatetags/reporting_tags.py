"""Figures as the page writes them: `{{ row|cell:column }}`, `{{ rate|percent }}`, `{{ seconds|duration }}`."""

from django import template

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
