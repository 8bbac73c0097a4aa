"""/settings/mail/: the manager sees the mails set aside with their reason and makes a lead of one."""

import pytest
from django.conf import settings

from leads.mail_intake import mail_ingest
from leads.models import InboundMail, Lead
from routing.services import lead_route_new
from tests.factories import open_all_week

pytestmark = pytest.mark.django_db
SHARED = settings.BASE_DIR.parent / "shared" / "fixtures" / "mail"
OWN = settings.BASE_DIR / "tests" / "fixtures" / "mail"


def ingest(dealer, name: str, folder=SHARED) -> InboundMail:
    return mail_ingest(dealer=dealer, raw=(folder / name).read_bytes(), fallback_source="imap", channel="imap",
                       route=lead_route_new).mail


def test_the_manager_sees_the_mails_set_aside_with_their_reason(client, cast, django_assert_max_num_queries):
    open_all_week(cast.dealer_a)
    auto_reply = ingest(cast.dealer_a, "27-auto-reply-out-of-office.eml")
    ingest(cast.dealer_a, "nl-12-autoscout24-marketing.eml", OWN)
    lead_mail = ingest(cast.dealer_a, "16-autoscout24-lead.eml")
    client.force_login(cast.manager_a)
    with django_assert_max_num_queries(12):
        page = client.get("/settings/mail/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Automatisch antwoord: Uw proefrit" in body and "Marketing" in body
    assert f'data-testid="mail-{auto_reply.pk}"' in body and f'data-testid="mail-{lead_mail.pk}"' not in body
    everything = client.get("/settings/mail/?all=1").content.decode()
    assert f'data-testid="mail-{lead_mail.pk}"' in everything and "Sanne de Wit" in everything


def test_the_manager_makes_a_lead_of_a_mail_set_aside(client, cast):
    open_all_week(cast.dealer_a)
    mail = ingest(cast.dealer_a, "27-auto-reply-out-of-office.eml")
    client.force_login(cast.manager_a)
    response = client.post(f"/settings/mail/{mail.pk}/promote/")
    lead = Lead.objects.for_dealer(cast.dealer_a).get()
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    assert lead.customer.email == "femke.jacobs@example.nl" and lead.assignee is not None
    client.post(f"/settings/mail/{mail.pk}/promote/")  # twice is once
    assert Lead.objects.for_dealer(cast.dealer_a).count() == 1


@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
def test_only_managers_see_the_mail_page(client, cast, who):
    mail = ingest(cast.dealer_a, "27-auto-reply-out-of-office.eml")
    client.force_login(getattr(cast, who))
    assert client.get("/settings/mail/").status_code == 403
    assert client.post(f"/settings/mail/{mail.pk}/promote/").status_code == 403
    assert not Lead.objects.unscoped().exists()


def test_an_outsider_cannot_see_or_promote_dealer_as_mail(client, cast):
    mail = ingest(cast.dealer_a, "27-auto-reply-out-of-office.eml")
    client.force_login(cast.outsider_b)
    assert client.post(f"/settings/mail/{mail.pk}/promote/").status_code == 404
    assert client.get("/settings/mail/?dealer=dealer-a").status_code == 404
    assert b"Automatisch antwoord" not in client.get("/settings/mail/").content
    assert not Lead.objects.unscoped().exists()


def test_hostile_ids_and_parameters_are_4xx(client, cast):
    client.force_login(cast.manager_a)
    assert client.post("/settings/mail/999999999/promote/").status_code == 404
    assert client.get("/settings/mail/promote/").status_code == 404
    assert client.get("/settings/mail/?all=%00%ff").status_code == 200
    assert client.get("/settings/mail/1/promote/").status_code == 405
