"""Customers, leads and each lead's timeline."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dealers.models import Dealer
from dealers.tenancy import TenantManager, TenantQuerySet


class Channel(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    CALL = "call", _("Phone call")
    CHAT = "chat", _("Chat")
    EMAIL = "email", _("E-mail")
    WHATSAPP = "whatsapp", _("WhatsApp")
    SMS = "sms", _("SMS")
    WALK_IN = "walk_in", _("Walk-in")
    OUTBOUND = "outbound", _("Outbound (dealer-initiated)")


class Reason(models.TextChoices):
    LEASE_END = "lease_end", _("Lease contract ending")
    LOST_SALE = "lost_sale", _("Lost sale follow-up")
    DATA_MINING = "data_mining", _("Data mining")
    SERVICE = "service", _("Service customer")
    CALLBACK = "callback", _("Call back")
    OTHER = "other", _("Other")


class Kind(models.TextChoices):
    ACTIVE = "active", _("Active (customer reached out)")
    PASSIVE = "passive", _("Passive (dealer reaches out)")


class Queue(models.TextChoices):
    SALES = "sales", _("Sales")
    BDC = "bdc", _("BDC")


class Status(models.TextChoices):
    NEW = "new", _("New")
    ATTEMPTED = "attempted", _("Attempted")
    CONTACTED = "contacted", _("Contacted")
    APPOINTMENT = "appointment", _("Appointment")
    SOLD = "sold", _("Sold")
    LOST = "lost", _("Lost")
    UNREACHABLE = "unreachable", _("Unreachable")
    NOT_INTERESTED = "not_interested", _("Not interested")


CLOSED_STATUSES = frozenset({Status.SOLD, Status.LOST, Status.UNREACHABLE, Status.NOT_INTERESTED})
# How a lead can be closed, in the order a person is offered them (pages, the team API).
CLOSE_OUTCOMES = [(s.value, s.label) for s in (Status.SOLD, Status.LOST, Status.NOT_INTERESTED, Status.UNREACHABLE)]
OPEN_STATUSES = frozenset(set(Status.values) - CLOSED_STATUSES)


class Customer(models.Model):
    """A person a dealer knows. A new lead with the same normalised e-mail or phone joins this customer."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="customers",
                               db_index=False)  # served by this model's indexes that start with the dealer
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True, help_text=_("Normalised (lower case)."))
    phone = models.CharField(_("phone"), max_length=32, blank=True, help_text=_("E.164"))
    phone_raw = models.CharField(_("phone as received"), max_length=64, blank=True)
    preferred_contact = models.CharField(_("preferred contact"), max_length=16, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True,
                                     help_text=_("When the person's data was erased (AVG/GDPR); the row stays, anonymous."))

    objects = TenantManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["dealer", "email"], name="customer_dealer_email"),
            models.Index(fields=["dealer", "phone"], name="customer_dealer_phone"),
        ]

    def __str__(self):
        return self.full_name or self.email or self.phone_raw or str(self.pk)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class InboundDocument(models.Model):
    """A lead document exactly as a portal sent it (ADF/XML), kept for audit and re-parsing."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="inbound_documents")
    source = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100)
    body = models.BinaryField()
    received_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["dealer", "received_at"])]

    def __str__(self):
        return f"{self.source} {self.received_at:%Y-%m-%d %H:%M}"


class LeadQuerySet(TenantQuerySet):
    def open(self):
        return self.filter(closed_at__isnull=True)


class Lead(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="leads",
                               db_index=False)  # served by this model's indexes that start with the dealer
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="leads")
    source = models.CharField(_("source"), max_length=64)
    # NULL, not "", when absent: the unique constraint (dealer, source, external_id) must not match leads without one.
    external_id = models.CharField(_("external id"), max_length=200, null=True, blank=True)  # noqa: DJ001
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.WEB_FORM)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.NEW)
    queue = models.CharField(_("queue"), max_length=8, choices=Queue.choices, blank=True)
    routed_at = models.DateTimeField(_("routed"), null=True, blank=True,
                                     help_text=_("Empty while routing is still to happen; the sweep retries it."))
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_leads", verbose_name=_("assigned to"))
    received_at = models.DateTimeField(_("received"), db_index=False)
    received_at_raw = models.CharField(_("received (as sent)"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("stored"), default=timezone.now)
    clock_started_at = models.DateTimeField(_("first-response clock started"), null=True, blank=True,
                                            help_text=_("Arrival, or the next opening when it arrived while closed."))
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    first_contact_at = models.DateTimeField(_("first contact attempt"), null=True, blank=True)
    first_connected_at = models.DateTimeField(_("first real contact"), null=True, blank=True)
    attempt_count = models.PositiveIntegerField(_("contact attempts"), default=0)
    counted_attempts = models.PositiveIntegerField(_("attempts counted toward the minimum"), default=0)
    verified_attempts = models.PositiveIntegerField(_("verified attempts"), default=0)
    attempts_to_contact = models.PositiveIntegerField(_("attempts up to the first real contact"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(_("next step due"), null=True, blank=True,
                                       help_text=_("The deadline the lead is working towards: first response, "
                                                   "or the next attempt."))
    next_action_at = models.DateTimeField(_("next escalation check"), null=True, blank=True,
                                          help_text=_("When the sweep acts next: the deadline plus the escalation step's delay."))
    escalation_level = models.PositiveSmallIntegerField(default=0)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    close_reason = models.TextField(_("close reason"), blank=True)
    manager_flag = models.CharField(_("flag for the manager"), max_length=200, blank=True)
    vehicle = models.JSONField(_("vehicle"), default=dict, blank=True)
    trade_in = models.JSONField(_("trade-in"), default=dict, blank=True)
    message = models.TextField(_("message"), blank=True)
    consent_marketing = models.BooleanField(_("marketing consent"), null=True, blank=True)
    data_flags = models.JSONField(_("data flags"), default=list, blank=True)
    bant_budget = models.PositiveSmallIntegerField(default=0)
    bant_authority = models.PositiveSmallIntegerField(default=0)
    bant_need = models.PositiveSmallIntegerField(default=0)
    bant_timeline = models.PositiveSmallIntegerField(default=0)
    score = models.PositiveSmallIntegerField(_("BANT score"), default=0)
    returning_customer = models.BooleanField(_("known customer"), default=False)
    payload = models.JSONField(_("payload as received"), default=dict, blank=True)
    document = models.ForeignKey(InboundDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    origin_lead = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_up_leads",
                                    help_text=_("The lead this one follows up (e.g. a lost sale)."))
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True,
                                         help_text=_("When what identifies the person was removed; the figures stay."))

    objects = TenantManager.from_queryset(LeadQuerySet)()

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint(fields=["dealer", "source", "external_id"], condition=models.Q(external_id__isnull=False),
                                    name="lead_unique_external_id_per_source"),
            models.CheckConstraint(condition=models.Q(kind__in=Kind.values, queue__in=Queue.values, routed_at__isnull=False)
                                   | models.Q(kind="", queue="", routed_at__isnull=True), name="lead_routed_has_kind_and_queue"),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="lead_status_valid"),
            models.CheckConstraint(condition=models.Q(channel__in=Channel.values), name="lead_channel_valid"),
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True, status__in=sorted(OPEN_STATUSES))
                | models.Q(closed_at__isnull=False, status__in=sorted(CLOSED_STATUSES)),
                name="lead_closed_iff_closed_status"),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="lead_score_range"),
        ]
        indexes = [
            # Covers the reports' per-lead columns, so a period's leads are read from the index, not a scattered heap.
            models.Index(fields=["dealer", "received_at"], name="lead_dealer_received",
                         include=["assignee", "queue", "source", "kind", "status", "closed_at", "clock_started_at",
                                  "first_contact_at", "first_connected_at", "first_response_due_at", "counted_attempts",
                                  "attempt_count", "verified_attempts", "attempts_to_contact"]),
            models.Index(fields=["dealer", "assignee", "closed_at"], name="lead_dealer_assignee"),
            models.Index(fields=["dealer", "customer"], name="lead_dealer_customer"),
            models.Index(fields=["dealer", "queue", "next_action_at"], name="lead_bdc_queue_open",
                         condition=models.Q(closed_at__isnull=True, assignee__isnull=True)),
            models.Index(fields=["created_at"], name="lead_unrouted",
                         condition=models.Q(routed_at__isnull=True, closed_at__isnull=True)),
            # The sweep's index: only open leads with a deadline, so "nothing due" stays cheap at any size.
            models.Index(fields=["next_action_at"], name="lead_due_open",
                         condition=models.Q(closed_at__isnull=True, next_action_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.customer} · {self.get_channel_display()} · {self.source}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def due_at(self):
        """The deadline that says how late this lead really is: until someone tried to reach the customer, the first
        response it was given on arrival (a reassignment does not forgive it); after that, the next step's deadline.
        `due_at_expression()` is the same rule in SQL."""
        if self.closed_at is not None:
            return None
        return self.first_response_due_at if self.first_contact_at is None else self.deadline_at


def due_at_expression():
    """Lead.due_at as an expression, to sort and count in the database."""
    return models.Case(models.When(closed_at__isnull=False, then=models.Value(None)),
                       models.When(first_contact_at__isnull=True, then=models.F("first_response_due_at")),
                       default=models.F("deadline_at"), output_field=models.DateTimeField())


class IdempotencyKey(models.Model):
    """An Idempotency-Key header seen from a portal; it points at the lead it created for 24 hours."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    source = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dealer", "source", "key"], name="idempotency_key_unique")]

    def __str__(self):
        return self.key


