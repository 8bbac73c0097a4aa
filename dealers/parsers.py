"""How every API reads a request: JSON with bounded nesting (no body can exhaust the stack), and OPTIONS."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, metadata, parsers

MAX_JSON_DEPTH = 32  # a lead is 3 levels deep; nothing we accept needs more


def json_depth_exceeds(value, limit: int) -> bool:
    """Whether `value` nests deeper than `limit` (iterative: a check that recursed could itself overflow)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(parsers.JSONParser):
    """JSON, refused with a 400 when nested deeper than MAX_JSON_DEPTH (the decoder's own RecursionError included)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise exceptions.ParseError(_("The JSON body is nested too deeply.")) from None
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(_("The JSON body is nested too deeply."))
        return data


class ActionlessMetadata(metadata.SimpleMetadata):
    """OPTIONS says what a view renders and parses, not its fields: the OpenAPI schema does that, and describing
    them asked views without a serializer class for one (a 500)."""

    def determine_metadata(self, request, view):
        data = super().determine_metadata(request, view)
        data.pop("actions", None)
        return data

    def determine_actions(self, request, view):
        return {}
