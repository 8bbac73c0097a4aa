"""Writes for tenancy: API keys and the audit trail."""

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .access import MANAGING_ROLES, is_group_admin
from .hours import Period, opening_periods_problems
from .models import (
    ApiKey,
    AuditEntry,
    ClosingDay,
    Dealer,
    DealerGroup,
    FollowUpPolicy,
    Invitation,
    Membership,
    OpeningHours,
    Role,
    RoutingModel,
    TeamToken,
    User,
    hash_api_key,
)
from .policy import POLICY_FIELDS, policy_problems


def audit_record(*, dealer: Dealer, actor, action: str, target: str = "", changes: dict | None = None) -> AuditEntry:
    return AuditEntry.objects.create(dealer=dealer, actor=actor, action=action, target=target, changes=changes or {})


@transaction.atomic
def api_key_create(*, dealer: Dealer, source: str, created_by=None, rate_per_minute: int | None = None) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    prefix, raw_key = ApiKey.generate()
    fields = {"rate_per_minute": rate_per_minute} if rate_per_minute else {}
    api_key = ApiKey.objects.create(dealer=dealer, source=source, prefix=prefix, key_hash=hash_api_key(raw_key),
                                    created_by=created_by, **fields)
    audit_record(dealer=dealer, actor=created_by, action="api_key.created", target=f"{source} {prefix}")
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by=None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(dealer=api_key.dealer, actor=by, action="api_key.revoked", target=f"{api_key.source} {api_key.prefix}")
    return api_key


def policy_get(*, dealer: Dealer) -> FollowUpPolicy:
    """The dealer's follow-up policy, created with the domain's defaults on first use."""
    if Dealer.followup_policy.is_cached(dealer):  # loaded with the dealer (select_related)
        try:
            return dealer.followup_policy
        except FollowUpPolicy.DoesNotExist:
            pass
    policy, _created = FollowUpPolicy.objects.get_or_create(dealer=dealer)
    return policy


@transaction.atomic
def policy_update(*, dealer: Dealer, by, changes: dict) -> FollowUpPolicy:
    """Change the dealer's follow-up policy; the whole result must hang together. Every change is on the audit trail."""
    policy = FollowUpPolicy.objects.select_for_update(no_key=True).get(pk=policy_get(dealer=dealer).pk)
    diff = {}
    for name, value in changes.items():
        if name in POLICY_FIELDS and getattr(policy, name) != value:
            diff[name] = [str(getattr(policy, name)), str(value)]
            setattr(policy, name, value)
    if diff:
        problems = policy_problems({name: getattr(policy, name) for name in POLICY_FIELDS})
        if problems:
            raise ValidationError(problems)
        policy.save()
        audit_record(dealer=dealer, actor=by, action="policy.updated", target="follow-up policy", changes=diff)
    return policy


# ------------------------------------------------------------------------------------------------------------------
# The manager's settings pages: routing model, opening hours, the team. Every change leaves an audit entry whose
# `changes` maps a field to [old, new] in language-neutral values; the audit page translates them for display.

WEEKDAY_KEYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _lock_dealer(dealer: Dealer) -> Dealer:
    # Settings edits of one dealer are serialised on its row, so two managers saving at once can't interleave.
    return Dealer.objects.select_for_update().get(pk=dealer.pk)


@transaction.atomic
def dealer_routing_model_set(*, dealer: Dealer, routing_model: str, by) -> Dealer:
    """Choose how new leads are routed (split, BDC first, sales only). Leads already routed stay where they are."""
    if routing_model not in RoutingModel.values:
        raise ValidationError(_("Unknown routing model."))
    locked = _lock_dealer(dealer)
    old = locked.routing_model
    if old != routing_model:
        locked.routing_model = routing_model
        locked.save(update_fields=["routing_model"])
        audit_record(dealer=locked, actor=by, action="dealer.routing_model_changed", target=locked.name,
                     changes={"routing_model": [old, routing_model]})
    dealer.routing_model = routing_model
    return locked


def _week_text(rows) -> dict[int, str]:
    """Per weekday the periods as "09:00-12:00, 13:00-18:00"; a closed day is the empty string."""
    days: dict[int, list[str]] = {d: [] for d in range(7)}
    for row in sorted(rows, key=lambda r: (r.weekday, r.opens)):
        days[row.weekday].append(f"{row.opens:%H:%M}-{row.closes:%H:%M}")
    return {d: ", ".join(texts) for d, texts in days.items()}


