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


def check() -> tuple[dict[str, bool], int | None]:
    """Return whether each dependency answers (database, redis when configured, stripe), and how
    many Stripe events were left unapplied for their API version (None without a database)."""
    try:
        other_versions: int | None = lifecycle.events_of_other_versions()
        checks = {"database": True}
    except SQLAlchemyError:
        db.session.rollback()
        other_versions, checks = None, {"database": False}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _redis()
    checks["stripe"] = _stripe()
    return checks, other_versions


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
