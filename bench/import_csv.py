"""Benchmark: import 100,000 CSV rows of passive leads into PostgreSQL (target: ≤ 60 s).

    DJANGO_SETTINGS_MODULE=config.settings.test .venv/bin/python bench/import_csv.py [--rows N] [--row-by-row-sample N]

Creates its own database (opvolger_bench_import on the test server), migrates it, generates a CSV the way Dutch
Excel writes it (`;`, cp1252, Dutch headers) in a temp dir, times validation and the bulk import, re-imports the
file (must create nothing), times the row-by-row path on a sample for comparison, and drops the database.
It never touches the test databases.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

BENCH_DB = "opvolger_bench_import"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.benchdb import database_drop, database_recreate, database_url  # noqa: E402

FIRST = ["Jan", "Sanne", "Pieter", "Fleur", "Daan", "Emma", "Bram", "Lotte", "Sem", "Julia", "Thijs", "Noor", "Ruben", "Anouk"]
INFIX = ["", "", "", "de", "van", "van der", "van den", "ter"]
LAST = ["Jansen", "Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Vos", "Peters", "Hendriks", "Dijkstra"]
MAKES = [("Kia", "Niro"), ("Hyundai", "Tucson"), ("Volkswagen", "Golf"), ("Škoda", "Octavia"), ("Peugeot", "2008"),
         ("Renault", "Clio")]
REASONS = ["leaseeinde", "onderhoud", "verloren offerte", "terugbellen", "datamining"]


def write_csv(path: Path, rows: int) -> None:
    """Dutch Excel: `;`-separated, Windows-1252 (the Š in Škoda and é in notes need it), dd-mm-yyyy dates."""
    rng = random.Random(42)
    lines = ["Contractnummer;Voornaam;Tussenvoegsel;Achternaam;E-mail;Telefoon;Reden;Einddatum;Merk;Model;Bouwjaar;"
             "Kenteken;Opmerking"]
    for i in range(rows):
        make, model = rng.choice(MAKES)
        phone = f"06-{10000000 + i:08d}" if i % 7 else ""
        email = f"klant{i}@voorbeeld.nl" if i % 5 else ""
        if not phone and not email:
            email = f"klant{i}@voorbeeld.nl"
        lines.append(";".join([
            f"LC-{i:07d}", rng.choice(FIRST), rng.choice(INFIX), rng.choice(LAST), email, phone, rng.choice(REASONS),
            f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-2027", make, model, str(rng.randint(2015, 2024)),
            f"{rng.choice('GHJKLN')}{rng.choice('BDFGHJ')}-{rng.randint(100, 999)}-{rng.choice('KLNPRS')}",
            "Klant wil graag een proefrit" if i % 11 == 0 else "Geïnteresseerd in elektrisch" if i % 13 == 0 else ""]))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--row-by-row-sample", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="checking processes (default: one per core, less one while importing; 0: none)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["TEST_DATABASE_URL"] = database_url(BENCH_DB)
    database_recreate(BENCH_DB)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        assert connection.settings_dict["NAME"] == BENCH_DB, "refusing to run outside the bench database"
        call_command("migrate", verbosity=0)
        run(args)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # django may not have been set up
            pass
        database_drop(BENCH_DB)


def run(args) -> None:
    from dealers.models import Dealer, DealerGroup
    from followup.imports import import_preview, import_run
    from leads.models import Lead

    group = DealerGroup.objects.create(name="Bench groep", slug="bench-groep")
    dealer = Dealer.objects.create(group=group, name="Autobedrijf Bench", slug="bench")
    sample_dealer = Dealer.objects.create(group=group, name="Autobedrijf Steekproef", slug="bench-sample")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leasecontracten.csv"
        write_csv(path, args.rows)
        content = path.read_bytes()
        print(f"file: {args.rows:,} rows, {len(content) / 1e6:.1f} MB, cp1252, ';'; {os.cpu_count()} cores, "
              f"load average before: {os.getloadavg()[0]:.2f}")

        t0 = time.perf_counter()
        preview = import_preview(dealer=dealer, content=content, filename=path.name, workers=args.workers)
        t_preview = time.perf_counter() - t0
        assert preview.ok, preview.errors[:5] or preview.file_errors
        print(f"preview (validate every row):  {t_preview:6.1f} s  {args.rows / t_preview:8,.0f} rows/s")

        t0 = time.perf_counter()
        result = import_run(dealer=dealer, by=None, content=content, filename=path.name, workers=args.workers)
        t_import = time.perf_counter() - t0
        assert result.created_leads == args.rows, result.created_leads
        queued = Lead.objects.for_dealer(dealer).filter(queue="bdc", kind="passive", assignee__isnull=True)
        assert queued.count() == args.rows
        print(f"import, bulk (validate again + write, one transaction): {t_import:6.1f} s  {args.rows / t_import:8,.0f} rows/s"
              f"  {'OK' if t_import <= 60 else 'OVER'} (target ≤ 60 s)")

        t0 = time.perf_counter()
        again = import_run(dealer=dealer, by=None, content=content, filename=path.name, workers=args.workers)
        t_again = time.perf_counter() - t0
        assert again.created_leads == 0
        print(f"re-import of the same file:     {t_again:6.1f} s  0 new leads")

        print(f"load average after: {os.getloadavg()[0]:.2f} (other work on the machine slows every figure)")
        if args.row_by_row_sample:
            n = min(args.row_by_row_sample, args.rows)
            sample = b"\r\n".join(content.split(b"\r\n")[: n + 1]) + b"\r\n"
            t0 = time.perf_counter()
            import_run(dealer=sample_dealer, by=None, content=sample, filename="sample.csv", bulk=False)
            t_rows = time.perf_counter() - t0
            print(f"import, row by row ({n:,} rows): {t_rows:6.1f} s  {n / t_rows:8,.0f} rows/s"
                  f"  (≈ {args.rows / (n / t_rows):,.0f} s for {args.rows:,})")


if __name__ == "__main__":
    main()
