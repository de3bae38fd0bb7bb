"""Repair local state from Stripe: missed events, cancellations and renewals.

Running it twice changes nothing the second time: every repair goes through the same
idempotent steps as the webhooks (events by id, payments by invoice or PaymentIntent,
subscription news by watermark).
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from banner import payments
from banner.extensions import db
from banner.models import STRIPE_READ, Actor, Donor, Frequency, Gift, Payment, StripeEvent, watermark
from banner.services import lifecycle

ACTOR_REF = "reconcile"


@dataclass
class Report:
    changes: list[str] = field(default_factory=list)
    donors: int = 0
    events_seen: int = 0


def reconcile(
    since_days: int,
    dry_run: bool = False,
    progress: Callable[[Sequence[Donor]], Iterable[Donor]] = lambda donors: donors,
) -> Report:
    """Compare every donor's subscriptions, invoices and one-time payments at Stripe with ours,
    and apply the events of the last `since_days` days that never reached us."""
    since = int(time.time()) - since_days * 86_400
    report = Report()
    for event in payments.list_events(since):
        report.events_seen += 1
        if event["type"] not in lifecycle.HANDLERS or _stored(event["id"]):
            continue
        report.changes.append(f"event {event['id']} ({event['type']}) was missed; applied")
        if not dry_run:
            lifecycle.receive(event)
    donors = db.session.scalars(
        sa.select(Donor).where(Donor.stripe_customer_id.is_not(None)).order_by(Donor.id)
    ).all()
    for donor in progress(donors):
        report.donors += 1
        report.changes += _donor(donor, since)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    return report


def _stored(event_id: str) -> bool:
    return db.session.scalar(sa.select(StripeEvent.id).where(StripeEvent.event_id == event_id)) is not None


def _donor(donor: Donor, since: int) -> list[str]:
    changes: list[str] = []
    customer_id = donor.stripe_customer_id
    if customer_id is None:  # never a customer at Stripe: nothing there to compare
        return changes
    now_mark = watermark(int(time.time()), STRIPE_READ)
    for snapshot in payments.list_subscriptions(customer_id):
        gift = lifecycle.gift_for_subscription(snapshot.id, snapshot.gift_reference)
        if gift is None:
            continue
        before = _describe(gift)
        if lifecycle.apply_subscription(gift, snapshot, now_mark, Actor.SYSTEM, ACTOR_REF):
            changes.append(
                f"gift {gift.reference}: {before} -> {_describe(gift)} (subscription {snapshot.id})"
            )
    for invoice in payments.list_invoices(customer_id, since):
        if invoice.status != "paid" or not invoice.subscription:
            continue
        gift = lifecycle.gift_for_subscription(invoice.subscription, None)
        if gift is not None and lifecycle.apply_invoice(
            gift, invoice, watermark(invoice.created, "invoice.paid"), Actor.SYSTEM, ACTOR_REF
        ):
            changes.append(f"gift {gift.reference}: payment of invoice {invoice.id} restored")
    unpaid = db.session.scalars(
        sa.select(Gift).where(
            Gift.donor_id == donor.id,
            Gift.frequency == Frequency.ONCE,
            Gift.stripe_payment_intent_id.is_not(None),
        )
    ).all()
    for gift in unpaid:
        intent_id = gift.stripe_payment_intent_id
        if intent_id is None or _has_payment(intent_id):
            continue
        intent = payments.get_charge(intent_id)
        if intent.status == "succeeded":
            lifecycle.apply_one_time_payment(gift, intent, Actor.SYSTEM, ACTOR_REF)
            changes.append(f"gift {gift.reference}: payment {intent.id} restored")
    return changes


def _has_payment(payment_intent_id: str) -> bool:
    return (
        db.session.scalar(sa.select(Payment.id).where(Payment.stripe_payment_intent_id == payment_intent_id))
        is not None
    )


def _describe(gift: Gift) -> str:
    text = f"{gift.status.value} {gift.amount} {gift.currency}/{gift.frequency.value}"
    return text + (" cancelling" if gift.cancel_at_period_end else "")
