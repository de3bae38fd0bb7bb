"""An amount change's MRR movement comes after the change's own event and names its cause.

Found by the demo history, which changes amounts of gifts whose events were not loaded yet: loading
them flushed the new amount first, so the movement came before the change and without its actor.
"""

import time

import sqlalchemy as sa

from banner.extensions import db
from banner.models import Actor, GiftEvent
from tests import stripe_events as se


def test_an_amount_changes_movement_follows_its_event_and_names_its_cause(client, make_gift):
    gift = make_gift(amount=1000)
    gift_id = gift.id
    db.session.expire_all()  # as in a request of its own: the gift's events are not loaded
    sub = se.subscription(gift.stripe_subscription_id, amount=1500)
    event = se.event("customer.subscription.updated", sub, created=int(time.time()))
    assert se.deliver(client, event).status_code == 200

    changes = db.session.execute(
        sa.select(GiftEvent.kind, GiftEvent.actor, GiftEvent.actor_ref, GiftEvent.mrr_delta)
        .where(GiftEvent.gift_id == gift_id, GiftEvent.kind.in_(("amount", "mrr")))
        .order_by(GiftEvent.id)
    ).all()
    assert changes[-2:] == [
        ("amount", Actor.STRIPE, event["id"], 0),
        ("mrr", Actor.STRIPE, event["id"], 500),
    ]
