from django import template

from followup.dates import date_text

register = template.Library()


@register.filter
def when(value, style: str = "day_time") -> str:
    """`{{ lead.received_at|when:"date_time" }}`: the house date style for the page's language (followup/dates.py)."""
    return date_text(value, style)
