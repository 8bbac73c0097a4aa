"""Contact attempts, appointments, the follow-up policy, escalations and the notification outbox."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealers.models import Dealer
from leads.models import Lead


class AttemptChannel(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    CHAT = "chat", _("Chat")


class AttemptOutcome(models.TextChoices):
    CONNECTED = "connected", _("Connected")
    NO_ANSWER = "no_answer", _("No answer")
    VOICEMAIL = "voicemail", _("Voicemail")
    BUSY = "busy", _("Busy")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    SENT = "sent", _("Sent")
    REPLIED = "replied", _("Replied")


REAL_CONTACT_OUTCOMES = frozenset({AttemptOutcome.CONNECTED, AttemptOutcome.REPLIED})


class ContactAttempt(models.Model):
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="contact_attempts")
    channel = models.CharField(_("channel"), max_length=16, choices=AttemptChannel.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=AttemptOutcome.choices)
    note = models.TextField(_("note"), blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    verified = models.BooleanField(_("verified"), default=False,
                                   help_text=_("True only when the system can prove it: a telephony event or a mail it sent."))
    counts_toward_minimum = models.BooleanField(default=True)
    external_ref = models.CharField(max_length=200, blank=True, help_text=_("Telephony event id, for replay protection."))

    class Meta:
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["dealer", "lead", "at"], name="attempt_dealer_lead_at")]
        constraints = [
            models.UniqueConstraint(fields=["dealer", "external_ref"], condition=~models.Q(external_ref=""),
                                    name="attempt_external_ref_once"),
            models.CheckConstraint(condition=models.Q(channel__in=AttemptChannel.values), name="attempt_channel_valid"),
            models.CheckConstraint(condition=models.Q(outcome__in=AttemptOutcome.values), name="attempt_outcome_valid"),
        ]


class AppointmentKind(models.TextChoices):
    SHOWROOM = "showroom", _("Showroom visit")
    TEST_DRIVE = "test_drive", _("Test drive")
    CALL = "call", _("Phone appointment")


class Appointment(models.Model):
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="appointments")
    kind = models.CharField(_("kind"), max_length=16, choices=AppointmentKind.choices, default=AppointmentKind.SHOWROOM)
    scheduled_at = models.DateTimeField(_("scheduled for"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    showed = models.BooleanField(_("showed"), null=True, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["scheduled_at"]
        indexes = [models.Index(fields=["dealer", "lead"], name="appointment_dealer_lead")]
        constraints = [models.CheckConstraint(condition=models.Q(kind__in=AppointmentKind.values), name="appointment_kind_valid")]


class EscalationAction(models.TextChoices):
    REMIND = "remind", _("Reminded the assignee")
    ALERT_MANAGER = "alert_manager", _("Alerted the sales manager")
    REASSIGN = "reassign", _("Reassigned")


class Escalation(models.Model):
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=16, choices=EscalationAction.choices)
    due_at = models.DateTimeField(help_text=_("The deadline that triggered it."))
    at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["dealer", "lead"], name="escalation_dealer_lead")]
        constraints = [
            # A step fires once per deadline, whatever runs the sweep and however often.
            models.UniqueConstraint(fields=["lead", "due_at", "level"], name="escalation_once_per_deadline_level"),
        ]


class SchedulerHeartbeat(models.Model):
    """The last tick of each periodic task; /healthz reads it to tell whether beat is alive."""

    name = models.CharField(max_length=64, primary_key=True)
    at = models.DateTimeField()
