"""Mail waits in the outbox, written with the change that causes it; the worker delivers it,
retries while the mail server is down, and never sends a message twice."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from banner import mail
from banner.extensions import db
from banner.models import Frequency, Gift, GiftStatus, MailKind, OutboxMessage, utcnow
from banner.services import lifecycle
from banner.services import outbox as mail_outbox
from tests import factories
from tests import stripe_events as se
from tests.conftest import ROOT, free_port
from tests.stripe_helpers import give
from tests.test_donate_views import give_over_http
from tests.waiting import eventually


def stored():
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def queue(to="ada@example.org", subject="Hello"):
    message = mail.send(MailKind.MANAGE_LINK, to=to, subject=subject, body="Your link.")
    db.session.commit()
    return message


def opened(client, message_body: str) -> str:
    """Follow the manage link in a message, as the donor does; return the manage area's path."""
    client.get(manage_path(message_body))
    return "/manage"


def manage_path(message_body: str) -> str:
    return re.search(r"https?://[^/\s]+(/manage/\S+)", message_body).group(1)


@pytest.fixture
def mail_server_down(app):
    """Point the app at a port where no mail server listens; call the result to bring it back."""
    working = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"

    def back():
        app.config["MAIL_URL"] = working

    yield back
    back()


@pytest.fixture
def hung_mail_server(app):
    """A mail server that takes connections and never answers; the connections it took."""
    listener = socket.create_server(("127.0.0.1", 0))
    taken = []

    def accept():
        while True:
            try:
                taken.append(listener.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    working = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{listener.getsockname()[1]}"
    yield taken
    app.config["MAIL_URL"] = working
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(timeout=5)
    for connection in taken:
        connection.close()


def test_no_request_talks_to_the_mail_server(client, stripe_base, make_campaign, hung_mail_server, outbox):
    make_campaign()
    assert give_over_http(client, stripe_base, frequency="month", amount="10")["status"] == "succeeded"
    assert client.post("/manage", data={"email": "ada@example.org"}).status_code == 200
    [receipt, _] = stored()
    gift_reference = db.session.scalar(sa.select(Gift.reference))
    cancelled = client.post(
        f"{opened(client, receipt.text_body)}/gifts/{gift_reference}/cancel",
        data={"reason": "community", "action_key": uuid.uuid4().hex},
    )
    assert cancelled.status_code == 200 and "Your gift is cancelled" in cancelled.text

    assert hung_mail_server == []
    waiting = stored()
    assert [m.kind for m in waiting] == [MailKind.RECEIPT, MailKind.MANAGE_LINK, MailKind.CANCELLATION]
    assert all(m.to == "ada@example.org" and m.attempts == 0 and m.sent_at is None for m in waiting)
    assert outbox.received == []


def test_a_cancellation_answers_normally_when_the_mail_server_is_down(client, stripe_base, mail_server_down):
    gift = give(stripe_base)
    [receipt] = stored()
    page = client.post(
        f"{opened(client, receipt.text_body)}/gifts/{gift.reference}/cancel",
        data={"reason": "too_expensive", "action_key": uuid.uuid4().hex},
    )
    assert page.status_code == 200 and "Your gift is cancelled" in page.text
    assert [m.kind for m in stored()] == [MailKind.RECEIPT, MailKind.CANCELLATION]


def test_a_staff_cancellation_answers_normally_when_the_mail_server_is_down(
    client, stripe_base, log_in_as, mail_server_down
):
    gift = give(stripe_base)
    log_in_as("admin")
    response = client.post(
        f"/staff/donors/{gift.donor_id}/gifts/{gift.reference}/cancel",
        data={"reason": "financial", "when": "period_end", "action_key": uuid.uuid4().hex},
    )
    assert response.status_code == 302
    assert [m.kind for m in stored()] == [MailKind.RECEIPT, MailKind.CANCELLATION]


@pytest.fixture
def break_the_outbox(monkeypatch):
    """Call the result to make the outbox refuse every new message, as a full disk would."""

    def refuse(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT INTO outbox_messages", {}, OSError("No space left on device"))

    return lambda: monkeypatch.setattr(mail, "send", refuse)


def cancel_as_donor(client, gift):
    [receipt] = stored()
    return client.post(
        f"{opened(client, receipt.text_body)}/gifts/{gift.reference}/cancel",
        data={"reason": "too_expensive", "action_key": uuid.uuid4().hex},
    )


def assert_cancelled_without_message(gift, channel, caplog):
    db.session.expire_all()
    cancelled = db.session.get(Gift, gift.id)
    assert cancelled.status is GiftStatus.CANCELLING and cancelled.cancellation_channel == channel
    assert [m.kind for m in stored()] == [MailKind.RECEIPT]
    assert any("cancellation message was not queued" in r.getMessage() for r in caplog.records)


def test_a_donors_cancellation_stands_when_its_confirmation_cannot_be_queued(
    client, stripe_base, break_the_outbox, caplog
):
    gift = give(stripe_base)
    stored()  # the receipt was queued while the outbox worked
    break_the_outbox()

    page = cancel_as_donor(client, gift)

    assert page.status_code == 200 and "Your gift is cancelled" in page.text
    assert_cancelled_without_message(gift, "donor", caplog)


def test_a_staff_cancellation_stands_when_its_confirmation_cannot_be_queued(
    client, stripe_base, log_in_as, break_the_outbox, caplog
):
    gift = give(stripe_base)
    log_in_as("admin")
    break_the_outbox()

    response = client.post(
        f"/staff/donors/{gift.donor_id}/gifts/{gift.reference}/cancel",
        data={"reason": "financial", "when": "period_end", "action_key": uuid.uuid4().hex},
    )

    assert response.status_code == 302
    assert_cancelled_without_message(gift, "staff", caplog)


def test_a_cancellation_stands_when_its_confirmation_cannot_be_delivered(
    client, stripe_base, mail_server_down, outbox
):
    gift = give(stripe_base)
    assert cancel_as_donor(client, gift).status_code == 200

    assert mail_outbox.deliver_all_due(utcnow() + timedelta(days=30)).sent == 0

    db.session.expire_all()
    assert db.session.get(Gift, gift.id).status is GiftStatus.CANCELLING
    assert outbox.received == []


def test_a_message_is_kept_by_the_commit_of_its_change_and_dropped_by_its_rollback(app):
    mail.send(MailKind.MANAGE_LINK, to="ada@example.org", subject="Dropped", body="...")
    db.session.rollback()
    assert stored() == []
    queue(subject="Kept")
    assert [m.subject for m in stored()] == ["Kept"]


def test_an_event_whose_applying_fails_leaves_no_receipt_and_its_retry_queues_one(
    client, monkeypatch, outbox
):
    donor = factories.donor(
        email="ada@example.org", name="Ada Reader", stripe_customer_id="cus_1", save=False
    )
    gift = factories.gift(
        Frequency.ONCE, GiftStatus.REQUIRES_ACTION, donor=donor, amount=2500, stripe_payment_intent_id="pi_1"
    )
    paid = se.event("payment_intent.succeeded", se.payment_intent("pi_1", gift=gift.reference, charge="ch_1"))
    queue_receipt = mail.send_receipt

    def queue_then_fail(*args):
        queue_receipt(*args)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(mail, "send_receipt", queue_then_fail)
    assert se.deliver(client, paid).status_code == 200  # stored, then applying it failed
    assert stored() == []
    monkeypatch.setattr(mail, "send_receipt", queue_receipt)
    assert lifecycle.apply_due(utcnow() + lifecycle.RETRY_DELAYS[0]) == 1  # the worker's retry
    assert [m.kind for m in stored()] == [MailKind.RECEIPT]
    assert [m["To"] for m in outbox] == ["ada@example.org"]


def test_the_drill_every_message_arrives_once_after_a_mail_server_outage(
    client, stripe_base, mail_server_down, outbox
):
    gifts = [give(stripe_base, email=f"donor{n}@example.org", frequency=Frequency.MONTH) for n in range(3)]
    [receipt, *_] = stored()
    cancelled = client.post(
        f"{opened(client, receipt.text_body)}/gifts/{gifts[0].reference}/cancel",
        data={"reason": "other", "action_key": uuid.uuid4().hex},
    )
    assert cancelled.status_code == 200

    down = mail_outbox.deliver_all_due()
    assert (down.sent, down.retrying, down.failed) == (0, 4, 0)
    assert all(m.attempts == 1 and "ConnectionRefusedError" in m.last_error for m in stored())
    assert mail_outbox.deliver_all_due().attempted == 0  # not due again before the first delay

    mail_server_down()  # it is back
    later = utcnow() + timedelta(minutes=2)
    assert mail_outbox.deliver_all_due(later).sent == 4
    assert mail_outbox.deliver_all_due(later + timedelta(days=1)).attempted == 0
    received = Counter((m["To"], m["Subject"]) for m in outbox.received)
    assert sorted(received.values()) == [1, 1, 1, 1]
    assert {to for to, _ in received} == {f"donor{n}@example.org" for n in range(3)}
    assert sum("is cancelled" in subject for _, subject in received) == 1
    assert mail_outbox.waiting() == 0


def test_a_failing_message_is_retried_after_each_delay_then_given_up_with_its_error(app, mail_server_down):
    app.config["MAIL_RETRY_MINUTES"] = "1,5,30,120,720"
    queue()
    now, delays = utcnow(), []
    while (message := stored()[0]).failed_at is None:
        mail_outbox.deliver_due(now)
        message = stored()[0]
        if message.next_attempt_at is not None:
            delays.append((message.next_attempt_at - now) / timedelta(minutes=1))
            now = message.next_attempt_at
    assert delays == [1, 5, 30, 120, 720]
    assert message.attempts == 6 and message.sent_at is None and message.next_attempt_at is None
    assert "ConnectionRefusedError" in message.last_error
    assert mail_outbox.deliver_all_due(now + timedelta(days=30)).attempted == 0


def test_two_workers_never_send_the_same_message(app, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks: it runs one worker")
    ids = [queue(to=f"donor{n}@example.org").id for n in range(20)]
    both_claimed = threading.Barrier(2, timeout=10)
    first = threading.local()
    sent, errors = [], []

    def transmit(message):
        if not getattr(first, "done", False):
            first.done = True
            both_claimed.wait()  # each worker holds a claimed message here, at the same time
        sent.append(message.id)

    monkeypatch.setattr(mail, "transmit", transmit)

    def worker():
        with app.app_context():
            try:
                mail_outbox.deliver_all_due()
            except Exception as error:  # a thread cannot fail the test; the assertion below does
                errors.append(error)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(sent) == ids
    assert all(m.sent_at is not None and m.attempts == 1 for m in stored())


def test_the_worker_command_once_delivers_what_is_due(app, outbox):
    queue(subject="Your gifts")
    result = app.test_cli_runner().invoke(args=["banner", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 to retry, 0 given up." in result.output
    assert [m["Subject"] for m in outbox.received] == ["Your gifts"]


def test_the_worker_delivers_until_sigterm_then_exits_cleanly(app, app_settings, outbox):
    queue(subject="While it runs")
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    env.update(
        PYTHONUNBUFFERED="1",
        BANNER_ENV="testing",
        BANNER_DATABASE_URL=app_settings["DATABASE_URL"],
        BANNER_MAIL_URL=app.config["MAIL_URL"],
        BANNER_MAIL_POLL_SECONDS="0.2",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "banner", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with contextlib.suppress(AssertionError):  # what it did is asserted below, with its output
            eventually(lambda: outbox.received or worker.poll() is not None, 30)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "Worker stopped." in output
    assert [m["Subject"] for m in outbox.received] == ["While it runs"]


def test_erasing_an_address_redacts_its_messages_and_keeps_the_unsent_from_going(app, outbox):
    queue(to="ada@example.org", subject="Sent before")
    mail_outbox.deliver_all_due()
    queue(to="ada@example.org", subject="Not sent yet")
    queue(to="bob@example.org", subject="For Bob")
    assert mail_outbox.erase_messages_to("ada@example.org") == 2
    db.session.commit()
    assert [m["Subject"] for m in outbox] == ["Sent before", "For Bob"]
    kept = stored()
    assert not any("ada" in m.to + m.subject + m.text_body for m in kept)
    assert [m.failed_at is not None for m in kept] == [False, True, False]
