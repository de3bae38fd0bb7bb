"""Notices that save gifts, each sent once, and the renewals that failed and what became of them."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from banner.extensions import Model
from banner.models.base import CURRENCY_CHECK, UTCDateTime, utcnow


class SentNotice(Model):
    """A notice queued once: its key names what it is about, so a second run or a redelivered
    event finds it and sends nothing.

    Keys: ``renewal_failed:<invoice>:<attempt>``, ``card_expiring:<gift>:<card>:<YYYY-MM>``,
    ``yearly_reminder:<subscription>:<charge time>``, ``digest:<YYYY-MM-DD>``.
    """

    __tablename__ = "sent_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    gift_id: Mapped[int | None] = mapped_column(sa.ForeignKey("gifts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RenewalFailure(Model):
    """A renewal invoice that failed at least once: recovered when it is paid later, lost when
    Stripe gives it up or the gift ends unpaid."""

    __tablename__ = "renewal_failures"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.CheckConstraint(CURRENCY_CHECK, name="currency_valid"),
        sa.CheckConstraint("recovered_at IS NULL OR lost_at IS NULL", name="recovered_or_lost"),
        sa.Index("ix_renewal_failures_failed_at", "failed_at"),
        sa.Index("ix_renewal_failures_recovered_at", "recovered_at"),
        sa.Index("ix_renewal_failures_lost_at", "lost_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(sa.ForeignKey("gifts.id"), index=True)
    stripe_invoice_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    amount: Mapped[int]  #: minor units due
    currency: Mapped[str] = mapped_column(sa.String(3))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)  #: its first failed attempt
    attempts: Mapped[int] = mapped_column(default=1)  #: failed attempts so far, as Stripe counts
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: None: Stripe gave up
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: paid after failing
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: the gift ended, never paid
