"""The team API: leads, attempts, appointments, closing, the BDC queue, the policy and in-app notices.

Every view is a `dealers.api.TeamAPIView`: the dealer is resolved once from `?dealer=<slug>`, and every lead comes
from the one visibility rule (`leads.selectors`): the list shows what a person may see, and a lead they may not act on
(another dealer's, a colleague's, or for a BDC agent one they have not claimed) is a 404, as on the pages.
Each handler validates, calls a service and renders.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from dealers.access import MANAGING_ROLES
from dealers.api import TeamAPIView
from dealers.models import FollowUpPolicy, Membership, Role
from dealers.services import policy_get, policy_update
from leads.models import Lead, Notification, PushSubscription
from leads.selectors import leads_workable
from leads.services import (
    PushSubscriptionRefused,
    notification_mark_read,
    push_subscription_delete,
    push_subscription_save,
)
from routing.services import bdc_claim_next, bdc_handover

from .selectors import lead_detail_queryset, lead_list
from .serializers import (
    AppointmentInSerializer,
    AppointmentOutcomeInSerializer,
    AppointmentSerializer,
    AttemptInSerializer,
    AttemptOutSerializer,
    CloseInSerializer,
    HandoverInSerializer,
    LeadDetailSerializer,
    LeadItemSerializer,
    NotificationSerializer,
    NotificationsReadInSerializer,
    NotificationsReadOutSerializer,
    PolicySerializer,
    PushSubscriptionInSerializer,
    PushSubscriptionSerializer,
    ScoreInSerializer,
)
from .services import (
    appointment_outcome_set,
    appointment_set,
    attempt_log,
    lead_close,
    score_update,
)

TAGS = ["team"]
PROBLEM = OpenApiResponse(response=OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")
CONFLICT = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="application/problem+json: a follow-up rule refused the action (e.g. closing as unreachable before the "
                "minimum number of attempts: `attempts_owed`, `min_attempts`, `counted_attempts`; or a closed lead).")
DEALER_PARAM = OpenApiParameter("dealer", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                                description="The dealer's slug, for people who work for several (default: their first).")
LEAD_ERRORS = {401: PROBLEM, 404: PROBLEM}


class TeamPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class NotificationPagination(TeamPagination):
    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread"] = {"type": "integer", "description": "Unread notices in this dealer."}
        paginated["required"] = [*paginated.get("required", []), "unread"]
        return paginated


class TeamLeadAPIView(TeamAPIView):
    """A lead-scoped team view: the lead comes from what this person may see; a refused rule is a 409 problem."""

    queryset = Lead.objects.none()  # tells the schema generator the model; requests use get_scoped_queryset()
    pagination_class = TeamPagination
    # Roles checked after the lead is found (instead of allowed_roles), so another dealer's lead is a 404 for everyone.
    lead_roles: frozenset | None = None

    def get_object(self):
        lead = super().get_object()
        if self.lead_roles is not None and self.access.role not in self.lead_roles:
            raise exceptions.PermissionDenied(_("Your role in this dealer does not allow this."))
        return lead

    def get_scoped_queryset(self):
        return leads_workable(access=self.access).select_related("customer", "assignee")

    def team_context(self, **extra) -> dict:
        return {"request": self.request, "dealer": self.access.dealer, "policy": policy_get(dealer=self.access.dealer),
                "now": timezone.now(), **extra}

    def lead_detail(self, lead: Lead) -> dict:
        """The lead as it is now, fully loaded, in the shape of GET leads/{id}/."""
        fresh = self.detail_queryset().get(pk=lead.pk)
        return LeadDetailSerializer(fresh, context=self.team_context()).data

    def detail_queryset(self):
        # The same customer's leads in this dealer, for "was here before" (one query for the whole page).
        customer_leads = Lead.objects.for_dealer(self.access.dealer).only("id", "customer_id", "received_at", "status")
        return lead_detail_queryset(access=self.access).prefetch_related(
            Prefetch("customer__leads", queryset=customer_leads.order_by("-received_at"), to_attr="dealer_leads"))


class LeadListView(TeamLeadAPIView):
    serializer_class = LeadItemSerializer

    def get_scoped_queryset(self):
        return lead_list(access=self.access)

    @extend_schema(
        operation_id="team_leads_list", summary="My leads, most urgent first", tags=TAGS, parameters=[DEALER_PARAM],
        responses={200: LeadItemSerializer(many=True), 401: PROBLEM, 404: PROBLEM},
        description="A salesperson sees their own open leads, a BDC agent the BDC queue, a manager all of the dealer. "
                    "Ordered by the next deadline (overdue first), then the BANT score, then arrival.")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(LeadItemSerializer(page, many=True, context=self.team_context()).data)


class LeadDetailView(TeamLeadAPIView):
    serializer_class = LeadDetailSerializer

    def get_scoped_queryset(self):
        return self.detail_queryset()

    @extend_schema(operation_id="team_leads_retrieve", summary="One lead with its timeline", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={200: LeadDetailSerializer, **LEAD_ERRORS})
    def get(self, request, pk):
        lead = self.get_object()
        return Response(LeadDetailSerializer(lead, context=self.team_context()).data)


class AttemptCreateView(TeamLeadAPIView):
    serializer_class = AttemptInSerializer

    @extend_schema(operation_id="team_leads_attempts_create", summary="Log a contact attempt", tags=TAGS,
                   parameters=[DEALER_PARAM], request=AttemptInSerializer,
                   responses={201: AttemptOutSerializer, 400: PROBLEM, 409: CONFLICT, **LEAD_ERRORS},
                   description="A self-reported attempt (verified: false). Attempts closer together than the policy's "
                               "spacing count as one toward the minimum.")
    def post(self, request, pk):
        lead = self.get_object()
        data = AttemptInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = attempt_log(lead=lead, by=request.user, **data.validated_data)
        lead = self.get_queryset().get(pk=lead.pk)
        return Response(AttemptOutSerializer(attempt, context=self.team_context(lead=lead)).data,
                        status=status.HTTP_201_CREATED)


class AppointmentCreateView(TeamLeadAPIView):
    serializer_class = AppointmentInSerializer

    @extend_schema(operation_id="team_leads_appointments_create", summary="Set an appointment", tags=TAGS,
                   parameters=[DEALER_PARAM], request=AppointmentInSerializer,
                   responses={201: AppointmentSerializer, 400: PROBLEM, 409: CONFLICT, **LEAD_ERRORS})
    def post(self, request, pk):
        lead = self.get_object()
        data = AppointmentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = appointment_set(lead=lead, by=request.user, **data.validated_data)
        return Response(AppointmentSerializer(appointment, context=self.team_context()).data, status=status.HTTP_201_CREATED)


class AppointmentOutcomeView(TeamLeadAPIView):
    serializer_class = AppointmentOutcomeInSerializer

    @extend_schema(operation_id="team_leads_appointments_outcome", summary="Record whether the customer showed", tags=TAGS,
                   parameters=[DEALER_PARAM], request=AppointmentOutcomeInSerializer,
                   responses={200: AppointmentSerializer, 400: PROBLEM, **LEAD_ERRORS})
    def post(self, request, pk, appointment_id):
        lead = self.get_object()
        # Only an appointment of this (visible) lead; anything else is a 404 like a lead of another dealer.
        appointment = get_object_or_404(lead.appointments.select_related("lead"), pk=appointment_id)
        data = AppointmentOutcomeInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = appointment_outcome_set(appointment=appointment, by=request.user, **data.validated_data)
        return Response(AppointmentSerializer(appointment, context=self.team_context()).data)


class LeadCloseView(TeamLeadAPIView):
    serializer_class = CloseInSerializer

    @extend_schema(operation_id="team_leads_close", summary="Close a lead", tags=TAGS, parameters=[DEALER_PARAM],
                   request=CloseInSerializer, responses={200: LeadDetailSerializer, 400: PROBLEM, 409: CONFLICT, **LEAD_ERRORS},
                   description="`unreachable` before the dealer's minimum number of (spaced) attempts is refused with 409 "
                               "and `attempts_owed`; `not_interested` without them is allowed but flagged to the manager.")
    def post(self, request, pk):
        lead = self.get_object()
        data = CloseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = lead_close(lead=lead, by=request.user, **data.validated_data)
        return Response(self.lead_detail(lead))


class LeadHandoverView(TeamLeadAPIView):
    serializer_class = HandoverInSerializer
    lead_roles = frozenset({Role.BDC_AGENT})

    @extend_schema(operation_id="team_leads_handover", summary="BDC: hand the lead over to a salesperson", tags=TAGS,
                   parameters=[DEALER_PARAM], request=HandoverInSerializer,
                   responses={200: LeadItemSerializer, 400: PROBLEM, 403: PROBLEM, **LEAD_ERRORS},
                   description="Without `salesperson_id` the next salesperson by round-robin gets it. After the hand-over "
                               "the lead leaves the BDC queue.")
    def post(self, request, pk):
        lead = self.get_object()
        salespeople = Membership.objects.filter(dealer=self.access.dealer, role=Role.SALESPERSON, is_active=True)
        data = HandoverInSerializer(data=request.data, context={"salespeople": salespeople})
        data.is_valid(raise_exception=True)
        lead = bdc_handover(lead=lead, agent=request.user, salesperson=data.validated_data["salesperson_id"],
                            note=data.validated_data["note"])
        lead = Lead.objects.for_dealer(self.access.dealer).select_related("customer", "assignee").get(pk=lead.pk)
        return Response(LeadItemSerializer(lead, context=self.team_context()).data)


class LeadScoreView(TeamLeadAPIView):
    serializer_class = ScoreInSerializer

    @extend_schema(operation_id="team_leads_score", summary="Adjust the BANT score", tags=TAGS, parameters=[DEALER_PARAM],
                   request=ScoreInSerializer, responses={200: LeadDetailSerializer, 400: PROBLEM, **LEAD_ERRORS},
                   description="Each part 0–25; parts left out keep their value. The score ranks leads, it never hides one.")
    def patch(self, request, pk):
        lead = self.get_object()
        data = ScoreInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parts = {part: data.validated_data.get(part, getattr(lead, f"bant_{part}"))
                 for part in ("budget", "authority", "need", "timeline")}
        lead = score_update(lead=lead, by=request.user, **parts)
        return Response(self.lead_detail(lead))


class BdcNextView(TeamLeadAPIView):
    serializer_class = LeadDetailSerializer
    allowed_roles = frozenset({Role.BDC_AGENT})

    @extend_schema(operation_id="team_bdc_next", summary="BDC: claim the next lead", tags=TAGS, parameters=[DEALER_PARAM],
                   request=None,
                   responses={200: LeadDetailSerializer, 204: OpenApiResponse(description="The queue is empty."),
                              401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
                   description="Claims the most urgent unclaimed lead of the BDC queue; two agents never get the same lead.")
    def post(self, request):
        lead = bdc_claim_next(dealer=self.access.dealer, agent=request.user, passive_only=self.access.via_bdc_company)
        if lead is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.lead_detail(lead))


class PolicyView(TeamAPIView):
    serializer_class = PolicySerializer
    queryset = FollowUpPolicy.objects.none()  # for the schema generator only
    allowed_roles = MANAGING_ROLES

    @extend_schema(operation_id="team_policy_retrieve", summary="The dealer's follow-up policy", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={200: PolicySerializer, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM})
    def get(self, request):
        return Response(PolicySerializer(policy_get(dealer=self.access.dealer)).data)

    @extend_schema(operation_id="team_policy_update", summary="Change the follow-up policy", tags=TAGS,
                   parameters=[DEALER_PARAM], request=PolicySerializer(partial=True),
                   responses={200: PolicySerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
                   description="Send only what changes. Every change is written to the audit trail.")
    def patch(self, request):
        policy = policy_get(dealer=self.access.dealer)
        data = PolicySerializer(policy, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            policy = policy_update(dealer=self.access.dealer, by=request.user, changes=data.validated_data)
        except DjangoValidationError as exc:  # the model's own checks, should the serializer ever let one through
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
        return Response(PolicySerializer(policy).data)


class NotificationListView(TeamAPIView):
    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()  # for the schema generator only
    pagination_class = NotificationPagination

    def get_scoped_queryset(self):
        return Notification.objects.for_access(self.access).filter(recipient=self.request.user).order_by("-created_at", "-pk")

    @extend_schema(operation_id="team_notifications_list", summary="My notices in this dealer, newest first", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={200: NotificationSerializer(many=True), 401: PROBLEM, 404: PROBLEM})
    def get(self, request):
        notices = self.get_queryset()
        page = self.paginate_queryset(notices)
        response = self.get_paginated_response(
            NotificationSerializer(page, many=True, context={"dealer": self.access.dealer}).data)
        response.data["unread"] = notices.filter(read_at__isnull=True).count()
        return response


class NotificationReadView(TeamAPIView):
    serializer_class = NotificationsReadInSerializer
    queryset = Notification.objects.none()  # for the schema generator only

    def get_scoped_queryset(self):
        return Notification.objects.for_access(self.access).filter(recipient=self.request.user)

    @extend_schema(operation_id="team_notifications_read", summary="Mark notices read", tags=TAGS,
                   parameters=[DEALER_PARAM], request=NotificationsReadInSerializer,
                   responses={200: NotificationsReadOutSerializer, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM})
    def post(self, request):
        data = NotificationsReadInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notification_mark_read(dealer=self.access.dealer, recipient=request.user, ids=data.validated_data.get("ids"))
        unread = self.get_queryset().filter(read_at__isnull=True).count()
        return Response(NotificationsReadOutSerializer({"marked": marked, "unread": unread}).data)


class _MyDevicesMixin:
    """Push subscriptions belong to the person, not to a dealer: the scope is the user (who must work for a dealer)."""

    def scope_filters(self):
        return {"user": self.request.user}

    def get_scoped_queryset(self):
        return PushSubscription.objects.all()


class PushSubscriptionListView(_MyDevicesMixin, TeamAPIView):
    serializer_class = PushSubscriptionSerializer
    queryset = PushSubscription.objects.none()  # for the schema generator only
    pagination_class = None

    @extend_schema(operation_id="team_push_subscriptions_list", summary="My devices that receive push alerts", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={200: PushSubscriptionSerializer(many=True), 401: PROBLEM})
    def get(self, request):
        devices = self.get_queryset().order_by("-created_at")
        return Response(PushSubscriptionSerializer(devices, many=True, context={"dealer": self.access.dealer}).data)

    @extend_schema(operation_id="team_push_subscriptions_create", summary="Receive push alerts on this device", tags=TAGS,
                   parameters=[DEALER_PARAM], request=PushSubscriptionInSerializer,
                   responses={201: PushSubscriptionSerializer, 400: PROBLEM, 401: PROBLEM})
    def post(self, request):
        data = PushSubscriptionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            subscription, _created = push_subscription_save(
                user=request.user, endpoint=data.validated_data["endpoint"], p256dh=data.validated_data["keys"]["p256dh"],
                auth=data.validated_data["keys"]["auth"], user_agent=request.headers.get("User-Agent", ""))
        except PushSubscriptionRefused as exc:
            raise exceptions.ValidationError({"endpoint": [_("This push service is not accepted: %(reason)s.") % {
                "reason": exc}]}) from exc
        return Response(PushSubscriptionSerializer(subscription, context={"dealer": self.access.dealer}).data,
                        status=status.HTTP_201_CREATED)


class PushSubscriptionDetailView(_MyDevicesMixin, TeamAPIView):
    serializer_class = PushSubscriptionSerializer
    queryset = PushSubscription.objects.none()  # for the schema generator only

    @extend_schema(operation_id="team_push_subscriptions_delete", summary="Stop push alerts on a device", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={204: None, 401: PROBLEM, 404: PROBLEM})
    def delete(self, request, pk: int):
        if pk >= 2**63 or not push_subscription_delete(user=request.user, subscription_id=pk):
            raise exceptions.NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)