@transaction.atomic
def opening_hours_replace(*, dealer: Dealer, periods: Iterable[Period], by) -> list[OpeningHours]:
    """Replace the dealer's whole week of opening periods in one go: nobody ever sees a half-saved week."""
    periods = sorted(periods, key=lambda p: (p.weekday, p.opens))
    problems = opening_periods_problems(periods)
    if problems:
        raise ValidationError([f"{OpeningHours(weekday=day).get_weekday_display()}: {problem}" for day, problem in problems])
    _lock_dealer(dealer)
    before = _week_text(OpeningHours.objects.for_dealer(dealer))
    OpeningHours.objects.for_dealer(dealer).delete()
    rows = OpeningHours.objects.bulk_create(
        [OpeningHours(dealer=dealer, weekday=p.weekday, opens=p.opens, closes=p.closes) for p in periods])
    after = _week_text(rows)
    diff = {WEEKDAY_KEYS[d]: [before[d], after[d]] for d in range(7) if before[d] != after[d]}
    if diff:
        audit_record(dealer=dealer, actor=by, action="opening_hours.replaced", target="opening hours", changes=diff)
    return rows


def closing_day_add(*, dealer: Dealer, date, label: str, by) -> ClosingDay:
    """One more day the dealer is closed: the first-response clock does not run on it."""
    try:
        with transaction.atomic():
            day = ClosingDay.objects.create(dealer=dealer, date=date, label=label.strip())
    except IntegrityError:
        raise ValidationError(_("%(date)s is already a closing day.") % {"date": date.isoformat()}) from None
    audit_record(dealer=dealer, actor=by, action="closing_day.added", target=date.isoformat(), changes={"label": ["", day.label]})
    return day


@transaction.atomic
def closing_day_remove(*, closing_day: ClosingDay, by) -> None:
    closing_day.delete()
    audit_record(dealer=closing_day.dealer, actor=by, action="closing_day.removed", target=closing_day.date.isoformat(),
                 changes={"label": [closing_day.label, ""]})


@transaction.atomic
def group_admin_grant(*, group: DealerGroup, user, by=None) -> Membership:
    """Make a person the group's admin: a group-admin membership at one of its rooftops (the one source of truth),
    which gives them every rooftop of the group. An existing membership in the group is upgraded."""
    dealers = list(Dealer.objects.filter(group=group).order_by("name"))
    if not dealers:
        raise ValidationError(_("This group has no rooftop yet."))
    memberships = {m.dealer_id: m for m in Membership.objects.filter(user=user, dealer__group=group)}
    membership = next((m for m in memberships.values() if m.role == Role.GROUP_ADMIN), None)
    if membership is None:
        free = next((d for d in dealers if d.pk not in memberships), None)
        if free is not None:
            membership = Membership.objects.create(user=user, dealer=free, role=Role.GROUP_ADMIN)
        else:
            membership = memberships[dealers[0].pk]
            membership.role = Role.GROUP_ADMIN
    membership.is_active = True
    membership.save()
    audit_record(dealer=membership.dealer, actor=by, action="group_admin.granted", target=user.email)
    return membership


def _check_role_change(*, dealer: Dealer, by, old_role: str | None, new_role: str) -> None:
    changes_group_admin = Role.GROUP_ADMIN in (old_role, new_role) and old_role != new_role
    if changes_group_admin and not is_group_admin(user=by, group_id=dealer.group_id):
        raise ValidationError(_("Only a group admin can give or take away the group-admin role."))


