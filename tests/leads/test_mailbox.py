"""The dealer's mailbox against a real Dovecot: connecting, the password at rest, failures and backoff, the lease,
the scheduler's choice of mailboxes, the commands, /healthz and the settings page.

Reading mail into leads needs the mail intake: tests/leads/test_mailbox_poll.py.
"""

import os

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from leads import mailbox as mailbox_module
from leads.mailbox import (
    MailboxError,
    ServerSettings,
    mailbox_check,
    mailbox_connect,
    mailbox_poll,
    mailboxes_due,
    password_decrypt,
)
from leads.models import AfterRead, Mailbox
from tests.imap_server import free_port, portal_mail

pytestmark = pytest.mark.django_db


def server_for(dovecot, account, security="ssl", **kwargs) -> ServerSettings:
    user, password = account
    port = dovecot.ssl_port if security == "ssl" else dovecot.plain_port
    return ServerSettings(host=dovecot.host, port=port, username=user, password=password, security=security, **kwargs)


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_the_connection_check_finds_the_mail_already_there_over_imaps_starttls_and_plain(dovecot, imap_account, security):
    for n in range(3):
        dovecot.append(*imap_account, portal_mail(n))
    found = mailbox_check(server=server_for(dovecot, imap_account, security))
    assert (found.messages, found.unseen) == (3, 3)


def test_tls_to_a_server_whose_certificate_is_not_trusted_is_refused(dovecot, imap_account, settings):
    settings.MAILBOX_TLS_CA_FILE = None  # the system's CAs do not know the test server's self-signed certificate
    for security in ("ssl", "starttls"):
        with pytest.raises(MailboxError, match="secure connection"):
            mailbox_check(server=server_for(dovecot, imap_account, security))


def test_a_wrong_password_is_reported_as_such(dovecot, imap_account):
    user, _password = imap_account
    with pytest.raises(MailboxError, match="refused the user name or password"):
        mailbox_check(server=server_for(dovecot, (user, "wrong")))


def test_a_missing_folder_to_move_to_is_reported_before_connecting(dovecot, imap_account):
    with pytest.raises(MailboxError, match="Verwerkt"):
        mailbox_check(server=server_for(dovecot, imap_account, move_to="Verwerkt"))


def test_the_password_is_stored_encrypted_and_only_the_key_opens_it(cast, dovecot, imap_account, settings):
    user, password = imap_account
    mailbox = mailbox_connect(dealer=cast.dealer_a, server=server_for(dovecot, imap_account))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM leads_mailbox WHERE id = %s", [mailbox.pk])
        row = cursor.fetchone()
    assert not any(password in str(value) for value in row)
    assert password_decrypt(mailbox.password_encrypted) == password
    settings.MAILBOX_ENCRYPTION_KEY = ["p2mS3mH1b9n7wE7QxkN0v3Zf0qk9q3p2J8tKc1d4yXo="]  # another key
    with pytest.raises(MailboxError, match="cannot be decrypted"):
        password_decrypt(mailbox.password_encrypted)


def test_a_rotated_key_still_opens_passwords_stored_under_the_old_one(cast, dovecot, imap_account, settings):
    old, new = "p2mS3mH1b9n7wE7QxkN0v3Zf0qk9q3p2J8tKc1d4yXo=", "Q0r1n9Vq7c5mD2kYw8xZt3s6u4b1a0e9f8g7h6j5k4I="
    settings.MAILBOX_ENCRYPTION_KEY = [old]
    mailbox = mailbox_connect(dealer=cast.dealer_a, server=server_for(dovecot, imap_account))
    settings.MAILBOX_ENCRYPTION_KEY = [new, old]
    assert password_decrypt(mailbox.password_encrypted) == imap_account[1]


def down_mailbox(dealer, account) -> Mailbox:
    """A mailbox whose server is down: nothing listens on its port."""
    return mailbox_connect(dealer=dealer, server=ServerSettings(
        host="127.0.0.1", port=free_port(), username=account[0], password=account[1], security="none"))


