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
    charge_id: str | None = None,
) -> Payment:
    """Return the gift's Payment for this invoice or (one-time gift) PaymentIntent, adding it if
    it is new; an invoice's PaymentIntent and a charge id fill in what the payment lacks."""
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
            stripe_invoice_id=invoice_id,
        )
        db.session.add(payment)
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or payment_intent_id
    payment.stripe_charge_id = payment.stripe_charge_id or charge_id
    return payment
