"""The telephony webhook: a call-tracking provider posts signed call events (docs/telephony.md).

No session or token: the HMAC signature authenticates, and the endpoint id in the header names the dealer,
resolved once before anything else runs. Validate → call the service → render; never a 5xx for bad input.
"""

import json
import logging

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from dealers.api import problem_response
from leads.quality import storable

from .models import TelephonyEventType
from .telephony import (
    ENDPOINT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallEvent,
    SignatureError,
    TelephonyResult,
    endpoint_for_request,
    signature_verify,
    telephony_event_record,
)

logger = logging.getLogger(__name__)
MAX_EVENT_BYTES = 64 * 1024  # a call event is a few hundred bytes; anything near this is not one


class HttpUrlField(serializers.URLField):
    """Only http(s): the recording link is shown to salespeople as a link."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value.lower().startswith(("https://", "http://")):
            raise serializers.ValidationError("Only http(s) URLs.")
        return value


class CallEventSerializer(serializers.Serializer):
    event_id = serializers.CharField(max_length=200, help_text="Unique per event; a replay with the same id changes nothing.")
    call_id = serializers.CharField(max_length=150, required=False, allow_blank=True,
                                    help_text="The same for every event of one call; default: the event id.")
    type = serializers.ChoiceField(choices=TelephonyEventType.choices)
    direction = serializers.ChoiceField(choices=[("outbound", "outbound"), ("inbound", "inbound")], default="outbound",
                                        help_text="outbound: the dealer calls the customer; inbound: the customer calls.")
    caller = serializers.CharField(max_length=64, allow_blank=True, help_text="The calling number, any common notation.")
    callee = serializers.CharField(max_length=64, allow_blank=True, help_text="The called number, any common notation.")
    started_at = serializers.DateTimeField(help_text="ISO 8601 with offset: when the call started.")
    duration_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=86400,
                                                help_text="`ended`: talk time in seconds; 0 when nobody answered.")
    answered = serializers.BooleanField(required=False, allow_null=True, default=None,
                                        help_text="`ended`: whether the call was answered (default: duration_seconds > 0).")
    recording_url = HttpUrlField(required=False, allow_blank=True, max_length=2000)
    agent_email = serializers.EmailField(required=False, allow_blank=True, max_length=254,
                                         help_text="The dealer employee on the call, if the provider knows.")

    def validate(self, attrs):
        if not attrs["caller"].strip() and not attrs["callee"].strip():
            raise serializers.ValidationError({"caller": ["Give the caller or the callee number."]})
        return attrs

    def to_call_event(self) -> CallEvent:
        d = self.validated_data
        return CallEvent(event_id=d["event_id"], call_id=d.get("call_id") or d["event_id"], type=d["type"],
                         direction=d["direction"], caller=d["caller"], callee=d["callee"], started_at=d["started_at"],
                         duration_seconds=d.get("duration_seconds"), answered=d.get("answered"),
                         recording_url=d.get("recording_url") or "", agent_email=d.get("agent_email") or "")


EVENT_RESPONSE = inline_serializer("TelephonyEventResponse", {
    "event_id": serializers.CharField(),
    "matched": serializers.BooleanField(),
    "lead_id": serializers.UUIDField(allow_null=True),
    "attempt_id": serializers.IntegerField(allow_null=True),
    "outcome": serializers.CharField(allow_null=True),
    "duplicate": serializers.BooleanField(),
})
PROBLEM = OpenApiResponse(response=OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _parse_body(body: bytes) -> dict:
    """The body as a JSON object that PostgreSQL can store; anything else is a 400."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise serializers.ValidationError({"body": ["The body is not valid UTF-8 JSON."]})
    if not isinstance(data, dict):
        raise serializers.ValidationError({"body": ["The body must be a JSON object."]})
    if storable(data) != data:  # the whole event is kept as received, so it must be storable as it is
        raise serializers.ValidationError({"body": ["The body contains NUL characters or lone surrogates."]})
    return data


def _unauthorised(detail: str) -> Response:
    return problem_response(status_code=401, title="Not authenticated", detail=detail, problem_type="bad-signature")


def _event_body(result: TelephonyResult) -> dict:
    return {
        "event_id": result.event.event_id,
        "matched": result.lead is not None,
        "lead_id": str(result.lead.pk) if result.lead else None,
        "attempt_id": result.attempt.pk if result.attempt else None,
        "outcome": result.attempt.outcome if result.attempt else None,
        "duplicate": result.duplicate,
    }


class TelephonyEventView(APIView):
    """POST one call event. The signature, not a login, authenticates the request."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="telephony_events_create", summary="Post a call event (call tracking)", tags=["telephony"], auth=[],
        parameters=[
            OpenApiParameter(ENDPOINT_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                             description="The dealer's endpoint id (Settings → Telephony), e.g. tel_3f9a…"),
            OpenApiParameter(TIMESTAMP_HEADER, OpenApiTypes.INT, OpenApiParameter.HEADER, required=True,
                             description="Unix seconds when signed; more than 5 minutes off is refused."),
            OpenApiParameter(SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                             description="sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>' with the endpoint's secret>"),
        ],
        request=CallEventSerializer,
        responses={201: OpenApiResponse(EVENT_RESPONSE, description="Stored; it matched a lead"),
                   202: OpenApiResponse(EVENT_RESPONSE, description="Stored; no open lead has this number (matched: false)"),
                   200: OpenApiResponse(EVENT_RESPONSE, description="A replay of a stored event: nothing changed"),
                   400: PROBLEM, 401: PROBLEM, 413: PROBLEM},
        examples=[OpenApiExample("A call that was answered", request_only=True, value={
            "event_id": "evt_7f3c2a", "call_id": "call_91d0", "type": "ended", "direction": "outbound",
            "caller": "+31201234567", "callee": "06-12345678", "started_at": "2026-11-22T10:06:00+01:00",
            "duration_seconds": 179, "recording_url": "https://calls.example.nl/rec/91d0.mp3",
            "agent_email": "sanne@autobedrijf.nl"})],
    )
    def post(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_EVENT_BYTES:
            return problem_response(status_code=413, title="Request body too large", detail="A call event is at most 64 KiB.")
        body = request.body
        if len(body) > MAX_EVENT_BYTES:
            return problem_response(status_code=413, title="Request body too large", detail="A call event is at most 64 KiB.")
        try:
            endpoint = endpoint_for_request(public_id=request.headers.get(ENDPOINT_HEADER, ""))
            signature_verify(endpoint=endpoint, timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
                             signature=request.headers.get(SIGNATURE_HEADER, ""), body=body)
        except SignatureError as exc:
            logger.info("Telephony event refused: %s", exc.detail)
            return _unauthorised(exc.detail)
        payload = _parse_body(body)
        serializer = CallEventSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        result = telephony_event_record(endpoint=endpoint, call=serializer.to_call_event(), payload=payload)
        if result.duplicate:
            code = status.HTTP_200_OK
        elif result.lead is not None:
            code = status.HTTP_201_CREATED
        else:
            code = status.HTTP_202_ACCEPTED
        return Response(_event_body(result), status=code)
