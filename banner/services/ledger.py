"""Money received, recorded once per PaymentIntent or invoice however often Stripe reports it."""

from datetime import UTC, datetime

import sqlalchemy as sa

from banner.extensions import db
from banner.models import Gift, Payment


def record_payment(
    gift: Gift,
    *,
    amount: int,
    currency: str,
    paid_at: int,
    payment_intent_id: str | None = None,
    invoice_id: str | None = None,
) -> Payment:
    """Return the gift's Payment for this PaymentIntent or invoice, adding it if it is new."""
    key = (
        Payment.stripe_invoice_id == invoice_id
        if invoice_id
        else Payment.stripe_payment_intent_id == payment_intent_id
    )
    payment = db.session.scalar(sa.select(Payment).where(key))
    if payment is None:
        payment = Payment(
            gift=gift,
            amount=amount,
            currency=currency,
            paid_at=datetime.fromtimestamp(paid_at, UTC),
            stripe_payment_intent_id=payment_intent_id,
            stripe_invoice_id=invoice_id,
        )
        db.session.add(payment)
    return payment
