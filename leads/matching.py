"""Which known customer a new lead belongs to: one small pure rule, no queries (the intake feeds it candidates).

Customers share phones (a household landline, a company switchboard) and change e-mail addresses, so the same
number alone does not make two enquiries the same person:

1. The normalised e-mail first: a customer who has this address (as their own or as a further contact point) is
   the match, unless the address looks unusable or throwaway (`test@…`, `nvt@…`) — such an address links only
   where the names agree, like a phone.
2. Else the phone, but only where the names do not contradict: a different first name (or a different last name)
   on both sides means another person. A missing name contradicts nothing; an initial ("J.") agrees with a name
   that starts with it.
3. Else no match: a new customer.

Among several candidates of one kind the oldest customer wins (the intake's order), as before.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """A known customer that shares the lead's e-mail or phone (its own field or a contact point)."""

    id: int
    first_name: str
    last_name: str
    has_email: bool  # this customer has the lead's e-mail address
    has_phone: bool  # this customer has the lead's phone number


def _name_key(value: str | None) -> str:
    """Lower-case letters only, accents dropped: "José-Maria " and "jose maria" agree."""
    text = unicodedata.normalize("NFKD", value or "")
    return "".join(ch for ch in text.casefold() if ch.isalpha())


def _first_names_agree(a: str, b: str) -> bool:
    if not a or not b:
        return True
    if len(a) == 1 or len(b) == 1:  # an initial: "J." and "Jan"
        return a[0] == b[0]
    return a == b


def names_contradict(*, first_name: str, last_name: str, other_first_name: str, other_last_name: str) -> bool:
    """True when both sides name a person and the names say they are different people."""
    if not _first_names_agree(_name_key(first_name), _name_key(other_first_name)):
        return True
    last, other_last = _name_key(last_name), _name_key(other_last_name)
    return bool(last and other_last and last != other_last)


def customer_match(*, first_name: str, last_name: str, email: str, phone: str, email_usable: bool = True,
                   candidates: Iterable[Candidate]) -> Candidate | None:
    """The known customer this lead belongs to, or None for a new customer. `candidates` oldest first."""
    candidates = list(candidates)

    def agrees(candidate: Candidate) -> bool:
        return not names_contradict(first_name=first_name, last_name=last_name,
                                    other_first_name=candidate.first_name, other_last_name=candidate.last_name)

    if email:
        for candidate in candidates:
            if candidate.has_email and (email_usable or agrees(candidate)):
                return candidate
    if phone:
        for candidate in candidates:
            if candidate.has_phone and agrees(candidate):
                return candidate
    return None
