import pytest

from tests.imap_server import DovecotServer


@pytest.fixture(scope="session")
def dovecot():
    """A private Dovecot for this test process (plain/STARTTLS and IMAPS on free ports). No dovecot: the tests fail."""
    server = DovecotServer().start()
    yield server
    server.stop()


@pytest.fixture
def imap_account(dovecot, settings):
    """A fresh account on the private Dovecot, and the poller told to trust its self-signed certificate."""
    settings.MAILBOX_TLS_CA_FILE = str(dovecot.cert_path)
    user, password = dovecot.add_user()
    return user, password
