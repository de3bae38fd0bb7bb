"""The payments of each gift, and the listener that keeps each gift's received total and last
payment in step with them in the same flush."""

import enum
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from banner.extensions import Model
from banner.models.base import CURRENCY_CHECK, UTCDateTime, enum_column, utcnow
from banner.models.donor import Gift


class PaymentStatus(enum.Enum):
    SUCCEEDED = "succeeded"
    REFUNDED = "refunded"  #: in full; a partial refund keeps SUCCEEDED with amount_refunded > 0
    DISPUTED = "disputed"  #: the bank took the money back (a dispute open, or lost)


class Payment(Model):
    """Money received: one per PaymentIntent (one-time gift) or invoice (recurring gift)."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount", name="refund_within_amount"),
        sa.CheckConstraint(
            "amount_disputed >= 0 AND amount_refunded + amount_disputed <= amount",
            name="dispute_within_amount",
        ),
        sa.CheckConstraint(CURRENCY_CHECK, name="currency_valid"),
        sa.CheckConstraint(
            "stripe_payment_intent_id IS NOT NULL OR stripe_invoice_id IS NOT NULL",
            name="has_stripe_id",
        ),
        # money received in a period (the reports): an index-only scan on PostgreSQL
        sa.Index(
            "ix_payments_paid_at",
            "paid_at",
            postgresql_include=["gift_id", "amount", "amount_refunded", "currency"],
        ),
        # a donor's last payment, and whether they paid since a date (the staff donor list)
        sa.Index("ix_payments_gift_id_paid_at", "gift_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(sa.ForeignKey("gifts.id"), index=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    amount: Mapped[int]  #: minor units
    amount_refunded: Mapped[int] = mapped_column(default=0, active_history=True)
    #: what the charge last said was refunded (failed refunds later than it are taken off), and
    #: how new that news is (gift_rules.watermark): a late charge.refunded changes nothing
    charge_refunded: Mapped[int] = mapped_column(default=0)
    refund_watermark: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: taken back by the donor's bank while a dispute is open, or for good once it is lost
    amount_disputed: Mapped[int] = mapped_column(default=0, active_history=True)
    #: the dispute's status at Stripe (needs_response, under_review, won, lost, ...), as last heard
    dispute_status: Mapped[str | None] = mapped_column(sa.String(30))
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus), default=PaymentStatus.SUCCEEDED)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: its receipt was queued: once per payment, renewals included (BANNER_RENEWAL_RECEIPTS)
    receipt_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    gift: Mapped[Gift] = relationship(back_populates="payments")

    @hybrid_property
    def net(self) -> int:
        """What the payment brought in: its amount less refunds and money a dispute took back."""
        return self.amount - self.amount_refunded - self.amount_disputed


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _keep_gift_totals(session, flush_context, instances) -> None:
    """Add each new payment, and each change of what refunds and disputes took back, to its gift."""
    changes: dict[int, tuple[Gift, int, datetime | None]] = {}
    for payment in [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Payment)]:
        state: sa.orm.InstanceState[Payment] = sa.inspect(payment)
        if state.pending:
            payment.amount_refunded = payment.amount_refunded or 0
            payment.amount_disputed = payment.amount_disputed or 0
            payment.paid_at = payment.paid_at or utcnow()
            delta, paid_at = payment.net, payment.paid_at
        else:
            delta, paid_at = 0, None
            for name in ("amount_refunded", "amount_disputed"):
                history = state.attrs[name].history
                if history.deleted:
                    delta += history.deleted[0] - getattr(payment, name)
            if not delta:
                continue
        with session.no_autoflush:
            gift = payment.gift
            if gift is None and payment.gift_id is not None:  # made with the id alone
                gift = session.get(Gift, payment.gift_id)
        if gift is None:
            continue
        _, total, latest = changes.get(id(gift), (gift, 0, None))
        if paid_at is not None and (latest is None or paid_at > latest):
            latest = paid_at
        changes[id(gift)] = (gift, total + delta, latest)
    for gift, delta, paid_at in changes.values():
        if sa.inspect(gift).pending:  # not in the table yet: plain values
            gift.received = (gift.received or 0) + delta
            if paid_at is not None and (gift.last_paid_at is None or paid_at > gift.last_paid_at):
                gift.last_paid_at = paid_at
            continue
        # In the table: add in SQL, so that two requests recording payments of the same gift at
        # once both count.
        if delta:
            gift.received = Gift.received + delta
        if paid_at is not None:
            moment = sa.literal(paid_at, UTCDateTime())
            gift.last_paid_at = sa.case(
                (sa.or_(Gift.last_paid_at.is_(None), Gift.last_paid_at < moment), moment),
                else_=Gift.last_paid_at,
            )
