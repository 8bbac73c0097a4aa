"""One customer across channels: a lead keeps the contact it was given, matching never overwrites, and a manager can
merge and split customer records (leads.services, through the portal API where a portal would notice)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dealers.models import AuditEntry
from leads.models import ContactKind, Customer, CustomerContact, EventType, Lead
from leads.services import CustomerChangeRefused, customer_merge, customer_split
from tests.factories import CustomerFactory, LeadFactory, open_all_week

pytestmark = pytest.mark.django_db

JAN = {"external_id": "MP-1", "customer": {"first_name": "Jan", "last_name": "de Vries", "email": "jan@example.nl",
                                           "phone": "020 123 4567", "preferred_contact": "phone", "language": "nl"}}
MARIEKE = {"external_id": "MP-2", "customer": {"first_name": "Marieke", "last_name": "de Vries",
                                               "email": "Marieke@Example.nl", "phone": "+31 20 1234567",
                                               "preferred_contact": "whatsapp", "language": "en"}}


@pytest.fixture
def open_dealer(cast):
    open_all_week(cast.dealer_a)
    return cast.dealer_a


def post(client, body):
    response = client.post("/api/v1/leads/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def read_back(client, body):
    response = client.get(f"/api/v1/leads/{body['id']}/")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_shared_household_phone_keeps_both_people_visible(portal, open_dealer):
    jan, marieke = post(portal, JAN), post(portal, MARIEKE)
    assert marieke["existing_customer"] is False  # another first name on the same phone is another person
    jan_back, marieke_back = read_back(portal, jan), read_back(portal, marieke)
    assert marieke_back["customer"] == {
        "id": marieke_back["customer"]["id"], "first_name": "Marieke", "last_name": "de Vries",
        "email": "marieke@example.nl", "phone": "+31201234567", "phone_raw": "+31 20 1234567",
        "preferred_contact": "whatsapp", "language": "en"}
    assert jan_back["customer"]["first_name"] == "Jan" and jan_back["customer"]["email"] == "jan@example.nl"
    assert jan_back["customer"]["id"] != marieke_back["customer"]["id"]


def test_a_corrected_resend_joins_the_customer_and_shows_its_own_address(portal, open_dealer):
    first = post(portal, {**JAN, "customer": {**JAN["customer"], "email": "jan@gmial.com"}})
    resend = post(portal, {**JAN, "external_id": "MP-1b"})
    assert resend["existing_customer"] is True
    first_back, resend_back = read_back(portal, first), read_back(portal, resend)
    assert resend_back["customer"]["id"] == first_back["customer"]["id"]
    # Each lead shows what it said; the later lead never rewrites the earlier one.
    assert (first_back["customer"]["email"], resend_back["customer"]["email"]) == ("jan@gmial.com", "jan@example.nl")
    customer = Customer.objects.unscoped().get(pk=first_back["customer"]["id"])
    assert customer.email == "jan@gmial.com"  # never overwritten
    point = CustomerContact.objects.unscoped().get(customer=customer)
    assert (point.kind, point.value, str(point.lead_id)) == (ContactKind.EMAIL, "jan@example.nl", resend["id"])


@pytest.mark.parametrize("returns_new_keys", [True, False], ids=["keys-returned", "keys-not-returned"])
def test_a_known_contact_point_matches_and_is_marked_seen_again(portal, open_dealer, monkeypatch, returns_new_keys):
    """Also where the database cannot return the keys of a multi-row insert (SQLite before 3.35, other backends): the
    intake's rows then go in through Django one group at a time, and the contact points, whose keys nobody reads,
    still go in."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", returns_new_keys)
    post(portal, JAN)
    post(portal, {"external_id": "MP-3", "customer": {"first_name": "Jan", "email": "jan@werk.nl", "phone": "0201234567"}})
    point = CustomerContact.objects.unscoped().get(value="jan@werk.nl")
    seen = point.last_seen_at
    # By the new address alone, with another phone: the contact point finds Jan, and the new phone is learnt too.
    again = post(portal, {"external_id": "MP-4", "customer": {"first_name": "Johannes", "email": "JAN@werk.nl",
                                                              "phone": "06 11112222"}})
    assert again["existing_customer"] is True
    point.refresh_from_db()
    assert point.last_seen_at > seen and point.first_seen_at < point.last_seen_at
    assert set(CustomerContact.objects.unscoped().filter(customer=point.customer).values_list("value", flat=True)) == {
        "jan@werk.nl", "+31611112222"}


