"""customer.subscription.*: a gift follows its subscription (status, amount, interval, pause,
cancellation), when the news is newer than what the gift knows."""

import logging

from banner import payments
from banner.extensions import db
from banner.models import Actor, Frequency, Gift, GiftEvent, utcnow
from banner.services.lifecycle.customers import _follow_card
from banner.services.lifecycle.gifts import Delivery, _settle_status, _time, gift_for_subscription

log = logging.getLogger(__name__)


#: how a cancellation came about, from Stripe's cancellation_details.reason
CHANNELS = {
    "cancellation_requested": "stripe_dashboard",
    "payment_failed": "failed_payment",
    "payment_disputed": "dispute",
}


def on_subscription(subscription: dict, delivery: Delivery) -> None:
    """customer.subscription.created / updated / deleted."""
    snapshot = payments.subscription_snapshot(subscription)
    gift = gift_for_subscription(snapshot.id, snapshot.gift_reference)
    if gift is None:
        log.warning("stripe event %s: no gift for subscription %s", delivery.id, snapshot.id)
        delivery.note = "no gift for this subscription"
        return
    if delivery.mark > gift.stripe_watermark:
        _follow_card(gift, subscription)
    apply_subscription(gift, snapshot, delivery.mark, Actor.STRIPE, delivery.id)


def apply_subscription(
    gift: Gift, snapshot: payments.SubscriptionSnapshot, mark: int, actor: Actor, actor_ref: str
) -> bool:
    """Take what a subscription says if it is newer than what the gift knows; return whether
    anything changed."""
    if mark <= gift.stripe_watermark:
        return False
    gift.stripe_watermark = mark
    gift.stripe_subscription_id = gift.stripe_subscription_id or snapshot.id
    before = _fields(gift)
    gift.stripe_status = snapshot.status
    gift.current_period_end = _time(snapshot.current_period_end) or gift.current_period_end
    gift.cancel_at_period_end = snapshot.cancel_at_period_end
    gift.paused_until = _time(snapshot.paused_until) if snapshot.paused else None
    _follow_amount(gift, snapshot, actor, actor_ref)
    if snapshot.status == "canceled":
        _record_cancellation(gift, snapshot)
    changed = _fields(gift) != before
    _settle_status(gift, actor, actor_ref, _why(snapshot))
    return changed


def _follow_amount(gift: Gift, snapshot: payments.SubscriptionSnapshot, actor, actor_ref) -> None:
    """An amount or interval change is a change of the same gift, never a new gift."""
    frequency = Frequency(snapshot.interval) if snapshot.interval in ("month", "year") else None
    amount = snapshot.amount if snapshot.amount else None
    if (amount or gift.amount) == gift.amount and (frequency or gift.frequency) == gift.frequency:
        return
    old = {"amount": gift.amount, "frequency": gift.frequency.value}
    gift.amount = amount or gift.amount
    gift.frequency = frequency or gift.frequency
    gift.fee_amount = min(gift.fee_amount, gift.amount - 1)
    new = {"amount": gift.amount, "frequency": gift.frequency.value}
    with db.session.no_autoflush:  # a flush as the events load would record the movement before its cause
        gift.events.append(
            GiftEvent(kind="amount", actor=actor, actor_ref=actor_ref, data={"old": old, "new": new})
        )


def _record_cancellation(gift: Gift, snapshot: payments.SubscriptionSnapshot) -> None:
    gift.cancelled_at = _time(snapshot.canceled_at) or gift.cancelled_at or utcnow()
    if gift.cancellation_channel in ("donor", "staff"):
        return  # cancelled through this service, which recorded the reason in the donor's words
    gift.cancellation_reason = snapshot.cancellation_feedback or gift.cancellation_reason
    if gift.donor is not None and not gift.donor.erased:
        gift.cancellation_comment = snapshot.cancellation_comment or gift.cancellation_comment
    gift.cancellation_channel = CHANNELS.get(snapshot.cancellation_reason or "", "stripe_dashboard")


def _why(snapshot: payments.SubscriptionSnapshot) -> str:
    if snapshot.status == "canceled":
        return f"subscription cancelled ({snapshot.cancellation_reason or 'no reason given'})"
    if snapshot.paused:
        return "collection paused"
    if snapshot.cancel_at_period_end:
        return "set to cancel at the end of the period"
    return f"subscription {snapshot.status}"


def _fields(gift: Gift) -> tuple:
    return (
        gift.status,
        gift.amount,
        gift.frequency,
        gift.current_period_end,
        gift.cancel_at_period_end,
        gift.paused_until,
        gift.cancelled_at,
        gift.cancellation_reason,
        gift.stripe_status,
    )
