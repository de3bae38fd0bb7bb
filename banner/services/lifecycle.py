"""Stripe webhook events: each stored once by its id, in the transaction of its effect."""

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from banner.extensions import db
from banner.models import StripeEvent, utcnow

log = logging.getLogger(__name__)


def receive(event: dict) -> bool:
    """Store a verified Stripe event unless it came before; return whether it was new."""
    exists = db.session.scalar(sa.select(StripeEvent.id).where(StripeEvent.event_id == event["id"]))
    if exists:
        return False
    db.session.add(
        StripeEvent(
            event_id=event["id"],
            type=event["type"],
            created=event["created"],
            payload=event,
            processed_at=utcnow(),
        )
    )
    log.info("stripe event %s (%s) stored; no handler for this type yet", event["id"], event["type"])
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the same event arrived twice at once; the other one stands
        return False
    return True
