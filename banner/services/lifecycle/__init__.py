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

A renewal that fails, waits for 3-D Secure or (yearly) comes soon sends the donor a notice once
(services/notices.py, with the card's expiry the gift keeps from payment_method events); failed
renewals are kept until recovered (paid) or lost (the gift ended, the invoice given up).

Here: receiving an event and which handler applies it. The handlers, by event family:
subscriptions.py, invoices.py, charges.py (one-time gifts, refunds, disputes), customers.py
(customers and their cards); gifts.py holds what they share (the gift's derived status).
"""

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from banner import mail, payments
from banner.extensions import db
from banner.models import Gift, StripeEvent, utcnow
from banner.services import links, redaction
from banner.services.checkout import send_receipt
from banner.services.lifecycle.charges import (
    NO_PAYMENT,
    apply_one_time_payment,
    on_charge_refunded,
    on_dispute,
    on_intent_failed,
    on_intent_succeeded,
    on_refund_failed,
)
from banner.services.lifecycle.customers import (
    NO_CARD,
    apply_waiting_card,
    on_card_updated,
    on_customer_deleted,
    on_customer_updated,
)
from banner.services.lifecycle.gifts import Delivery, gift_for_subscription
from banner.services.lifecycle.invoices import (
    apply_invoice,
    on_invoice_action_required,
    on_invoice_failed,
    on_invoice_given_up,
    on_invoice_paid,
    on_invoice_payment_paid,
    on_invoice_upcoming,
)
from banner.services.lifecycle.subscriptions import CHANNELS, apply_subscription, on_subscription

log = logging.getLogger(__name__)


#: how the note of an event of another API version begins
OTHER_VERSION = "api_version"


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
    "invoice.voided": on_invoice_given_up,
    "invoice.marked_uncollectible": on_invoice_given_up,
    "invoice.upcoming": on_invoice_upcoming,
    "charge.refunded": on_charge_refunded,
    "refund.failed": on_refund_failed,
    "charge.dispute.created": on_dispute,
    "charge.dispute.closed": on_dispute,
    "customer.updated": on_customer_updated,
    "customer.deleted": on_customer_deleted,
    "payment_method.automatically_updated": on_card_updated,
    "payment_method.attached": on_card_updated,
    "payment_method.updated": on_card_updated,
}


__all__ = [
    "CHANNELS",
    "HANDLERS",
    "NO_CARD",
    "NO_PAYMENT",
    "OTHER_VERSION",
    "Delivery",
    "apply_invoice",
    "apply_one_time_payment",
    "apply_subscription",
    "apply_waiting_card",
    "events_of_other_versions",
    "gift_for_subscription",
    "receive",
]
