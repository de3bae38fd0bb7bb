"""Money received, recorded once per PaymentIntent or invoice however often Stripe reports it.

A payment is also what makes a donor: the first one of a checkout attempt finds the donor with
the e-mail it was given, or creates them.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from banner.extensions import db
from banner.models import Donor, Gift, Payment


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
    if gift.donor is None:
        gift.donor = _donor_for(gift)
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


def _donor_for(gift: Gift) -> Donor:
    """Return the donor with the attempt's e-mail, made now if there is none; the attempt then
    forgets what was typed (the donor keeps it)."""
    email, name = gift.checkout_email, gift.checkout_name or ""
    if email is None:
        raise ValueError(f"gift {gift.reference} was paid but has no donor and no e-mail")
    with db.session.no_autoflush:
        donor = db.session.scalar(sa.select(Donor).where(Donor.email == email))
    if donor is None:
        try:
            with db.session.begin_nested():  # a payment for the same new donor may land at once
                donor = Donor(email=email, name=name)
                db.session.add(donor)
        except IntegrityError:
            donor = db.session.scalar(sa.select(Donor).where(Donor.email == email))
            if donor is None:
                raise
    if donor.stripe_customer_id is None and gift.stripe_customer_id:
        donor.stripe_customer_id = gift.stripe_customer_id
    gift.checkout_email = gift.checkout_name = None
    return donor
