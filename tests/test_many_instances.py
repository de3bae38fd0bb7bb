"""Two app instances on different ports, one PostgreSQL and one Redis: rate limits are shared,
a staff save on one is seen by the other within a second, and mail workers on both never send
a message twice. Each instance is gunicorn with deploy/gunicorn.conf.py (one gevent process);
each worker a `flask banner worker`. Also here, on PostgreSQL: a request waiting on the database
does not hold up the banner's answers in the same process."""

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from banner import mail
from banner.extensions import db
from banner.models import MailKind, OutboxMessage
from tests.conftest import PASSWORD, ROOT, STRICT, free_port
from tests.waiting import eventually

REDIS_URL = os.environ.get("BANNER_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
BIN = Path(sys.executable).parent


@pytest.fixture
def shared(app, database_url):
    """The settings two instances share: this test's PostgreSQL and an empty Redis database."""
    if not database_url.startswith("postgresql"):
        pytest.skip("many instances share one PostgreSQL; SQLite runs one process")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.exceptions.ConnectionError:
        if STRICT:
            pytest.fail(f"Redis is required at {REDIS_URL} when BANNER_TEST_STRICT=1")
        pytest.skip(f"Redis: start one at {REDIS_URL} (or set BANNER_TEST_REDIS_URL)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    for name in ("DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        env[f"BANNER_{name}"] = app.config[name]
    env.update(
        PYTHONUNBUFFERED="1",
        BANNER_ENV="testing",
        BANNER_STRIPE_API_BASE=app.config["STRIPE_API_BASE"],
        BANNER_MAIL_URL=app.config["MAIL_URL"],
        BANNER_REDIS_URL=REDIS_URL,
        BANNER_EVENTS_PER_IP="5 per minute",
        BANNER_MAIL_POLL_SECONDS="0.1",
        BANNER_MAIL_BATCH_SIZE="3",  # small passes, so that both workers take part
    )
    yield env
    redis.Redis.from_url(REDIS_URL).flushdb()


class Started:
    """Processes this test started, stopped (SIGTERM, then SIGKILL) however it ends."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.processes.append(process)
        return process

    def stop(self) -> list[str]:
        outputs = []
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                outputs.append(process.communicate(timeout=30)[0])
            except subprocess.TimeoutExpired:
                process.kill()
                outputs.append(process.communicate()[0])
        return outputs


@pytest.fixture
def started():
    processes = Started()
    yield processes
    processes.stop()


def instance(started: Started, env: dict) -> str:
    """Start one instance as deployed (deploy/gunicorn.conf.py), with one process; return its URL."""
    port = free_port()
    conf = str(ROOT / "deploy" / "gunicorn.conf.py")
    started.start(
        [str(BIN / "gunicorn"), "-c", conf, "--bind", f"127.0.0.1:{port}"], {**env, "WEB_CONCURRENCY": "1"}
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return True
        except OSError:
            return False

    eventually(answers, 60, f"{base} did not start")
    return base


def status(request: urllib.request.Request | str, opener=None) -> int:
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def heading(base: str) -> str | None:
    with urllib.request.urlopen(f"{base}/api/banner?campaign=spring", timeout=10) as response:
        return json.loads(response.read())["variants"][0]["heading"] if response.status == 200 else None


def test_two_instances_share_rate_limits_and_see_each_others_staff_saves(
    shared, started, make_campaign, make_staff
):
    make_campaign()
    staff = make_staff(role="fundraiser")
    one, two = instance(started, shared), instance(started, shared)

    beacon = json.dumps({"events": [{"type": "impression", "campaign": "spring", "variant": "a"}]}).encode()
    statuses = [
        status(urllib.request.Request(f"{base}/api/events", data=beacon, method="POST"))
        for base in (one, two, one, two, one, two, one)
    ]
    assert statuses == [204] * 5 + [429] * 2  # 5 per minute from this address, across both

    assert heading(two) == "Support us"  # the second instance has its copy of the campaign
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(path: str, **fields) -> int:
        with browser.open(one + path, timeout=10) as page:
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.read().decode()).group(
                1
            )
        body = urllib.parse.urlencode({"csrf_token": token, **fields}).encode()
        return status(urllib.request.Request(one + path, data=body, method="POST"), browser)

    assert post("/staff/login", email=staff.email, password=PASSWORD) == 200  # followed to the staff area
    form = {
        "key": "a",
        "heading": "Changed on one",
        "body": "",
        "button_text": "Give now",
        "preset_amounts": "",
    }
    assert (
        post("/staff/campaigns/spring/variants/a", **form, theme="light", weight="1", audience="all") == 200
    )
    eventually(
        lambda: heading(two) == "Changed on one", 1.0, "the other instance still answers the old banner"
    )


def test_mail_workers_on_two_instances_send_each_message_once(shared, started, smtp_server):
    mailbox, _ = smtp_server
    mailbox.messages.clear()
    subjects = [f"Message {number}" for number in range(40)]
    for subject in subjects:
        mail.send(MailKind.MANAGE_LINK, to="ada@example.org", subject=subject, body="Your link.")
    db.session.commit()

    command = [sys.executable, "-m", "flask", "--app", "wsgi", "banner", "worker"]
    started.start(command, shared), started.start(command, shared)

    def all_sent() -> bool:
        unsent = sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        return len(mailbox.messages) >= len(subjects) and db.session.scalar(unsent) == 0

    with contextlib.suppress(AssertionError):  # the assertions below say what arrived, with the output
        eventually(all_sent, 60)
    # every message is marked sent, so none is left to claim twice; a worker stops only after the
    # message it is sending, so a message sent twice has arrived once they have stopped
    outputs = started.stop()

    assert sorted(message["Subject"] for message in mailbox.messages) == sorted(subjects), outputs
    assert all("Worker stopped." in output for output in outputs), outputs


def test_a_request_waiting_on_the_database_does_not_hold_up_the_banner(shared, started, make_campaign, app):
    """One process as deployed: while a donor's page waits on a lock in PostgreSQL, the same
    process answers the banner (with sync workers it would wait for the lock too)."""
    make_campaign()
    db.session.commit()
    base = instance(started, shared)
    assert heading(base) == "Support us"  # the answer is built and kept before the lock
    engine = sa.create_engine(app.config["DATABASE_URL"], poolclass=sa.pool.NullPool)
    waited: list[int] = []
    with engine.connect() as locker:
        locker.execute(sa.text("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE"))
        donor = threading.Thread(target=lambda: waited.append(status(f"{base}/donate?campaign=spring")))
        donor.start()

        def donor_waits_on_the_lock() -> bool:
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            return locker.execute(sa.text(query)).scalar() > 0

        eventually(donor_waits_on_the_lock, 10, "the donate page never waited on the lock")
        assert heading(base) == "Support us"  # answered while the donor's request still waits
        assert donor.is_alive() and not waited
        locker.rollback()
    donor.join(timeout=20)
    engine.dispose()
    assert waited == [200]
