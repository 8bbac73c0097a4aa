"""Reading a real Dovecot mailbox into routed leads: each mail once, whatever crashes or overlaps; mark or move."""

import threading
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

import followup.services
import leads.mailbox
from followup.services import mail_receive
from leads.mailbox import ServerSettings, mailbox_connect
from leads.mailbox import mailbox_poll as poll
from leads.models import AfterRead, InboundMail, Lead, Mailbox, MailIgnored
from leads.tasks import mailbox_poll as mailbox_poll_task
from tests.factories import open_all_week
from tests.imap_server import portal_mail

FIXTURES = Path(settings.BASE_DIR).parent / "shared" / "fixtures" / "mail"  # shared/ lies beside the checkout


def mailbox_poll(mailbox_id):
    """What the task and the command run."""
    return poll(mailbox_id=mailbox_id, receive=mail_receive)


def connect(dealer, dovecot, account, security="ssl", **kwargs) -> Mailbox:
    user, password = account
    port = dovecot.ssl_port if security == "ssl" else dovecot.plain_port
    after_read = AfterRead.MOVE if kwargs.get("move_to") else AfterRead.MARK_SEEN
    return mailbox_connect(dealer=dealer, after_read=after_read, server=ServerSettings(
        host=dovecot.host, port=port, username=user, password=password, security=security, **kwargs))


def deliver(dovecot, account, count, start=0, folder="INBOX") -> list[bytes]:
    mails = [portal_mail(n) for n in range(start, start + count)]
    for raw in mails:
        dovecot.append(*account, raw, folder=folder)
    return mails


@pytest.fixture
def dealer(cast):
    open_all_week(cast.dealer_a)
    return cast.dealer_a


@pytest.mark.django_db
@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_every_mail_becomes_one_routed_lead_and_is_marked_read(dealer, cast, dovecot, imap_account, security):
    deliver(dovecot, imap_account, 3)  # in the folder before the mailbox is connected: read too
    mailbox = connect(dealer, dovecot, imap_account, security)
    result = mailbox_poll(mailbox.pk)
    assert result.error == "" and len(result.leads) == 3
    leads = list(Lead.objects.for_dealer(dealer).select_related("customer"))
    assert len(leads) == 3
    assert {lead.assignee_id for lead in leads} <= {cast.sales_a1.pk, cast.sales_a2.pk} and all(lead.routed_at for lead in leads)
    assert {lead.customer.email for lead in leads} == {"klant0@example.nl", "klant1@example.nl", "klant2@example.nl"}
    assert set(InboundMail.objects.for_dealer(dealer).values_list("channel", flat=True)) == {"imap"}
    assert all("\\Seen" in flags for flags in dovecot.folder_state(*imap_account).values())
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 3 and mailbox.last_success_at is not None

    deliver(dovecot, imap_account, 1, start=3)  # a new mail arrives
    assert len(mailbox_poll(mailbox.pk).leads) == 1
    assert len(mailbox_poll(mailbox.pk).read) == 0  # nothing new: nothing read
    assert Lead.objects.for_dealer(dealer).count() == 4


@pytest.mark.django_db
def test_move_puts_read_mail_in_the_dealers_folder_and_deletes_nothing(dealer, dovecot, imap_account):
    imap = dovecot.client(*imap_account)
    imap.create('"Opvolger gelezen"')
    imap.logout()
    deliver(dovecot, imap_account, 2)
    mailbox = connect(dealer, dovecot, imap_account, move_to="Opvolger gelezen")
    assert len(mailbox_poll(mailbox.pk).leads) == 2
    assert dovecot.folder_state(*imap_account) == {}
    moved = dovecot.folder_state(*imap_account, folder="Opvolger gelezen")
    assert len(moved) == 2 and not any("\\Deleted" in flags for flags in moved.values())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ingest_threads", [1, 4])