def test_a_server_that_is_down_is_recorded_backs_off_and_shows_on_healthz_without_its_error_text(cast, client, dovecot,
                                                                                                     imap_account):
    mailbox = down_mailbox(cast.dealer_a, imap_account)
    before = timezone.now()
    result = mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert "Could not reach the mail server" in result.error == mailbox.last_error
    assert mailbox.consecutive_failures == 1 and mailbox.last_success_at is None
    interval = django_settings.MAILBOX_POLL_SECONDS
    assert before + timezone.timedelta(seconds=interval) <= mailbox.next_poll_at
    assert mailbox.pk not in mailboxes_due()  # backing off: the scheduler leaves it alone until then
    assert mailbox.poll_lease_token == ""  # the lease is given back after a failure

    mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert mailbox.consecutive_failures == 2
    assert mailbox.next_poll_at - mailbox.last_error_at == timezone.timedelta(seconds=2 * interval)

    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["checks"]["mailboxes"] == {"ok": False, "failing": 1}
    response = client.get("/healthz")
    assert str(mailbox.port) not in response.content.decode() and "reach" not in response.content.decode()

    # The server comes back (the dealer fixed the port): the next read succeeds and clears the failure.
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(port=dovecot.plain_port)
    result = mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert result.error == "" and mailbox.consecutive_failures == 0 and mailbox.last_success_at is not None
    assert client.get("/healthz").json()["checks"]["mailboxes"] == {"ok": True, "failing": 0}


def test_backoff_is_capped_at_fifteen_minutes(cast, imap_account):
    mailbox = down_mailbox(cast.dealer_a, imap_account)
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(consecutive_failures=40)
    mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert mailbox.next_poll_at - mailbox.last_error_at == timezone.timedelta(minutes=15)


def test_a_poller_finds_the_lease_taken_and_leaves_the_mailbox_alone(cast, dovecot, imap_account):
    mailbox = mailbox_connect(dealer=cast.dealer_a, server=server_for(dovecot, imap_account))
    assert mailbox_module._lease_claim(mailbox.pk, "another-poller")
    result = mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert result.skipped and mailbox.poll_lease_token == "another-poller" and mailbox.last_success_at is None
    assert mailbox.pk not in mailboxes_due()

    # That poller crashed: once its lease has run out, the mailbox is read again.
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(poll_lease_until=timezone.now() - timezone.timedelta(seconds=1))
    assert mailbox.pk in mailboxes_due()
    result = mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert not result.skipped and mailbox.last_success_at is not None and mailbox.poll_lease_token == ""


def test_a_poller_that_lost_its_lease_writes_nothing(cast, dovecot, imap_account):
    mailbox = mailbox_connect(dealer=cast.dealer_a, server=server_for(dovecot, imap_account))
    assert mailbox_module._lease_claim(mailbox.pk, "stalled")
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(poll_lease_token="the-new-one")  # taken over meanwhile
    with pytest.raises(mailbox_module.LeaseLost):
        mailbox_module._bookkeep(mailbox, "stalled", last_uid=99)
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 0


def test_a_new_uidvalidity_starts_the_folder_over(cast, dovecot, imap_account):
    mailbox = mailbox_connect(dealer=cast.dealer_a, server=server_for(dovecot, imap_account))
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(uidvalidity=1, last_uid=500)  # counted under an older UIDVALIDITY
    mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert mailbox.uidvalidity not in (None, 1) and mailbox.last_uid == 0


def test_the_scheduler_picks_active_mailboxes_that_are_due_every_poll_interval_of_at_most_30_seconds(cast, imap_account):
    due = down_mailbox(cast.dealer_a, imap_account)
    off = down_mailbox(cast.dealer_b, imap_account)
    Mailbox.objects.unscoped().filter(pk=off.pk).update(is_active=False)
    later = down_mailbox(cast.dealer_a, (imap_account[0] + "x", "pw"))
    Mailbox.objects.unscoped().filter(pk=later.pk).update(next_poll_at=timezone.now() + timezone.timedelta(minutes=1))
    assert mailboxes_due() == [due.pk]
    entry = django_settings.CELERY_BEAT_SCHEDULE["mailboxes-poll"]
    assert entry["task"] == "leads.tasks.mailboxes_poll" and entry["schedule"] <= 30


# --- commands -----------------------------------------------------------------------------------------------------

def test_mailbox_add_checks_the_connection_says_what_it_found_and_stores_the_mailbox(cast, dovecot, imap_account,
                                                                                      capsys, monkeypatch):
    user, password = imap_account
    for n in range(2):
        dovecot.append(user, password, portal_mail(n))
    monkeypatch.setenv("DEALER_A_IMAP_PASSWORD", password)
    call_command("mailbox_add", "dealer-a", "--host", "127.0.0.1", "--port", str(dovecot.ssl_port), "--user", user,
                 "--password-env", "DEALER_A_IMAP_PASSWORD")
    out = capsys.readouterr().out
    assert "2 message(s), 2 unread" in out and "including the 2 already there" in out
    mailbox = Mailbox.objects.unscoped().get(dealer=cast.dealer_a)
    assert (mailbox.security, mailbox.folder, mailbox.after_read, mailbox.last_uid) == ("ssl", "INBOX", "mark_seen", 0)
    assert password not in mailbox.password_encrypted


