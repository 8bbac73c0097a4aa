"""Drop the single-column dealer indexes of the intake's tables: each table has indexes that start with the dealer,
which serve the same lookups (and the dealer's cascade), so every lead stored maintained five indexes for nothing.

Only the indexes are dropped. Django's own AlterField would also drop and re-add the foreign keys, re-checking every
row of leads_lead under lock; the constraints themselves do not change.
"""

import django.db.models.deletion
from django.db import migrations, models

# (table, index Django named for the dealer column) — the same names on PostgreSQL and SQLite.
INDEXES = [
    ("leads_customer", "leads_customer_dealer_id_d1b871af"),
    ("leads_idempotencykey", "leads_idempotencykey_dealer_id_9250419f"),
    ("leads_lead", "leads_lead_dealer_id_08f0aad9"),
    ("leads_leadevent", "leads_leadevent_dealer_id_72a86f20"),
    ("leads_notification", "leads_notification_dealer_id_9dfb1d1e"),
]


def _field(related_name):
    return models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name=related_name,
                             to="dealers.dealer")


class Migration(migrations.Migration):

    dependencies = [
        ("dealers", "0001_initial"),
        ("leads", "0005_notification_owed_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{index}"', reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("dealer_id")')
                for table, index in INDEXES
            ],
            state_operations=[
                migrations.AlterField(model_name="customer", name="dealer", field=_field("customers")),
                migrations.AlterField(model_name="idempotencykey", name="dealer", field=_field("+")),
                migrations.AlterField(model_name="lead", name="dealer", field=_field("leads")),
                migrations.AlterField(model_name="leadevent", name="dealer", field=_field("+")),
                migrations.AlterField(model_name="notification", name="dealer", field=_field("+")),
            ],
        ),
    ]
