"""Tenancy: dealer groups, dealers (rooftops), the people who work for them, and portal API keys."""

import datetime as dt
import hashlib
import secrets
import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken

from .tenancy import TenantManager, TenantQuerySet


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who logs in with an e-mail address."""

    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []
    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.get_full_name() or self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


class DealerGroup(models.Model):
    """Several rooftops under one owner. Its admins are the people with a group-admin membership at one of them."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)

    class Meta:
        verbose_name = _("dealer group")
        verbose_name_plural = _("dealer groups")
        ordering = ["name"]

    def __str__(self):
        return self.name


class RoutingModel(models.TextChoices):
    SPLIT = "split", _("Split: active leads to sales, passive leads to the BDC")
    BDC_FIRST = "bdc_first", _("BDC first: every lead enters the BDC")
    SALES_ONLY = "sales_only", _("Sales only: no BDC")


class Dealer(models.Model):
    """One rooftop (vestiging). Every tenant table hangs off this."""

    group = models.ForeignKey(DealerGroup, on_delete=models.PROTECT, related_name="dealers", verbose_name=_("group"))
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)
    country = models.CharField(_("country"), max_length=2, default="NL",
                               help_text=_("ISO 3166 code; default region for phone numbers."))
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Amsterdam")
    routing_model = models.CharField(_("routing model"), max_length=16, choices=RoutingModel.choices, default=RoutingModel.SPLIT)
    created_at = models.DateTimeField(auto_now_add=True)

    # Not a field: the opening schedule's rows when they were read with the dealer (the portal key's lookup reads them
    # for routing, dealers.auth); None: OpeningSchedule.for_dealer reads them itself.
    schedule_rows: list | None = None

    class Meta:
        verbose_name = _("dealer")
        verbose_name_plural = _("dealers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(routing_model__in=RoutingModel.values), name="dealer_routing_model_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class OpeningHours(models.Model):
    """One opening period on one weekday (0 = Monday). A weekday without rows is closed."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=[(i, d) for i, d in enumerate(
        [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")])])
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="opening_hours_weekday_valid"),
            models.CheckConstraint(condition=models.Q(closes__gt=models.F("opens")), name="opening_hours_closes_after_opens"),
        ]
        indexes = [models.Index(fields=["dealer", "weekday"])]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class ClosingDay(models.Model):
    """A day the dealer is closed on top of its country's public holidays (a company outing, a stocktaking day)."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="closing_days",
                               db_index=False)  # served by the unique constraint, which starts with the dealer
    date = models.DateField(_("date"))
    label = models.CharField(_("description"), max_length=100, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("closing day")
        verbose_name_plural = _("closing days")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["dealer", "date"], name="closing_day_once_per_date")]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.label}".strip()


class Role(models.TextChoices):
    MANAGER = "manager", _("Sales manager")
    SALESPERSON = "salesperson", _("Salesperson")
    BDC_AGENT = "bdc_agent", _("BDC agent")
    GROUP_ADMIN = "group_admin", _("Group admin")


class Membership(models.Model):
    """A user working for a dealer in one role. A user may work for several dealers of a group."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    on_duty = models.BooleanField(_("on duty"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["dealer", "user"], name="membership_one_per_dealer_user"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]
        indexes = [models.Index(fields=["dealer", "role", "on_duty"])]

    def __str__(self):
        return f"{self.user} · {self.dealer} · {self.get_role_display()}"


class Invitation(models.Model):
    """An invitation to join a dealer's team, by e-mail. Nobody is on the team (or gets an account) until the person
    accepts it: so adding an address tells the manager nothing about whether it already has an account elsewhere."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail address"), max_length=254)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(fields=["dealer", "email"], condition=models.Q(accepted_at__isnull=True),
                                    name="invitation_one_open_per_dealer_email"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="invitation_role_valid"),
        ]
        indexes = [models.Index(fields=["dealer", "accepted_at"])]

    def __str__(self):
        return f"{self.email} · {self.dealer}"

    @property
    def display_name(self) -> str:
        return " ".join(filter(None, [self.first_name, self.last_name])) or self.email