@transaction.atomic
def membership_update(*, membership: Membership, by, role: str | None = None, on_duty: bool | None = None,
                      is_active: bool | None = None) -> Membership:
    """Change a team member's role, on-duty state or whether they still work here. None leaves a field as it is."""
    locked = Membership.objects.select_for_update(of=("self",)).select_related("user", "dealer").get(pk=membership.pk)
    wanted = {"role": role, "on_duty": on_duty, "is_active": is_active}
    diff = {name: [getattr(locked, name), value] for name, value in wanted.items()
            if value is not None and getattr(locked, name) != value}
    if not diff:
        return locked
    if role is not None and role not in Role.values:
        raise ValidationError(_("Unknown role."))
    if "role" in diff:
        _check_role_change(dealer=locked.dealer, by=by, old_role=locked.role, new_role=role)
    if locked.role == Role.GROUP_ADMIN and "is_active" in diff and not is_group_admin(user=by, group_id=locked.dealer.group_id):
        raise ValidationError(_("Only a group admin can remove a group admin."))
    loses_management = (("role" in diff and role not in MANAGING_ROLES) or diff.get("is_active", [None, True])[1] is False)
    if by is not None and locked.user_id == by.pk and locked.role in MANAGING_ROLES and loses_management:
        # A manager locking themselves out is nearly always a slip; another manager or the group admin can do it.
        raise ValidationError(_("You can't take away your own manager role or deactivate yourself. "
                                "Ask another manager or the group admin."))
    for name in diff:
        setattr(locked, name, wanted[name])
    locked.save(update_fields=list(diff))
    audit_record(dealer=locked.dealer, actor=by, action="membership.updated", target=locked.user.email, changes=diff)
    return locked


def user_invite_send(*, user, dealer: Dealer, site_url: str) -> None:
    """Mail a person a link to choose their password (Django's password-reset token and confirm page)."""
    context = {
        "user": user,
        "dealer": dealer,
        "link": site_url.rstrip("/") + reverse("password_reset_confirm", kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}),
    }
    subject = "".join(render_to_string("dealers/settings/invite_subject.txt", context).splitlines())
    body = render_to_string("dealers/settings/invite_email.txt", context)
    send_mail(subject, body, None, [user.email])


INVITATION_SALT = "dealers.invitation"
INVITATION_VALID_FOR = dt.timedelta(days=14)


@transaction.atomic
def invitation_send(*, dealer: Dealer, email: str, role: str, by, site_url: str, first_name: str = "",
                    last_name: str = "") -> Invitation:
    """Invite a person to the dealer's team by e-mail. Whether the address already has an account (perhaps at another
    dealer) changes nothing here: no membership, no name, no default dealer moves until the person accepts."""
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    _check_role_change(dealer=dealer, by=by, old_role=None, new_role=role)
    email = User.objects.normalize_email(email).strip().lower()
    if Membership.objects.filter(dealer=dealer, user__email__iexact=email, is_active=True).exists():
        raise ValidationError(_("%(email)s is already on the team.") % {"email": email})  # the manager's own team
    invitation, _created = Invitation.objects.for_dealer(dealer).update_or_create(
        dealer=dealer, email=email, accepted_at=None,
        defaults={"role": role, "first_name": first_name[:150], "last_name": last_name[:150], "invited_by": by,
                  "sent_at": timezone.now()})
    audit_record(dealer=dealer, actor=by, action="membership.invited", target=email, changes={"role": [None, role]})
    # The mail goes out after commit: slow I/O never holds the transaction, and a rollback sends nothing.
    transaction.on_commit(lambda: invitation_mail_send(invitation=invitation, site_url=site_url))
    return invitation


def invitation_link(*, invitation: Invitation, site_url: str) -> str:
    token = signing.dumps(invitation.pk, salt=INVITATION_SALT)  # timestamped: it expires with INVITATION_VALID_FOR
    return site_url.rstrip("/") + reverse("invitation_accept", kwargs={"token": token})


def invitation_mail_send(*, invitation: Invitation, site_url: str) -> None:
    context = {"invitation": invitation, "dealer": invitation.dealer, "days": INVITATION_VALID_FOR.days,
               "link": invitation_link(invitation=invitation, site_url=site_url)}
    subject = "".join(render_to_string("dealers/settings/invitation_subject.txt", context).splitlines())
    body = render_to_string("dealers/settings/invitation_email.txt", context)
    send_mail(subject, body, None, [invitation.email])


