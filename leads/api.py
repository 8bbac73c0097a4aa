"""The portal API: POST a lead (JSON or ADF/XML) and read it back. Each view validates, calls services, renders."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.response import Response

from dealers.api import PayloadTooLarge, PortalAPIView, flatten_errors, problem_response
from dealers.parsers import BoundedJSONParser
from followup.services import mail_receive
from routing.services import lead_route_new

from . import adf
from .mail import NotAMail
from .quality import storable
from .selectors import lead_readback_queryset
from .serializers import LeadInSerializer, LeadOutSerializer, LeadReadBackSerializer, lead_out_body
from .services import IntakeResult, document_store, lead_intake

MAX_PROSPECTS = 500  # a 1 MiB document could otherwise carry ~90,000 empty prospects

PROBLEM = OpenApiResponse(response=OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="A retry with the same key within 24 hours creates nothing and returns the first lead.")
ADF_REJECTED = inline_serializer("AdfRejected", {"index": serializers.IntegerField(), "errors": serializers.DictField()})
ADF_RESPONSE = inline_serializer("AdfLeadsResponse", {"leads": LeadOutSerializer(many=True), "rejected": ADF_REJECTED})


def _check_size(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.LEAD_BODY_MAX_BYTES:
        raise PayloadTooLarge()


def _read_body(request) -> bytes:
    try:
        body = request.body
    except (RequestDataTooBig, RawPostDataException):
        raise PayloadTooLarge() from None
    if len(body) > settings.LEAD_BODY_MAX_BYTES:
        raise PayloadTooLarge()
    return body


def _lead_body(result: IntakeResult) -> dict:
    return lead_out_body(result.lead, duplicate=not result.created)


def _idempotency_key(request) -> str | None:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if len(key) > settings.IDEMPOTENCY_KEY_MAX_LENGTH:  # cut short, two different keys could become one
        raise exceptions.ValidationError({"Idempotency-Key": [
            _("At most %(max)d characters.") % {"max": settings.IDEMPOTENCY_KEY_MAX_LENGTH}]})
    return key or None


class LeadCreateView(PortalAPIView):
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        operation_id="leads_create", summary="Post a lead (JSON)", tags=["portal"],
        parameters=[IDEMPOTENCY_HEADER], request=LeadInSerializer,
        responses={201: LeadOutSerializer, 200: OpenApiResponse(LeadOutSerializer, description="Duplicate: the first lead"),
                   400: PROBLEM, 401: PROBLEM, 413: PROBLEM, 415: PROBLEM, 429: PROBLEM},
        examples=[OpenApiExample("A web-form lead", request_only=True, value={
            "external_id": "MP-2026-118734", "channel": "web_form", "received_at": "2026-11-22T10:04:00+01:00",
            "customer": {"first_name": "Jan", "last_name": "de Vries", "email": "jan@example.nl", "phone": "06 12345678",
                         "preferred_contact": "whatsapp", "language": "nl"},
            "vehicle": {"interest": "buy", "status": "used", "make": "Hyundai", "model": "Tucson", "year": 2023, "price": 32950},
            "message": "Wat kan er van de prijs af zonder inruil?"})],
    )
    def post(self, request):
        _check_size(request)
        key = _idempotency_key(request)
        body = storable(request.data)  # a stray NUL or lone surrogate is dropped, not a reason to refuse the lead
        serializer = LeadInSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        result = lead_intake(dealer=self.api_key.dealer, source=self.api_key.source, data=serializer.validated_data,
                             idempotency_key=key, payload=body, route=lead_route_new)
        return Response(_lead_body(result), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class XmlBodyParser(parsers.BaseParser):
    """Hands the raw bytes to the view; the ADF module parses them safely."""

    media_type = "application/xml"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream else b""


class TextXmlBodyParser(XmlBodyParser):
    media_type = "text/xml"


class AdfLeadCreateView(PortalAPIView):
    parser_classes = [XmlBodyParser, TextXmlBodyParser]

    @extend_schema(
        operation_id="leads_create_adf", summary="Post ADF/XML lead documents", tags=["portal"],
        parameters=[IDEMPOTENCY_HEADER],
        request={"application/xml": OpenApiTypes.STR, "text/xml": OpenApiTypes.STR},
        responses={201: ADF_RESPONSE, 400: PROBLEM, 401: PROBLEM, 413: PROBLEM, 415: PROBLEM, 429: PROBLEM},
        description="Each <prospect> becomes one lead (idempotent per prospect on <id source=…>). Prospects without any "
                    "contact method are listed under `rejected`; 400 when none could be stored.",
    )
    def post(self, request):
        _check_size(request)
        if request.content_type.split(";")[0].strip().lower() not in ("application/xml", "text/xml"):
            raise exceptions.UnsupportedMediaType(request.content_type)
        key = _idempotency_key(request)
        body = _read_body(request)
        try:
            prospects = adf.parse_adf(body)
        except adf.AdfRefused as refused:
            if refused.code == "too_large":
                raise PayloadTooLarge() from None
            return problem_response(status_code=400, title="Unreadable ADF document", detail=refused.reason,
                                    problem_type=f"adf-{refused.code}")
        if len(prospects) > MAX_PROSPECTS:
            return problem_response(status_code=400, title="Too many prospects",
                                    detail=f"A document may hold at most {MAX_PROSPECTS} prospects; split it and post the parts.",
                                    problem_type="adf-too-many-prospects")
        valid, rejected = [], []
        for prospect in prospects:
            serializer = LeadInSerializer(data=storable(prospect.data))
            if serializer.is_valid():
                valid.append((prospect, serializer.validated_data))
            else:
                rejected.append({"index": prospect.index, "errors": flatten_errors(serializer.errors)})
        if not valid:
            return problem_response(status_code=400, title="No lead in the document could be stored",
                                    detail="Every prospect lacks a contact method or is malformed.", rejected=rejected,
                                    problem_type="adf-no-valid-prospect")
        dealer, source = self.api_key.dealer, self.api_key.source
        document = document_store(dealer=dealer, source=source, content_type=request.content_type, body=body)
        leads = []
        for prospect, data in valid:
            prospect_key = f"{key}#{prospect.index}" if key else None
            result = lead_intake(dealer=dealer, source=source, data=data, idempotency_key=prospect_key,
                                 document=document, payload={"adf": prospect.data, "extras": prospect.extras},
                                 route=lead_route_new)
            leads.append(_lead_body(result))
        return Response({"leads": leads, "rejected": rejected}, status=status.HTTP_201_CREATED)


class MessageRfc822Parser(parsers.BaseParser):
    """Hands the raw message to the view, reading at most the mail limit (plus one byte, to tell that it is over)."""

    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(settings.MAIL_BODY_MAX_BYTES + 1) if stream else b""
        if len(body) > settings.MAIL_BODY_MAX_BYTES:
            raise PayloadTooLarge(f"The message is larger than {settings.MAIL_BODY_MAX_BYTES // (1024 * 1024)} MiB.")
        return body


MAIL_RESPONSE = inline_serializer("MailLeadsResponse", {
    "leads": LeadOutSerializer(many=True),
    "ignored": serializers.ChoiceField(choices=["auto-reply", "bounce", "marketing", "call-answered"], allow_null=True),
})


class MailLeadCreateView(PortalAPIView):
    parser_classes = [MessageRfc822Parser]

    @extend_schema(
        operation_id="leads_create_mail", summary="Post a raw e-mail (RFC 5322)", tags=["portal"],
        request={"message/rfc822": OpenApiTypes.BINARY},
        responses={201: OpenApiResponse(MAIL_RESPONSE, description="The mail is a lead (new, or found again: see "
                                                                   "`duplicate`); `needs_review` when no format matched"),
                   200: OpenApiResponse(MAIL_RESPONSE, description="Not a lead: `ignored` says why; the mail is kept"),
                   400: PROBLEM, 401: PROBLEM, 413: PROBLEM, 415: PROBLEM, 429: PROBLEM},
        description="The whole message as it arrived, headers included, at most 10 MiB. The lead's source is the portal "
                    "the mail comes from, or this key's source. The same Message-ID again is a duplicate.",
    )
    def post(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAIL_BODY_MAX_BYTES:
            raise PayloadTooLarge(f"The message is larger than {settings.MAIL_BODY_MAX_BYTES // (1024 * 1024)} MiB.")
        if request.content_type.split(";")[0].strip().lower() != "message/rfc822":
            raise exceptions.UnsupportedMediaType(request.content_type)
        raw = request.data if isinstance(request.data, bytes) else b""
        try:
            result = mail_receive(dealer=self.api_key.dealer, raw=raw, fallback_source=self.api_key.source,
                                  channel="api", api_key=self.api_key)
        except NotAMail as refused:
            return problem_response(status_code=400, title="Not an e-mail message", detail=str(refused),
                                    problem_type="mail-not-a-message")
        if result.ignored or not result.leads:
            body = {"leads": [], "ignored": result.ignored}
            if not result.ignored:  # kept for the manager with its error: no lead could be read from it
                body["detail"] = "The mail is kept for review: no lead with a contact method could be read from it."
            return Response(body, status=status.HTTP_200_OK)
        return Response({"leads": [_lead_body(r) for r in result.leads], "ignored": None}, status=status.HTTP_201_CREATED)


class LeadReadBackView(PortalAPIView):
    serializer_class = LeadReadBackSerializer

    def get_scoped_queryset(self):
        return lead_readback_queryset(access=self.access, api_key=self.api_key)

    def scope_filters(self):
        # The source filter is in the selector: a key reads its source's leads and the leads of mails it delivered
        # (whose source is the portal the mail came from). The dealer filter stays, here and in the selector.
        return {"dealer": self.access.dealer}

    @extend_schema(operation_id="leads_retrieve", summary="Read back a lead this key created", tags=["portal"],
                   responses={200: LeadReadBackSerializer, 401: PROBLEM, 404: PROBLEM})
    def get(self, request, pk):
        lead = self.get_object()
        return Response(LeadReadBackSerializer(lead).data)
