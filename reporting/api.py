"""GET /api/v1/team/reports/summary/: the dashboard's figures as JSON for the group's BI tools, in the dealer scope.

The numbers come from the same selectors as the page and the CSV (reporting.selectors.report_summary).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from config.db_router import reading_replica
from dealers.access import MANAGING_ROLES
from dealers.api import TeamAPIView
from leads.models import Kind

from .forms import ReportFilterForm
from .selectors import FigureRow, ReportFilters, report_scope, report_summary

PROBLEM = OpenApiResponse(response=OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")


class RatesSerializer(serializers.Serializer):
    contact = serializers.FloatField(allow_null=True, help_text="contacted / leads")
    appointment = serializers.FloatField(allow_null=True, help_text="appointments / leads (the MAP is measured on this)")
    appointment_of_contacted = serializers.FloatField(allow_null=True, help_text="appointments / contacted")
    show = serializers.FloatField(allow_null=True, help_text="shown / appointments")
    close = serializers.FloatField(allow_null=True, help_text="sold / shown")


class SecondsSerializer(serializers.Serializer):
    median = serializers.IntegerField(allow_null=True)
    mean = serializers.IntegerField(allow_null=True)
    p90 = serializers.IntegerField(allow_null=True)


class AttemptsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    verified = serializers.IntegerField()
    self_reported = serializers.IntegerField()


# `from` is a Python keyword, so this serializer is built with type() to give the field its JSON name.
PeriodSerializer = type("PeriodSerializer", (serializers.Serializer,), {
    "from": serializers.DateField(), "to": serializers.DateField(), "time_zone": serializers.CharField()})


class ReportSummarySerializer(serializers.Serializer):
    """The contract's shape (docs: portal-api.md, "Report figures"); `period`, `speed_to_first_contact_seconds` and
    `attempts.self_reported` are additions."""

    leads = serializers.IntegerField()
    contacted = serializers.IntegerField()
    appointments = serializers.IntegerField()
    shown = serializers.IntegerField()
    sold = serializers.IntegerField()
    rates = RatesSerializer()
    map_target = serializers.FloatField()
    speed_to_first_attempt_seconds = SecondsSerializer()
    speed_to_first_contact_seconds = SecondsSerializer()
    first_attempt_within_deadline = serializers.FloatField(allow_null=True)
    closed_unreachable = serializers.IntegerField()
    closed_unreachable_below_minimum = serializers.IntegerField()
    attempts = AttemptsSerializer()
    period = PeriodSerializer()


def summary_body(row: FigureRow, *, filters: ReportFilters, time_zone: str) -> dict:
    """The figures row in the contract's shape. Only renaming happens here; every number was computed in SQL."""
    return {
        "leads": row.leads, "contacted": row.contacted, "appointments": row.appointments, "shown": row.shown, "sold": row.sold,
        "rates": {"contact": row.contact_rate, "appointment": row.appointment_rate,
                  "appointment_of_contacted": row.appointment_of_contacted_rate, "show": row.show_rate,
                  "close": row.close_rate},
        "map_target": float(row.targets["map_target"]),
        "speed_to_first_attempt_seconds": {"median": row.first_attempt_median, "mean": row.first_attempt_mean,
                                           "p90": row.first_attempt_p90},
        "speed_to_first_contact_seconds": {"median": row.first_contact_median, "mean": row.first_contact_mean,
                                           "p90": row.first_contact_p90},
        "first_attempt_within_deadline": row.within_deadline_rate,
        "closed_unreachable": row.closed_unreachable,
        "closed_unreachable_below_minimum": row.closed_unreachable_below_minimum,
        "attempts": {"total": row.attempts_total, "verified": row.attempts_verified,
                     "self_reported": row.attempts_self_reported},
        "period": {"from": filters.date_from, "to": filters.date_to, "time_zone": time_zone},
    }


class ReportSummaryView(TeamAPIView):
    allowed_roles = MANAGING_ROLES

    @extend_schema(
        operation_id="team_reports_summary", summary="Report figures (funnel, speed to lead, compliance)", tags=["team"],
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD, dealer's time zone, inclusive); "
                                                                    "default 29 days before `to`."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive); default today."),
            OpenApiParameter("source", OpenApiTypes.STR, description="Only leads from this source."),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=Kind.values),
            OpenApiParameter("assignee", OpenApiTypes.INT, description="Only leads assigned to this user id."),
            OpenApiParameter("dealer", OpenApiTypes.STR, description="Dealer slug (default: your first dealer)."),
        ],
        responses={200: ReportSummarySerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM},
        description="Managers and group admins only. The period is by arrival (`received_at`) in the dealer's time zone; "
                    "rates are rounded to 4 decimals and null when their denominator is zero.")
    def get(self, request):
        dealer = self.access.dealer
        form = ReportFilterForm(request.query_params, tz=dealer.tz)
        if not form.is_valid():
            raise exceptions.ValidationError({k: [str(e) for e in v] for k, v in form.errors.items()})
        filters = form.filters()
        with reading_replica():  # figures may lag by seconds (config/db_router.py)
            row = report_summary(scope=report_scope(dealers=[dealer]), filters=filters)
        return Response(summary_body(row, filters=filters, time_zone=dealer.time_zone))
