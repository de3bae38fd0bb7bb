"""Fixtures: one Stripe emulator and one SMTP server per session; a clean database per test.

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
import time
import urllib.request
from collections.abc import Sequence
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import g, request_started
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from banner import create_app
from banner.extensions import db, limiter
from banner.models import (
    Campaign,
    CampaignStatus,
    Donor,
    Frequency,
    Gift,
    GiftStatus,
    Role,
    StaffUser,
    Variant,
    utcnow,
)
from banner.services import outbox as mail_outbox
from devtools.stripe_contract import Tally

pytest_plugins = ("tests.fake_stripe",)

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BANNER_TEST_DATABASE_URL")
#: CI sets this so that a missing PostgreSQL or browser fails instead of skipping.
STRICT = os.environ.get("BANNER_TEST_STRICT") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


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


@pytest.fixture(scope="session")
def stripe_base():
    """Start the Stripe emulator (localstripe behind devtools/stripe_emulator's shim); its address."""
    from devtools import stripe_emulator  # a development tool of the checkout, not of the app

    port = free_port()
    executable = Path(sys.executable).with_name("localstripe")
    upstream = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(executable), "--port", str(port), "--from-scratch"], stdout=log, stderr=log
        )
        try:
            wait_for(f"{upstream}/js.stripe.com/v3/")
            shim = stripe_emulator.serve(free_port(), upstream)
            yield f"http://127.0.0.1:{shim.server_address[1]}"
            shim.shutdown()
            shim.server_close()
        finally:
            process.terminate()
            process.wait(timeout=10)


class Mailbox:
    """Messages received by the loopback SMTP server."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server():
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
def app_settings(database_url, stripe_base, smtp_server):
    return {
        "ENV": "testing",
        "TESTING": True,
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": "sk_test_suite",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_suite",
        "STRIPE_WEBHOOK_SECRET": "whsec_test_suite",
        "STRIPE_API_BASE": stripe_base,
        "MAIL_URL": f"smtp://127.0.0.1:{smtp_server[1]}",
        "PUBLIC_URL": "http://testserver",
        "SITE_ORIGINS": "https://news.example,https://n.example",
        "CACHE_SECONDS": 30,
    }


def forget_logged_in_user(sender, **extra):
    # Test requests run inside the test's app context, so they share `g`, where Flask-Login keeps
    # the user it loaded; each request must load its own, as it does in production.
    g.pop("_login_user", None)


@pytest.fixture(scope="session")
def session_app(app_settings):
    app = create_app(app_settings)
    request_started.connect(forget_logged_in_user, app)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(session_app, stripe_base):
    """The app with empty tables and an empty emulator."""
    urllib.request.urlopen(urllib.request.Request(f"{stripe_base}/_config/data", method="DELETE"))
    session_app.config["WTF_CSRF_ENABLED"] = False
    session_app.extensions.pop("banner_cache", None)
    session_app.extensions.pop("progress_cache", None)
    limiter.reset()
    with session_app.app_context():
        yield session_app
        db.session.remove()
        empty_tables()


def empty_tables():
    tables = db.metadata.sorted_tables
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(table.delete())


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

    def make(**overrides):
        fields = {
            "slug": "spring",
            "title": "Spring drive",
            "goal_amount": 100_000,
            "currency": "usd",
            "status": CampaignStatus.LIVE,
            "starts_at": utcnow(),
            "preset_amounts": [500, 1000, 2500],
            "variants": [Variant(key="a", heading="Support us", body="Please give.")],
        }
        fields.update(overrides)
        campaign = Campaign(**fields)
        db.session.add(campaign)
        db.session.commit()
        return campaign

    return make


@pytest.fixture
def make_gift(app):
    """Factory: a paid-up gift of a donor, as checkout leaves it; keyword arguments override fields."""
    counter = itertools.count(1)

    def make(frequency=Frequency.MONTH, status=GiftStatus.ACTIVE, **fields):
        number = next(counter)
        donor = Donor(email=f"donor{number}@example.org", name="Donor", stripe_customer_id=f"cus_{number}")
        values = dict(
            donor=donor,
            frequency=frequency,
            status=status,
            amount=1000,
            currency="usd",
            stripe_subscription_id=f"sub_{number}" if frequency.recurring else None,
            stripe_status="active" if frequency.recurring else None,
        )
        values.update(fields)
        gift = Gift(**values)
        db.session.add(gift)
        db.session.commit()
        return gift

    return make


PASSWORD = "correct horse battery staple"


def log_in(client, email, password=PASSWORD, **extra):
    """Post the staff login form."""
    return client.post("/staff/login", data={"email": email, "password": password, **extra})


@pytest.fixture
def make_staff(app):
    """Factory: a staff account with PASSWORD, hashed cheaply (the real scrypt takes half a second)."""

    def make(role="fundraiser", email=None, password=PASSWORD, active=True):
        staff = StaffUser(
            email=email or f"{role}@example.org",
            role=Role(role),
            active=active,
            password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000"),
        )
        db.session.add(staff)
        db.session.commit()
        return staff

    return make


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    base = item.funcargs.get("stripe_base") if "stripe_base" in item.fixturenames else None
    if base is None:
        return (yield)
    try:
        result = yield
    except BaseException:
        STRIPE_CONTRACT.collect(base)  # counted; the test's own failure is the one to read
        raise
    violations = STRIPE_CONTRACT.collect(base)
    if violations:
        pytest.fail("Requests outside Stripe's pinned API version:\n" + "\n".join(violations), pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter):
    if STRIPE_CONTRACT.active:
        terminalreporter.write_line(STRIPE_CONTRACT.summary())
