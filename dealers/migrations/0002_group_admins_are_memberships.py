"""Group admins had two sources of truth (DealerGroup.admins and a group-admin membership). The membership stays."""

from django.db import migrations


def admins_to_memberships(apps, schema_editor):
    DealerGroup = apps.get_model("dealers", "DealerGroup")
    Dealer = apps.get_model("dealers", "Dealer")
    Membership = apps.get_model("dealers", "Membership")
    for group in DealerGroup.objects.prefetch_related("admins"):
        dealers = list(Dealer.objects.filter(group=group).order_by("name"))
        if not dealers:
            continue
        for user in group.admins.all():
            memberships = {m.dealer_id: m for m in Membership.objects.filter(user=user, dealer__group=group)}
            if any(m.role == "group_admin" and m.is_active for m in memberships.values()):
                continue
            free = next((d for d in dealers if d.pk not in memberships), None)
            if free is not None:
                Membership.objects.create(user=user, dealer=free, role="group_admin")
            else:  # a membership at every rooftop already: the first becomes the group-admin one
                Membership.objects.filter(pk=memberships[dealers[0].pk].pk).update(role="group_admin", is_active=True)


def memberships_to_admins(apps, schema_editor):
    Membership = apps.get_model("dealers", "Membership")
    for m in Membership.objects.filter(role="group_admin", is_active=True).select_related("dealer__group"):
        m.dealer.group.admins.add(m.user_id)


class Migration(migrations.Migration):
    dependencies = [("dealers", "0001_initial")]

    operations = [
        migrations.RunPython(admins_to_memberships, memberships_to_admins),
        migrations.RemoveField(model_name="dealergroup", name="admins"),
    ]
