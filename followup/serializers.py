"""The team API's shapes: leads as a salesperson, BDC agent or manager sees them, and what they may send.

Serializers only validate and render. Anything a lead shows per request (the dealer's time zone, the policy's
minimum, the current time) comes in through the context, so rendering a page of leads runs no extra queries.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dealers.models import FollowUpPolicy
from dealers.policy import POLICY_FIELDS, attempts_owed, policy_problems
from leads.dates import instant_in_range
from leads.models import CLOSE_OUTCOMES, Notification, PushSubscription
from leads.quality import flag_hint

from .models import AppointmentKind, AttemptChannel, AttemptOutcome


def _local(value, context) -> str | None:
    """An ISO 8601 time in the dealer's own time zone (what the people reading it live in)."""
    if value is None:
        return None
    return timezone.localtime(value, context["dealer"].tz).isoformat()


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class TeamCustomerSerializer(serializers.Serializer):
    """The contact as given in this lead (`source="*"`: read from the lead), with the customer record's id."""

    id = serializers.IntegerField(source="customer_id", help_text="The customer record this lead was matched to "
                                       "(/api/v1/team/customers/{id}/export/ and /erase/).")
    name = serializers.CharField(source="contact_name")
    phone = serializers.CharField(source="contact_phone",
                                  help_text="E.164; empty when the number given is unusable (see data_flags)")
    phone_raw = serializers.CharField(source="contact_phone_raw", help_text="As received")
    email = serializers.CharField(source="contact_email")


class DataFlagSerializer(serializers.Serializer):
    code = serializers.CharField()
    hint = serializers.CharField(help_text="What to do about it; a flag never lowers a lead's priority.")


class LeadItemSerializer(serializers.Serializer):
    """One lead in a list: what a salesperson needs to decide whom to call first."""

    id = serializers.UUIDField()
    customer = TeamCustomerSerializer(source="*")
    source = serializers.CharField()
    channel = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    kind = serializers.CharField(allow_null=True)
    queue = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    assigned_to = PersonSerializer(source="assignee", allow_null=True)
    received_at = serializers.SerializerMethodField()
    first_response_due_at = serializers.SerializerMethodField()
    deadline_at = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    attempts = serializers.IntegerField(source="attempt_count")
    counted_attempts = serializers.IntegerField()
    attempts_owed = serializers.SerializerMethodField()
    score = serializers.IntegerField()
    data_flags = serializers.SerializerMethodField()
    vehicle = serializers.JSONField()

    def get_received_at(self, lead) -> str:
        return _local(lead.received_at, self.context)

    def get_first_response_due_at(self, lead) -> str | None:
        return _local(lead.first_response_due_at, self.context)

    def get_deadline_at(self, lead) -> str | None:
        return _local(lead.deadline_at, self.context)

    def get_overdue(self, lead) -> bool:
        return lead.closed_at is None and lead.deadline_at is not None and lead.deadline_at < self.context["now"]

    def get_attempts_owed(self, lead) -> int:
        return attempts_owed(counted_attempts=lead.counted_attempts, policy=self.context["policy"])

    @extend_schema_field(DataFlagSerializer(many=True))
    def get_data_flags(self, lead):
        return [{"code": code, "hint": str(flag_hint(code))} for code in lead.data_flags or []]

    def to_representation(self, lead):
        data = super().to_representation(lead)
        for key in ("reason", "kind", "queue"):
            data[key] = data[key] or None  # empty while still being routed / for active leads
        return data


class EventSerializer(serializers.Serializer):
    type = serializers.CharField()
    at = serializers.SerializerMethodField()
    actor = serializers.CharField(source="actor.display_name", allow_null=True, default=None)
    text = serializers.CharField()
    data = serializers.JSONField()

    def get_at(self, event) -> str:
        return _local(event.at, self.context)


class AttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    outcome = serializers.CharField()
    note = serializers.CharField()
    at = serializers.SerializerMethodField()
    by = PersonSerializer(source="user", allow_null=True)
    verified = serializers.BooleanField(help_text="True only when the system can prove the attempt (telephony, a mail it sent).")
    counts_toward_minimum = serializers.BooleanField(
        help_text="False for an attempt closer than the policy's spacing to the previous counted one.")

    def get_at(self, attempt) -> str:
        return _local(attempt.at, self.context)


class AppointmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    scheduled_at = serializers.SerializerMethodField()
    showed = serializers.BooleanField(allow_null=True)
    outcome_at = serializers.SerializerMethodField()

    def get_scheduled_at(self, appointment) -> str:
        return _local(appointment.scheduled_at, self.context)

    def get_outcome_at(self, appointment) -> str | None:
        return _local(appointment.outcome_at, self.context)


class EscalationSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    action = serializers.CharField()
    due_at = serializers.SerializerMethodField()
    at = serializers.SerializerMethodField()
    resolved_at = serializers.SerializerMethodField()

    def get_due_at(self, escalation) -> str:
        return _local(escalation.due_at, self.context)

    def get_at(self, escalation) -> str:
        return _local(escalation.at, self.context)

    def get_resolved_at(self, escalation) -> str | None:
        return _local(escalation.resolved_at, self.context)


class EarlierLeadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    received_at = serializers.SerializerMethodField()
    status = serializers.CharField()

    def get_received_at(self, lead) -> str:
        return _local(lead.received_at, self.context)


class BantSerializer(serializers.Serializer):
    budget = serializers.IntegerField(source="bant_budget")
    authority = serializers.IntegerField(source="bant_authority")
    need = serializers.IntegerField(source="bant_need")
    timeline = serializers.IntegerField(source="bant_timeline")


class LeadDetailSerializer(LeadItemSerializer):
    """One lead with its whole story. Expects `followup.selectors.lead_detail_queryset` (everything prefetched)."""

    closed_at = serializers.SerializerMethodField()
    close_reason = serializers.CharField()
    manager_flag = serializers.CharField()
    bant = BantSerializer(source="*")
    trade_in = serializers.JSONField()
    message = serializers.CharField()
    timeline = serializers.SerializerMethodField()
    contact_attempts = serializers.SerializerMethodField()
    appointments = serializers.SerializerMethodField()
    escalations = serializers.SerializerMethodField()
    earlier_leads = serializers.SerializerMethodField()

    def get_closed_at(self, lead) -> str | None:
        return _local(lead.closed_at, self.context)

    @extend_schema_field(EventSerializer(many=True))
    def get_timeline(self, lead):
        return EventSerializer(lead.events.all(), many=True, context=self.context).data

    @extend_schema_field(AttemptSerializer(many=True))
    def get_contact_attempts(self, lead):
        return AttemptSerializer(lead.attempts.all(), many=True, context=self.context).data

    @extend_schema_field(AppointmentSerializer(many=True))
    def get_appointments(self, lead):
        return AppointmentSerializer(lead.appointments.all(), many=True, context=self.context).data

    @extend_schema_field(EscalationSerializer(many=True))
    def get_escalations(self, lead):
        return EscalationSerializer(lead.escalations.all(), many=True, context=self.context).data

    @extend_schema_field(EarlierLeadSerializer(many=True))
    def get_earlier_leads(self, lead):
        # `dealer_leads` is prefetched by the detail view: the same customer's leads in this dealer, newest first.
        earlier = [other for other in getattr(lead.customer, "dealer_leads", [])
                   if other.pk != lead.pk and other.received_at < lead.received_at]
        return EarlierLeadSerializer(earlier, many=True, context=self.context).data


# --------------------------------------------------------------------------------------------------- input


class AttemptInSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=AttemptChannel.choices)
    outcome = serializers.ChoiceField(choices=AttemptOutcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class AttemptOutSerializer(AttemptSerializer):
    lead = serializers.SerializerMethodField()

    @extend_schema_field(LeadItemSerializer)
    def get_lead(self, attempt):
        return LeadItemSerializer(self.context["lead"], context=self.context).data


class AppointmentInSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=AppointmentKind.choices, default=AppointmentKind.SHOWROOM)

    def validate_scheduled_at(self, value):
        if not instant_in_range(value):  # year 1 or 9999 would be stored but could not be read back
            raise serializers.ValidationError(_("Pick a time between the year 2000 and a year from now."))
        return value