@pytest.mark.parametrize("lease_holds", [True, False], ids=["lease", "lease-expired-mid-poll"])
def test_pollers_at_once_read_each_mail_once(dealer, dovecot, imap_account, monkeypatch, settings, lease_holds,
                                             ingest_threads):
    settings.MAILBOX_INGEST_THREADS = ingest_threads
    if not lease_holds:
        # Every poller's lease is already over when it starts: they really read the same UIDs side by side, and
        # only the intake's Message-ID idempotency and the lease token on every write keep each mail single.
        monkeypatch.setattr(leads.mailbox, "POLL_LEASE", leads.mailbox.timezone.timedelta(seconds=-1))
    deliver(dovecot, imap_account, 60)  # more than one fetch batch
    mailbox = connect(dealer, dovecot, imap_account, "none")
    barrier = threading.Barrier(4)
    results = []

    def worker():
        barrier.wait()
        try:
            results.append(mailbox_poll(mailbox.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(3):  # a poller that stopped at a lost lease leaves the rest to the next poll
        mailbox_poll(mailbox.pk)
    assert Lead.objects.for_dealer(dealer).count() == 60
    assert InboundMail.objects.for_dealer(dealer).count() == 60
    assert sum(len(r.leads) for r in results) <= 60
    assert all("\\Seen" in flags for flags in dovecot.folder_state(*imap_account).values())
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 60 and mailbox.poll_lease_token == ""


def fail_once_at(monkeypatch, name, call_number, *, after_real_call):
    """Make <name> raise on its n-th call: before doing its work, or after it (a crash right after). The intake step
    is `mail_ingest` as the one mail entry (followup.services.mail_receive) calls it; the others live in leads.mailbox."""
    module = followup.services if name == "mail_ingest" else leads.mailbox
    real = getattr(module, name)
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call_number and not after_real_call:
            raise RuntimeError("worker killed")
        value = real(*args, **kwargs)
        if calls["n"] == call_number:
            raise RuntimeError("worker killed")
        return value

    monkeypatch.setattr(module, name, crashing)


@pytest.mark.django_db
@pytest.mark.parametrize("name, call, after_real_call, last_uid, leads_after_crash, duplicates_next", [
    ("mail_ingest", 2, False, 1, 1, [False, False]),  # the 2nd mail read from the server, crashed before it was stored
    ("mail_ingest", 2, True, 1, 2, [True, False]),  # the 2nd mail stored, crashed before it was marked and counted
    ("_after_read", 1, True, 0, 3, [True, True, True]),  # all stored and marked read, crashed before last_uid moved
], ids=["between-reading-and-storing", "between-storing-and-marking", "between-marking-and-advancing"])
def test_a_crash_mid_poll_neither_loses_nor_doubles_a_mail(dealer, dovecot, imap_account, monkeypatch, name, call,
                                                            after_real_call, last_uid, leads_after_crash,
                                                            duplicates_next):
    deliver(dovecot, imap_account, 3)
    mailbox = connect(dealer, dovecot, imap_account)
    with monkeypatch.context() as patch:
        fail_once_at(patch, name, call, after_real_call=after_real_call)
        result = mailbox_poll(mailbox.pk)
    mailbox.refresh_from_db()
    assert "worker killed" in result.error and mailbox.consecutive_failures == 1
    assert mailbox.last_uid == last_uid
    assert Lead.objects.for_dealer(dealer).count() == leads_after_crash

    result = mailbox_poll(mailbox.pk)  # the next poll (the command ignores the backoff)
    assert result.error == ""
    assert Lead.objects.for_dealer(dealer).count() == 3
    assert InboundMail.objects.for_dealer(dealer).count() == 3
    assert [r.duplicate for r in result.read] == duplicates_next
    assert all("\\Seen" in flags for flags in dovecot.folder_state(*imap_account).values())


@pytest.mark.django_db
def test_a_new_uidvalidity_reads_the_folder_again_without_doubling_a_mail(dealer, dovecot, imap_account):
    first = deliver(dovecot, imap_account, 2, folder="Portals")
    mailbox = connect(dealer, dovecot, imap_account, folder="Portals")
    assert len(mailbox_poll(mailbox.pk).leads) == 2
    old_validity = Mailbox.objects.unscoped().get(pk=mailbox.pk).uidvalidity
    # The folder is rebuilt on the server (a migration, a restore): the same mails under new UIDs, plus a new one.
    imap = dovecot.client(*imap_account)
    assert imap.delete('"Portals"')[0] == "OK"
    imap.logout()
    for raw in first:
        dovecot.append(*imap_account, raw, folder="Portals")
    deliver(dovecot, imap_account, 1, start=2, folder="Portals")
    result = mailbox_poll(mailbox.pk)
    mailbox.refresh_from_db()
    assert mailbox.uidvalidity != old_validity and mailbox.last_uid == 3
    assert [r.duplicate for r in result.read] == [True, True, False]
    assert Lead.objects.for_dealer(dealer).count() == 3


@pytest.mark.django_db
def test_a_10_mib_mail_is_read_into_a_lead(dealer, dovecot, imap_account):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "formulier@dealer.test", "verkoop@dealer.test", "Offerte"
    message["Message-ID"] = "<big-1@dealer.test>"
    message.set_content("Naam: Jan de Vries\nE-mailadres: jan.big@example.nl\nTelefoonnummer: 06 12345678\n"
                        "Bericht: Zie de foto's van mijn inruilauto in de bijlage.\n")
    message.add_attachment(bytes(range(256)) * (10 * 1024 * 4), maintype="application", subtype="octet-stream",
                           filename="fotos.zip")  # 10 MiB of attachment, ~13.6 MiB as base64
    raw = message.as_bytes(policy=SMTP)  # CRLF line ends, as a mail server stores it
    assert len(raw) > 10 * 1024 * 1024
    dovecot.append(*imap_account, raw)
    mailbox = connect(dealer, dovecot, imap_account)
    result = mailbox_poll(mailbox.pk)
    assert result.error == "" and len(result.leads) == 1
    assert result.leads[0].lead.customer.email == "jan.big@example.nl"
    assert len(bytes(InboundMail.objects.for_dealer(dealer).get().raw)) == len(raw)


@pytest.mark.django_db
def test_the_command_prints_what_became_a_lead_and_what_was_ignored(dealer, dovecot, imap_account, capsys):
    deliver(dovecot, imap_account, 1)
    dovecot.append(*imap_account, (FIXTURES / "27-auto-reply-out-of-office.eml").read_bytes())
    connect(dealer, dovecot, imap_account)
    call_command("mailbox_poll", "dealer-a")
    out = capsys.readouterr().out
    assert "2 new mail(s)" in out
    assert "became lead #" in out and "(website)" in out
    assert f"ignored ({MailIgnored.AUTO_REPLY.label})" in out


@pytest.mark.django_db
def test_the_scheduled_task_reads_the_mailbox_and_routes(dealer, cast, dovecot, imap_account):
    deliver(dovecot, imap_account, 2)
    mailbox = connect(dealer, dovecot, imap_account)
    assert mailbox_poll_task(mailbox.pk) == 2
    assert all(lead.assignee_id for lead in Lead.objects.for_dealer(dealer))


# --- the settings page: the mails received, and making a lead of an ignored one ---------------------------------------

@pytest.fixture
def read_mails(dealer, dovecot, imap_account):
    deliver(dovecot, imap_account, 1)
    dovecot.append(*imap_account, (FIXTURES / "27-auto-reply-out-of-office.eml").read_bytes())
    mailbox = connect(dealer, dovecot, imap_account)
    mailbox_poll(mailbox.pk)
    return InboundMail.objects.for_dealer(dealer).order_by("pk")


@pytest.mark.django_db
def test_the_page_lists_the_mails_with_the_lead_made_or_the_reason_they_were_ignored(cast, client, read_mails):
    client.force_login(cast.manager_a)
    page = client.get("/settings/mailbox/").content.decode()
    lead = read_mails[0].leads.get()
    assert f"/leads/{lead.pk}/" in page and f"ignored: {MailIgnored.AUTO_REPLY.label}" in page
    assert page.count("Make a lead") == 1  # only for the mail that is no lead


@pytest.mark.django_db
def test_a_manager_makes_a_lead_of_an_ignored_mail_once(cast, client, read_mails):
    ignored = read_mails[1]
    client.force_login(cast.manager_a)
    response = client.post(f"/settings/mail/{ignored.pk}/promote/")
    lead = ignored.leads.get()
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    client.post(f"/settings/mail/{ignored.pk}/promote/")
    assert ignored.leads.count() == 1


@pytest.mark.django_db
def test_only_the_dealers_managers_make_a_lead_of_a_mail(cast, client, read_mails):
    ignored = read_mails[1]
    client.force_login(cast.sales_a1)
    assert client.post(f"/settings/mail/{ignored.pk}/promote/").status_code == 403
    client.force_login(cast.outsider_b)
    assert client.post(f"/settings/mail/{ignored.pk}/promote/").status_code == 404
    assert str(MailIgnored.AUTO_REPLY.label) not in client.get("/settings/mailbox/").content.decode()
    assert not ignored.leads.exists()


@pytest.mark.django_db
def test_the_mail_list_takes_a_fixed_number_of_queries(cast, client, dealer, dovecot, imap_account,
                                                       django_assert_max_num_queries):
    mailbox = connect(dealer, dovecot, imap_account)
    deliver(dovecot, imap_account, 2)
    mailbox_poll(mailbox.pk)
    client.force_login(cast.manager_a)
    with django_assert_max_num_queries(20) as few:
        client.get("/settings/mailbox/")
    deliver(dovecot, imap_account, 10, start=2)
    mailbox_poll(mailbox.pk)
    with django_assert_max_num_queries(len(few)):
        assert client.get("/settings/mailbox/").status_code == 200
