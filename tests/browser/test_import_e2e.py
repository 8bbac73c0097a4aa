"""Importing a CSV in headless Chromium: upload, the page waits for the worker's check by itself, confirm, result."""

import pytest

from followup.imports import import_check, import_queued_run
from followup.models import ImportStatus, LeadImport
from leads.models import Lead

from .conftest import login, screenshot, serious_accessibility_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LEASE_ENDS = (
    "Contractnummer;Voornaam;Achternaam;E-mail;Telefoon;Reden;Einddatum;Merk;Model\n"
    "LC-1;Jan;de Vries;jan@voorbeeld.nl;06 12345678;leaseeinde;01-03-2027;Kia;Niro\n"
    "LC-2;Sanne;Bakker;;0687654321;leaseeinde;01-04-2027;Hyundai;Tucson\n"
    "SV-9;Pieter;Jansen;pieter@voorbeeld.nl;;onderhoud;;Volkswagen;Golf\n"
).encode("cp1252")


def test_a_manager_imports_lease_ends_while_the_worker_checks_and_imports(live_server, desktop_page, cast, tmp_path):
    page = desktop_page
    csv_file = tmp_path / "lease-einde.csv"
    csv_file.write_bytes(LEASE_ENDS)
    login(page, live_server, cast.manager_a.email)
    page.goto(f"{live_server.url}/settings/import/")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("main form button[type=submit]")
    page.wait_for_selector("#import-waiting[data-status=checking]")
    screenshot(page, "import-checking")

    import_check(lead_import_id=LeadImport.objects.unscoped().get().pk)  # the worker; the page reloads itself
    page.wait_for_selector("text=Check the import: lease-einde.csv", timeout=15_000)
    assert page.locator("[data-testid=new]").inner_text() == "3"
    assert page.locator("text=Jan de Vries").count() == 1
    assert "Contractnummer, Voornaam, Achternaam, E-mail, Telefoon, Reden, Einddatum, Merk, Model" in page.content()
    assert serious_accessibility_violations(page) == []
    screenshot(page, "import-checked")

    page.click("button:has-text('Import')")
    page.wait_for_selector("#import-waiting[data-status=queued]")
    assert not Lead.objects.unscoped().exists()
    import_queued_run(lead_import_id=LeadImport.objects.unscoped().get().pk)
    page.wait_for_selector("[data-testid=created]", timeout=15_000)
    assert page.locator("[data-testid=created]").inner_text() == "3"
    assert serious_accessibility_violations(page) == []
    screenshot(page, "import-done")
    assert LeadImport.objects.unscoped().get().status == ImportStatus.DONE
    assert Lead.objects.unscoped().filter(dealer=cast.dealer_a, queue="bdc", kind="passive").count() == 3
