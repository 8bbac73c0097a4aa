"""Passive leads from the dealer's own CSV: checked first, all or nothing, never twice, into the BDC queue."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import followup.imports
from dealers.models import AuditEntry, Membership, Role, RoutingModel
from followup.imports import (
    ImportInvalid,
    import_check,
    import_confirm,
    import_preview,
    import_queued_run,
    import_run,
    import_upload,
    imports_tend,
)
from followup.models import ImportStatus, LeadImport
from leads.models import Customer, CustomerContact, EventType, Lead, LeadEvent
from routing.services import bdc_queue
from tests.factories import CustomerFactory, DealerFactory, MembershipFactory, UserFactory, make_group_admin, open_all_week

pytestmark = pytest.mark.django_db

GOOD = (
    "external_id,first_name,last_name,email,phone,reason,due_date,make,model,year,note\n"
    "LC-1,Jan,de Vries,jan@example.nl,06 12345678,lease_end,2027-03-01,Kia,Niro,2023,Belt liever 's avonds\n"
    "LC-2,Sanne,Bakker,,0687654321,lease_end,01-04-2027,Hyundai,Tucson,2022,\n"
    "SV-9,Pieter,Jansen,pieter@example.nl,,service,,Volkswagen,Golf,2019,APK in maart\n"
    "OF-3,Fleur,Visser,fleur@example.nl,06-11223344,lost_sale,,Peugeot,2008,,Vond de inruilprijs te laag\n"
)


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


# ---------------------------------------------------------------------------------------------- checking

def test_bad_rows_are_listed_with_their_row_number_and_reason_and_nothing_is_imported(cast):
    text = (
        "first_name,last_name,email,phone,reason,due_date,year\n"
        "Jan,de Vries,jan@example.nl,0612345678,lease_end,2027-03-01,2023\n"  # row 2: fine
        "Sanne,Bakker,,,lease_end,,\n"  # row 3: no way to reach her
        "Pieter,Jansen,pieter@example.nl,,vakantie,,\n"  # row 4: unknown reason
        "Fleur,Visser,fleur@example.nl,,service,31-02-2027,twintig\n"  # row 5: no such date, no year
    )
    preview = import_preview(dealer=cast.dealer_a, content=csv_bytes(text), filename="leads.csv")
    assert not preview.ok
    assert [str(e) for e in preview.errors] == [
        "row 3: no e-mail or phone",
        "row 4: unknown reason “vakantie” (use one of: lease_end, lost_sale, data_mining, service, callback, other)",
        "row 5: date “31-02-2027” is not a date (write 31-12-2026 or 2026-12-31); year “twintig” is not a year",
    ]
    with pytest.raises(ImportInvalid) as caught:
        import_run(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(text), filename="leads.csv")
    assert caught.value.preview.error_rows == 3
    assert not any(m.objects.unscoped().exists() for m in (Lead, Customer, LeadImport))


def test_a_file_without_a_contact_column_or_rows_says_so(cast):
    no_contact = import_preview(dealer=cast.dealer_a, content=b"naam;reden\nJan;lease\n")
    assert "no column for e-mail or phone" in no_contact.file_errors[0] and not no_contact.ok
    empty = import_preview(dealer=cast.dealer_a, content=b"email,phone,reason\n")
    assert empty.file_errors == ["The file has no rows below its header."]
    workbook = import_preview(dealer=cast.dealer_a, content=b"PK\x03\x04rest-of-an-xlsx")
    assert "Excel workbook" in workbook.file_errors[0]


def test_a_shifted_row_is_an_error_not_garbage(cast):
    text = "email,phone,reason,note\njan@example.nl,0612345678,service,APK, en banden\n"
    preview = import_preview(dealer=cast.dealer_a, content=csv_bytes(text))
    assert "row 2: has 5 cells where the header has 4" in str(preview.errors[0])


def test_the_same_external_id_twice_in_a_file_is_an_error(cast):
    text = "external_id,email,reason\nLC-1,jan@example.nl,lease_end\nLC-1,sanne@example.nl,lease_end\n"
    preview = import_preview(dealer=cast.dealer_a, content=csv_bytes(text))
    assert [str(e) for e in preview.errors] == ["row 3: external id “LC-1” is also on row 2"]


def test_without_a_reason_column_the_file_reason_applies_and_is_required(cast):
    text = "voornaam;e-mail\nJan;jan@example.nl\n"
    assert str(import_preview(dealer=cast.dealer_a, content=csv_bytes(text)).errors[0]).startswith("row 2: no reason")
    preview = import_preview(dealer=cast.dealer_a, content=csv_bytes(text), default_reason="data_mining")
    assert preview.ok and preview.counts_by_reason == {"data_mining": 1}


# ---------------------------------------------------------------------------------------------- importing

def test_a_dutch_excel_file_semicolons_cp1252_and_dutch_headers(cast):
    text = (
        "Contractnummer;Voornaam;Tussenvoegsel;Achternaam;E-mail;Telefoon;Reden;Einddatum;Merk;Model;Bouwjaar;Kenteken;Opmerking\r\n"
        "LC-77;Géraldine;van der;Berg;G.vdBerg@Voorbeeld.nl;06-12345678;Leaseeinde;1-3-2027;Škoda;Enyaq;2023;hx-123-b;"
        "Wil graag een offerte, géén telefoon na 18:00\r\n"
        "SV-12;Daan;;Smit;;+31 6 87654321;onderhoud;15-06-2027;Kia;Ceed;2019;;\r\n"
    )
    content = csv_bytes(text, "cp1252")
    preview = import_preview(dealer=cast.dealer_a, content=content, filename="leasecontracten.csv")
    assert (preview.encoding, preview.delimiter, preview.ok) == ("cp1252", ";", True)
    assert preview.counts_by_reason == {"lease_end": 1, "service": 1}
    import_run(dealer=cast.dealer_a, by=cast.manager_a, content=content, filename="leasecontracten.csv")
    lead = Lead.objects.unscoped().get(external_id="lease_end:LC-77")
    assert (lead.customer.first_name, lead.customer.last_name) == ("Géraldine", "van der Berg")
    assert lead.customer.email == "g.vdberg@voorbeeld.nl" and lead.customer.phone == "+31612345678"
    assert lead.vehicle == {"make": "Škoda", "model": "Enyaq", "year": 2023, "license_plate": "HX-123-B"}
    assert "01-03-2027" in lead.message and "géén telefoon na 18:00" in lead.message
    service = Lead.objects.unscoped().get(external_id="service:SV-12")
    assert service.reason == "service" and service.customer.phone == "+31687654321" and "no_email" in service.data_flags


def test_utf8_with_a_byte_order_mark_and_commas(cast):
    content = "\ufeff" + GOOD
    preview = import_preview(dealer=cast.dealer_a, content=content.encode("utf-8"))
    assert preview.ok and preview.columns["external_id"] == "external_id" and preview.encoding == "utf-8"
    assert preview.ignored_columns == []


def test_excel_unicode_text_utf16_with_tabs(cast):
    content = "Voornaam\tE-mail\tReden\nZoë\tzoe@voorbeeld.nl\tterugbellen\n".encode("utf-16")
    preview = import_preview(dealer=cast.dealer_a, content=content)
    assert (preview.encoding, preview.delimiter, preview.ok) == ("utf-16", "\t", True)
    assert preview.sample[0].data["customer"]["first_name"] == "Zoë"
    broken = import_preview(dealer=cast.dealer_a, content=b"\xff\xfe" + "e-mail\n".encode("utf-16-le") + b"\x00\xd8")
    assert not broken.ok  # a lone surrogate is replaced, not a crash


def test_imported_leads_wait_in_the_bdc_queue_as_passive_leads_with_their_reason(cast):
    open_all_week(cast.dealer_a)
    result = import_run(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="mix.csv")
    assert (result.rows, result.created_leads, result.known_leads) == (4, 4, 0)
    assert result.counts_by_reason == {"lease_end": 2, "lost_sale": 1, "service": 1}
    leads = Lead.objects.unscoped().filter(dealer=cast.dealer_a)
    assert {(lead.external_id, lead.reason) for lead in leads} == {
        ("lease_end:LC-1", "lease_end"), ("lease_end:LC-2", "lease_end"), ("service:SV-9", "service"),
        ("lost_sale:OF-3", "lost_sale")}
    for lead in leads:
        assert (lead.kind, lead.queue, lead.assignee_id, lead.source, lead.channel) == ("passive", "bdc", None, "import",
                                                                                        "outbound")
        assert lead.routed_at and lead.first_response_due_at and lead.next_action_at
        assert [e.type for e in lead.events.all()] == [EventType.RECEIVED, EventType.ROUTED]
    assert set(bdc_queue(dealer=cast.dealer_a)) == set(leads)
    assert AuditEntry.objects.unscoped().filter(dealer=cast.dealer_a, action="leads.imported", actor=cast.manager_a).exists()


@pytest.mark.parametrize("bulk", [True, False])
def test_a_nul_character_in_a_cell_is_dropped_not_a_reason_to_fail_the_file(cast, bulk):
    text = "email,first_name,reason\njan@example.nl,Ja\x00n,lease_end\n"
    result = import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(text), bulk=bulk)
    assert result.created_leads == 1
    assert Lead.objects.unscoped().get().customer.first_name == "Jan"


@pytest.mark.parametrize("bulk", [True, False])
def test_importing_the_same_file_again_creates_nothing(cast, bulk):
    import_run(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), bulk=bulk)
    leads, customers, events = (m.objects.unscoped().count() for m in (Lead, Customer, LeadEvent))
    again = import_run(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), bulk=bulk)
    assert (again.created_leads, again.known_leads) == (0, 4)
    assert tuple(m.objects.unscoped().count() for m in (Lead, Customer, LeadEvent)) == (leads, customers, events)


def test_without_external_ids_a_reimport_is_still_recognised(cast):
    text = "voornaam;telefoon;reden;datum\nJan;06 12345678;terugbellen;01-12-2026\nJan;06 12345678;terugbellen;01-12-2026\n"
    first = import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(text))
    assert first.created_leads == 1  # the same customer, reason and date twice is one lead
    # The same rows in another notation, in another file.
    again = "first_name,phone,reason,due_date\nJan,+31612345678,callback,2026-12-01\n"
    assert import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(again)).created_leads == 0
    assert Lead.objects.unscoped().count() == 1


def test_a_file_that_is_partly_new_imports_only_the_new_rows(cast):
    import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(GOOD))
    more = GOOD + "LC-5,Bram,Mulder,bram@example.nl,,lease_end,2027-09-01,,,,\n"
    preview = import_preview(dealer=cast.dealer_a, content=csv_bytes(more))
    assert (preview.new_leads, preview.already_imported) == (1, 4)
    assert import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(more)).created_leads == 1


def test_a_known_customer_gets_the_new_lead_and_is_marked_returning(cast):
    known = CustomerFactory(dealer=cast.dealer_a, email="jan@example.nl", phone="+31600000001")
    import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(GOOD))
    lead = Lead.objects.unscoped().get(external_id="lease_end:LC-1")
    assert lead.customer == known and lead.returning_customer is True


def _comparable(dealer):
    rows = []
    for lead in Lead.objects.unscoped().filter(dealer=dealer).select_related("customer").order_by("external_id"):
        rows.append({
            "lead": {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields
                     if f.attname not in ("id", "dealer_id", "customer_id")},
            "customer": {f.attname: getattr(lead.customer, f.attname) for f in Customer._meta.concrete_fields
                         if f.attname not in ("id", "dealer_id")},
            "customer_is_shared": Lead.objects.unscoped().filter(customer=lead.customer).count(),
            "events": [(e.type, e.text, e.data, e.at, e.actor_id) for e in lead.events.all()],
        })
    return rows


def test_the_bulk_path_stores_exactly_what_the_row_by_row_path_stores(cast):
    """The bulk path exists for speed only: same customers, leads, deadlines and timeline as lead_intake + lead_route."""
    text = GOOD + (
        "LC-6,Jan,de Vries,JAN@example.nl,,lease_end,2027-05-01,,,,\n"  # Jan again, by e-mail: the same customer
        "LC-7,,,,0612345678,lease_end,,,,,\n"  # Jan's phone, no name: the same customer
        "LC-11,Marieke,de Vries,marieke@example.nl,06 12345678,lease_end,,,,,\n"  # Jan's phone, another name: new
        "LC-12,J.,de Vries,jan.devries@work.nl,0612345678,other,,,,,\n"  # Jan's phone and initial: Jan, a new address
        "LC-8,,,test@mailinator.com,000000000,other,,,,,\n"  # odd data: kept and flagged
        "LC-9,Noor,Peters,noor@example.nl,,data_mining,,Renault,Clio,2016,Proefrit deze week?\n"
        'LC-10,Bram,Mulder,bram@example.nl,,callback,,,,,"Regel één\nRegel twee\tmet tab, C:\\pad\\ en \\N"\n'
    )
    twin = DealerFactory(slug="tweeling", name="Autobedrijf Tweeling", group=cast.dealer_a.group)
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=False):
        for dealer in (cast.dealer_a, twin):
            open_all_week(dealer)
            CustomerFactory(dealer=dealer, first_name="Fleur", last_name="Visser", email="fleur@example.nl",
                            phone="+31611223344")
        bulk = import_run(dealer=cast.dealer_a, by=None, content=csv_bytes(text), bulk=True)
        by_row = import_run(dealer=twin, by=None, content=csv_bytes(text), bulk=False)
    assert bulk.created_leads == by_row.created_leads == 11
    a, b = _comparable(cast.dealer_a), _comparable(twin)
    differences = [(row_a["lead"]["external_id"], part, key, row_a[part][key], row_b[part][key])
                   for row_a, row_b in zip(a, b, strict=True) for part in ("lead", "customer")
                   for key in row_a[part] if row_a[part][key] != row_b[part][key]]
    assert differences == []
    assert a == b
    assert a[0]["lead"]["returning_customer"] is False and any(row["lead"]["returning_customer"] for row in a)
    assert Customer.objects.for_dealer(cast.dealer_a).count() == Customer.objects.for_dealer(twin).count() == 8
    # A shared phone with another first name is another person; each lead keeps the name it gave.
    by_id = {row["lead"]["external_id"]: row for row in a}
    assert by_id["lease_end:LC-11"]["lead"]["contact_first_name"] == "Marieke"
    assert by_id["lease_end:LC-11"]["customer"]["first_name"] == "Marieke"
    assert by_id["other:LC-12"]["customer"]["first_name"] == "Jan"
    assert by_id["other:LC-12"]["lead"]["contact_email"] == "jan.devries@work.nl"
    contacts = [sorted(CustomerContact.objects.for_dealer(dealer).values_list("customer__first_name", "kind", "value",
                                                                                  "raw", "lead__external_id"))
                for dealer in (cast.dealer_a, twin)]
    assert contacts[0] == contacts[1] == [("Jan", "email", "jan.devries@work.nl", "jan.devries@work.nl", "other:LC-12")]
    assert Lead.objects.unscoped().get(dealer=cast.dealer_a, external_id="callback:LC-10").message.endswith(
        "Regel één\nRegel twee\tmet tab, C:\\pad\\ en \\N")


def test_worker_processes_check_a_large_file_exactly_like_one_process(cast, monkeypatch):
    """Large files are checked in worker processes; errors, row numbers and counts must not depend on it."""
    import followup.imports

    monkeypatch.setattr(followup.imports, "CHUNK_ROWS", 7)  # many chunks from a small file
    lines = ["external_id;voornaam;e-mail;telefoon;reden"]
    for i in range(60):
        email = "" if i in (13, 41) else f"klant{i}@voorbeeld.nl"
        lines.append(f"K-{i};Klant {i};{email};;{'onderhoud' if i % 2 else 'leaseeinde'}")
    lines.append("K-5;Dubbel;dubbel@voorbeeld.nl;;onderhoud")
    content = "\n".join(lines).encode()
    one = import_preview(dealer=cast.dealer_a, content=content, workers=0)
    two = import_preview(dealer=cast.dealer_a, content=content, workers=2)
    assert [str(e) for e in two.errors] == [str(e) for e in one.errors] == [
        "row 15: no e-mail or phone", "row 43: no e-mail or phone", "row 62: external id “K-5” is also on row 7"]
    assert (two.data_rows, two.leads_in_file, two.new_by_reason) == (one.data_rows, one.leads_in_file, one.new_by_reason)
    good = "\n".join(line for n, line in enumerate(lines, start=1) if n not in (15, 43, 62)).encode()
    assert import_run(dealer=cast.dealer_a, by=None, content=good, workers=2).created_leads == 58
    assert Lead.objects.unscoped().filter(dealer=cast.dealer_a, reason="service").count() == 28  # odd numbers, less 13 and 41


def test_a_bad_row_late_in_a_large_file_rolls_back_what_was_already_written(cast, monkeypatch):
    import followup.imports

    monkeypatch.setattr(followup.imports, "CHUNK_ROWS", 2)  # the first chunks are written before the bad row is read
    content = csv_bytes(GOOD + "LC-5,Bram,Mulder,,,lease_end,,,,,\n")
    with pytest.raises(ImportInvalid) as caught:
        import_run(dealer=cast.dealer_a, by=None, content=content)
    assert [str(e) for e in caught.value.preview.errors] == ["row 6: no e-mail or phone"]
    assert not any(m.objects.unscoped().exists() for m in (Lead, Customer, LeadEvent))


def test_a_sales_only_dealer_gets_its_passive_leads_assigned_to_salespeople(cast):
    dealer = DealerFactory(routing_model=RoutingModel.SALES_ONLY)
    open_all_week(dealer)
    seller = MembershipFactory(dealer=dealer, role=Role.SALESPERSON).user
    import_run(dealer=dealer, by=None, content=csv_bytes(GOOD))  # bulk requested, but these do not wait in a queue
    assert set(Lead.objects.unscoped().filter(dealer=dealer).values_list("queue", "assignee_id", "kind")) == {
        ("sales", seller.pk, "passive")}


# ---------------------------------------------------------------------------------------------- the command

def test_the_command_previews_on_a_dry_run_and_then_imports(cast, tmp_path):
    path_ = tmp_path / "lease.csv"
    path_.write_bytes(csv_bytes(GOOD))
    out = io.StringIO()
    call_command("import_leads", "dealer-a", str(path_), "--dry-run", stdout=out)
    assert "new leads: 4" in out.getvalue() and "Dry run: nothing imported." in out.getvalue()
    assert not Lead.objects.unscoped().exists()
    out = io.StringIO()
    call_command("import_leads", "dealer-a", str(path_), stdout=out)
    assert "Imported 4 new passive leads" in out.getvalue()
    out = io.StringIO()
    call_command("import_leads", "dealer-a", str(path_), stdout=out)
    assert "Imported 0 new passive leads" in out.getvalue() and "4 rows already imported before" in out.getvalue()


def test_the_command_lists_the_errors_and_imports_nothing(cast, tmp_path):
    path_ = tmp_path / "fout.csv"
    path_.write_bytes(b"email,phone,reason\njan@example.nl,,lease_end\n,,lease_end\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_leads", "dealer-a", str(path_), stdout=io.StringIO(), stderr=err)
    assert "row 3: no e-mail or phone" in err.getvalue()
    assert not Lead.objects.unscoped().exists()
    with pytest.raises(CommandError, match="No dealer"):
        call_command("import_leads", "bestaat-niet", str(path_))


# ---------------------------------------------------------------------------------------------- the pages

def upload(client, content: bytes, name="lease.csv", reason=""):
    return client.post("/settings/import/", {"file": io.BytesIO(content) and _file(content, name), "default_reason": reason})


def _file(content, name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


def worker():
    """What the Celery worker does with the tasks the pages hand it (test_celery_timers runs a real worker)."""
    for pk in LeadImport.objects.unscoped().filter(status=ImportStatus.CHECKING).values_list("pk", flat=True):
        import_check(lead_import_id=pk)
    for pk in LeadImport.objects.unscoped().filter(status=ImportStatus.QUEUED).values_list("pk", flat=True):
        import_queued_run(lead_import_id=pk)


@pytest.fixture
def tasks(monkeypatch):
    """The tasks the import hands to the broker, recorded instead of sent (test_celery_timers runs a real worker)."""
    handed = []
    monkeypatch.setattr(followup.imports, "task_enqueue", lambda name, *args: handed.append((name, *args)))
    return handed


def test_a_manager_uploads_checks_and_imports(client, cast, tasks, django_capture_on_commit_callbacks):
    client.force_login(cast.manager_a)
    assert client.get("/settings/import/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, csv_bytes(GOOD))
    lead_import = LeadImport.objects.unscoped().get()
    assert response.status_code == 302 and response["Location"] == f"/settings/import/{lead_import.pk}/"
    assert tasks == [("followup.tasks.lead_import_check", lead_import.pk)]
    waiting = client.get(response["Location"])
    assert waiting.status_code == 200 and 'data-status="checking"' in waiting.content.decode()
    assert 'http-equiv="refresh"' in waiting.content.decode()
    worker()
    preview = client.get(response["Location"])
    html = preview.content.decode()
    assert preview.status_code == 200 and not Lead.objects.unscoped().exists()  # a check writes nothing
    assert 'data-testid="new">4<' in html and "Lease contract ending: <strong>2</strong>" in html
    assert "Jan de Vries" in html and "Import</button>" in html
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(response["Location"])
    assert confirmed.status_code == 302 and confirmed["Location"] == response["Location"]
    assert tasks[-1] == ("followup.tasks.lead_import_run", lead_import.pk)
    assert 'data-status="queued"' in client.get(response["Location"]).content.decode()
    worker()
    result = client.get(response["Location"])
    assert 'data-testid="created">4<' in result.content.decode()
    assert Lead.objects.unscoped().filter(dealer=cast.dealer_a, queue="bdc", kind="passive").count() == 4
    lead_import.refresh_from_db()
    assert lead_import.uploaded_by == cast.manager_a and lead_import.filename == "lease.csv"
    assert lead_import.status == ImportStatus.DONE and bytes(lead_import.content) == b""  # the file is not kept
    # Confirming again does not import twice.
    again = client.post(response["Location"])
    worker()
    assert again.status_code == 302 and Lead.objects.unscoped().count() == 4
    assert "lease.csv" in client.get("/settings/import/").content.decode()


def test_the_check_speaks_the_uploaders_language(client, cast):
    client.force_login(cast.manager_a)
    client.cookies["django_language"] = "nl"
    location = upload(client, b"voornaam;e-mail;telefoon;reden\nJan;jan@example.nl;;lease\nSanne;;;lease\n")["Location"]
    worker()
    html = client.get(location, HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "rij 3: geen e-mail of telefoon" in html.lower()


def test_the_preview_lists_the_row_errors_and_offers_no_import(client, cast):
    client.force_login(cast.manager_a)
    content = b"voornaam;e-mail;telefoon;reden\nJan;jan@example.nl;;lease\nSanne;;;lease\n"
    location = upload(client, content)["Location"]
    worker()
    html = client.get(location).content.decode()
    assert "row 3: no e-mail or phone" in html and "Import</button>" not in html
    refused = client.post(location)  # a hand-made confirm is refused too
    worker()
    assert refused.status_code == 400 and not Lead.objects.unscoped().exists()
    lead_import = LeadImport.objects.unscoped().get()
    assert lead_import.status == ImportStatus.FAILED and "Correct it and upload it again" in lead_import.error
    assert bytes(lead_import.content) == b""  # a file that will not be imported is not kept


def test_a_file_that_went_wrong_after_the_check_imports_nothing_and_says_why(client, cast):
    client.force_login(cast.manager_a)
    location = upload(client, csv_bytes(GOOD))["Location"]
    worker()
    LeadImport.objects.unscoped().update(content=b"email,reason\n,lease_end\n")  # as if the check had passed a broken file
    client.post(location)
    worker()
    lead_import = LeadImport.objects.unscoped().get()
    assert lead_import.status == ImportStatus.FAILED and "nothing was imported" in lead_import.error
    html = client.get(location).content.decode()
    assert 'id="import-failed"' in html and "Import</button>" not in html and not Lead.objects.unscoped().exists()


def test_an_import_waiting_after_a_broker_outage_is_handed_to_the_worker_again(cast, tasks):
    checking = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="a.csv")
    queued = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="b.csv")
    import_check(lead_import_id=queued.pk)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=30)):  # confirmed long after the upload
        assert import_confirm(lead_import=queued)
        assert imports_tend() == 1  # only the check: the import was just handed over
    assert tasks[-1] == ("followup.tasks.lead_import_check", checking.pk)
    tasks.clear()
    assert imports_tend(now=timezone.now() + dt.timedelta(minutes=33)) == 2  # both still waiting
    assert sorted(tasks) == [("followup.tasks.lead_import_check", checking.pk), ("followup.tasks.lead_import_run", queued.pk)]


def test_uploads_left_waiting_or_unconfirmed_are_given_up_and_their_files_dropped(cast, tasks):
    stuck = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="a.csv")
    unconfirmed = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="b.csv")
    import_check(lead_import_id=unconfirmed.pk)
    imports_tend(now=timezone.now() + dt.timedelta(hours=2))
    stuck.refresh_from_db()
    assert stuck.status == ImportStatus.FAILED and "could not finish" in stuck.error and bytes(stuck.content) == b""
    assert LeadImport.objects.unscoped().get(pk=unconfirmed.pk).status == ImportStatus.CHECKED  # the manager has a day
    imports_tend(now=timezone.now() + dt.timedelta(days=1, minutes=1))
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == ImportStatus.FAILED and bytes(unconfirmed.content) == b""
    assert not import_confirm(lead_import=unconfirmed) and not Lead.objects.unscoped().exists()


def test_a_check_that_crashes_says_so_instead_of_checking_forever(client, cast, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug in the checker")

    monkeypatch.setattr(followup.imports, "import_preview", broken)
    lead_import = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="a.csv")
    import_check(lead_import_id=lead_import.pk)
    lead_import.refresh_from_db()
    assert lead_import.status == ImportStatus.FAILED and "internal error" in lead_import.error
    client.force_login(cast.manager_a)
    page = client.get(f"/settings/import/{lead_import.pk}/")
    assert page.status_code == 200 and 'id="import-failed"' in page.content.decode()


def test_a_second_delivery_of_a_running_import_does_not_import_twice(cast):
    lead_import = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="a.csv")
    import_check(lead_import_id=lead_import.pk)
    assert import_confirm(lead_import=lead_import)
    assert import_queued_run(lead_import_id=lead_import.pk).created_leads == 4
    assert import_queued_run(lead_import_id=lead_import.pk) is None  # redelivered after it finished: nothing
    assert Lead.objects.unscoped().count() == 4 and LeadImport.objects.unscoped().get().status == ImportStatus.DONE


def test_the_reason_for_the_whole_file_comes_from_the_upload_form(client, cast):
    client.force_login(cast.manager_a)
    location = upload(client, b"voornaam;e-mail\nJan;jan@example.nl\n", reason="service")["Location"]
    worker()
    client.post(location)
    worker()
    assert Lead.objects.unscoped().get().reason == "service"


@pytest.mark.parametrize("who", ["sales_a1", "bdc_a"])
def test_salespeople_and_bdc_agents_may_not_import(client, cast, who):
    client.force_login(getattr(cast, who))
    assert client.get("/settings/import/").status_code == 403
    assert upload(client, csv_bytes(GOOD)).status_code == 403
    lead_import = import_upload(dealer=cast.dealer_a, by=cast.manager_a, content=csv_bytes(GOOD), filename="a.csv")
    worker()
    assert client.get(f"/settings/import/{lead_import.pk}/").status_code == 403
    assert client.post(f"/settings/import/{lead_import.pk}/").status_code == 403
    worker()
    assert not Lead.objects.unscoped().exists()


def test_an_outsider_cannot_see_or_confirm_dealer_as_import(client, cast):
    manager = client
    manager.force_login(cast.manager_a)
    done = upload(manager, csv_bytes(GOOD))["Location"]
    worker()
    manager.post(done)
    worker()
    from django.test import Client

    outsider = Client()
    outsider.force_login(cast.outsider_b)
    assert outsider.get(done).status_code == 404
    assert outsider.get("/settings/import/?dealer=dealer-a").status_code == 404
    upload(Client(), b"")  # anonymous: redirected to login, nothing stored
    assert LeadImport.objects.unscoped().count() == 1
    # A's checked upload cannot be looked at or confirmed by B.
    waiting = upload(manager, csv_bytes(GOOD + "LC-5,Bram,Mulder,bram@example.nl,,lease_end,,,,,\n"))["Location"]
    worker()
    assert outsider.get(waiting).status_code == 404 and outsider.post(waiting).status_code == 404
    worker()
    assert not Lead.objects.unscoped().filter(dealer=cast.dealer_b).exists()
    assert Lead.objects.unscoped().filter(dealer=cast.dealer_a).count() == 4
    assert "lease.csv" not in outsider.get("/settings/import/").content.decode()


def test_a_group_admin_may_import(client, cast):
    admin = UserFactory(email="groep@a.test")
    make_group_admin(cast.dealer_a, admin)
    assert Membership.objects.get(user=admin).role == Role.GROUP_ADMIN  # the one source of group-admin rights
    client.force_login(admin)
    assert client.get("/settings/import/?dealer=dealer-a").status_code == 200


def test_the_recent_imports_list_costs_the_same_queries_for_few_and_many(client, cast, django_assert_num_queries):
    client.force_login(cast.manager_a)

    def imports(n):
        for _ in range(n):
            LeadImport.objects.create(dealer=cast.dealer_a, uploaded_by=cast.manager_a, filename="x.csv",
                                      file_sha256="0" * 64, rows=3, created_leads=3)

    imports(2)
    client.get("/settings/import/")
    with CaptureQueriesContext(connection) as few:
        client.get("/settings/import/")
    imports(12)
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get("/settings/import/")
    assert page.content.decode().count("x.csv") == 14
