"""invoice.*: first payments and renewals, failed renewals and their notices, renewals waiting
for 3-D Secure, invoices given up, and yearly renewals coming."""

import sqlalchemy as sa

from banner import payments
from banner.extensions import db
from banner.models import Actor, Gift, GiftEvent, GiftStatus, Payment, utcnow
from banner.services import ledger, notices, receipts
from banner.services.ledger import record_payment
from banner.services.lifecycle.charges import _apply_waiting
from banner.services.lifecycle.gifts import (
    Delivery,
    _never_paid,
    _settle_status,
    _time,
    gift_for_subscription,
)


def on_invoice_paid(invoice: dict, delivery: Delivery) -> None:
    """invoice.paid / invoice.payment_succeeded: the first payment or a renewal."""
    info = payments.invoice_info(invoice)
    gift = gift_for_subscription(info.subscription, None)
    if gift is None:
        delivery.note = "no gift for this invoice"
        return
    apply_invoice(gift, info, delivery.mark, Actor.STRIPE, delivery.id)


def apply_invoice(gift: Gift, info: payments.InvoiceInfo, mark: int, actor: Actor, actor_ref: str) -> bool:
    """Record a paid invoice's payment once, with the PaymentIntent and charge that paid it (as
    invoice_payment.paid told, before or after), and clear failures older than it."""
    changed = False
    if info.amount_paid > 0:
        paid_by = ledger.invoice_payment(info.id)
        known = db.session.scalar(sa.select(Payment.id).where(Payment.stripe_invoice_id == info.id))
        if known is None:
            payment = record_payment(
                gift,
                amount=info.amount_paid,
                currency=info.currency,
                paid_at=info.paid_at,
                invoice_id=info.id,
                payment_intent_id=info.payment_intent or paid_by.stripe_payment_intent_id,
                charge_id=info.charge or paid_by.stripe_charge_id,
            )
            gift.events.append(
                GiftEvent(
                    kind="payment",
                    actor=actor,
                    actor_ref=actor_ref,
                    data={"invoice": info.id, "amount": info.amount_paid},
                )
            )
            _apply_waiting(payment)
            notices.renewal_paid(info.id, payment.paid_at)
            if any(earlier is not payment for earlier in gift.payments):
                receipts.queue_renewal_receipt(payment)  # the first one's receipt: checkout.send_receipt
            changed = True
    if mark > gift.invoice_watermark:
        changed = changed or gift.failed_attempts != 0 or gift.action_required
        gift.invoice_watermark = mark
        gift.failed_attempts = 0
        gift.next_retry_at = None
        gift.action_required = False
    if changed:  # a first payment also turns a subscription Stripe ended into a cancellation
        _settle_status(gift, actor, actor_ref, "invoice paid")
    return changed


def on_invoice_payment_paid(invoice_payment: dict, delivery: Delivery) -> None:
    """invoice_payment.paid: which PaymentIntent and charge paid an invoice, so that its refunds
    and disputes find the payment; kept for invoice.paid when it comes first."""
    info = payments.invoice_payment_info(invoice_payment)
    if info.status != "paid" or not info.invoice:
        delivery.note = f"invoice payment {info.status}; nothing to record"
        return
    paid_by = ledger.invoice_payment(info.invoice)
    paid_by.stripe_payment_intent_id = paid_by.stripe_payment_intent_id or info.payment_intent
    paid_by.stripe_charge_id = paid_by.stripe_charge_id or info.charge
    payment = db.session.scalar(sa.select(Payment).where(Payment.stripe_invoice_id == info.invoice))
    if payment is None:
        delivery.note = "invoice not paid here yet; its invoice.paid takes these ids"
        return
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or info.payment_intent
    payment.stripe_charge_id = payment.stripe_charge_id or info.charge
    _apply_waiting(payment)


def on_invoice_failed(invoice: dict, delivery: Delivery) -> None:
    """invoice.payment_failed: a renewal was declined; Stripe will retry."""
    info = payments.invoice_info(invoice)
    gift = gift_for_subscription(info.subscription, None)
    if gift is None:
        delivery.note = "no gift for this invoice"
        return
    renewal = _is_renewal(gift, invoice)
    if renewal:  # kept whatever the order, for the reports: recovered or lost later
        failure = notices.Failure(
            invoice=info.id,
            amount=payments.field(invoice, "amount_due", default=0) or gift.amount,
            currency=info.currency,
            attempt=max(1, info.attempt_count),
            next_attempt=_time(info.next_payment_attempt),
            at=_time(delivery.event["created"]) or utcnow(),
        )
        row = notices.record_failure(gift, failure)
    if delivery.mark > gift.invoice_watermark:
        gift.invoice_watermark = delivery.mark
        gift.failed_attempts = max(1, info.attempt_count)
        gift.next_retry_at = _time(info.next_payment_attempt)
        gift.action_required = False
        reason = f"payment failed (attempt {gift.failed_attempts})"
        _settle_status(gift, Actor.STRIPE, delivery.id, reason)
        if renewal and gift.status is GiftStatus.PAST_DUE:
            notices.notify_failure(gift, failure, row)


def _is_renewal(gift: Gift, invoice: dict) -> bool:
    """Whether an invoice renews a gift paid before (the first one is the donate page's)."""
    return payments.field(invoice, "billing_reason") != "subscription_create" and not _never_paid(gift)


def on_invoice_given_up(invoice: dict, delivery: Delivery) -> None:
    """invoice.voided / invoice.marked_uncollectible: Stripe gave up a renewal; if it failed
    before, it is lost (paid later after all, it is recovered)."""
    info = payments.invoice_info(invoice)
    gift = gift_for_subscription(info.subscription, None)
    if gift is None:
        delivery.note = "no gift for this invoice"
        return
    notices.renewals_lost(gift, _time(delivery.event["created"]) or utcnow(), info.id)


def on_invoice_upcoming(invoice: dict, delivery: Delivery) -> None:
    """invoice.upcoming: a yearly gift renews in a few days (Stripe's "upcoming renewal events"
    setting); its donor is reminded, once per renewal."""
    info = payments.invoice_info(invoice)
    gift = gift_for_subscription(info.subscription, None)
    if gift is None:
        delivery.note = "no gift for this invoice"
        return
    lines = payments.field(invoice, "lines", "data", default=[]) or []
    charge_at = (
        _time(payments.field(lines[0], "period", "start") if lines else None)
        or _time(info.next_payment_attempt)
        or gift.current_period_end
    )
    if charge_at is None or not notices.yearly_reminder(
        gift, charge_at, payments.field(invoice, "amount_due")
    ):
        delivery.note = "no reminder: not a yearly gift that renews, or reminded already"


def on_invoice_action_required(invoice: dict, delivery: Delivery) -> None:
    """invoice.payment_action_required: the donor's bank wants 3-D Secure for a renewal; the
    gift waits for the donor, who is sent a link to the manage page."""
    info = payments.invoice_info(invoice)
    gift = gift_for_subscription(info.subscription, None)
    if gift is None:
        delivery.note = "no gift for this invoice"
        return
    if _never_paid(gift):
        delivery.note = "a first payment: the donate page asks for 3-D Secure"
        return
    if delivery.mark > gift.invoice_watermark:
        gift.invoice_watermark = delivery.mark
        gift.next_retry_at = _time(info.next_payment_attempt)
        gift.action_required = True
        _settle_status(gift, Actor.STRIPE, delivery.id, "the bank asks the donor to confirm the payment")
        if gift.status is GiftStatus.ACTION_REQUIRED:
            delivery.waiting.append(gift)
