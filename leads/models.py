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
    """A person a dealer knows, with the details of the lead that first named them.

    A new lead joins a customer by its normalised e-mail, or by its phone where the names do not contradict
    (`leads.matching`); it never rewrites these fields: new addresses and numbers become `CustomerContact` rows.
    """

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


class ContactKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")


class CustomerContact(models.Model):
    """A further e-mail address or phone number of a customer, learnt from a lead or a merge (personal data).

    The customer's own `email`/`phone` are its first contact points and are not repeated here; matching looks at both.
    """

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    kind = models.CharField(_("kind"), max_length=8, choices=ContactKind.choices)
    value = models.CharField(_("value"), max_length=254, help_text=_("Normalised: lower-case e-mail, or E.164 phone."))
    raw = models.CharField(_("as received"), max_length=254, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    lead = models.ForeignKey("Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("first given in lead"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("customer contact point")
        verbose_name_plural = _("customer contact points")
        constraints = [
            models.UniqueConstraint(fields=["dealer", "customer", "kind", "value"], name="customer_contact_unique"),
            models.CheckConstraint(condition=models.Q(kind__in=ContactKind.values), name="customer_contact_kind_valid"),
        ]
        indexes = [
            # The intake's lookup: which customers of this dealer have this address or number.
            models.Index(fields=["dealer", "kind", "value"], name="customer_contact_lookup"),
            models.Index(fields=["customer"], name="customer_contact_customer"),
        ]

    def __str__(self):
        return self.raw or self.value


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
    # The contact details as given in this lead (personal data): what the salesperson sees and greets, whatever the
    # customer record it was matched to says. A database default lets bulk writers (COPY) leave them out.
    contact_first_name = models.CharField(_("first name"), max_length=150, blank=True, default="", db_default="")
    contact_last_name = models.CharField(_("last name"), max_length=150, blank=True, default="", db_default="")
    contact_email = models.CharField(_("e-mail"), max_length=254, blank=True, default="", db_default="",
                                     help_text=_("Normalised (lower case)."))
    contact_phone = models.CharField(_("phone"), max_length=32, blank=True, default="", db_default="", help_text=_("E.164"))
    contact_phone_raw = models.CharField(_("phone as received"), max_length=64, blank=True, default="", db_default="")
    contact_preferred = models.CharField(_("preferred contact"), max_length=16, blank=True, default="", db_default="")
    contact_language = models.CharField(_("language"), max_length=8, blank=True, default="", db_default="")
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
    # Not indexed alone: every reading of a person's leads is within a dealer (lead_dealer_assignee). Only deleting a
    # user (which the product never does: people are deactivated) would scan the leads to set theirs to NULL.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_leads", verbose_name=_("assigned to"), db_index=False)
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
    # When the sweep could not route or escalate the lead, it moves it back and records why (for the manager).
    sweep_failures = models.PositiveSmallIntegerField(_("failed sweep passes"), default=0)
    sweep_error = models.CharField(_("last sweep error"), max_length=300, blank=True)
    sweep_failed_at = models.DateTimeField(_("last sweep failure"), null=True, blank=True)
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
    needs_review = models.BooleanField(_("needs review"), default=False,
                                       help_text=_("A mail in no known format: a person reads it before anyone acts."))
    payload = models.JSONField(_("payload as received"), default=dict, blank=True)
    # Indexed only where set (Meta.indexes): most leads have neither, and a full index took an entry for every lead.
    document = models.ForeignKey(InboundDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads",
                                 db_index=False)
    origin_lead = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_up_leads",
                                    db_index=False,
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
            # The id too: the cohort reads it (lead_ref, the appointment flags); without it the index covered nothing.
            models.Index(fields=["dealer", "received_at"], name="lead_dealer_received",
                         include=["id", "assignee", "queue", "source", "kind", "status", "closed_at", "clock_started_at",
                                  "first_contact_at", "first_connected_at", "first_response_due_at", "counted_attempts",
                                  "attempt_count", "verified_attempts", "attempts_to_contact"]),
            models.Index(fields=["dealer", "assignee", "closed_at"], name="lead_dealer_assignee"),
            # (dealer, customer) is not indexed apart: customer_id's own index answers it (a customer has one dealer) and
            # also the customer-only lookups the (dealer, customer) index could not (lead.customer's leads, erasure).
            models.Index(fields=["document"], name="lead_document", condition=models.Q(document__isnull=False)),
            models.Index(fields=["origin_lead"], name="lead_origin_lead", condition=models.Q(origin_lead__isnull=False)),
            models.Index(fields=["dealer", "queue", "next_action_at"], name="lead_bdc_queue_open",
                         condition=models.Q(closed_at__isnull=True, assignee__isnull=True)),
            models.Index(fields=["created_at"], name="lead_unrouted",
                         condition=models.Q(routed_at__isnull=True, closed_at__isnull=True)),
            # The sweep's index: only open leads with a deadline, so "nothing due" stays cheap at any size.
            models.Index(fields=["next_action_at"], name="lead_due_open",
                         condition=models.Q(closed_at__isnull=True, next_action_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.contact_label} · {self.get_channel_display()} · {self.source}"

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

    @property
    def contact_name(self) -> str:
        """The name as given in this lead."""
        return f"{self.contact_first_name} {self.contact_last_name}".strip()

    @property
    def contact_label(self) -> str:
        """How to refer to the person of this lead: the name given, else the address or number given."""
        return self.contact_name or self.contact_email or self.contact_phone_raw or self.contact_phone or str(self.pk)

    def contact_details(self) -> dict:
        """This lead's own contact fields, e.g. for a lead the dealer creates from this one."""
        return {name: getattr(self, name) for name in LEAD_CONTACT_FIELDS}


def due_at_expression():
    """Lead.due_at as an expression, to sort and count in the database."""
    return models.Case(models.When(closed_at__isnull=False, then=models.Value(None)),
                       models.When(first_contact_at__isnull=True, then=models.F("first_response_due_at")),
                       default=models.F("deadline_at"), output_field=models.DateTimeField())


# The lead's own contact fields and the customer fields they mirror.
LEAD_CONTACT_FIELDS = {"contact_first_name": "first_name", "contact_last_name": "last_name", "contact_email": "email",
                       "contact_phone": "phone", "contact_phone_raw": "phone_raw",
                       "contact_preferred": "preferred_contact", "contact_language": "language"}


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


class MailIgnored(models.TextChoices):
    AUTO_REPLY = "auto-reply", _("Automatic reply (out of office)")
    BOUNCE = "bounce", _("Bounce (undeliverable)")
    MARKETING = "marketing", _("Marketing from a portal")
    CALL_ANSWERED = "call-answered", _("Answered call (logged on the lead)")


class MailChannel(models.TextChoices):
    API = "api", _("Portal API (raw mail posted)")
    IMAP = "imap", _("Dealer mailbox (IMAP)")


class InboundMail(models.Model):
    """An e-mail exactly as it arrived, kept first (before any lead), with what reading it gave: its leads, the reason
    it is no lead, or the error that stopped it. Read once per dealer: Message-ID, or the hash of the bytes."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    message_identity = models.CharField(max_length=1000, help_text="The Message-ID, or sha256:<hex> of the bytes without one.")
    message_id = models.CharField(max_length=998, blank=True)
    sha256 = models.CharField(max_length=64)
    raw = models.BinaryField()
    subject = models.TextField(_("mail subject"), blank=True)
    sender = models.CharField(_("mail sender"), max_length=254, blank=True)
    sent_at = models.DateTimeField(_("sent (Date header)"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    ignored = models.CharField(_("not a lead because"), max_length=16, choices=MailIgnored.choices, blank=True)
    error = models.TextField(_("reading error"), blank=True)
    source = models.CharField(_("source"), max_length=64, blank=True)
    channel = models.CharField(max_length=8, choices=MailChannel.choices)
    needs_review = models.BooleanField(_("needs review"), default=False)
    api_key = models.ForeignKey("dealers.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                help_text="The key that delivered it (its leads can be read back with it).")
    leads = models.ManyToManyField(Lead, blank=True, related_name="mails")
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    objects = TenantManager()

    class Meta:
        verbose_name = _("inbound e-mail")
        verbose_name_plural = _("inbound e-mails")
        constraints = [
            models.UniqueConstraint(fields=["dealer", "message_identity"], name="inboundmail_once_per_dealer"),
            models.CheckConstraint(condition=models.Q(channel__in=MailChannel.values), name="inboundmail_channel_valid"),
            models.CheckConstraint(condition=models.Q(ignored__in=["", *MailIgnored.values]), name="inboundmail_ignored_valid"),
        ]
        indexes = [models.Index(fields=["dealer", "-received_at"], name="inboundmail_dealer_received")]

    def __str__(self):
        return f"{self.sender} · {self.subject[:60]}"


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
    CUSTOMER_CHANGED = "customer_changed", _("Customer record changed")


class LeadEvent(models.Model):
    """One line on a lead's timeline."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=24, choices=EventType.choices)
    # Indexed only where set (Meta.indexes): the system writes most entries, with no actor.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              db_index=False)
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["dealer", "lead", "at"], name="leadevent_dealer_lead_at"),
                   models.Index(fields=["actor"], name="leadevent_actor", condition=models.Q(actor__isnull=False))]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_type_display()}"


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", _("New lead assigned")
    REMINDER = "reminder", _("Reminder")
    MANAGER_ALERT = "manager_alert", _("Manager alert")
    REASSIGNED = "reassigned", _("Lead reassigned")
    HANDOVER = "handover", _("Hand-over from the BDC")
    DIGEST = "digest", _("Daily digest")
    REPLY = "reply", _("Customer replied")
    BOUNCE = "bounce", _("E-mail bounced")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped (no e-mail address)")
    PUSHED = "pushed", _("Not needed (pushed to a device)")


class PushStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # not yet fanned out to the recipient's devices
    SENDING = "sending", _("Sending")  # deliveries exist; none accepted yet
    SENT = "sent", _("Sent")  # a push service accepted it for at least one device
    FAILED = "failed", _("Failed")  # every device refused or gave up: the e-mail is the fallback
    SKIPPED = "skipped", _("Skipped")  # not a pushed kind, or no device subscribed


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
    # Web Push: pending until the worker fanned it out to the recipient's devices; the e-mail waits for the outcome.
    push_status = models.CharField(max_length=8, choices=PushStatus.choices, default=PushStatus.SKIPPED)

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
            models.Index(fields=["created_at"], name="notification_push_owed", condition=models.Q(push_status="pending")),
        ]

    def __str__(self):
        return self.subject


class MailboxSecurity(models.TextChoices):
    SSL = "ssl", _("SSL/TLS (IMAPS, usually port 993)")
    STARTTLS = "starttls", _("STARTTLS (usually port 143)")
    NONE = "none", _("None (only for a server on the local network)")


class AfterRead(models.TextChoices):
    MARK_SEEN = "mark_seen", _("Mark as read")
    MOVE = "move", _("Move to a folder")


class Mailbox(models.Model):
    """A dealer's own mailbox that Opvolger reads over IMAP. Nothing is ever deleted from it.

    `last_uid` is the highest UID (under `uidvalidity`) whose mail is stored and marked or moved; the poll lease
    (`poll_lease_until`/`poll_lease_token`) keeps a second poller out while one reads, without a transaction.
    """

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="mailboxes",
                               db_index=False)  # served by this model's indexes that start with the dealer
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    username = models.CharField(max_length=255)
    password_encrypted = models.TextField(help_text="Fernet token (MAILBOX_ENCRYPTION_KEY); never the password itself.")
    security = models.CharField(max_length=8, choices=MailboxSecurity.choices, default=MailboxSecurity.SSL)
    folder = models.CharField(max_length=255, default="INBOX")
    after_read = models.CharField(max_length=10, choices=AfterRead.choices, default=AfterRead.MARK_SEEN)
    move_to = models.CharField(max_length=255, blank=True)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True, help_text="Backoff: not read again before this.")
    poll_lease_until = models.DateTimeField(null=True, blank=True)
    poll_lease_token = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dealer", "host", "username", "folder"], name="mailbox_once_per_dealer"),
            models.CheckConstraint(condition=models.Q(security__in=["ssl", "starttls", "none"]), name="mailbox_security"),
            models.CheckConstraint(condition=models.Q(after_read="mark_seen") | ~models.Q(move_to=""),
                                   name="mailbox_move_needs_folder"),
        ]
        indexes = [models.Index(fields=["dealer", "is_active"], name="mailbox_dealer_active")]

    def __str__(self):
        return f"{self.username}@{self.host}/{self.folder}"

    @property
    def is_failing(self) -> bool:
        return self.is_active and self.consecutive_failures > 0


