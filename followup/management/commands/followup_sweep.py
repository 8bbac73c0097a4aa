from django.core.management.base import BaseCommand

from followup.services import followup_sweep


class Command(BaseCommand):
    help = "Run one pass of the follow-up timers now (the scheduled task's code); safe beside the scheduler."

    def handle(self, *args, **options):
        actions = followup_sweep()
        for a in actions:
            self.stdout.write(f"{a.lead_id}  level {a.level}  {a.action}")
        self.stdout.write(f"{len(actions)} escalation(s).")
