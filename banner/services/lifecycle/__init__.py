"""What Stripe tells us about gifts, applied so that every gift matches Stripe.

Each webhook event is stored by its id and committed before Stripe is answered (store); it is
applied after the answer (apply: services/webhooks.py), its effect and its "applied" mark in one
transaction: a duplicate is a no-op, and an error rolls the effect back and keeps the event for
the worker's retries (apply_due), as is one whose process died before applying it. Stripe is
answered within milliseconds whatever applying costs, which its own guidance asks. An event of
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
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from banner import mail, payments
from banner.extensions import db
from banner.models import Gift, StripeEvent, insert_on_conflict, utcnow
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


#: how long an event's own request has to apply it (right after Stripe is answered) before the
#: worker does: a process that died between the answer and the effect leaves it to the worker
APPLY_GRACE = timedelta(minutes=1)
#: the PostgreSQL channel store() notifies when it stores an event for the worker to apply at
#: once (EVENTS_APPLIED_BY=worker); banner/worker.py listens on it
EVENTS_CHANNEL = "banner_stripe_events"
#: the worker's retries of an event whose applying failed, after each failure; then it is given
#: up (logged as an error, kept with the error): about the three days Stripe itself retries
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 30, 120, 720, 1440, 1440, 1440))


@dataclass(frozen=True)
class Stored:
    """A verified event, kept: its row, whether this delivery stored it, and whether it is still
    to be applied."""

    id: int
    new: bool
    pending: bool


def store(event: dict, for_worker: bool = False) -> Stored:
    """Keep a verified Stripe event, once, to be applied after Stripe is answered: by its own
    request, or `for_worker`, by the worker at once (due now, and on PostgreSQL the worker is
    told through EVENTS_CHANNEL when this commits).

    Committed before it returns: Stripe's answer rests on it. One statement stores it or finds
    it stored (Stripe waits on this one, so it makes as few round trips as it can). Another API
    version's event is kept flagged and never applied: its objects have other fields, which read
    as ours would mislead.
    """
    version = event.get("api_version")
    other_version = version != payments.API_VERSION
    flag = f"{OTHER_VERSION} {version} is not {payments.API_VERSION}; not applied"
    now = utcnow()
    due = None if other_version else now if for_worker else now + APPLY_GRACE
    row_id = db.session.scalar(
        insert_on_conflict(db.session.get_bind(), StripeEvent)
        .values(
            event_id=event["id"],
            type=event["type"],
            created=event["created"],
            # a donor whose data was erased is not written back by the events Stripe still sends
            payload=redaction.scrub(event, []) if redaction.names_erased_donor(event) else event,
            received_at=now,
            next_attempt_at=due,
            attempts=0,
            error=flag if other_version else None,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.id)
    )
    if for_worker and row_id is not None and not other_version:
        _tell_worker()
    db.session.commit()
    if row_id is None:  # stored before (or by a concurrent delivery, which this one waited for)
        known = _stored(event["id"])
        if known is None:
            raise RuntimeError(f"stripe event {event['id']} neither stored nor found")
        return known
    if other_version:
        log.warning("stripe event %s: api_version %s is not %s", event["id"], version, payments.API_VERSION)
    return Stored(row_id, new=True, pending=not other_version)


def _tell_worker() -> None:
    """Notify EVENTS_CHANNEL when this transaction commits (PostgreSQL; on SQLite the worker polls)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_notify(EVENTS_CHANNEL, "")))


def _stored(event_id: str) -> Stored | None:
    row = db.session.execute(
        sa.select(StripeEvent.id, StripeEvent.next_attempt_at).where(StripeEvent.event_id == event_id)
    ).first()
    return None if row is None else Stored(row.id, new=False, pending=row.next_attempt_at is not None)