class BdcCompany(models.Model):
    """An outsourced BDC: its agents work the passive queues of the dealers that contract it, nothing else."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), unique=True)
    agents = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="bdc_companies", verbose_name=_("agents"))
    dealers = models.ManyToManyField(Dealer, blank=True, related_name="bdc_companies", verbose_name=_("contracted dealers"))

    class Meta:
        verbose_name = _("BDC company")
        verbose_name_plural = _("BDC companies")

    def __str__(self):
        return self.name


class TeamToken(AbstractAuthToken):
    """A team-API token for one signed-in device (knox: only its hash is stored; it expires).

    Not a tenant row: it belongs to a person, who may work for several dealers; each request still resolves its dealer.
    """

    public_id = models.UUIDField(_("token id"), default=uuid.uuid4, unique=True, editable=False)
    device_name = models.CharField(_("device"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("team API token")
        verbose_name_plural = _("team API tokens")
        indexes = [models.Index(fields=["user", "created"], name="teamtoken_user_created")]


def hash_api_key(raw_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough and allows an indexed lookup.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A portal's key: one dealer, one named source. Only the hash is stored; the key is shown once."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="api_keys")
    source = models.SlugField(_("source"), max_length=64, help_text=_("e.g. marktplaats, autoscout24, website"))
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    rate_per_minute = models.PositiveIntegerField(_("requests per minute"), default=1200)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = TenantManager.from_queryset(ApiKeyQuerySet)()

    class Meta:
        verbose_name = _("portal API key")
        verbose_name_plural = _("portal API keys")
        indexes = [models.Index(fields=["dealer", "source"])]

    def __str__(self):
        return f"{self.source} · {self.prefix}…"

    @staticmethod
    def generate() -> tuple[str, str]:
        prefix = secrets.token_hex(4)
        return prefix, f"opv_{prefix}_{secrets.token_urlsafe(32)}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def touch(self) -> None:
        # Write last_used_at at most once a minute so a busy portal doesn't write on every request.
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > dt.timedelta(minutes=1):
            ApiKey.objects.for_dealer(self.dealer_id).filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


def default_cadence():
    return [0, 1, 3, 6]


class FollowUpPolicy(models.Model):
    """A dealer's follow-up rules. Defaults come from the domain (5 minutes, four attempts, the 36% MAP)."""

    dealer = models.OneToOneField(Dealer, on_delete=models.CASCADE, related_name="followup_policy")
    first_response_minutes = models.PositiveIntegerField(
        _("first response for active leads (minutes, in opening hours)"), default=5)
    passive_first_response_days = models.PositiveIntegerField(_("first response for passive leads (working days)"), default=1)
    min_attempts = models.PositiveSmallIntegerField(_("minimum attempts before unreachable"), default=4)
    attempt_spacing_minutes = models.PositiveIntegerField(
        _("attempt spacing (minutes)"), default=60,
        help_text=_("Attempts closer together than this count as one toward the minimum; 0 counts every attempt."))
    cadence_days = models.JSONField(_("attempt cadence (days after arrival)"), default=default_cadence)
    remind_after_minutes = models.PositiveIntegerField(_("remind the assignee after (minutes overdue)"), default=0)
    manager_alert_after_minutes = models.PositiveIntegerField(_("alert the manager after (minutes overdue)"), default=15)
    reassign_after_minutes = models.PositiveIntegerField(_("reassign after (minutes overdue)"), default=60)
    lost_sale_followup_days = models.PositiveIntegerField(_("lost-sale follow-up after (days)"), default=30)
    map_target = models.DecimalField(_("MAP: appointments per lead"), max_digits=4, decimal_places=3, default=0.36)
    contact_target = models.DecimalField(_("target share reached"), max_digits=4, decimal_places=3, default=0.6)
    appointment_of_contacted_target = models.DecimalField(_("target appointments of reached"), max_digits=4, decimal_places=3,
                                                          default=0.6)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("follow-up policy")
        verbose_name_plural = _("follow-up policies")
        constraints = [
            models.CheckConstraint(condition=models.Q(min_attempts__gte=1), name="policy_min_attempts_positive"),
            models.CheckConstraint(condition=models.Q(manager_alert_after_minutes__gte=models.F("remind_after_minutes"))
                                   & models.Q(reassign_after_minutes__gte=models.F("manager_alert_after_minutes")),
                                   name="policy_escalation_in_order"),
        ]

    def __str__(self):
        return str(self.dealer)


class AuditEntry(models.Model):
    """Who changed what in a dealer's settings, and when."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(_("action"), max_length=64)
    target = models.CharField(_("target"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    objects = TenantManager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-at"]
        indexes = [models.Index(fields=["dealer", "-at"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target}"