class EventType(models.TextChoices):
    RECEIVED = "received", _("Received")
    DUPLICATE = "duplicate", _("Duplicate received")
    CLASSIFIED = "classified", _("Classified")
    ROUTED = "routed", _("Routed")
    ASSIGNED = "assigned", _("Assigned")
    CLAIMED = "claimed", _("Claimed from the queue")
    HANDED_OVER = "handed_over", _("Handed over")
    ATTEMPT = "attempt", _("Contact attempt")
    APPOINTMENT = "appointment", _("Appointment")
    APPOINTMENT_OUTCOME = "appointment_outcome", _("Appointment outcome")
    ESCALATION = "escalation", _("Escalation")
    SCORE_CHANGED = "score_changed", _("Score changed")
    NOTE = "note", _("Note")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")


class LeadEvent(models.Model):
    """One line on a lead's timeline."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=24, choices=EventType.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["dealer", "lead", "at"], name="leadevent_dealer_lead_at")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_type_display()}"


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", _("New lead assigned")
    REMINDER = "reminder", _("Reminder")
    MANAGER_ALERT = "manager_alert", _("Manager alert")
    REASSIGNED = "reassigned", _("Lead reassigned")
    HANDOVER = "handover", _("Hand-over from the BDC")
    DIGEST = "digest", _("Daily digest")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped (no e-mail address)")


class Notification(models.Model):
    """The outbox: a notice is a row first, and its e-mail is sent after commit by a task."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)
    digest_date = models.DateField(null=True, blank=True, help_text="For daily digests: the day it covers (one per person).")

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["dealer", "recipient", "digest_date"], condition=models.Q(digest_date__isnull=False),
                                    name="notification_one_digest_per_day"),
        ]
        indexes = [
            models.Index(fields=["dealer", "recipient", "-created_at"], name="notification_inbox"),
            # The outbox: e-mails owed (pending) or in flight (sending, taken back if stuck); a small index at any size.
            models.Index(fields=["created_at"], name="notification_owed",
                         condition=models.Q(email_status__in=["pending", "sending"])),
        ]

    def __str__(self):
        return self.subject


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")


class ConsentRecord(models.Model):
    """A consent (or refusal) as it was given: when, how (source and channel) and the text the person was shown."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's index that starts with the dealer
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="consents")
    purpose = models.CharField(_("purpose"), max_length=16, choices=ConsentPurpose.choices, default=ConsentPurpose.MARKETING)
    given = models.BooleanField(_("given"), help_text=_("False records a refusal."))
    given_at = models.DateTimeField(_("given at"))
    source = models.CharField(_("source"), max_length=64, help_text=_("The portal or form it came through."))
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    text = models.TextField(_("text shown"), blank=True)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    objects = TenantManager()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["given_at", "pk"]
        indexes = [models.Index(fields=["dealer", "customer"], name="consent_dealer_customer")]
        constraints = [models.CheckConstraint(condition=models.Q(purpose__in=ConsentPurpose.values),
                                              name="consent_purpose_valid")]

    def __str__(self):
        return f"{self.get_purpose_display()}: {self.given} ({self.given_at:%Y-%m-%d})"
