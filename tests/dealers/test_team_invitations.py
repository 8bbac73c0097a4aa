"""Issue 16, defect 4: adding another tenant's user to the team reveals nothing and moves nothing."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from dealers.access import resolve_dealer_access
from dealers.models import Invitation, Membership, Role
from tests.factories import DealerFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def add(client, email, **extra):
    return client.post(reverse("settings:team_add"), {"email": email, "role": Role.SALESPERSON, **extra}, follow=True)


def test_another_tenants_user_gets_the_same_answer_as_a_new_address(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.manager_a)
    with django_capture_on_commit_callbacks(execute=True):
        new = add(client, "nieuw@a.test", first_name="Kees")
        taken = add(client, "manager@b.test", first_name="Kees")  # dealer B's manager, named "Karel ..." there
    assert new.status_code == taken.status_code == 200
    rows = re.findall(r'<li id="invitation-\d+">\s*<span>([^<]*)<', taken.content.decode())
    assert rows == ["Kees ", "Kees "]  # both listed alike, by the name the manager typed
    messages = [str(m) for m in new.context["messages"]] + [str(m) for m in taken.context["messages"]]
    assert messages[0].replace("nieuw@a.test", "X") == messages[-1].replace("manager@b.test", "X")
    assert cast.outsider_b.get_full_name() not in taken.content.decode()
    assert cast.outsider_b.get_full_name() not in client.get(reverse("settings:team")).content.decode()
    # Dealer B's manager is not on A's team and still works at B by default; they got an invitation they may ignore.
    assert not Membership.objects.filter(user=cast.outsider_b, dealer=cast.dealer_a).exists()
    assert resolve_dealer_access(cast.outsider_b).dealer == cast.dealer_b
    assert sorted(m.to[0] for m in mail.outbox) == ["manager@b.test", "nieuw@a.test"]


def test_accepting_does_not_move_the_default_dealer_until_the_person_chooses(client, cast, django_capture_on_commit_callbacks):
    person = UserFactory(email="jan@groep.test")
    zzz = DealerFactory(slug="zzz", name="Zwolle Auto")
    MembershipFactory(dealer=zzz, user=person, role=Role.SALESPERSON)
    client.force_login(cast.manager_a)  # dealer A's name sorts before "Zwolle Auto"
    with django_capture_on_commit_callbacks(execute=True):
        add(client, "jan@groep.test")
    assert resolve_dealer_access(person).dealer == zzz
    assert Invitation.objects.unscoped().get().accepted_at is None


def test_an_invitation_of_another_dealer_cannot_be_resent(client, cast):
    invitation = Invitation.objects.create(dealer=cast.dealer_a, email="nieuw@a.test", role=Role.SALESPERSON)
    client.force_login(cast.outsider_b)
    assert client.post(reverse("settings:invitation_resend", args=[invitation.pk])).status_code == 404


def test_an_over_long_address_is_refused_with_a_message(client, cast):
    client.force_login(cast.manager_a)
    response = add(client, "a" * 250 + "@example.nl")
    assert response.status_code == 200
    assert not Invitation.objects.unscoped().exists()
    assert "at most 254 characters" in response.content.decode()


def test_a_forged_or_foreign_invitation_link_is_a_404(client, cast):
    assert client.get("/accounts/invitation/eyJ0ZXN0Ijp0cnVlfQ:forged/").status_code == 404


def test_the_invitation_is_only_for_its_own_address(client, cast, django_capture_on_commit_callbacks):
    client.force_login(cast.manager_a)
    with django_capture_on_commit_callbacks(execute=True):
        add(client, "manager@b.test")
    link = re.search(r"http://testserver(/accounts/invitation/\S+)", mail.outbox[0].body).group(1)
    client.force_login(cast.sales_a2)
    client.post(link)
    assert not Membership.objects.filter(user=cast.outsider_b, dealer=cast.dealer_a).exists()
    assert Invitation.objects.unscoped().get().accepted_at is None