class PushSubscription(models.Model):
    """One browser on one device that agreed to receive Web Push for a user (RFC 8030). Not dealer data: a person's
    phone gets alerts about each dealer's leads they work for; the message names the dealer's lead."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.CharField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=120)
    auth = models.CharField(max_length=60)
    user_agent = models.CharField(_("device"), max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")
        indexes = [models.Index(fields=["user", "-created_at"], name="push_subscription_user")]

    def __str__(self):
        return self.user_agent or self.endpoint[:60]


class PushDeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    GONE = "gone", _("Subscription gone")


class PushDelivery(models.Model):
    """One notice to one device: claimed like an e-mail (pending → sending with the claim's time → sent), retried with
    backoff, so a crash re-sends only what was not recorded and two workers never send the same one."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+",
                               db_index=False)  # served by this model's indexes that start with the dealer
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="push_deliveries")
    # Kept as a record when the push service says the subscription is gone (404/410) and it is deleted.
    subscription = models.ForeignKey(PushSubscription, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    status = models.CharField(max_length=8, choices=PushDeliveryStatus.choices, default=PushDeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notification", "subscription"], name="push_delivery_once_per_device"),
        ]
        indexes = [
            models.Index(fields=["dealer", "notification"], name="push_delivery_dealer_notice"),
            # The push outbox: owed or in flight, a small index at any size.
            models.Index(fields=["due_at"], name="push_delivery_owed", condition=models.Q(status__in=["pending", "sending"])),
        ]

    def __str__(self):
        return f"{self.notification_id} → {self.subscription_id}: {self.status}"


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
