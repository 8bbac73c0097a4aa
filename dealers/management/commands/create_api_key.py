from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from dealers.models import Dealer
from dealers.services import api_key_create


class Command(BaseCommand):
    help = "Create a portal API key for a dealer and a named source; the key is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("dealer_slug")
        parser.add_argument("source_name")
        parser.add_argument("--rate-per-minute", type=int, default=None)

    def handle(self, dealer_slug, source_name, rate_per_minute, **options):
        dealer = Dealer.objects.filter(slug=dealer_slug).first()
        if dealer is None:
            raise CommandError(f"No dealer with slug {dealer_slug!r}.")
        source = slugify(source_name)
        if not source:
            raise CommandError("The source name must contain letters or digits.")
        api_key, raw_key = api_key_create(dealer=dealer, source=source, rate_per_minute=rate_per_minute)
        self.stdout.write(f"API key for {dealer.name} ({dealer.slug}), source {source!r}, prefix {api_key.prefix}.")
        self.stdout.write("Store it now: it is shown only once. Send it as 'Authorization: Api-Key <key>'.")
        self.stdout.write(raw_key)
