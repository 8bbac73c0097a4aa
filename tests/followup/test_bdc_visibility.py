"""Within one dealer: a BDC agent reaches the same leads through the team API as through the pages."""

import pytest

from dealers.models import Role
from leads.models import Kind, Lead, Queue
from tests.conftest import team_client
from tests.factories import LeadFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(cast):
    other_agent = MembershipFactory(dealer=cast.dealer_a, role=Role.BDC_AGENT, user=UserFactory(email="bdc2@a.test")).user
    passive = {"queue": Queue.BDC, "kind": Kind.PASSIVE, "reason": "lease_end", "channel": "outbound"}
    return {
        "mine": LeadFactory(dealer=cast.dealer_a, assignee=cast.bdc_a, **passive),
        "colleagues": LeadFactory(dealer=cast.dealer_a, assignee=other_agent, **passive),
        "unclaimed": LeadFactory(dealer=cast.dealer_a, assignee=None, **passive),
        "sales": LeadFactory(dealer=cast.dealer_a, assignee=cast.sales_a1),
    }


def test_the_list_shows_my_claimed_leads_and_the_queue_to_claim_from(cast, desk):
    response = team_client(cast.bdc_a).get("/api/v1/team/leads/")
    assert {row["id"] for row in response.json()["results"]} == {str(desk["mine"].pk), str(desk["unclaimed"].pk)}


@pytest.mark.parametrize("which", ["colleagues", "unclaimed", "sales"])
def test_what_the_pages_refuse_the_api_refuses(cast, client, desk, which):
    lead = desk[which]
    api = team_client(cast.bdc_a)
    client.force_login(cast.bdc_a)
    assert client.get(f"/leads/{lead.pk}/").status_code == 404
    assert client.get(f"/bdc/leads/{lead.pk}/").status_code == 404
    assert client.post(f"/leads/{lead.pk}/attempts/", {"channel": "call", "outcome": "no_answer"}).status_code == 404
    base = f"/api/v1/team/leads/{lead.pk}/"
    assert api.get(base).status_code == 404
    assert api.post(base + "attempts/", {"channel": "call", "outcome": "no_answer"}, format="json").status_code == 404
    assert api.post(base + "handover/", {"note": "afspraak"}, format="json").status_code == 404
    assert api.post(base + "close/", {"outcome": "not_interested"}, format="json").status_code == 404
    assert api.patch(base + "score/", {"need": 10}, format="json").status_code == 404
    unchanged = Lead.objects.for_dealer(cast.dealer_a).get(pk=lead.pk)
    assert (unchanged.attempt_count, unchanged.closed_at, unchanged.assignee_id) == (0, None, lead.assignee_id)


def test_my_claimed_lead_works_through_both(cast, client, desk):
    lead = desk["mine"]
    client.force_login(cast.bdc_a)
    assert client.get(f"/bdc/leads/{lead.pk}/").status_code == 200
    response = team_client(cast.bdc_a).post(f"/api/v1/team/leads/{lead.pk}/attempts/",
                                            {"channel": "call", "outcome": "no_answer"}, format="json")
    assert response.status_code == 201