class AppointmentOutcomeInSerializer(serializers.Serializer):
    showed = serializers.BooleanField()


class CloseInSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=CLOSE_OUTCOMES)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class HandoverInSerializer(serializers.Serializer):
    salesperson_id = serializers.IntegerField(
        required=False, allow_null=True, default=None,
        help_text="A salesperson of this dealer; empty: the next one by round-robin.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    def validate_salesperson_id(self, value):
        if value is None:
            return None
        salesperson = self.context["salespeople"].filter(user_id=value).select_related("user").first()
        if salesperson is None:
            raise serializers.ValidationError(_("Choose an active salesperson of this dealer."))
        return salesperson.user


class ScoreInSerializer(serializers.Serializer):
    budget = serializers.IntegerField(required=False, min_value=0, max_value=25)
    authority = serializers.IntegerField(required=False, min_value=0, max_value=25)
    need = serializers.IntegerField(required=False, min_value=0, max_value=25)
    timeline = serializers.IntegerField(required=False, min_value=0, max_value=25)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(_("Give at least one of budget, authority, need and timeline."))
        return attrs


class PolicySerializer(serializers.ModelSerializer):
    """The dealer's follow-up rules. Every field is optional in a PATCH; the whole result must still hang together."""

    first_response_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)
    passive_first_response_days = serializers.IntegerField(min_value=0, max_value=30)
    min_attempts = serializers.IntegerField(min_value=1, max_value=20)
    attempt_spacing_minutes = serializers.IntegerField(
        min_value=0, max_value=7 * 24 * 60,
        help_text="Attempts closer together than this count as one toward min_attempts; 0 counts every attempt.")
    cadence_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=365), max_length=30, allow_empty=True,
        help_text="Days after arrival on which the next attempts are due, e.g. [0, 1, 3, 6].")
    remind_after_minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60)
    manager_alert_after_minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60)
    reassign_after_minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60)
    lost_sale_followup_days = serializers.IntegerField(min_value=1, max_value=365)
    map_target = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1, coerce_to_string=False)
    contact_target = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1, coerce_to_string=False)
    appointment_of_contacted_target = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1,
                                                               coerce_to_string=False)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = FollowUpPolicy
        fields = ["first_response_minutes", "passive_first_response_days", "min_attempts", "attempt_spacing_minutes",
                  "cadence_days", "remind_after_minutes", "manager_alert_after_minutes", "reassign_after_minutes",
                  "lost_sale_followup_days", "map_target", "contact_target", "appointment_of_contacted_target",
                  "updated_at"]

    def validate_cadence_days(self, value):
        return sorted(value)

    def validate(self, attrs):
        # A PATCH sends a part: the rules apply to the policy as it will be.
        problems = policy_problems({name: attrs.get(name, getattr(self.instance, name, None)) for name in POLICY_FIELDS})
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class NotificationSerializer(serializers.ModelSerializer):
    lead_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.SerializerMethodField()
    read_at = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "lead_id", "created_at", "read_at"]

    def get_created_at(self, notification) -> str:
        return _local(notification.created_at, self.context)

    def get_read_at(self, notification) -> str | None:
        return _local(notification.read_at, self.context)


class NotificationsReadInSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, allow_empty=True, max_length=500,
                                help_text="The notices to mark read; omit to mark all of them read.")


class NotificationsReadOutSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(max_length=120)
    auth = serializers.CharField(max_length=60)


class PushSubscriptionInSerializer(serializers.Serializer):
    """A browser's `PushSubscription.toJSON()`; `expirationTime` is accepted and ignored."""

    endpoint = serializers.CharField(max_length=1000)
    keys = PushKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815 (the browser's name)


class PushSubscriptionSerializer(serializers.ModelSerializer):
    created_at = serializers.SerializerMethodField()
    last_success_at = serializers.SerializerMethodField()

    class Meta:
        model = PushSubscription
        fields = ["id", "endpoint", "user_agent", "created_at", "last_success_at"]

    def get_created_at(self, subscription) -> str:
        return _local(subscription.created_at, self.context)

    def get_last_success_at(self, subscription) -> str | None:
        return _local(subscription.last_success_at, self.context)
