"""Factories chain to a dealer; names and numbers are Dutch."""

import datetime as dt

import factory
from django.utils import timezone

from dealers.models import Dealer, DealerGroup, Membership, OpeningHours, Role, User
from dealers.services import api_key_create
from leads.models import Customer, Lead

factory.Faker._DEFAULT_LOCALE = "nl_NL"


class DutchName(factory.Faker):
    """A Dutch name without apostrophes ("d'Heripon"), so tests can look for it in HTML without escaping it."""

    def evaluate(self, instance, step, extra):
        return super().evaluate(instance, step, extra).replace("'", "")


class DealerGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealerGroup

    name = factory.Faker("company")
    slug = factory.Sequence(lambda n: f"groep-{n}")


class DealerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dealer

    group = factory.SubFactory(DealerGroupFactory)
    name = factory.LazyAttribute(lambda o: f"Autobedrijf {o.slug}")
    slug = factory.Sequence(lambda n: f"dealer-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"medewerker{n}@dealer.test")
    first_name = DutchName("first_name")
    last_name = DutchName("last_name")
    password = factory.PostGenerationMethodCall("set_password", "geheim-wachtwoord-1")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    dealer = factory.SubFactory(DealerFactory)
    role = Role.SALESPERSON
    on_duty = True


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    dealer = factory.SubFactory(DealerFactory)
    first_name = DutchName("first_name")
    last_name = DutchName("last_name")
    email = factory.Sequence(lambda n: f"klant{n}@example.nl")
    phone = factory.Sequence(lambda n: f"+316{n:08d}")
    phone_raw = factory.LazyAttribute(lambda o: o.phone)


class LeadFactory(factory.django.DjangoModelFactory):
    """A stored, routed lead, assigned as the test says (no routing logic runs)."""

    class Meta:
        model = Lead

    dealer = factory.SubFactory(DealerFactory)
    customer = factory.SubFactory(CustomerFactory, dealer=factory.SelfAttribute("..dealer"))
    # The lead's own contact: by default what its customer record says (a test passes others to differ).
    contact_first_name = factory.SelfAttribute("customer.first_name")
    contact_last_name = factory.SelfAttribute("customer.last_name")
    contact_email = factory.SelfAttribute("customer.email")
    contact_phone = factory.SelfAttribute("customer.phone")
    contact_phone_raw = factory.SelfAttribute("customer.phone_raw")
    contact_preferred = factory.SelfAttribute("customer.preferred_contact")
    contact_language = factory.SelfAttribute("customer.language")
    source = "website"
    external_id = factory.Sequence(lambda n: f"EXT-{n}")
    channel = "web_form"
    kind = "active"
    queue = "sales"
    routed_at = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)
    clock_started_at = factory.SelfAttribute("received_at")
    first_response_due_at = factory.LazyAttribute(lambda o: o.received_at + dt.timedelta(minutes=5))
    deadline_at = factory.SelfAttribute("first_response_due_at")
    next_action_at = factory.SelfAttribute("first_response_due_at")
    vehicle = factory.LazyFunction(lambda: {"make": "Kia", "model": "Niro", "year": 2024})


def open_all_week(dealer: Dealer) -> None:
    for weekday in range(7):
        OpeningHours.objects.create(dealer=dealer, weekday=weekday, opens=dt.time(0, 0), closes=dt.time(23, 59, 59))


def api_key_for(dealer: Dealer, source: str = "website", **kwargs) -> str:
    return api_key_create(dealer=dealer, source=source, **kwargs)[1]


def make_group_admin(group_member: Dealer, user) -> None:
    """`user` administers the group of `group_member`: a group-admin membership at that rooftop (the one source)."""
    MembershipFactory(dealer=group_member, user=user, role=Role.GROUP_ADMIN)
