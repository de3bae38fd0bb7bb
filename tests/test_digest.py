"""The staff's daily digest: e-mailed once per day, and posted to a Slack-compatible webhook by
the outbox worker (never by the command), with the worker's retries."""

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import Actor, Donor, GiftEvent, MailKind, OutboxMessage, utcnow
from banner.services import digest, privacy, reports
from banner.services import outbox as mail_outbox
from tests import stripe_events as se

STAFF = "newsroom@example.org"


@pytest.fixture
def hook():
    """A local Slack-compatible incoming webhook: records each POST, answers `statuses` in turn
    (then 200)."""

    class Hook(BaseHTTPRequestHandler):
        posts: list = []
        statuses: list = []

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            Hook.posts.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(Hook.statuses.pop(0) if Hook.statuses else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret"
    yield Hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def day_of_news(client, make_gift):
    """Today: a new monthly donor, a donor who cancelled in their words, one ended at Stripe, and
    a failed renewal."""
    newcomer = make_gift(amount=1500)
    newcomer.donor.name = "Ada Newcomer"
    leaving = make_gift(amount=2000, cancellation_channel="donor", cancellation_reason="too_expensive")
    leaving.donor.name = "Bo Leaving"
    leaving.events.append(
        GiftEvent(
            kind="cancel_request",
            actor=Actor.DONOR,
            reason="Prices went up everywhere; I will be back.",
            data={"reason": "too_expensive", "offered": [], "taken": None},
        )
    )
    ended = make_gift(amount=800)
    ended.donor.name = "Cy Dashboard"
    failing = make_gift(amount=1200)
    failing.donor.name = "Di Failing"
    for gift in (leaving, ended, failing):  # donors since last week: not new today
        for event in gift.events:
            if event.movement == "new":
                event.created_at = utcnow() - timedelta(days=7)
    db.session.commit()
    now = int(time.time())
    cancelled = se.subscription(
        ended.stripe_subscription_id,
        status="canceled",
        canceled_at=now,
        cancellation={
            "reason": "cancellation_requested",
            "feedback": "low_quality",
            "comment": "Too many ads",
        },
    )
    se.deliver(client, se.event("customer.subscription.deleted", cancelled, created=now))
    invoice = se.invoice(
        "in_fail",
        failing.stripe_subscription_id,
        status="open",
        amount_paid=0,
        next_payment_attempt=now + 86400,
    )
    se.deliver(client, se.event("invoice.payment_failed", invoice, created=now))
    return {"newcomer": newcomer, "leaving": leaving}


def digests() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.kind.in_((MailKind.DIGEST, MailKind.DIGEST_WEBHOOK)))
            .order_by(OutboxMessage.id)
        )
    )


def test_no_digest_without_a_staff_address(app):
    result = app.test_cli_runner().invoke(args=["banner", "digest"])
    assert "No digest: BANNER_DIGEST_TO is not set." in result.output
    assert digests() == []


def test_the_digest_tells_staff_the_days_donors_cancellations_and_failures_once(
    app, day_of_news, outbox, monkeypatch
):
    monkeypatch.setitem(app.config, "DIGEST_TO", STAFF)
    outbox.clear()
    today = reports.today().isoformat()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["banner", "digest", "--date", today])
    assert result.exit_code == 0, result.output
    assert "1 new monthly donors, 2 cancellations, 1 failed renewals" in result.output
    assert "sent already" in runner.invoke(args=["banner", "digest", "--date", today]).output

    [message] = [m for m in outbox if m["To"] == STAFF]
    text = message.get_body(("plain",)).get_content()
    donor_id = day_of_news["leaving"].donor.id
    assert "Ada Newcomer, $15 monthly" in text
    assert "Bo Leaving, $20 monthly, gave 0 months, cancelled by the donor: It costs too much" in text
    assert '"Prices went up everywhere; I will be back."' in text
    assert f"{app.config['PUBLIC_URL']}/staff/donors/{donor_id}" in text
    assert (
        "Cy Dashboard" in text and "in the Stripe dashboard: Low quality" in text and '"Too many ads"' in text
    )
    assert "Di Failing, $12 monthly, attempt 1, next try" in text
    assert "Ada Newcomer" in message.get_body(("html",)).get_content()
    assert [m.kind for m in digests()] == [MailKind.DIGEST]  # no webhook set: no post


def test_the_webhook_is_posted_by_the_worker_with_its_retries(app, day_of_news, hook, outbox, monkeypatch):
    monkeypatch.setitem(app.config, "DIGEST_TO", STAFF)
    monkeypatch.setitem(app.config, "DIGEST_WEBHOOK_URL", hook.url)
    hook.statuses = [500]
    app.test_cli_runner().invoke(args=["banner", "digest", "--date", reports.today().isoformat()])
    assert hook.posts == []  # the command only queues it
    [_, post] = digests()
    assert post.kind is MailKind.DIGEST_WEBHOOK and "secret" not in post.to  # the URL is read when posting

    mail_outbox.deliver_all_due()
    db.session.refresh(post)
    assert post.sent_at is None and post.attempts == 1 and "500" in post.last_error  # to retry
    mail_outbox.deliver_all_due(utcnow() + timedelta(minutes=2))
    db.session.refresh(post)
    assert post.sent_at is not None
    [(_, first), (content_type, body)] = hook.posts
    assert content_type == "application/json" and first == body
    assert "Bo Leaving" in body["text"] and "1 failed renewals" in body["text"]


def test_the_default_day_is_yesterday(app, monkeypatch):
    monkeypatch.setitem(app.config, "DIGEST_TO", STAFF)
    yesterday = reports.today() - timedelta(days=1)
    assert (
        digest.send_digest()
        == f"The digest of {yesterday} is queued: 0 new monthly donors, 0 cancellations, 0 failed renewals."
    )


def test_erasing_a_donor_takes_their_name_and_words_out_of_kept_digests(
    app, day_of_news, hook, make_staff, outbox, stripe_base, monkeypatch
):
    monkeypatch.setitem(app.config, "DIGEST_TO", STAFF)
    monkeypatch.setitem(app.config, "DIGEST_WEBHOOK_URL", hook.url)
    digest.send_digest(reports.today())
    donor = db.session.scalar(sa.select(Donor).where(Donor.name == "Cy Dashboard"))
    privacy.erase(make_staff(role="admin"), donor, None)
    for message in digests():
        for body in filter(None, (message.text_body, message.html_body)):
            assert "Cy Dashboard" not in body and "Too many ads" not in body
            assert "Ada Newcomer" in body  # the others stay
