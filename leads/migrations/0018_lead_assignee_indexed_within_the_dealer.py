import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Only the index goes. Django's AlterField would also drop the foreign key and add it again, which re-checks every
# lead while holding a lock that blocks the intake; dropping an index is a moment's lock and no scan.
INDEX = "leads_lead_assignee_id_b9779fc0"


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0017_lead_dealer_received_covers_the_id'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{INDEX}"',
                                  reverse_sql=f'CREATE INDEX "{INDEX}" ON "leads_lead" ("assignee_id")'),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='lead',
                    name='assignee',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='assigned_leads', to=settings.AUTH_USER_MODEL, verbose_name='assigned to'),
                ),
            ],
        ),
    ]
