"""The cancellations report: reasons in words, channels, the donors' comments, save offers."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from banner.extensions import db
from banner.models import CANCELLATION_REASONS, Donor, Frequency, Gift, GiftEvent, GiftStatus, Payment
from banner.services.reports.periods import Period


def reason_words(code: str | None) -> str:
    """Return a cancellation reason as staff read it: in the donor's wording when they chose it
    on our page, in words when it is Stripe's feedback code."""
    if not code:
        return "No reason given"
    if code in CANCELLATION_REASONS:
        return CANCELLATION_REASONS[code][0]
    return code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CancellationComment:
    """What a donor wrote when they cancelled, with who they are and what they gave."""

    when: datetime
    reason: str  #: in words (reason_words)
    channel: str
    words: str
    donor_id: int | None
    donor_name: str | None
    amount: int
    currency: str
    frequency: Frequency
    months_given: int  #: the months their paid charges covered


@dataclass(frozen=True)
class Cancellations:
    total: int
    by_reason: list[tuple[str, int]]  #: reasons in words, most frequent first
    by_channel: list[tuple[str, int]]
    comments: list[CancellationComment]
    offered: int  #: cancellation requests that were shown save offers, plus offers taken
    taken: list[tuple[str, int]]


def cancellations(currency: str, period: Period) -> Cancellations:
    """Cancellations in the period by reason and by channel, the donors' comments, save offers.

    A gift whose subscription ended before its first payment failed; it was never cancelled.
    """
    in_period = (
        Gift.currency == currency,
        Gift.cancellation_channel.is_not(None),
        Gift.status != GiftStatus.FAILED,
        sa.func.coalesce(Gift.cancelled_at, Gift.updated_at) >= period.since,
        sa.func.coalesce(Gift.cancelled_at, Gift.updated_at) < period.until,
    )

    def grouped(column):
        return [
            (key or "not given", count)
            for key, count in db.session.execute(
                sa.select(column, sa.func.count(Gift.id))
                .where(*in_period)
                .group_by(column)
                .order_by(sa.func.count(Gift.id).desc())
            )
        ]

    by_reason: dict[str, int] = {}
    for code, count in grouped(Gift.cancellation_reason):
        words = reason_words(None if code == "not given" else code)
        by_reason[words] = by_reason.get(words, 0) + count
    by_channel = grouped(Gift.cancellation_channel)
    paid_charges = (
        sa.select(sa.func.count(Payment.id))
        .where(Payment.gift_id == Gift.id, Payment.amount_refunded < Payment.amount)
        .scalar_subquery()
    )
    comments = db.session.execute(
        sa.select(sa.func.coalesce(Gift.cancelled_at, Gift.updated_at), Gift, Donor, paid_charges)
        .outerjoin(Donor, Gift.donor_id == Donor.id)
        .where(*in_period, Gift.cancellation_comment.is_not(None), Gift.cancellation_comment != "")
        .order_by(sa.func.coalesce(Gift.cancelled_at, Gift.updated_at).desc())
        .limit(50)
    ).all()
    events = (
        GiftEvent.created_at >= period.since,
        GiftEvent.created_at < period.until,
        Gift.currency == currency,
    )
    requests = db.session.scalar(
        sa.select(sa.func.count(GiftEvent.id))
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(
            GiftEvent.kind == "cancel_request",
            GiftEvent.data[("offered", 0)].as_string().is_not(None),  # shown at least one offer
            *events,
        )
    )
    taken_name = GiftEvent.data["taken"].as_string()
    taken = db.session.execute(
        sa.select(taken_name, sa.func.count(GiftEvent.id))
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(GiftEvent.kind == "save_offer", *events)
        .group_by(taken_name)
    ).all()
    saves = sum(count for _, count in taken)
    return Cancellations(
        total=sum(count for _, count in by_channel),
        by_reason=sorted(by_reason.items(), key=lambda item: -item[1]),
        by_channel=by_channel,
        comments=[
            CancellationComment(
                when=when,
                reason=reason_words(gift.cancellation_reason),
                channel=gift.cancellation_channel or "",
                words=gift.cancellation_comment or "",
                donor_id=donor.id if donor else None,
                donor_name=donor.name if donor else None,
                amount=gift.amount,
                currency=gift.currency,
                frequency=gift.frequency,
                months_given=charges * (12 if gift.frequency is Frequency.YEAR else 1),
            )
            for when, gift, donor, charges in comments
        ],
        offered=int(requests or 0) + saves,
        taken=[(name, count) for name, count in taken],
    )
