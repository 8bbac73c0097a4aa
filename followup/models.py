"""Contact attempts, appointments, the follow-up policy, escalations and the notification outbox."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealers.models import Dealer
from dealers.tenancy import TenantManager
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
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="contact_attempts")
    channel = models.CharField(_("channel"), max_length=16, choices=AttemptChannel.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=AttemptOutcome.choices)
    note = models.TextField(_("note"), blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    verified = models.BooleanField(_("verified"), default=False,
                                   help_text=_("True only when the system can prove it: a telephony event or a mail it sent."))
    counts_toward_minimum = models.BooleanField(default=True)
    external_ref = models.CharField(max_length=200, blank=True, help_text=_("Telephony event id, for replay protection."))

    objects = TenantManager()

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

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_channel_display()}: {self.get_outcome_display()}"


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

    objects = TenantManager()

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["scheduled_at"]
        indexes = [models.Index(fields=["dealer", "lead"], name="appointment_dealer_lead")]
        constraints = [models.CheckConstraint(condition=models.Q(kind__in=AppointmentKind.values), name="appointment_kind_valid")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.scheduled_at:%Y-%m-%d %H:%M}"


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

    objects = TenantManager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["dealer", "lead"], name="escalation_dealer_lead")]
        constraints = [
            # A step fires once per deadline, whatever runs the sweep and however often.
            models.UniqueConstraint(fields=["lead", "due_at", "level"], name="escalation_once_per_deadline_level"),
        ]

    def __str__(self):
        return f"{self.level}: {self.get_action_display()}"


class SchedulerHeartbeat(models.Model):
    """The last tick of each periodic task; /healthz reads it to tell whether beat is alive."""

    name = models.CharField(max_length=64, primary_key=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} {self.at:%Y-%m-%d %H:%M:%S}"


class TelephonyEndpoint(models.Model):
    """A dealer's call-tracking webhook: the public id a provider names, and the secret that signs every event.

    The secret is kept as given (not hashed): an HMAC can only be checked with the secret itself.
    """

    dealer = models.OneToOneField(Dealer, on_delete=models.CASCADE, related_name="telephony_endpoint")
    public_id = models.CharField(_("endpoint id"), max_length=40, unique=True, editable=False)
    secret = models.CharField(_("signing secret"), max_length=128, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    rotated_at = models.DateTimeField(_("secret rotated"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("telephony endpoint")
        verbose_name_plural = _("telephony endpoints")

    def __str__(self):
        return f"{self.dealer} · {self.public_id}"


class TelephonyEventType(models.TextChoices):
    STARTED = "started", _("Call started")
    ANSWERED = "answered", _("Call answered")
    ENDED = "ended", _("Call ended")


class TelephonyEvent(models.Model):
    """One call event as a provider posted it. Unique per dealer and event id, so a replay changes nothing."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(_("event id"), max_length=200)
    call_id = models.CharField(_("call id"), max_length=150)
    type = models.CharField(_("type"), max_length=16, choices=TelephonyEventType.choices)
    call_started_at = models.DateTimeField(_("call started"))
    payload = models.JSONField(_("payload as received"), default=dict)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="telephony_events")
    attempt = models.ForeignKey(ContactAttempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="telephony_events")

    objects = TenantManager()

    class Meta:
        verbose_name = _("telephony event")
        verbose_name_plural = _("telephony events")
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["dealer", "event_id"], name="telephony_event_once"),
            models.CheckConstraint(condition=models.Q(type__in=TelephonyEventType.values), name="telephony_event_type_valid"),
        ]
        indexes = [models.Index(fields=["dealer", "-received_at"], name="telephony_event_dealer_recv")]

    def __str__(self):
        return f"{self.event_id} · {self.type}"


class ImportStatus(models.TextChoices):
    CHECKING = "checking", _("checking the file")
    CHECKED = "checked", _("checked, waiting for your go")
    QUEUED = "queued", _("importing")
    DONE = "done", _("imported")
    FAILED = "failed", _("not imported")


class LeadImport(models.Model):
    """One CSV import of passive leads from the dealer's own data (lease ends, service customers, lost quotes).

    A file uploaded on the page is checked and imported by the worker (a big file takes longer than a web request
    may): checking → checked → queued → done, or failed. The command imports at once and records it as done.
    """

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64)
    default_reason = models.CharField(_("reason for rows without one"), max_length=16, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created_leads = models.PositiveIntegerField(_("new leads"), default=0)
    known_leads = models.PositiveIntegerField(_("already imported"), default=0,
                                              help_text=_("Rows that were imported before (or twice in the file): nothing new."))
    counts_by_reason = models.JSONField(_("new leads per reason"), default=dict, blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    status = models.CharField(_("status"), max_length=8, choices=ImportStatus.choices, default=ImportStatus.DONE)
    content = models.BinaryField(_("file"), default=b"", blank=True, editable=False,
                                 help_text=_("The file as uploaded: kept until it is imported, at most a day unconfirmed."))
    language = models.CharField(_("language"), max_length=8, blank=True, help_text=_("The uploader's, for the check's messages."))
    summary = models.JSONField(_("check"), default=dict, blank=True, help_text=_("What the check found, as the page shows it."))
    error = models.TextField(_("why it was not imported"), blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    waiting_since = models.DateTimeField(_("waiting for the worker since"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("lead import")
        verbose_name_plural = _("lead imports")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["dealer", "-created_at"], name="leadimport_dealer_created"),
            # The worker's safety net looks for imports still waiting for it: few rows at any size.
            models.Index(fields=["created_at"], name="leadimport_waiting",
                         condition=models.Q(status__in=["checking", "checked", "queued"])),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(status__in=ImportStatus.values), name="leadimport_status_valid")]

    def __str__(self):
        return f"{self.filename} · {self.created_at:%Y-%m-%d %H:%M}"


class CustomerMessageKind(models.TextChoices):
    CONFIRMATION = "confirmation", _("Appointment confirmation")
    UPDATE = "update", _("Appointment moved")
    REMINDER = "reminder", _("Appointment reminder")
    CANCELLATION = "cancellation", _("Appointment cancelled")


class CustomerMessageStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class CustomerMessage(models.Model):
    """A mail to a customer about their appointment (with its calendar invite): a row first, sent after commit by the
    worker, like the staff outbox, so a mail server outage delays it and never loses it."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="customer_messages")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="customer_messages")
    kind = models.CharField(max_length=16, choices=CustomerMessageKind.choices)
    scheduled_at = models.DateTimeField(help_text=_("The appointment time this message is about."))
    to_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    ics = models.TextField(help_text=_("The calendar invite (RFC 5545) sent with it."))
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=CustomerMessageStatus.choices, default=CustomerMessageStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True, help_text=_("When sent; while sending, when claimed."))
    error = models.TextField(blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            # One reminder per appointment and time: a doubled reminder run sends nothing twice.
            models.UniqueConstraint(fields=["dealer", "appointment", "scheduled_at"], condition=models.Q(kind="reminder"),
                                    name="customer_message_one_reminder"),
        ]
        indexes = [
            models.Index(fields=["dealer", "lead"], name="customer_message_lead"),
            models.Index(fields=["created_at"], name="customer_message_owed",
                         condition=models.Q(status__in=["pending", "sending"])),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → {self.to_email}"
