"""What Stripe tells us about gifts, applied so that every gift matches Stripe.

Each webhook event is stored by its id in the same transaction as its effect: a duplicate is a
no-op, and an error rolls both back so that Stripe's redelivery applies it once. An event of
another API version than the pinned one (payments.API_VERSION) is stored, flagged and never
applied: its objects have other fields.

Events arrive late, twice and out of order. So a gift keeps two watermarks (gift_rules.watermark:
the event's `created` second, then a rank ordering events of that second): the subscription's own news
(status, amount, interval, pause, cancellation, the customer deleted) is applied only when newer
than the gift's `stripe_watermark`, and invoice news (renewal failures, 3-D Secure asked,
payments) only when newer than its `invoice_watermark`. Payments are keyed by invoice or
PaymentIntent and only ever added. invoice.paid records a renewal and invoice_payment.paid says
which PaymentIntent and charge paid it: whichever comes first is kept for the other
(services/ledger.py), so refunds and disputes of renewals find their payment; a refund or
dispute that came before its payment is kept with a note and applied once the payment (or its
charge id) is known. A payment follows
its charge's refunded total by a watermark of its own, less the refunds that failed since; a
dispute takes the money out while open or lost and gives it back when won, and once closed stays
closed. Whatever the order, the gift ends in the same state.

The gift's status then follows from what Stripe last said:
  ended (canceled, incomplete_expired) before any payment -> failed, never a cancellation;
  canceled -> cancelled; incomplete_expired -> failed; pause_collection -> paused;
  newer invoice news than subscription news -> action_required while the bank waits for the
  donor's 3-D Secure (the donor is e-mailed the manage link), past_due while attempts fail,
  else active; before the first payment, only the donate page and its events move the gift;
  past_due / unpaid -> past_due; active with cancel_at_period_end -> cancelling; active -> active.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from banner import mail, payments
from banner.extensions import db
from banner.models import (
    BEFORE_FIRST_PAYMENT,
    UNPAID,
    Actor,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Payment,
    PaymentStatus,
    StripeEvent,
    normalise_email,
    utcnow,
    watermark,
)
from banner.services import ledger, links, receipts, redaction
from banner.services.checkout import send_receipt
from banner.services.ledger import record_payment

log = logging.getLogger(__name__)

#: how the note of an event of another API version begins
OTHER_VERSION = "api_version"

#: how a cancellation came about, from Stripe's cancellation_details.reason
CHANNELS = {
    "cancellation_requested": "stripe_dashboard",
    "payment_failed": "failed_payment",
    "payment_disputed": "dispute",
}
SUBSCRIPTION_STATUS = {
    "active": GiftStatus.ACTIVE,
    "trialing": GiftStatus.ACTIVE,
    "past_due": GiftStatus.PAST_DUE,
    "unpaid": GiftStatus.PAST_DUE,
    "paused": GiftStatus.PAUSED,
    "canceled": GiftStatus.CANCELLED,
    "incomplete_expired": GiftStatus.FAILED,
}


@dataclass
class Delivery:
    """One event being applied: what it is, and the mail its transaction queues."""

    event: dict
    note: str | None = None  #: kept on the stored event, e.g. "no gift for this subscription"
    receipts: list[Gift] = field(default_factory=list)  #: queued with the event's effect
    waiting: list[Gift] = field(default_factory=list)  #: renewals the donor must confirm

    @property
    def id(self) -> str:
        return self.event["id"]

    @property
    def mark(self) -> int:
        """How new this news is: created time, then the rank of its type within a second."""
        return watermark(self.event["created"], self.event["type"])


def receive(event: dict) -> bool:
    """Apply a verified Stripe event once; return False when it came before.

    Raises whatever applying it raised, after rolling back, so the caller answers 5xx.
    """
    if db.session.scalar(sa.select(StripeEvent.id).where(StripeEvent.event_id == event["id"])):
        return False
    stored = StripeEvent(event_id=event["id"], type=event["type"], created=event["created"], payload=event)
    db.session.add(stored)
    delivery = Delivery(event)
    try:
        db.session.flush()  # claims the event id; a concurrent duplicate waits here, then fails
        if redaction.names_erased_donor(event):
            stored.payload = redaction.scrub(event, [])
        version = event.get("api_version")
        if version != payments.API_VERSION:
            # Another version's objects have other fields: read as ours, they would mislead.
            log.warning(
                "stripe event %s: api_version %s is not %s", event["id"], version, payments.API_VERSION
            )
            stored.error = f"{OTHER_VERSION} {version} is not {payments.API_VERSION}; not applied"
            db.session.commit()
            return True
        handler = HANDLERS.get(event["type"])
        if handler is None:
            log.info("stripe event %s: %s is not handled", event["id"], event["type"])
        else:
            handler(event["data"]["object"], delivery)
        for gift in delivery.receipts:
            send_receipt(gift)
        for gift in delivery.waiting:
            _ask_to_confirm(gift)
        stored.error = delivery.note
        stored.processed_at = utcnow()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    except Exception:
        db.session.rollback()
        raise
    return True


def _ask_to_confirm(gift: Gift) -> None:
    if gift.donor is not None:  # a renewal's gift was paid before, so it has its donor
        mail.send_action_required(gift, links.manage_url(gift.donor))


def events_of_other_versions() -> int:
    """Return how many received events were not applied because of their API version."""
    return db.session.scalars(
        sa.select(sa.func.count(StripeEvent.id)).where(StripeEvent.error.like(f"{OTHER_VERSION} %"))
    ).one()


def gift_for_subscription(subscription_id: str | None, reference: str | None) -> Gift | None:
    gift = None
    if subscription_id:
        gift = db.session.scalar(
            sa.select(Gift).where(Gift.stripe_subscription_id == subscription_id).with_for_update()
        )
    if gift is None and reference:
        gift = _gift_by_reference(reference, lock=True)
        if gift is not None and gift.stripe_subscription_id not in (None, subscription_id):
            return None
    return gift


def _gift_by_reference(reference: str, lock: bool = False) -> Gift | None:
    query = sa.select(Gift).where(Gift.reference == reference)
    return db.session.scalar(query.with_for_update() if lock else query)


def on_subscription(subscription: dict, delivery: Delivery) -> None:
    """customer.subscription.created / updated / deleted."""
    snapshot = payments.subscription_snapshot(subscription)
    gift = gift_for_subscription(snapshot.id, snapshot.gift_reference)
    if gift is None:
        log.warning("stripe event %s: no gift for subscription %s", delivery.id, snapshot.id)
        delivery.note = "no gift for this subscription"
        return
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


def _settle_status(gift: Gift, actor: Actor, actor_ref: str, reason: str) -> None:
    """Set the status that follows from what Stripe last said (see the module's docstring)."""
    status = _derived_status(gift)
    if status is not None and status is not gift.status:
        gift.set_status(status, actor, actor_ref=actor_ref, reason=reason)


def _derived_status(gift: Gift) -> GiftStatus | None:
    stripe_status = gift.stripe_status
    if stripe_status is None or gift.frequency is Frequency.ONCE:
        return None
    never_paid = _never_paid(gift)
    if stripe_status in ("canceled", "incomplete_expired"):
        # A subscription ended before its first payment is a failed gift, never a cancellation.
        return GiftStatus.FAILED if never_paid else SUBSCRIPTION_STATUS[stripe_status]
    if gift.paused_until is not None or stripe_status == "paused":
        return GiftStatus.PAUSED
    if gift.invoice_watermark > gift.stripe_watermark:
        stripe_status = "past_due" if gift.failed_attempts or gift.action_required else "active"
    if never_paid and stripe_status != "active":
        return None  # the first payment: the donate page and its own events decide
    status = SUBSCRIPTION_STATUS.get(stripe_status)
    if status is GiftStatus.PAST_DUE and gift.action_required:
        return GiftStatus.ACTION_REQUIRED
    if status is GiftStatus.ACTIVE and gift.cancel_at_period_end:
        return GiftStatus.CANCELLING
    return status


def _never_paid(gift: Gift) -> bool:
    """Whether the gift never had a payment (its first one is pending, or failed for good)."""
    if gift.status not in BEFORE_FIRST_PAYMENT:
        return False
    return db.session.scalar(sa.select(Payment.id).where(Payment.gift_id == gift.id).limit(1)) is None


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
    if delivery.mark > gift.invoice_watermark:
        gift.invoice_watermark = delivery.mark
        gift.failed_attempts = max(1, info.attempt_count)
        gift.next_retry_at = _time(info.next_payment_attempt)
        gift.action_required = False
        reason = f"payment failed (attempt {gift.failed_attempts})"
        _settle_status(gift, Actor.STRIPE, delivery.id, reason)


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
        HANDLERS[stored.type](obj, delivery)
        stored.error = delivery.note
        stored.processed_at = utcnow()


def on_customer_updated(customer: dict, delivery: Delivery) -> None:
    """customer.updated: the donor changed their e-mail or name at Stripe."""
    donor = db.session.scalar(sa.select(Donor).where(Donor.stripe_customer_id == customer["id"]))
    if donor is None or donor.erased:
        delivery.note = "no donor for this customer" if donor is None else "donor erased; not changed"
        return
    email = normalise_email(customer.get("email") or donor.email)
    if email != donor.email:
        if db.session.scalar(sa.select(Donor.id).where(Donor.email == email)):
            delivery.note = f"e-mail {email} belongs to another donor; not changed"
            return
        donor.email = email
    donor.name = (customer.get("name") or donor.name).strip()


def on_customer_deleted(customer: dict, delivery: Delivery) -> None:
    """customer.deleted: Stripe ended the donor's subscriptions with the customer; the donor
    keeps their gifts here, without a Stripe customer."""
    donor = db.session.scalar(
        sa.select(Donor).where(Donor.stripe_customer_id == customer["id"]).with_for_update()
    )
    if donor is None:
        delivery.note = "no donor for this customer"
        return
    donor.stripe_customer_id = None
    for gift in donor.gifts:
        if gift.stripe_subscription_id is None or delivery.mark <= gift.stripe_watermark:
            continue
        if gift.stripe_status in ("canceled", "incomplete_expired"):
            continue
        gift.stripe_watermark = delivery.mark
        gift.stripe_status = "canceled"
        gift.cancel_at_period_end = False
        gift.cancelled_at = gift.cancelled_at or _time(delivery.event["created"])
        if gift.cancellation_channel not in ("donor", "staff"):
            gift.cancellation_channel = "stripe_dashboard"
        _settle_status(gift, Actor.STRIPE, delivery.id, "Stripe customer deleted")


def on_card_updated(payment_method: dict, delivery: Delivery) -> None:
    """payment_method.automatically_updated: the card network gave the card a new number or
    expiry date; the gifts it pays show it."""
    card = payments.card_info(payment_method)
    gifts = db.session.scalars(sa.select(Gift).where(Gift.stripe_payment_method_id == card.id)).all()
    if not gifts:
        delivery.note = "no gift paid by this card"
    for gift in gifts:
        gift.card_brand = card.brand or gift.card_brand
        gift.card_last4 = card.last4 or gift.card_last4
        gift.card_exp_month = card.exp_month or gift.card_exp_month
        gift.card_exp_year = card.exp_year or gift.card_exp_year


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


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


HANDLERS = {
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
    "payment_intent.succeeded": on_intent_succeeded,
    "payment_intent.payment_failed": on_intent_failed,
    "invoice_payment.paid": on_invoice_payment_paid,
    "invoice.payment_action_required": on_invoice_action_required,
    "charge.refunded": on_charge_refunded,
    "refund.failed": on_refund_failed,
    "charge.dispute.created": on_dispute,
    "charge.dispute.closed": on_dispute,
    "customer.updated": on_customer_updated,
    "customer.deleted": on_customer_deleted,
    "payment_method.automatically_updated": on_card_updated,
}