def test_a_nameless_customer_learns_the_name_once_and_then_tells_people_apart(portal, open_dealer):
    post(portal, {"customer": {"phone": "020 123 4567"}})
    jan = post(portal, {**JAN, "customer": {"first_name": "Jan", "phone": "020 123 4567"}})
    marieke = post(portal, {**MARIEKE, "customer": {"first_name": "Marieke", "phone": "020 123 4567"}})
    assert jan["existing_customer"] is True and marieke["existing_customer"] is False
    assert Customer.objects.unscoped().get(pk=read_back(portal, jan)["customer"]["id"]).first_name == "Jan"


def _statements(client, body) -> int:
    with CaptureQueriesContext(connection) as queries:
        post(client, body)
    return len(queries)


def test_the_intake_statement_count(portal, open_dealer):
    """A new customer: 8 (the key with the opening hours, the customer match, the customer, a savepoint (here, inside
    the test's transaction), the dealer's lock with the round-robin's count, then the lead with its notice, timeline
    and stamp in one statement; BEGIN and COMMIT are counted too). A known one: 7, whether or not the lead brings an
    address or number the customer does not have as its own (the match reads the customer's last salesperson; a new or
    seen-again contact point goes in the lead's statement)."""
    post(portal, {**JAN, "external_id": "warm-up"})  # the key's first use this minute and the policy's creation
    new = _statements(portal, {**MARIEKE, "customer": {**MARIEKE["customer"], "phone": "0687654321"}})
    same = _statements(portal, {**JAN, "external_id": "same"})
    new_address = _statements(portal, {**JAN, "external_id": "new-address",
                                       "customer": {**JAN["customer"], "email": "jan@nieuw.nl"}})
    assert (new, same, new_address) == (8, 7, 7)


def test_merge_moves_leads_and_turns_the_other_details_into_contact_points(cast):
    into = CustomerFactory(dealer=cast.dealer_a, first_name="Jan", email="jan@example.nl", phone="+31612345678")
    other = CustomerFactory(dealer=cast.dealer_a, first_name="J.", email="jan@werk.nl", phone="+31612345678")
    CustomerContact.objects.create(dealer=cast.dealer_a, customer=other, kind=ContactKind.PHONE, value="+31201234567",
                                   raw="020 1234567")
    kept = LeadFactory(dealer=cast.dealer_a, customer=into)
    moved = LeadFactory(dealer=cast.dealer_a, customer=other)
    customer_merge(into=into, other=other, by=cast.manager_a)
    assert not Customer.objects.unscoped().filter(pk=other.pk).exists()
    assert set(Lead.objects.unscoped().filter(customer=into).values_list("pk", flat=True)) == {kept.pk, moved.pk}
    into.refresh_from_db()
    assert (into.first_name, into.email) == ("Jan", "jan@example.nl")  # its own details stay
    assert sorted(CustomerContact.objects.unscoped().filter(customer=into).values_list("kind", "value", "raw")) == [
        ("email", "jan@werk.nl", "jan@werk.nl"), ("phone", "+31201234567", "020 1234567")]
    moved.refresh_from_db()
    assert moved.contact_email == other.email  # the lead still shows what it was given
    assert moved.events.filter(type=EventType.CUSTOMER_CHANGED).exists()
    entry = AuditEntry.objects.unscoped().get(dealer=cast.dealer_a, action="customer.merged")
    assert entry.actor == cast.manager_a and entry.changes["merged_customer"] == other.pk
    assert "jan" not in str(entry.changes).lower()  # records, not people: nothing personal on the audit trail


