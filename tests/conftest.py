"""The fixed cast: dealer A's manager, salespeople and BDC agent, and dealer B's outsider."""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import translation
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from dealers.models import Role
from dealers.selectors import second_step_required

from .factories import DealerFactory, MembershipFactory, UserFactory, api_key_for


@dataclass
class Cast:
    dealer_a: object
    dealer_b: object
    manager_a: object
    sales_a1: object
    sales_a2: object
    bdc_a: object
    outsider_b: object


@pytest.fixture
def cast(db) -> Cast:
    dealer_a = DealerFactory(slug="dealer-a", name="Autobedrijf A")
    dealer_b = DealerFactory(slug="dealer-b", name="Autobedrijf B")

    def member(dealer, role, email, **kwargs):
        return MembershipFactory(dealer=dealer, role=role, user=UserFactory(email=email, **kwargs)).user

    return Cast(
        dealer_a=dealer_a,
        dealer_b=dealer_b,
        manager_a=member(dealer_a, Role.MANAGER, "manager@a.test", is_staff=True),
        sales_a1=member(dealer_a, Role.SALESPERSON, "sales1@a.test"),
        sales_a2=member(dealer_a, Role.SALESPERSON, "sales2@a.test"),
        bdc_a=member(dealer_a, Role.BDC_AGENT, "bdc@a.test"),
        outsider_b=member(dealer_b, Role.MANAGER, "manager@b.test", is_staff=True),
    )


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and other cached state live in Redis: each test starts clean."""
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _language_reset():
    """Each test starts in the settings' language. The locale middleware activates a request's language in the thread
    that served it and leaves it there, so a Dutch page request made the tests after it (same worker) speak Dutch."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


def pass_second_factor(client, user) -> TOTPDevice:
    """Mark the client's session as past the second step, through django-otp's own session key, as a real
    verification would (the device is the user's authenticator app, created when they have none)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_step(request, monkeypatch):
    """`client.force_login(manager)` stands for a full sign-in: password and second step. The middleware stays on:
    tests of the second step itself sign in on the login page (the password alone) or mark `password_only`."""
    if request.node.get_closest_marker("password_only"):
        return
    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        if second_step_required(user=user):
            pass_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def portal(cast):
    """An API client holding dealer A's `website` key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(cast.dealer_a)}")
    return client


def team_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
