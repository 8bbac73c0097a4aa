"""Reads about people's sign-in: who must use a second factor, their devices and their team-API tokens."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from .access import MANAGING_ROLES
from .models import Membership, TeamToken, User


def user_must_use_second_factor(*, user) -> bool:
    """Managers and group admins (in any dealer) and superusers see many people's leads: they sign in in two steps."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or Membership.objects.filter(user=user, is_active=True, role__in=MANAGING_ROLES).exists()


def second_step_required(*, user) -> bool:
    """Whether this sign-in needs the second step: it is mandatory for the user, or they turned it on themselves."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    managing = Membership.objects.filter(user=OuterRef("pk"), is_active=True, role__in=MANAGING_ROLES)
    authenticator = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    # One query: the middleware asks it on every request of a signed-in person who has not passed the second step.
    return User.objects.filter(pk=user.pk).filter(Exists(managing) | Exists(authenticator)).exists()


def authenticator_for(*, user) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if they set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def team_token_list(*, user) -> QuerySet[TeamToken]:
    """The user's own team-API tokens that still work, newest first."""
    now = timezone.now()
    return TeamToken.objects.filter(Q(expiry__isnull=True) | Q(expiry__gt=now), user=user).order_by("-created")