def test_merge_refuses_itself_and_another_dealers_customer(cast):
    mine, theirs = CustomerFactory(dealer=cast.dealer_a), CustomerFactory(dealer=cast.dealer_b)
    for other in (mine, theirs):
        with pytest.raises(CustomerChangeRefused):
            customer_merge(into=mine, other=other, by=cast.manager_a)
    assert Customer.objects.unscoped().filter(pk=theirs.pk).exists()


def test_split_gives_a_lead_a_customer_built_from_its_own_contact(cast):
    jan = CustomerFactory(dealer=cast.dealer_a, first_name="Jan", email="jan@example.nl", phone="+31201234567")
    LeadFactory(dealer=cast.dealer_a, customer=jan)
    marieke = LeadFactory(dealer=cast.dealer_a, customer=jan, contact_first_name="Marieke",
                          contact_email="marieke@example.nl", contact_phone="+31201234567", contact_phone_raw="020 1234567")
    CustomerContact.objects.create(dealer=cast.dealer_a, customer=jan, kind=ContactKind.EMAIL, value="marieke@example.nl",
                                   lead=marieke)
    new = customer_split(lead=marieke, by=cast.manager_a)
    marieke.refresh_from_db()
    assert marieke.customer == new and (new.first_name, new.email, new.phone_raw) == (
        "Marieke", "marieke@example.nl", "020 1234567")
    # Marieke's address leaves Jan's record (so her next lead finds her); the shared phone stays Jan's own.
    assert not CustomerContact.objects.unscoped().filter(customer=jan).exists()
    jan.refresh_from_db()
    assert jan.phone == "+31201234567"
    assert AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a, action="customer.split", actor=cast.manager_a).exists()
    with pytest.raises(CustomerChangeRefused):  # her only lead now: nothing left to split off
        customer_split(lead=marieke, by=cast.manager_a)


def test_after_a_split_the_next_lead_finds_the_right_person(portal, open_dealer, cast):
    jan = post(portal, {**JAN, "customer": {**JAN["customer"], "email": ""}})
    marieke = post(portal, {**MARIEKE, "customer": {"email": "marieke@example.nl", "phone": "020 123 4567"}})
    assert marieke["existing_customer"] is True  # no name given: filed under Jan
    customer_split(lead=Lead.objects.unscoped().get(pk=marieke["id"]), by=cast.manager_a)
    again = post(portal, {**MARIEKE, "external_id": "MP-5"})
    assert read_back(portal, again)["customer"]["id"] == read_back(portal, marieke)["customer"]["id"]
    assert read_back(portal, again)["customer"]["id"] != read_back(portal, jan)["customer"]["id"]


def test_the_assignee_is_told_the_name_given_in_the_lead(portal, open_dealer):
    from leads.models import Notification

    post(portal, {**JAN, "customer": {**JAN["customer"], "email": ""}})
    marieke = post(portal, {**MARIEKE, "customer": {"first_name": "Marieke", "last_name": "de Vries",
                                                    "phone": "020 123 4567"}})
    notice = Notification.objects.unscoped().get(lead_id=marieke["id"])
    assert notice.subject == "New lead: Marieke de Vries" and "Marieke de Vries is waiting" in notice.body


def test_the_data_migration_gives_existing_leads_their_customer_s_details(cast):
    """Before this change a lead showed its customer's details; the migration copies them into the lead's own."""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("leads.migrations.0009_lead_contact_from_customer")
    apps = MigrationLoader(connection).project_state(("leads", "0009_lead_contact_from_customer")).apps
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Fleur", last_name="Visser", email="fleur@example.nl",
                               phone="+31611223344", phone_raw="06-11223344", preferred_contact="sms", language="nl")
    lead = LeadFactory(dealer=cast.dealer_a, customer=customer, contact_first_name="", contact_last_name="",
                       contact_email="", contact_phone="", contact_phone_raw="", contact_preferred="", contact_language="")
    migration.copy_from_customer(apps, None)
    lead.refresh_from_db()
    assert (lead.contact_name, lead.contact_email, lead.contact_phone, lead.contact_phone_raw, lead.contact_preferred,
            lead.contact_language) == ("Fleur Visser", "fleur@example.nl", "+31611223344", "06-11223344", "sms", "nl")
