"""Delivering the outbox: what banner.mail queued, sent by the worker with retries (and the
staff digest's webhook posts, banner.hooks, alike).

Each message is claimed, sent and recorded in a transaction of its own. On PostgreSQL the claim
is `SELECT ... FOR UPDATE SKIP LOCKED`, so several workers never take the same message; SQLite
has no row locks, so it runs one worker. A failed attempt is tried again after the next delay
of BANNER_MAIL_RETRY_MINUTES; after the last one the message is given up (failed_at) with its
error. A worker stopped between the mail server's answer and its commit sends that message
again: at least once, never lost.
"""

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from markupsafe import escape

from banner import hooks, mail
from banner.extensions import db
from banner.models import MailKind, OutboxMessage, utcnow

log = logging.getLogger(__name__)

#: what an erased donor's messages keep of their address and words
ERASED = "erased"


@dataclass
class Round:
    """What one pass over the due messages did."""

    sent: int = 0
    retrying: int = 0  #: failed this time, tried again later
    failed: int = 0  #: failed for the last time, given up

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def retry_delays() -> list[timedelta]:
    """Return the delays before each retry, from BANNER_MAIL_RETRY_MINUTES."""
    return [
        timedelta(minutes=float(minutes))
        for minutes in str(current_app.config["MAIL_RETRY_MINUTES"]).split(",")
    ]


def queue_or_log(queue: Callable[[], None], what: str) -> bool:
    """Queue the message telling of a change, in the change's own transaction but inside a
    savepoint; return whether it was queued. A failure (a template, a setting) is logged and
    undoes only the message: the change still commits with the caller's commit."""
    try:
        with db.session.begin_nested():
            queue()
    except Exception:  # none of them may undo the change the message tells of
        log.exception("the %s message was not queued; the change it tells of stands", what)
        return False
    return True


def deliver_due(
    now: datetime | None = None, limit: int | None = None, stop: threading.Event | None = None
) -> Round:
    """Send the messages due by `now`, at most `limit` (BANNER_MAIL_BATCH_SIZE) of them, and
    none after `stop` is set."""
    now = now or utcnow()
    limit = limit or current_app.config["MAIL_BATCH_SIZE"]
    done = Round()
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        message = _claim(now)
        if message is None:
            break
        try:
            (hooks.post if message.kind.is_webhook else mail.transmit)(message)
        except (OSError, ValueError) as error:  # the server refused, or an address it cannot take
            _record_failure(message, error, now, done)
        else:
            message.sent_at = utcnow()
            message.next_attempt_at = None
            done.sent += 1
        message.attempts += 1
        db.session.commit()
    db.session.commit()  # ends the transaction of the last claim that found nothing
    return done


def deliver_all_due(now: datetime | None = None) -> Round:
    """Send every message due by `now`, batch after batch."""
    done = Round()
    while True:
        batch = deliver_due(now)
        done.sent += batch.sent
        done.retrying += batch.retrying
        done.failed += batch.failed
        if batch.attempted < current_app.config["MAIL_BATCH_SIZE"]:
            return done


def _claim(now: datetime) -> OutboxMessage | None:
    """Lock the next due message that no other worker holds, until this transaction ends."""
    return db.session.scalar(
        sa.select(OutboxMessage)
        .where(OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _record_failure(message: OutboxMessage, error: Exception, now: datetime, done: Round) -> None:
    delays = retry_delays()
    message.last_error = f"{type(error).__name__}: {error}"[:1000]
    if message.attempts < len(delays):
        message.next_attempt_at = now + delays[message.attempts]
        done.retrying += 1
        log.warning("mail %s not sent, attempt %d: %s", message.id, message.attempts + 1, error)
    else:
        message.failed_at = utcnow()
        message.next_attempt_at = None
        done.failed += 1
        log.error("mail %s given up after %d attempts: %s", message.id, message.attempts + 1, error)


def erase_messages_to(address: str) -> int:
    """Redact every message to this address and give up those not sent yet, in the caller's
    transaction; return how many there were."""
    messages = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.to == address)).all()
    for message in messages:
        if message.sent_at is None and message.failed_at is None:
            message.failed_at = utcnow()
            message.next_attempt_at = None
            message.last_error = "the donor's data was erased"
        elif message.last_error is not None:  # a mail server's refusal may quote the address
            message.last_error = message.last_error.replace(address, ERASED)
        message.to = f"{ERASED}-{message.id}@invalid"
        message.subject = ERASED
        message.text_body = ERASED
        message.html_body = None
    return len(messages)


def redact_digests(texts: set[str]) -> int:
    """Replace each of `texts` (an erased donor's name, their words) in the staff digests kept
    in the outbox, in the caller's transaction; return how many digests changed."""
    wanted = sorted((text for text in texts if text and len(text) > 1), key=len, reverse=True)
    digests = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind.in_((MailKind.DIGEST, MailKind.DIGEST_WEBHOOK)))
    ).all()
    changed = 0
    for message in digests:
        before = (message.text_body, message.html_body)
        for text in wanted:
            # as written in the text part, the HTML part, and inside the webhook's JSON string
            for form in {text, str(escape(text)), json.dumps(text)[1:-1]}:
                message.text_body = message.text_body.replace(form, ERASED)
                if message.html_body is not None:
                    message.html_body = message.html_body.replace(form, ERASED)
        changed += (message.text_body, message.html_body) != before
    return changed


def waiting() -> int:
    """Return how many messages are neither sent nor given up."""
    return db.session.scalars(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.next_attempt_at.is_not(None))
    ).one()
