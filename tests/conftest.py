"""Fixtures: a clean database per test; the Stripe emulator and the SMTP server start once per
session, and only for tests that ask for them (`stripe_base`, `outbox`).

Every test that uses `app` runs on SQLite and, when BANNER_TEST_DATABASE_URL is set, on
PostgreSQL too.
"""

import itertools
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Sequence
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask, g, request_started
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from banner import create_app
from banner.extensions import db, limiter
from banner.models import (
    Frequency,
    GiftStatus,
)
from banner.services import outbox as mail_outbox
from devtools.stripe_contract import Tally
from tests import factories
from tests.factories import PASSWORD
from tests.waiting import eventually

pytest_plugins = ("tests.fake_stripe",)

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BANNER_TEST_DATABASE_URL")
#: CI sets this so that a missing PostgreSQL or browser fails instead of skipping.
STRICT = os.environ.get("BANNER_TEST_STRICT") == "1"


class ServerLikeClient(FlaskClient):
    """Flask's test client, reading and ending each answer as a WSGI server does before it is
    returned: what the app does once an answer's body is sent (a Stripe event applied:
    services/webhooks.then_apply) is done by then."""

    def open(self, *args, buffered=True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


Flask.test_client_class = ServerLikeClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 20) -> None:
    """Wait until `url` answers."""

    def answers() -> bool:
        try:
            urllib.request.urlopen(url, timeout=1)
        except OSError:
            return False
        return True

    eventually(answers, timeout, what=f"{url} to answer")


class _Rejections(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if getattr(record, "stripe_request_rejected", False):
            self.records.append(record)


@pytest.fixture(autouse=True)
def stripe_rejections_fail_the_test(request):
    """A Stripe 4xx about our own request is our bug: fail the test that made one, unless the
    test is about exactly that."""
    handler = _Rejections()
    logger = logging.getLogger("banner.payments")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    if handler.records and not request.node.get_closest_marker("stripe_rejection_expected"):
        pytest.fail("Stripe rejected a request: " + "; ".join(r.getMessage() for r in handler.records))


class Refuser:
    """A loopback address that takes each connection and closes it at once: where the app's Stripe
    client and mail point in a test that did not ask for the emulator or the SMTP server, so such
    a test fails at once (and says why) instead of waiting on a timeout."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.knocks = 0  #: connections taken so far
        threading.Thread(target=self._refuse, daemon=True).start()

    def _refuse(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.knocks += 1
            connection.close()


#: What a test reaches when it calls Stripe or sends mail without the fixture that provides them.
NO_STRIPE = Refuser()
NO_SMTP = Refuser()
#: How many times this session started the Stripe emulator and the SMTP server (printed at the end).
STARTED = {"Stripe emulator": 0, "SMTP server": 0}


class ReservedPort:
    """A loopback port held (bound, not listening: connections are refused) until a server takes it."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def release(self) -> int:
        self.socket.close()
        return self.port


#: The emulator's address is known before it starts, so the app is made once with it (Stripe.js
#: URL, Content-Security-Policy) and the emulator starts only for the first test that asks.
STRIPE_PORT = ReservedPort()
STRIPE_BASE = f"http://127.0.0.1:{STRIPE_PORT.port}"


@pytest.fixture(scope="session")
def stripe_base():
    """Start the Stripe emulator (localstripe behind devtools/stripe_emulator's shim); its address.

    Request this fixture in every test that talks to Stripe: the `app` fixture then points the
    app at the emulator, emptied, for that test. Without it the app's Stripe calls fail at once.
    """
    from devtools import stripe_emulator  # a development tool of the checkout, not of the app

    port = free_port()
    executable = Path(sys.executable).with_name("localstripe")
    upstream = f"http://127.0.0.1:{port}"
    STARTED["Stripe emulator"] += 1
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(executable), "--port", str(port), "--from-scratch"], stdout=log, stderr=log
        )
        try:
            wait_for(f"{upstream}/js.stripe.com/v3/")
            shim = stripe_emulator.serve(STRIPE_PORT.release(), upstream)
            yield STRIPE_BASE
            shim.shutdown()
            shim.server_close()
        finally:
            process.terminate()
            process.wait(timeout=10)