def test_mailbox_add_refuses_what_does_not_connect_and_stores_nothing(cast, dovecot, imap_account, monkeypatch):
    user, _password = imap_account
    monkeypatch.setenv("BAD_PW", "wrong")
    with pytest.raises(CommandError, match="refused the user name or password"):
        call_command("mailbox_add", "dealer-a", "--host", "127.0.0.1", "--port", str(dovecot.plain_port),
                     "--user", user, "--password-env", "BAD_PW", "--security", "none")
    with pytest.raises(CommandError, match="not set"):
        call_command("mailbox_add", "dealer-a", "--host", "127.0.0.1", "--port", "143", "--user", user,
                     "--password-env", "NO_SUCH_VARIABLE_SET")
    with pytest.raises(CommandError, match="No dealer"):
        call_command("mailbox_add", "nobody", "--host", "h", "--port", "1", "--user", "u", "--password-env", "BAD_PW")
    assert not Mailbox.objects.unscoped().exists()
    assert "NO_SUCH_VARIABLE_SET" not in os.environ


def test_mailbox_poll_reads_every_mailbox_and_one_that_fails_does_not_stop_the_others(cast, dovecot, imap_account,
                                                                                        capsys):
    mailbox_connect(dealer=cast.dealer_a, server=server_for(dovecot, imap_account, "none"))
    down = down_mailbox(cast.dealer_b, imap_account)
    with pytest.raises(CommandError, match="1 mailbox"):
        call_command("mailbox_poll")
    out = capsys.readouterr().out
    assert "dealer-a" in out and "0 new mail(s)" in out
    assert "dealer-b" in out and "FAILED" in out and "Could not reach" in out
    down.refresh_from_db()
    assert down.consecutive_failures == 1

    call_command("mailbox_poll", "dealer-a")  # one dealer only: the failing one is not read
    assert "dealer-b" not in capsys.readouterr().out


# --- the settings page --------------------------------------------------------------------------------------------

def form_data(dovecot, account, **overrides) -> dict:
    data = {"host": dovecot.host, "security": "ssl", "port": dovecot.ssl_port, "username": account[0],
            "password": account[1], "folder": "INBOX", "after_read": AfterRead.MARK_SEEN, "move_to": ""}
    data.update(overrides)
    return data


def test_a_manager_tests_the_connection_then_connects_the_mailbox(cast, client, dovecot, imap_account):
    dovecot.append(*imap_account, portal_mail(1))
    client.force_login(cast.manager_a)
    response = client.post("/settings/mailbox/", form_data(dovecot, imap_account, action="test"))
    assert response.status_code == 200
    assert "the folder holds 1 mail (1 unread)" in response.content.decode()
    assert not Mailbox.objects.unscoped().exists()  # testing stores nothing

    response = client.post("/settings/mailbox/", form_data(dovecot, imap_account, action="connect"), follow=True)
    mailbox = Mailbox.objects.unscoped().get()
    assert mailbox.dealer == cast.dealer_a and mailbox.created_by == cast.manager_a
    assert imap_account[1] not in mailbox.password_encrypted
    page = response.content.decode()
    assert "Mailbox connected" in page and imap_account[0] in page and "not yet" in page


def test_the_page_refuses_a_mailbox_that_does_not_answer_and_says_why(cast, client, dovecot, imap_account):
    client.force_login(cast.manager_a)
    response = client.post("/settings/mailbox/", form_data(dovecot, (imap_account[0], "wrong"), action="connect"))
    assert response.status_code == 400
    assert "refused the user name or password" in response.content.decode()
    assert not Mailbox.objects.unscoped().exists()


def test_the_page_shows_the_last_error_of_a_failing_mailbox(cast, client, imap_account):
    mailbox = down_mailbox(cast.dealer_a, imap_account)
    mailbox_poll(mailbox_id=mailbox.pk)
    client.force_login(cast.manager_a)
    page = client.get("/settings/mailbox/").content.decode()
    assert "Reading failed 1 time in a row" in page and "Could not reach the mail server" in page


