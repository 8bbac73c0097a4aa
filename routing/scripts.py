"""The call scripts a BDC agent reads when the dealer has not written its own for a reason (editable on the settings
pages). {customer}, {agent}, {dealer} and {vehicle} are filled in when shown, and what the lead's file said:
{lease_end} ("on 31 March 2027", else "in the coming months") and {service_visit} (" on 12 November 2026", else empty),
from the date column of the CSV import (followup/imports.py stores it as the payload's `due_date`)."""

from django.utils.translation import gettext_lazy

from leads.models import Reason

DEFAULT_SCRIPTS = {
    Reason.LEASE_END: gettext_lazy(
        "Good morning/afternoon {customer}, this is {agent} of {dealer}.\n"
        "I am calling because the lease contract of your {vehicle} ends {lease_end}.\n"
        "1. Ask: how do you like the car? What would you change next time?\n"
        "2. Ask: how many kilometres do you drive a year now? Business or private?\n"
        "3. Offer: a visit or test drive to compare the options before the contract ends.\n"
        "4. Set the appointment, confirm date and time, and hand it over to a salesperson."),
    Reason.LOST_SALE: gettext_lazy(
        "Good morning/afternoon {customer}, this is {agent} of {dealer}.\n"
        "Some time ago you were with us about the {vehicle}. I am not calling to sell, but to learn.\n"
        "1. Ask: what made you decide not to buy with us? (Listen; do not argue.)\n"
        "2. Ask: did you buy elsewhere, or are you still looking?\n"
        "3. If still looking: offer a new proposal or a test drive, and set an appointment.\n"
        "4. Write down the real objection in the note: the sales manager reads it."),
    Reason.DATA_MINING: gettext_lazy(
        "Good morning/afternoon {customer}, this is {agent} of {dealer}.\n"
        "You have driven your {vehicle} for a while now; we have an attractive trade-in value for it at the moment.\n"
        "1. Ask: are you happy with the car? Any plans to change?\n"
        "2. Offer: a free valuation of the trade-in during a visit.\n"
        "3. Set the appointment, or agree when to call again."),
    Reason.SERVICE: gettext_lazy(
        "Good morning/afternoon {customer}, this is {agent} of {dealer}.\n"
        "I am calling about the service visit of your {vehicle}{service_visit}.\n"
        "1. Ask how the visit went (or whether the date still suits); note any complaint for the service manager.\n"
        "2. Ask: have you thought about a newer car? We can value yours while you are here.\n"
        "3. Set an appointment with a salesperson, ideally at the service visit."),
    Reason.CALLBACK: gettext_lazy(
        "Good morning/afternoon {customer}, this is {agent} of {dealer}; you asked us to call you back.\n"
        "1. Ask how we can help, and about the {vehicle}.\n"
        "2. Set the appointment, or agree on the next step."),
}
GENERIC_SCRIPT = gettext_lazy(
    "Good morning/afternoon {customer}, this is {agent} of {dealer}.\n"
    "1. Say why you are calling.\n2. Ask about the customer's plans and wishes.\n"
    "3. Set the appointment, or agree on the next step.")


def default_script(reason: str) -> str:
    return str(DEFAULT_SCRIPTS.get(reason, GENERIC_SCRIPT))
