"""python manage.py import_leads <dealer-slug> <file.csv> [--reason lease_end] [--dry-run]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dealers.models import Dealer
from followup.imports import ImportInvalid, ImportPreview, import_preview, import_run
from leads.models import Reason


def _count(n: int, noun: str) -> str:
    """English operator output with a real plural ("1 row", "2 rows"), not "row(s)"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

class Command(BaseCommand):
    help = ("Import passive leads (lease contracts ending, service customers, lost quotes) from a CSV file into the "
            "dealer's BDC queue. Every row is checked first; nothing is imported when any row has an error. "
            "Importing the same rows again creates nothing new.")

    def add_arguments(self, parser):
        parser.add_argument("dealer", help="the dealer's slug")
        parser.add_argument("file", help="a CSV file (; or , separated; UTF-8 or Windows-1252); see docs/imports.md")
        parser.add_argument("--reason", default="", choices=["", *Reason.values],
                            help="reason for rows without a reason column value")
        parser.add_argument("--dry-run", action="store_true", help="check the file and show what would be imported")

    def handle(self, *args, **options):
        dealer = Dealer.objects.filter(slug=options["dealer"]).first()
        if dealer is None:
            raise CommandError(f"No dealer with slug {options['dealer']!r}.")
        path = Path(options["file"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}")
        preview = import_preview(dealer=dealer, content=content, filename=path.name, default_reason=options["reason"])
        self._print_preview(preview)
        if not preview.ok:
            raise CommandError("Nothing imported: fix the errors above and run the command again.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing imported.")
            return
        try:
            result = import_run(dealer=dealer, by=None, content=content, filename=path.name,
                                default_reason=options["reason"])
        except ImportInvalid as exc:  # the file changed between the check and the import
            self._print_preview(exc.preview)
            raise CommandError("Nothing imported: fix the errors above and run the command again.")
        self.stdout.write(self.style.SUCCESS(
            f"Imported {_count(result.created_leads, 'new passive lead')} into the BDC queue of {dealer.name}; "
            f"{_count(result.known_leads, 'row')} already imported before."))

    def _print_preview(self, preview: ImportPreview) -> None:
        w = self.stdout.write
        w(f"File: {preview.filename} ({preview.encoding or '?'}, separator {preview.delimiter!r})")
        if preview.columns:
            w("Columns: " + ", ".join(f"{header} → {column}" for column, header in preview.columns.items()))
        if preview.ignored_columns:
            w("Ignored columns: " + ", ".join(preview.ignored_columns))
        for error in preview.file_errors:
            self.stderr.write(f"Error: {error}")
        w(f"Rows: {preview.data_rows}; new leads: {preview.new_leads}; already imported: {preview.already_imported}; "
          f"duplicates in the file: {preview.duplicates_in_file}; rows with errors: {preview.error_rows}")
        for reason, count in preview.counts_by_reason.items():
            w(f"  {reason}: {count}")
        for error in preview.errors:
            self.stderr.write(str(error))
        if preview.error_rows > len(preview.errors):
            self.stderr.write(f"… and {_count(preview.error_rows - len(preview.errors), 'more row')} with errors.")
