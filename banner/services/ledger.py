"""Money received, recorded once per PaymentIntent or invoice however often Stripe reports it,
and what refunds and disputes later take back from it.

A payment is also what makes a donor: the first one of a checkout attempt finds the donor with
the e-mail it was given, or creates them. A payment's net (`Payment.net`: amount less refunds
less what a dispute took back) is what the reports and the gift's `received` total count; the
listener in banner/models/donor.py keeps the total in step with every change made here.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from banner.extensions import db
from banner.models import Actor, Donor, Gift, GiftEvent, InvoicePayment, Payment, PaymentStatus

#: dispute statuses in which the bank holds the donor's money (not inquiries, not won ones)
WITHDRAWN = ("needs_response", "under_review", "lost")
#: dispute statuses no later news changes
CLOSED = ("won", "lost", "warning_closed", "prevented")


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
    gift.checkout_email = gift.checkout_name = gift.checkout_client = gift.checkout_browser = None
    return donor


def invoice_payment(invoice_id: str) -> InvoicePayment:
    """Return (adding it once) the record of which PaymentIntent and charge paid an invoice, locked.

    invoice.paid and invoice_payment.paid both take it first, so the two, applied at once, wait
    for each other and the later one sees what the earlier one wrote.
    """
    query = sa.select(InvoicePayment).where(InvoicePayment.stripe_invoice_id == invoice_id).with_for_update()
    found = db.session.scalar(query)
    if found is None:
        try:
            with db.session.begin_nested():
                found = InvoicePayment(stripe_invoice_id=invoice_id)
                db.session.add(found)
        except IntegrityError:  # added by a concurrent event, committed since
            found = db.session.scalars(query).one()
    return found


def payment_for_charge(charge_id: str | None, payment_intent_id: str | None) -> Payment | None:
    """Return the payment a charge (or its PaymentIntent) paid, locked, or None if unknown."""
    keys = [Payment.stripe_charge_id == charge_id] if charge_id else []
    if payment_intent_id:
        keys.append(Payment.stripe_payment_intent_id == payment_intent_id)
    if not keys:
        return None
    return db.session.scalar(sa.select(Payment).where(sa.or_(*keys)).limit(1).with_for_update())


def apply_charge_refunds(payment: Payment, charge_refunded: int, mark: int, actor_ref: str) -> bool:
    """Take the refunded total a charge reports if it is newer than what the payment knows (of
    two in the same second, the larger: refunds only grow until one fails)."""
    if (mark, charge_refunded) <= (payment.refund_watermark, payment.charge_refunded):
        return False
    payment.refund_watermark = mark
    payment.charge_refunded = charge_refunded
    return _settle_refunds(payment, actor_ref)


def apply_refund_failure(payment: Payment, refund_id: str, amount: int, mark: int, actor_ref: str) -> bool:
    """A refund failed: its money stays with us, unless the charge said so since."""
    if any(e.kind == "refund_failed" and e.data.get("refund") == refund_id for e in payment.gift.events):
        return False
    payment.gift.events.append(
        GiftEvent(
            kind="refund_failed",
            actor=Actor.STRIPE,
            actor_ref=actor_ref,
            data={"payment": payment.id, "refund": refund_id, "amount": amount, "mark": mark},
        )
    )
    return _settle_refunds(payment, actor_ref)


def _settle_refunds(payment: Payment, actor_ref: str) -> bool:
    """Set the refunded amount: the charge's latest total less the refunds that failed after it."""
    failed = sum(
        e.data["amount"]
        for e in payment.gift.events
        if e.kind == "refund_failed"
        and e.data.get("payment") == payment.id
        and e.data["mark"] > payment.refund_watermark
    )
    refunded = min(max(0, payment.charge_refunded - failed), payment.amount - payment.amount_disputed)
    if refunded == payment.amount_refunded:
        return False
    payment.amount_refunded = refunded
    payment.status = payment_status(payment)
    payment.gift.events.append(
        GiftEvent(
            kind="refund",
            actor=Actor.STRIPE,
            actor_ref=actor_ref,
            data={"payment": payment.id, "refunded": refunded, "of": payment.amount},
        )
    )
    return True


def apply_dispute(
    payment: Payment, status: str, amount: int, reason: str | None, at: datetime, actor_ref: str
) -> bool:
    """Follow a dispute of the payment: while the bank holds the money, or once it kept it, the
    payment does not count; an inquiry, or a dispute won, gives it back. A closed dispute stays
    closed whatever older news arrives after."""
    if payment.dispute_status in CLOSED and status not in CLOSED:
        return False
    if status == payment.dispute_status:
        return False
    opened = payment.dispute_status is None
    payment.dispute_status = status
    payment.amount_disputed = (
        min(amount, payment.amount - payment.amount_refunded) if status in WITHDRAWN else 0
    )
    payment.status = payment_status(payment)
    gift = payment.gift
    if opened:
        gift.disputed_at = gift.disputed_at or at
    gift.events.append(
        GiftEvent(
            kind="dispute" if opened else "dispute_status",
            actor=Actor.STRIPE,
            actor_ref=actor_ref,
            reason=reason,
            data={"payment": payment.id, "status": status, "withheld": payment.amount_disputed},
        )
    )
    return True


def payment_status(payment: Payment) -> PaymentStatus:
    if payment.amount_disputed:
        return PaymentStatus.DISPUTED
    if payment.amount_refunded == payment.amount:
        return PaymentStatus.REFUNDED
    return PaymentStatus.SUCCEEDED
