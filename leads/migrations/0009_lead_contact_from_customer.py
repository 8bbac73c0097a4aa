"""Existing leads get their own contact details: until now they showed their customer's, so those are copied."""

from django.db import migrations
from django.db.models import OuterRef, Subquery

FIELDS = {"contact_first_name": "first_name", "contact_last_name": "last_name", "contact_email": "email",
          "contact_phone": "phone", "contact_phone_raw": "phone_raw", "contact_preferred": "preferred_contact",
          "contact_language": "language"}


def copy_from_customer(apps, schema_editor):
    Lead = apps.get_model("leads", "Lead")
    Customer = apps.get_model("leads", "Customer")
    customer = Customer.objects.filter(pk=OuterRef("customer_id"))
    # One UPDATE for the whole table (correlated subqueries by primary key), on PostgreSQL and SQLite alike.
    Lead.objects.update(**{lead_field: Subquery(customer.values(customer_field)[:1])
                           for lead_field, customer_field in FIELDS.items()})


class Migration(migrations.Migration):
    dependencies = [("leads", "0008_lead_own_contact_and_customer_contacts")]

    operations = [migrations.RunPython(copy_from_customer, migrations.RunPython.noop, elidable=True)]