def empty_the_emulator(base: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{base}/_config/data", method="DELETE"))


def use_stripe(app, base: str) -> None:
    """Point the app's Stripe client at `base` from now on."""
    app.config["STRIPE_API_BASE"] = base
    app.extensions.pop("stripe_client", None)


def use_what_the_test_asks_for(app, request) -> None:
    """Point the app at the emulator (emptied) if the test asks for `stripe_base`, and its mail at
    the SMTP server if it asks for `outbox`; elsewhere at addresses that refuse."""
    if "stripe_base" in request.fixturenames:
        base = request.getfixturevalue("stripe_base")
        empty_the_emulator(base)
        use_stripe(app, base)
    else:
        use_stripe(app, f"http://{NO_STRIPE.address}")
    if {"outbox", "smtp_server"} & set(request.fixturenames):
        app.config["MAIL_URL"] = f"smtp://127.0.0.1:{request.getfixturevalue('smtp_server')[1]}"
    else:
        app.config["MAIL_URL"] = f"smtp://{NO_SMTP.address}"


class Mailbox:
    """Messages received by the loopback SMTP server."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server():
    """Start a loopback SMTP server; request `outbox` to read what it receives."""
    STARTED["SMTP server"] += 1
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


def deliver_mail():
    """Run the mail worker once, in this process (`flask --app wsgi banner worker --once`)."""
    return mail_outbox.deliver_all_due()


class Delivered(Sequence):
    """The messages the loopback SMTP server received, read after the worker has delivered
    what the outbox holds: the mail a donor would find in their inbox by now."""

    def __init__(self, received: list):
        self.received = received  #: what arrived, without running the worker

    def __getitem__(self, index):
        deliver_mail()
        return self.received[index]

    def __len__(self):
        deliver_mail()
        return len(self.received)

    def __iter__(self):
        deliver_mail()
        return iter(list(self.received))

    def __eq__(self, other):
        return list(self) == other

    def clear(self):
        """Forget the mail delivered so far, and the mail due now."""
        deliver_mail()
        self.received.clear()


@pytest.fixture
def outbox(smtp_server):
    """The mail the loopback SMTP server received during this test (the app sends there)."""
    mailbox, _ = smtp_server
    mailbox.messages.clear()
    return Delivered(mailbox.messages)


def database_urls():
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=[]
            if PG_URL or STRICT
            else [
                pytest.mark.skip(
                    reason="PostgreSQL: set BANNER_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test"
                )
            ],
        ),
    ]


@pytest.fixture(scope="session", params=database_urls())
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    if not PG_URL:
        pytest.fail("BANNER_TEST_DATABASE_URL is required when BANNER_TEST_STRICT=1")
    return PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def app_settings(database_url):
    return {
        "ENV": "testing",
        "TESTING": True,
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": "sk_test_suite",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_suite",
        "STRIPE_WEBHOOK_SECRET": "whsec_test_suite",
        "STRIPE_API_BASE": STRIPE_BASE,
        "MAIL_URL": f"smtp://{NO_SMTP.address}",
        "PUBLIC_URL": "http://testserver",
        "SITE_ORIGINS": "https://news.example,https://n.example",
        "CACHE_SECONDS": 30,
    }


def forget_logged_in_user(sender, **extra):
    # Test requests run inside the test's app context, so they share `g`, where Flask-Login keeps
    # the user it loaded; each request must load its own, as it does in production.
    g.pop("_login_user", None)


def _commits_without_waiting_for_the_disk(dialect, connection_record, cargs, cparams) -> None:
    """Open PostgreSQL sessions with synchronous_commit off: a commit is as atomic and as visible
    to other sessions as before, it only returns before its WAL reaches the disk (a crash could
    lose the last commits, which a test database never needs)."""
    cparams["options"] = " ".join(filter(None, (cparams.get("options"), "-c synchronous_commit=off")))


def _sqlite_without_fsync(dbapi_connection, connection_record) -> None:
    """The same for SQLite: no fsync at each commit; locking and transactions are unchanged."""
    dbapi_connection.execute("PRAGMA synchronous = OFF")


def without_durability(engine) -> None:
    """Commits of the test database skip waiting for the disk, which costs milliseconds each."""
    if engine.dialect.name == "postgresql":
        sa.event.listen(engine, "do_connect", _commits_without_waiting_for_the_disk)
    elif engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_without_fsync)


@pytest.fixture(scope="session")
def session_app(app_settings):
    app = create_app(app_settings)
    use_stripe(app, f"http://{NO_STRIPE.address}")  # until a test asks for the emulator
    request_started.connect(forget_logged_in_user, app)
    with app.app_context():
        without_durability(db.engine)
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(session_app, request):
    """The app with empty tables; with an empty emulator when the test asks for `stripe_base`, and
    sending mail to the SMTP server when it asks for `outbox`."""
    use_what_the_test_asks_for(session_app, request)
    session_app.config["WTF_CSRF_ENABLED"] = False
    session_app.extensions.pop("banner_cache", None)
    session_app.extensions.pop("progress_cache", None)
    limiter.reset()
    with session_app.app_context():
        yield session_app
        db.session.remove()
        empty_tables()


def empty_tables(attempts: int = 5):
    """Empty every table, and start its ids at 1 again.

    On PostgreSQL the tables are first locked as TRUNCATE would lock them, so that whatever a late
    request (a webhook the emulator relays, a beacon) is still writing commits first and is
    emptied too; the rows are then deleted, which for a test's few rows takes milliseconds where
    TRUNCATE's new files take a few hundred. A late webhook may still hold row locks; when the
    lock is the deadlock's victim, it is tried again once that is done."""
    tables = db.metadata.sorted_tables
    for attempt in range(attempts):
        try:
            with db.engine.begin() as connection:
                postgresql = connection.dialect.name == "postgresql"
                if postgresql:
                    names = ", ".join(table.name for table in tables)
                    connection.execute(sa.text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
                for table in reversed(tables):
                    connection.execute(table.delete())
                if postgresql:
                    connection.execute(sa.text(f"SELECT {RESTART_IDS}"))
            return
        except sa.exc.OperationalError as error:
            if "deadlock detected" not in str(error) or attempt == attempts - 1:
                raise


#: Start every table's id sequence at 1 again (PostgreSQL), as TRUNCATE ... RESTART IDENTITY did.
RESTART_IDS = ", ".join(
    f"setval(pg_get_serial_sequence('{table.name}', '{table.autoincrement_column.name}'), 1, false)"
    for table in db.metadata.sorted_tables
    if table.autoincrement_column is not None
)


@pytest.fixture(scope="session")
def live_server(session_app):
    """Serve the session's app on a free loopback port, in a thread of this process."""
    port = free_port()
    server = make_server("127.0.0.1", port, session_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    session_app.config["PUBLIC_URL"] = url
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_campaign(app):
    """Factory: a live campaign with one variant; keyword arguments override fields."""
    return factories.campaign


@pytest.fixture
def make_gift(app):
    """Factory: a paid-up gift of a donor, as checkout leaves it; keyword arguments override fields."""
    counter = itertools.count(1)

    def make(frequency=Frequency.MONTH, status=GiftStatus.ACTIVE, **fields):
        number = next(counter)
        values = dict(
            donor=factories.donor(
                email=f"donor{number}@example.org", stripe_customer_id=f"cus_{number}", save=False
            ),
            stripe_subscription_id=f"sub_{number}" if frequency.recurring else None,
            stripe_status="active" if frequency.recurring else None,
        )
        return factories.gift(frequency, status, **(values | fields))

    return make


def log_in(client, email, password=PASSWORD, **extra):
    """Post the staff login form."""
    return client.post("/staff/login", data={"email": email, "password": password, **extra})


@pytest.fixture
def make_staff(app):
    """Factory: a staff account with PASSWORD, hashed cheaply (the real scrypt takes half a second)."""
    return factories.staff


@pytest.fixture
def log_in_as(client, make_staff):
    """Log the test client in as a new staff member with this role; return the account."""

    def log_in_as(role):
        staff = make_staff(role=role)
        assert log_in(client, staff.email).status_code == 302
        return staff

    return log_in_as


# The contract test: every request a test sends to the emulator (in its setup or its body) is
# checked against the pinned Stripe API version's types, and the test that sent one outside them
# fails. Requests of a teardown are checked with the next test's. Inactive while the emulator does
# not record requests.
STRIPE_CONTRACT = Tally()


def pytest_runtest_setup(item):
    item.stash[KNOCKS] = (NO_STRIPE.knocks, NO_SMTP.knocks)


KNOCKS = pytest.StashKey[tuple[int, int]]()


def unasked_calls(item) -> str | None:
    """Say what the test reached without asking for it: Stripe without `stripe_base`, mail
    without `outbox`."""
    stash = getattr(item, "stash", {})  # the contract's tests call the hook with a bare item
    stripe_before, smtp_before = stash.get(KNOCKS, (NO_STRIPE.knocks, NO_SMTP.knocks))
    unasked = []
    if NO_STRIPE.knocks > stripe_before:
        unasked.append("called Stripe without the emulator: request the `stripe_base` fixture")
    if NO_SMTP.knocks > smtp_before:
        unasked.append("sent mail without an SMTP server: request the `outbox` fixture")
    return "This test " + " and ".join(unasked) + "." if unasked else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    base = item.funcargs.get("stripe_base") if "stripe_base" in item.fixturenames else None
    try:
        result = yield
    except BaseException as error:
        if base is not None:
            STRIPE_CONTRACT.collect(base)  # counted; the test's own failure is the one to read
        if unasked := unasked_calls(item):
            raise pytest.fail.Exception(unasked, pytrace=False) from error
        raise
    if unasked := unasked_calls(item):
        pytest.fail(unasked, pytrace=False)
    violations = STRIPE_CONTRACT.collect(base) if base is not None else []
    if violations:
        pytest.fail("Requests outside Stripe's pinned API version:\n" + "\n".join(violations), pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter):
    if STRIPE_CONTRACT.active:
        terminalreporter.write_line(STRIPE_CONTRACT.summary())
    terminalreporter.write_line(
        "; ".join(f"{name} started {count} time{'s' * (count != 1)}" for name, count in STARTED.items())
    )


def pytest_sessionfinish(session):
    for held in (NO_STRIPE.socket, NO_SMTP.socket, STRIPE_PORT.socket):
        held.close()
