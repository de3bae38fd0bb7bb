"""One-time gifts' PaymentIntents, and the refunds and disputes of every payment, renewals
included, applied once their payment is known."""

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from banner import payments
from banner.extensions import db
from banner.models import (
    BEFORE_FIRST_PAYMENT,
    UNPAID,
    Actor,
    Frequency,
    Gift,
    GiftStatus,
    Payment,
    PaymentStatus,
    StripeEvent,
    utcnow,
)
from banner.services import ledger
from banner.services.ledger import record_payment
from banner.services.lifecycle.gifts import Delivery, _gift_by_reference

log = logging.getLogger(__name__)


def on_intent_succeeded(intent: dict, delivery: Delivery) -> None:
    """payment_intent.succeeded: a one-time gift paid (the page may have closed after 3-D Secure)."""
    info = payments.intent_info(intent)
    gift = _one_time_gift(info)
    if gift is None:
        return  # an invoice's PaymentIntent: the invoice events record it
    if apply_one_time_payment(gift, info, Actor.STRIPE, delivery.id):
        delivery.receipts.append(gift)


def apply_one_time_payment(gift: Gift, intent, actor: Actor, actor_ref: str) -> bool:
    """Record a succeeded PaymentIntent of a one-time gift; return whether the gift just became
    paid (it was left unpaid, e.g. when the donor closed the page after 3-D Secure)."""
    payment = record_payment(
        gift,
        amount=intent.amount,
        currency=intent.currency,
        paid_at=intent.created,
        payment_intent_id=intent.id,
        charge_id=intent.charge,
    )
    became_paid = gift.status in BEFORE_FIRST_PAYMENT
    if became_paid:
        gift.stripe_payment_intent_id = intent.id
        gift.set_status(GiftStatus.SUCCEEDED, actor, actor_ref=actor_ref, reason="payment succeeded")
    _apply_waiting(payment)
    return became_paid


def on_intent_failed(intent: dict, delivery: Delivery) -> None:
    """payment_intent.payment_failed: a one-time gift's card was declined."""
    info = payments.intent_info(intent)
    gift = _one_time_gift(info)
    if gift is not None and gift.status in UNPAID:
        gift.failure_message = (info.error_message or "The card was declined.")[:500]
        gift.set_status(GiftStatus.FAILED, Actor.STRIPE, actor_ref=delivery.id, reason=gift.failure_message)
        if info.status == "requires_payment_method":
            _end_declined_intent(gift, info.id)


def _end_declined_intent(gift: Gift, intent_id: str) -> None:
    """Cancel a declined one-time PaymentIntent, so that no other card is tried on it (card
    testing), even when the page never told us of the decline."""
    try:
        payments.cancel_payment(intent_id, f"gift-{gift.reference}-cancel")
    except payments.PaymentError:
        log.warning("declined PaymentIntent %s of gift %s not cancelled", intent_id, gift.reference)


def _one_time_gift(info: payments.IntentInfo) -> Gift | None:
    gift = db.session.scalar(
        sa.select(Gift).where(Gift.stripe_payment_intent_id == info.id).with_for_update()
    )
    if gift is None and info.gift_reference:
        gift = _gift_by_reference(info.gift_reference, lock=True)
    if gift is None or gift.frequency is not Frequency.ONCE:
        return None
    return gift


#: the notes of refund and dispute events that came before their payment was known
NO_PAYMENT = ("no payment for this charge", "no payment for this refund", "no payment for this dispute")


def on_charge_refunded(charge: dict, delivery: Delivery) -> None:
    """charge.refunded: record the refunded total (full or partial) against its payment."""
    info = payments.charge_info(charge)
    payment = ledger.payment_for_charge(info.id, info.payment_intent)
    if payment is None:
        delivery.note = NO_PAYMENT[0]
        return
    if ledger.apply_charge_refunds(payment, info.amount_refunded, delivery.mark, delivery.id):
        _follow_refunds(payment.gift, delivery.id)


def on_refund_failed(refund: dict, delivery: Delivery) -> None:
    """refund.failed: the refund did not reach the donor, so its money counts again."""
    info = payments.refund_info(refund)
    payment = ledger.payment_for_charge(info.charge, info.payment_intent)
    if payment is None:
        delivery.note = NO_PAYMENT[1]
        return
    if ledger.apply_refund_failure(payment, info.id, info.amount, delivery.mark, delivery.id):
        _follow_refunds(payment.gift, delivery.id)


def _follow_refunds(gift: Gift, actor_ref: str) -> None:
    """A one-time gift refunded in full is refunded; one whose refund failed is paid again."""
    if gift.frequency is not Frequency.ONCE:
        return
    refunded = all(p.status is PaymentStatus.REFUNDED for p in gift.payments)
    if refunded and gift.status is GiftStatus.SUCCEEDED:
        gift.set_status(GiftStatus.REFUNDED, Actor.STRIPE, actor_ref=actor_ref, reason="refunded in full")
    elif not refunded and gift.status is GiftStatus.REFUNDED:
        gift.set_status(GiftStatus.SUCCEEDED, Actor.STRIPE, actor_ref=actor_ref, reason="refund failed")


def on_dispute(dispute: dict, delivery: Delivery) -> None:
    """charge.dispute.created / closed: the donor's bank takes the money back while the dispute
    is open and keeps it if we lose; a dispute won gives it back."""
    info = payments.dispute_info(dispute)
    payment = ledger.payment_for_charge(info.charge, info.payment_intent)
    if payment is None:
        delivery.note = NO_PAYMENT[2]
        return
    ledger.apply_dispute(
        payment,
        info.status or "needs_response",
        info.amount,
        info.reason,
        datetime.fromtimestamp(delivery.event["created"], UTC),
        delivery.id,
    )


def _apply_waiting(payment: Payment) -> None:
    """Apply the refunds and disputes of the payment's charge that came before the payment (or
    its charge id) was known, in the order Stripe made them."""
    if not (payment.stripe_charge_id or payment.stripe_payment_intent_id):
        return
    keys = {payment.stripe_charge_id, payment.stripe_payment_intent_id} - {None}
    waiting = db.session.scalars(
        sa.select(StripeEvent)
        .where(StripeEvent.error.in_(NO_PAYMENT))
        .order_by(StripeEvent.created, StripeEvent.id)
    ).all()
    for stored in waiting:
        obj = stored.payload["data"]["object"]
        if stored.type == "charge.refunded":
            info = payments.charge_info(obj)
            charge, intent = info.id, info.payment_intent
        else:  # a refund or a dispute: both name their charge and PaymentIntent
            charge = payments.object_id(payments.field(obj, "charge")) or ""
            intent = payments.object_id(payments.field(obj, "payment_intent"))
        if not keys & {charge, intent}:
            continue
        delivery = Delivery(stored.payload)
        WAITING[stored.type](obj, delivery)
        stored.error = delivery.note
        stored.processed_at = utcnow()


#: the handlers of the events that wait for their payment
WAITING = {
    "charge.refunded": on_charge_refunded,
    "refund.failed": on_refund_failed,
    "charge.dispute.created": on_dispute,
    "charge.dispute.closed": on_dispute,
}
