"""Leads stored before leads/dates.py with an impossible received_at (year 0 BC after a +14:00 offset, year 10000):
PostgreSQL keeps them, Python cannot read them back, and every page showing one failed. They count from their arrival
(created_at) instead, keep the date as sent, and carry the warning the intake now gives."""

from django.db import migrations

REPAIR = """
UPDATE leads_lead
   SET received_at = created_at,
       received_at_raw = CASE WHEN received_at_raw = '' THEN left(received_at::text, 100) ELSE received_at_raw END,
       data_flags = CASE WHEN data_flags @> '["received_at_out_of_range"]'::jsonb THEN data_flags
                         ELSE data_flags || '["received_at_out_of_range"]'::jsonb END
 WHERE received_at < '2000-01-01T00:00:00+00:00' OR received_at > now() + interval '366 days'
"""


def repair(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # SQLite (the embedded demo) never stored such an instant
        schema_editor.execute(REPAIR)


class Migration(migrations.Migration):
    dependencies = [("leads", "0013_web_push_outbox")]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop, elidable=True)]
