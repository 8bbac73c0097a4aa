"""How to reach a lead's customer and how to name their car: small facts the messages, the pages and the appointment
mails share (this module imports nothing of followup, so any of them can use it)."""

from leads.models import Lead
from leads.quality import EMAIL_INVALID


def vehicle_label(vehicle: dict) -> str:
    return " ".join(str(vehicle.get(k) or "") for k in ("make", "model", "year")).strip()


def customer_email_address(lead: Lead) -> str:
    """The address to write to; an odd-looking one is still used (never pre-qualify), an unusable one is not."""
    email = lead.contact_email  # as given in this lead: a later lead of the same person never rewrites it
    if not email or (EMAIL_INVALID in (lead.data_flags or []) and "@" not in email):
        return ""
    return email