@pytest.mark.parametrize("overrides", [
    {"host": "imap.example.nl\r\nA1 LOGOUT"}, {"host": "https://imap.example.nl/"}, {"host": ""},
    {"port": "99999"}, {"port": "-1"}, {"port": "abc"}, {"security": "tls1.0"}, {"folder": "INBOX\r\nA1 DELETE INBOX"},
    {"after_read": "delete"}, {"after_read": "move", "move_to": ""}, {"username": "x\ny"}, {"password": "a\r\nb"},
    {"host": "x" * 300},
])
def test_hostile_input_on_the_page_is_a_400_never_a_500(cast, client, dovecot, imap_account, overrides):
    client.force_login(cast.manager_a)
    response = client.post("/settings/mailbox/", form_data(dovecot, imap_account, action="connect", **overrides))
    assert response.status_code == 400
    assert not Mailbox.objects.unscoped().exists()


def test_the_page_does_not_connect_to_private_addresses_in_production(cast, client, dovecot, imap_account, settings):
    settings.MAILBOX_ALLOW_PRIVATE_HOSTS = False
    client.force_login(cast.manager_a)
    for host in ("127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254"):
        response = client.post("/settings/mailbox/", form_data(dovecot, imap_account, host=host, action="test"))
        assert response.status_code == 400 and "private network" in response.content.decode(), host


def test_salespeople_and_bdc_agents_may_not_open_the_mailbox_page(cast, client):
    for user in (cast.sales_a1, cast.bdc_a):
        client.force_login(user)
        assert client.get("/settings/mailbox/").status_code == 403


def test_another_dealers_manager_neither_sees_nor_switches_our_mailbox(cast, client, imap_account):
    ours = down_mailbox(cast.dealer_a, imap_account)
    client.force_login(cast.outsider_b)
    assert imap_account[0] not in client.get("/settings/mailbox/").content.decode()
    assert client.get("/settings/mailbox/?dealer=dealer-a").status_code == 404
    assert client.post(f"/settings/mailbox/{ours.pk}/active/", {"active": "0"}).status_code == 404
    ours.refresh_from_db()
    assert ours.is_active


def test_a_manager_stops_and_restarts_reading_a_mailbox(cast, client, imap_account):
    mailbox = down_mailbox(cast.dealer_a, imap_account)
    client.force_login(cast.manager_a)
    client.post(f"/settings/mailbox/{mailbox.pk}/active/", {"active": "0"})
    assert mailbox.pk not in mailboxes_due()
    client.post(f"/settings/mailbox/{mailbox.pk}/active/", {"active": "1"})
    assert mailbox.pk in mailboxes_due()


def test_the_page_lists_many_mailboxes_in_a_fixed_number_of_queries(cast, client, imap_account,
                                                                      django_assert_max_num_queries):
    client.force_login(cast.manager_a)
    down_mailbox(cast.dealer_a, imap_account)
    with django_assert_max_num_queries(12) as few:
        client.get("/settings/mailbox/")
    for n in range(5):
        down_mailbox(cast.dealer_a, (f"extra{n}@dealer.test", "pw"))
    with django_assert_max_num_queries(len(few)):
        assert client.get("/settings/mailbox/").status_code == 200


def test_the_managers_dashboard_warns_about_a_mailbox_that_cannot_be_read(cast, client, imap_account):
    client.force_login(cast.manager_a)
    mailbox = down_mailbox(cast.dealer_a, imap_account)
    assert "cannot be read" not in client.get("/dashboard/").content.decode()
    mailbox_poll(mailbox_id=mailbox.pk)
    page = client.get("/dashboard/").content.decode()
    assert f"The mailbox {imap_account[0]} (Autobedrijf A) cannot be read" in page
    client.force_login(cast.outsider_b)
    assert "cannot be read" not in client.get("/dashboard/").content.decode()


def test_beat_hands_each_due_mailbox_to_its_own_task_that_expires_by_the_next_tick(cast, imap_account, monkeypatch,
                                                                                     settings):
    from leads import tasks

    first = down_mailbox(cast.dealer_a, imap_account)
    second = down_mailbox(cast.dealer_b, imap_account)
    queued = []
    monkeypatch.setattr(tasks.mailbox_poll, "apply_async", lambda args, **options: queued.append((args, options)))
    assert tasks.mailboxes_poll() == 2
    assert queued == [((first.pk,), {"expires": settings.MAILBOX_POLL_SECONDS}),
                      ((second.pk,), {"expires": settings.MAILBOX_POLL_SECONDS})]
