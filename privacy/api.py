"""The team API for customers' personal data (AVG/GDPR): export, erase, and the retention settings. Managers only.

Another dealer's customer is a 404 (the scope filters by dealer before the lookup); other roles get 403.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from dealers.access import MANAGING_ROLES
from dealers.api import TeamAPIView
from leads.models import Customer

from .holders import HOLDERS
from .models import PrivacySettings
from .services import customer_erase, customer_export, privacy_settings_get, privacy_settings_update

TAGS = ["team"]
PROBLEM = OpenApiResponse(response=OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")
DEALER_PARAM = OpenApiParameter("dealer", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                                description="The dealer's slug, for people who work for several (default: their first).")
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM}

EXPORT_SCHEMA = inline_serializer("CustomerExport", {
    "dealer": serializers.CharField(), "exported_at": serializers.DateTimeField(),
    "customer": serializers.DictField(help_text="Contact details as stored; empty after erasure."),
    **{h.name: serializers.ListField(child=serializers.DictField())
       for h in HOLDERS if h.export is not None and h.name != "customer"},
})


class CustomerErasedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    erased_at = serializers.DateTimeField()
    leads = serializers.IntegerField(help_text="Leads kept as anonymous rows, so every report figure stays the same.")


class PrivacySettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = PrivacySettings
        fields = ["raw_retention_days", "inactive_lead_months"]


class CustomerAPIView(TeamAPIView):
    queryset = Customer.objects.none()  # for the schema generator; requests use get_scoped_queryset()
    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return Customer.objects.for_access(self.access)


class CustomerExportView(CustomerAPIView):
    @extend_schema(operation_id="team_customers_export", summary="Everything stored about a customer", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={200: EXPORT_SCHEMA, **ERRORS},
                   description="Contact details, every lead with what was posted and the original documents, attempts, "
                               "appointments, timeline, notices about the customer, call payloads and consent records. "
                               "The export is on the audit trail.")
    def get(self, request, pk):
        customer = self.get_object()
        return Response(customer_export(dealer=self.access.dealer, customer=customer, by=request.user))


class CustomerEraseView(CustomerAPIView):
    @extend_schema(operation_id="team_customers_erase", summary="Erase a customer's personal data", tags=TAGS,
                   parameters=[DEALER_PARAM], request=None, responses={200: CustomerErasedSerializer, **ERRORS},
                   description="Names, e-mail addresses, phone numbers, messages, notes, payloads, documents and mails "
                               "are removed everywhere; the leads stay as anonymous rows so every report figure is "
                               "unchanged. On the audit trail (who and when, not what). Erasing twice is harmless.")
    def post(self, request, pk):
        customer = customer_erase(dealer=self.access.dealer, customer=self.get_object(), by=request.user)
        return Response(CustomerErasedSerializer({"id": customer.pk, "erased_at": customer.erased_at,
                                                  "leads": customer.leads.count()}).data)


class PrivacySettingsView(TeamAPIView):
    queryset = PrivacySettings.objects.none()  # for the schema generator only
    serializer_class = PrivacySettingsSerializer
    allowed_roles = MANAGING_ROLES

    def get_scoped_queryset(self):
        return PrivacySettings.objects.for_access(self.access)

    @extend_schema(operation_id="team_privacy_retrieve", summary="The dealer's retention periods", tags=TAGS,
                   parameters=[DEALER_PARAM], responses={200: PrivacySettingsSerializer, **ERRORS})
    def get(self, request):
        return Response(PrivacySettingsSerializer(privacy_settings_get(dealer=self.access.dealer)).data)

    @extend_schema(operation_id="team_privacy_update", summary="Change the retention periods", tags=TAGS,
                   parameters=[DEALER_PARAM], request=PrivacySettingsSerializer(partial=True),
                   responses={200: PrivacySettingsSerializer, 400: PROBLEM, **ERRORS},
                   description="Send only what changes. Every change is written to the audit trail.")
    def patch(self, request):
        data = PrivacySettingsSerializer(privacy_settings_get(dealer=self.access.dealer), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            row = privacy_settings_update(dealer=self.access.dealer, by=request.user, changes=data.validated_data)
        except DjangoValidationError as exc:  # the model's clean(): the one place the rules live
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(PrivacySettingsSerializer(row).data)
