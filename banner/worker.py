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
from collections.abc import Callable

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
        config = current_app.config
        _loop(
            stop,
            "delivering mail",
            lambda: outbox.deliver_due(stop=stop).attempted >= config["MAIL_BATCH_SIZE"],
            lambda: stop.wait(config["MAIL_POLL_SECONDS"]),
        )
    finally:
        stop.set()
        events.join(timeout=60)


def _events_loop(app: Flask, stop: threading.Event) -> None:
    with app.app_context():
        told = _Told(stop)  # listening before the first look: no event stored after it is missed
        try:
            _loop(stop, "applying Stripe's events", lambda: lifecycle.apply_due() > 0, told.wait)
        finally:
            told.close()
            db.session.remove()


def _loop(stop: threading.Event, what: str, step: Callable[[], bool], wait: Callable[[], object]) -> None:
    """Run `step` until `stop` is set, again at once while it says there is more, else after
    `wait`; a database failure is rolled back, logged and tried again after `wait`."""
    while not stop.is_set():
        try:
            more = step()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("worker: the database failed %s; trying again", what)
            more = False
        if not more:
            wait()


class _Told:
    """Waits of POLL_SECONDS that end early when an event is stored for the worker (PostgreSQL's
    NOTIFY on lifecycle.EVENTS_CHANNEL) or `stop` is set. On SQLite they sleep; on PostgreSQL,
    while it cannot be listened to, they sleep and try to listen again."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.listens = db.engine.dialect.name == "postgresql"
        self.connection = _listen() if self.listens else None

    def wait(self) -> None:
        if self.connection is None:
            self.stop.wait(POLL_SECONDS)
            if self.listens:
                self.connection = _listen()
            return
        deadline = time.monotonic() + POLL_SECONDS
        try:
            while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
                # a burst of notifications may wake it again: it then finds nothing due
                if any(True for _ in self.connection.notifies(timeout=min(left, STOP_SECONDS), stop_after=1)):
                    return
        except Exception:  # the connection broke: the next wait sleeps, then listens again
            log.warning("worker: stopped listening for Stripe's events", exc_info=True)
            self.close()

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


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
