"""Can this process serve donations: its database, Redis when configured, and Stripe.

Stripe's answer is kept for STRIPE_CHECK_SECONDS, so that however often a load balancer or an
anonymous visitor asks, each process calls Stripe at most once a minute.
"""

import time

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from banner import payments
from banner.extensions import db, limiter
from banner.services import lifecycle

STRIPE_CHECK_SECONDS = 60  #: how long a good answer from Stripe is trusted
STRIPE_RETRY_SECONDS = 5  #: how soon a failed check is tried again (an operator waits on it)


def check() -> tuple[dict[str, bool], dict[str, int | None]]:
    """Return whether each dependency answers (database, redis when configured, stripe), and how
    many Stripe events are not applied: for their API version, because applying them failed
    (retried by the worker, or given up), and because no worker applied them within a minute of
    being due (it is not running, or is behind); None without a database."""
    counts: dict[str, int | None] = {
        "stripe_events_of_other_versions": None,
        "stripe_events_not_applied": None,
        "stripe_events_waiting": None,
    }
    try:
        counts["stripe_events_of_other_versions"] = lifecycle.events_of_other_versions()
        counts["stripe_events_not_applied"] = lifecycle.events_that_failed()
        counts["stripe_events_waiting"] = lifecycle.events_waiting()
        checks = {"database": True}
    except SQLAlchemyError:
        db.session.rollback()
        checks = {"database": False}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _redis()
    checks["stripe"] = _stripe()
    return checks, counts


def _redis() -> bool:
    try:
        return bool(limiter.storage.check())
    except Exception:  # whatever the client raises when Redis is down
        return False


def _stripe() -> bool:
    cached = current_app.extensions.get("stripe_ready")
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    answered = payments.ping()
    seconds = STRIPE_CHECK_SECONDS if answered else STRIPE_RETRY_SECONDS
    current_app.extensions["stripe_ready"] = (time.monotonic() + seconds, answered)
    return answered