def invitation_from_token(token: str) -> Invitation | None:
    """The open invitation a link names, or None when the link is forged, expired or already used."""
    try:
        pk = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_VALID_FOR)
    except signing.BadSignature:
        return None
    if not isinstance(pk, int):
        return None
    # The signed link names its row; no dealer is chosen yet (the person may not even have an account).
    return Invitation.objects.unscoped().filter(pk=pk, accepted_at__isnull=True).select_related("dealer").first()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """The invited person joins the team (once: the invitation is used up)."""
    locked = (Invitation.objects.for_dealer(invitation.dealer_id).select_for_update()
              .filter(pk=invitation.pk, accepted_at__isnull=True).first())
    if locked is None:
        raise ValidationError(_("This invitation has already been used."))
    if user.email.lower() != locked.email:
        raise ValidationError(_("This invitation is for another e-mail address."))
    membership = Membership.objects.select_for_update(of=("self",)).filter(dealer_id=locked.dealer_id, user=user).first()
    if membership is not None and membership.is_active:
        raise ValidationError(_("You are already on this team."))
    if membership is None:
        membership = Membership.objects.create(dealer_id=locked.dealer_id, user=user, role=locked.role)
        action = "membership.added"
    else:
        membership.is_active, membership.role = True, locked.role
        membership.save(update_fields=["is_active", "role"])
        action = "membership.reactivated"
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["accepted_at"])
    audit_record(dealer=locked.dealer, actor=user, action=action, target=user.email, changes={"role": [None, locked.role]})
    return membership


@transaction.atomic
def invitation_accept_new(*, invitation: Invitation, password: str, first_name: str, last_name: str):
    """Someone without an account accepts: the account is made with the password they chose, and joins the team."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(invitation.email, password=password, first_name=first_name[:150],
                                            last_name=last_name[:150])
    except IntegrityError:  # an account for this address appeared meanwhile: sign in with it and accept
        raise ValidationError(_("This e-mail address already has an account: log in first, then open the link again."))
    invitation_accept(invitation=invitation, user=user)
    return user


def membership_invite_resend(*, membership: Membership, by, site_url: str) -> None:
    """Send the set-password e-mail again to a member who has not chosen a password yet."""
    user = membership.user
    if user.has_usable_password():
        raise ValidationError(_("%(email)s has already chosen a password.") % {"email": user.email})
    audit_record(dealer=membership.dealer, actor=by, action="membership.invited", target=user.email)
    user_invite_send(user=user, dealer=membership.dealer, site_url=site_url)


# ---- Sign-in security: team-API tokens per device, the second factor ----

RECOVERY_CODE_COUNT = 10


def team_token_create(*, user: User, device_name: str = "") -> tuple[TeamToken, str]:
    """A new token for one device (knox stores only its hash); the raw token is returned once."""
    return TeamToken.objects.create(user=user, device_name=device_name[:100])


def team_token_revoke(*, user: User, public_id) -> bool:
    """Revoke one of the user's own tokens; another person's token id simply matches nothing."""
    deleted, _per_model = TeamToken.objects.filter(user=user, public_id=public_id).delete()
    return bool(deleted)


def second_factor_enrolment_start(*, user: User) -> TOTPDevice:
    """The user's pending authenticator (a new secret unless one is already waiting to be confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)


@transaction.atomic
def second_factor_enrolment_confirm(*, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the pending authenticator with its first code; None if the code is wrong.

    On success every other device of the user is replaced, and fresh recovery codes are returned (to show once).
    """
    if device.confirmed or not device.verify_token(normalise_code(code)):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    return recovery_codes_replace(user=device.user)


@transaction.atomic
def recovery_codes_replace(*, user: User) -> list[str]:
    """New single-use recovery codes; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=_("Recovery codes"), confirmed=True)
    codes = [StaticToken.random_token() for _i in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def second_factor_verify(*, user: User, code: str) -> Device | None:
    """The device that accepts the code: the authenticator app for six digits, else a recovery code (used up).

    Each device counts its own failures and makes the next try wait longer (django-otp's throttling), so a code is
    tried only against the device it can belong to: a typo in one kind does not slow down the other.
    """
    code = normalise_code(code)
    if not code:
        return None
    model = TOTPDevice if code.isdigit() and len(code) <= 8 else StaticDevice
    with transaction.atomic():
        for device in model.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(code):
                return device
    return None


def second_factor_totp_verify(*, user: User, code: str) -> bool:
    """Only the authenticator app (not a recovery code): what the token endpoint accepts."""
    code = normalise_code(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        return bool(device and code and device.verify_token(code))


@transaction.atomic
def second_factor_reset(*, user: User) -> int:
    """Remove every second-factor device (a lost phone); the user sets one up again at the next sign-in."""
    removed = TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
    return removed


def normalise_code(code: str) -> str:
    """Codes as people type them: spaces and dashes dropped, recovery codes in lower case."""
    return "".join(ch for ch in str(code or "") if ch not in " -\t").lower()[:32]
