"""What every event handler shares: the event being applied, finding its gift, and the
status that follows from what Stripe last said (see the package's docstring)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from banner.extensions import db
from banner.models import BEFORE_FIRST_PAYMENT, Actor, Frequency, Gift, GiftStatus, Payment, utcnow, watermark
from banner.services import notices


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


SUBSCRIPTION_STATUS = {
    "active": GiftStatus.ACTIVE,
    "trialing": GiftStatus.ACTIVE,
    "past_due": GiftStatus.PAST_DUE,
    "unpaid": GiftStatus.PAST_DUE,
    "paused": GiftStatus.PAUSED,
    "canceled": GiftStatus.CANCELLED,
    "incomplete_expired": GiftStatus.FAILED,
}


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


def _settle_status(gift: Gift, actor: Actor, actor_ref: str, reason: str) -> None:
    """Set the status that follows from what Stripe last said (see the module's docstring)."""
    status = _derived_status(gift)
    if status is not None and status is not gift.status:
        gift.set_status(status, actor, actor_ref=actor_ref, reason=reason)
        notices.follow_status(gift, gift.cancelled_at or utcnow())


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


def _time(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None
