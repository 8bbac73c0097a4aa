"""Erasure reaches what the e-mail channel and customer matching hold too: the mail as it arrived, the contact as given
in each lead, and the customer's further addresses and numbers."""

import pytest

from leads.models import CustomerContact, InboundMail, Lead
from privacy.services import customer_erase, customer_export
from tests.factories import CustomerFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_export_shows_and_erase_removes_mails_contacts_as_given_and_contact_points(cast):
    customer = CustomerFactory(dealer=cast.dealer_a, first_name="Sanne", last_name="Bakker", email="sanne@example.nl")
    lead = LeadFactory(dealer=cast.dealer_a, customer=customer, contact_first_name="Sanne", contact_last_name="Bakker",
                       contact_email="sanne.b@werk.example.nl", contact_phone="+31612345678", contact_phone_raw="06 12345678")
    CustomerContact.objects.create(dealer=cast.dealer_a, customer=customer, kind="email", value="sanne.b@werk.example.nl",
                                   raw="Sanne.B@werk.example.nl", lead=lead)
    mail = InboundMail.objects.create(dealer=cast.dealer_a, message_identity="<m1@portal>", message_id="<m1@portal>",
                                      sha256="0" * 64, raw=b"From: Sanne Bakker <sanne@example.nl>\r\n\r\nIk wil een proefrit",
                                      subject="Proefrit", sender="sanne@example.nl", channel="api")
    mail.leads.add(lead)

    exported = str(customer_export(dealer=cast.dealer_a, customer=customer, by=cast.manager_a))
    assert "sanne.b@werk.example.nl" in exported and "Ik wil een proefrit" in exported and "06 12345678" in exported

    customer_erase(dealer=cast.dealer_a, customer=customer, by=cast.manager_a)
    lead = Lead.objects.for_dealer(cast.dealer_a).get(pk=lead.pk)
    assert (lead.contact_first_name, lead.contact_email, lead.contact_phone, lead.contact_phone_raw) == ("", "", "", "")
    assert not CustomerContact.objects.for_dealer(cast.dealer_a).exists()
    mail.refresh_from_db()
    assert bytes(mail.raw) == b"" and mail.sender == "" and mail.subject == ""
    assert mail.message_identity == "<m1@portal>"  # still keeps the same mail from being read twice
    customer.refresh_from_db()
    after = str(customer_export(dealer=cast.dealer_a, customer=customer, by=cast.manager_a))
    found = [word for word in ("Sanne", "Bakker", "sanne", "12345678", "proefrit") if word in after]
    assert not found, [after[max(0, after.index(w) - 120):after.index(w) + 40] for w in found]
