from django.core.management.base import BaseCommand, CommandError

from dealers.models import Dealer
from privacy.services import retention_run


class Command(BaseCommand):
    help = ("Purge raw submissions past each dealer's retention period and anonymise leads without activity now "
            "(the scheduled task's code); safe beside the scheduler.")

    def add_arguments(self, parser):
        parser.add_argument("dealer", nargs="?", help="A dealer's slug (default: every dealer).")

    def handle(self, *args, dealer=None, **options):
        dealers = None
        if dealer:
            dealers = list(Dealer.objects.filter(slug=dealer))
            if not dealers:
                raise CommandError(f"No dealer with slug {dealer!r}.")
        for row in retention_run(dealers=dealers):
            raw = ", ".join(f"{name} {n}" for name, n in row["raw"].items())
            self.stdout.write(f"{row['dealer']}: raw removed ({raw}); {row['leads_anonymised']} lead(s) anonymised; "
                              f"{row['customers_erased']} customer(s) erased.")
