"""Confirm where the eye is: a message tagged "at-<section>" shows inside that section of the page it lands on
(the redirect's anchor scrolls there); the rest, and any whose section the page lacks, show at the top."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def unplaced_messages(context) -> list:
    """The messages no section of this page shows; the page's `placed_messages` lists the tags its sections render."""
    placed = set(context.get("placed_messages") or ())
    return [m for m in context.get("messages") or () if not m.extra_tags or m.extra_tags not in placed]


@register.filter
def placed_at(messages, section: str) -> list:
    return [m for m in messages or () if m.extra_tags == f"at-{section}"]
