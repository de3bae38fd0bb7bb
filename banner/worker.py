"""`banner worker`: applies Stripe's stored events and delivers the outbox, until told to stop.

Two loops, each in its own thread and app context (so each has its own database session):
- Stripe's events: those due (with EVENTS_APPLIED_BY=worker, every event as soon as it is
  stored; else those their request did not apply, and retries of failures). On PostgreSQL the
  loop LISTENs on EVENTS_CHANNEL, which lifecycle.store notifies when it stores an event for the
  worker, so an event is applied within milliseconds of its answer; it also looks every
  POLL_SECONDS (on SQLite, that is all it does).
- the outbox: receipts, manage links and notices, sent with retries (services/outbox.py).
A message that takes long to send does not hold Stripe's events back, nor the reverse.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from banner.extensions import db
from banner.services import lifecycle, outbox

log = logging.getLogger(__name__)

#: how often the events' loop looks for due events without being told (retries, SQLite)
POLL_SECONDS = 1.0
#: how soon a listening loop sees that it is to stop
STOP_SECONDS = 0.5


def run(stop: threading.Event) -> None:
    """Apply events and deliver mail until `stop` is set; each loop ends after the item in hand."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    events = threading.Thread(target=_events_loop, args=(app, stop), name="stripe-events", daemon=True)
    events.start()
    try:
        _mail_loop(stop)
    finally:
        stop.set()
        events.join(timeout=60)


def _events_loop(app: Flask, stop: threading.Event) -> None:
    with app.app_context():
        try:
            with _told(stop) as wait:
                while not stop.is_set():
                    try:
                        while lifecycle.apply_due() and not stop.is_set():
                            pass
                    except SQLAlchemyError:
                        db.session.rollback()
                        log.exception("worker: the database failed applying Stripe's events; trying again")
                    wait(POLL_SECONDS)
        finally:
            db.session.remove()


def _mail_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            batch = outbox.deliver_due(stop=stop)
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("worker: the database failed delivering mail; trying again")
            batch = outbox.Round()
        if batch.attempted < current_app.config["MAIL_BATCH_SIZE"]:
            stop.wait(current_app.config["MAIL_POLL_SECONDS"])


@contextlib.contextmanager
def _told(stop: threading.Event) -> Iterator:
    """A wait(seconds) that returns early when an event is stored for the worker (PostgreSQL's
    NOTIFY) or `stop` is set; on SQLite, or while PostgreSQL cannot be listened to, it sleeps."""
    connection = _listen() if db.engine.dialect.name == "postgresql" else None

    def wait(seconds: float) -> None:
        nonlocal connection
        if connection is None:
            stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        try:
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                # a burst of notifications may wake it again: it then finds nothing due
                if any(True for _ in connection.notifies(timeout=min(left, STOP_SECONDS), stop_after=1)):
                    return
        except Exception:  # the connection broke: poll until listening works again
            log.warning("worker: stopped listening for Stripe's events; polling", exc_info=True)
            with contextlib.suppress(Exception):
                connection.close()
            stop.wait(seconds)
            connection = _listen()

    try:
        yield wait
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


def _listen():
    """A connection of its own (autocommit) that LISTENs on lifecycle.EVENTS_CHANNEL, or None."""
    import psycopg

    url = db.engine.url.set(drivername="postgresql")
    try:
        connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        connection.execute(f"LISTEN {lifecycle.EVENTS_CHANNEL}")
    except Exception:
        log.warning("worker: cannot listen for Stripe's events; polling every %s s", POLL_SECONDS,
                    exc_info=True)  # fmt: skip
        return None
    return connection
