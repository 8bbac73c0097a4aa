"""The customer-matching rule, case by case: which known customer a new lead joins (leads.matching)."""

import pytest

from leads.matching import Candidate, customer_match

JAN = Candidate(id=1, first_name="Jan", last_name="de Vries", has_email=False, has_phone=False)


def known(**kwargs) -> Candidate:
    return Candidate(**{**JAN.__dict__, **kwargs})


CASES = [
    # (case, the lead: first name, last name, e-mail, phone, e-mail usable; candidates; the customer it joins)
    ("shared household phone: another first name is another person",
     ("Marieke", "de Vries", "marieke@example.nl", "+31201234567", True), [known(has_phone=True)], None),
    ("corrected e-mail resend: same name and phone, a new address",
     ("Jan", "de Vries", "jan@gmail.com", "+31612345678", True), [known(has_phone=True)], 1),
    ("company switchboard: someone else entirely",
     ("Klaas", "Bakker", "", "+31201234567", True), [known(has_phone=True)], None),
    ("same person, new e-mail, the name written differently",
     ("JAN ", "De  Vries", "jan@nieuw.nl", "+31612345678", True), [known(has_phone=True)], 1),
    ("no name: nothing contradicts the phone",
     ("", "", "", "+31612345678", True), [known(has_phone=True)], 1),
    ("the known customer has no name: nothing contradicts",
     ("Marieke", "de Vries", "", "+31612345678", True), [known(first_name="", last_name="", has_phone=True)], 1),
    ("an initial agrees with the name it starts with",
     ("J.", "de Vries", "", "+31612345678", True), [known(has_phone=True)], 1),
    ("an initial of another name does not",
     ("M.", "de Vries", "", "+31612345678", True), [known(has_phone=True)], None),
    ("same first name, another last name on the same phone: another person",
     ("Jan", "Bakker", "", "+31201234567", True), [known(has_phone=True)], None),
    ("accents do not make another person",
     ("Jose", "Garcia", "", "+31612345678", True), [known(first_name="José", last_name="García", has_phone=True)], 1),
    ("the e-mail decides, even with another name (a nickname, a typo)",
     ("Johannes", "de Vries", "jan@example.nl", "", True), [known(has_email=True)], 1),
    ("the e-mail wins over an older customer with the phone",
     ("Jan", "de Vries", "jan@example.nl", "+31612345678", True),
     [known(id=1, has_phone=True), known(id=2, has_email=True)], 2),
    ("a throwaway address links only where the names agree",
     ("Piet", "Jansen", "test@test.nl", "", False), [known(has_email=True)], None),
    ("a throwaway address with the same name does link",
     ("Jan", "de Vries", "test@test.nl", "", False), [known(has_email=True)], 1),
    ("the phone skips a contradicting customer for one that agrees",
     ("Marieke", "de Vries", "", "+31201234567", True),
     [known(id=1, has_phone=True), known(id=2, first_name="Marieke", has_phone=True)], 2),
    ("nothing shared: a new customer",
     ("Jan", "de Vries", "jan@example.nl", "+31612345678", True), [], None),
]


@pytest.mark.parametrize(("lead", "candidates", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_which_customer_a_lead_joins(lead, candidates, expected):
    first_name, last_name, email, phone, usable = lead
    match = customer_match(first_name=first_name, last_name=last_name, email=email, phone=phone, email_usable=usable,
                           candidates=candidates)
    assert (match.id if match else None) == expected