def apply(row_id: int) -> bool:
    """Apply a stored event that is still to be applied, once; return whether this call did.

    The event's row is claimed first (a concurrent call for the same event waits, then finds it
    applied) and marked applied in the transaction of its effect. When applying fails, nothing of
    it is kept, the error is, and the worker tries again later (RETRY_DELAYS)."""
    if not _claim(row_id, next_attempt_at=StripeEvent.next_attempt_at):
        return False
    stored = db.session.get_one(StripeEvent, row_id)
    try:
        delivery = Delivery(stored.payload)
        handler = HANDLERS.get(stored.type)
        if handler is None:
            log.info("stripe event %s: %s is not handled", stored.event_id, stored.type)
        else:
            handler(stored.payload["data"]["object"], delivery)
        for gift in delivery.receipts:
            send_receipt(gift)
        for gift in delivery.waiting:
            _ask_to_confirm(gift)
        stored.error = delivery.note
        stored.processed_at = utcnow()
        stored.next_attempt_at = None
        db.session.commit()
    except Exception as error:  # whatever failed, a later attempt is the remedy
        db.session.rollback()
        _record_failure(row_id, error)
        return False
    return True


def _claim(row_id: int, **values) -> bool:
    """Lock a stored event that is still to be applied, until this transaction ends, writing
    `values`; False (and the transaction ended) when it is applied or given up meanwhile: a
    concurrent attempt waits for the lock, then finds that."""
    claimed = db.session.execute(
        sa.update(StripeEvent)
        .where(StripeEvent.id == row_id, StripeEvent.next_attempt_at.is_not(None))
        .values(**values)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        db.session.rollback()
        return False
    return True


def _record_failure(row_id: int, error: Exception) -> None:
    if not _claim(row_id, attempts=StripeEvent.attempts + 1):  # another attempt applied it
        return
    stored = db.session.get_one(StripeEvent, row_id)
    failed_before = stored.attempts - 1
    stored.error = f"{type(error).__name__}: {error}"[:2000]
    if failed_before < len(RETRY_DELAYS):
        stored.next_attempt_at = utcnow() + RETRY_DELAYS[failed_before]
        log.error("stripe event %s not applied (attempt %d); the worker tries again at %s",
                  stored.event_id, stored.attempts, stored.next_attempt_at, exc_info=error)  # fmt: skip
    else:
        stored.next_attempt_at = None
        log.error("stripe event %s given up after %d attempts: %s", stored.event_id, stored.attempts, error)
    db.session.commit()


def apply_due(now: datetime | None = None, limit: int = 100) -> int:
    """Apply the stored events due by `now` (their request did not, or applying failed), oldest
    first, at most `limit`; return how many were applied."""
    due = db.session.scalars(
        sa.select(StripeEvent.id)
        .where(StripeEvent.next_attempt_at <= (now or utcnow()))
        .order_by(StripeEvent.next_attempt_at, StripeEvent.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    return sum(apply(row_id) for row_id in due)


def receive(event: dict) -> bool:
    """Store a verified Stripe event and apply it now (reconcile's events); return False when
    it came before."""
    stored = store(event)
    if stored.pending:
        apply(stored.id)
    return stored.new


def _ask_to_confirm(gift: Gift) -> None:
    if gift.donor is not None:  # a renewal's gift was paid before, so it has its donor
        mail.send_action_required(gift, links.manage_url(gift.donor))


def events_of_other_versions() -> int:
    """Return how many received events were not applied because of their API version."""
    return db.session.scalars(
        sa.select(sa.func.count(StripeEvent.id)).where(StripeEvent.error.like(f"{OTHER_VERSION} %"))
    ).one()


def events_that_failed() -> int:
    """Return how many stored events are not applied because applying them failed (the worker
    retries them, or gave them up)."""
    return db.session.scalars(
        sa.select(sa.func.count(StripeEvent.id)).where(
            StripeEvent.attempts > 0, StripeEvent.processed_at.is_(None)
        )
    ).one()


def events_waiting(now: datetime | None = None) -> int:
    """Return how many stored events, never tried, have been due for over APPLY_GRACE: the worker
    is not running, or is behind."""
    since = (now or utcnow()) - APPLY_GRACE
    return db.session.scalars(
        sa.select(sa.func.count(StripeEvent.id)).where(
            StripeEvent.attempts == 0, StripeEvent.next_attempt_at <= since
        )
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
    "EVENTS_CHANNEL",
    "HANDLERS",
    "NO_CARD",
    "NO_PAYMENT",
    "OTHER_VERSION",
    "Delivery",
    "Stored",
    "apply",
    "apply_due",
    "apply_invoice",
    "apply_one_time_payment",
    "apply_subscription",
    "apply_waiting_card",
    "events_of_other_versions",
    "events_that_failed",
    "events_waiting",
    "gift_for_subscription",
    "receive",
    "store",
]
