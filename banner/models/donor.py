"""Donors, their gifts and every change a gift goes through, with the rules of monthly value."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from banner import billing
from banner.extensions import Model
from banner.models.base import CURRENCY_CHECK, UTCDateTime, enum_column, new_reference, utcnow
from banner.models.gift_rules import (
    BEFORE_FIRST_PAYMENT,
    COUNTED_IN_MRR,
    ENDED,
    GiftRules,
    GiftStatus,
    check_move,
)

if TYPE_CHECKING:
    from banner.models.campaign import Campaign, Variant
    from banner.models.payment import Payment


class Frequency(enum.Enum):
    ONCE = "once"
    MONTH = "month"
    YEAR = "year"

    @property
    def recurring(self) -> bool:
        return self is not Frequency.ONCE


class Actor(enum.Enum):
    DONOR = "donor"
    STAFF = "staff"
    STRIPE = "stripe"
    SYSTEM = "system"


def normalise_email(email: str) -> str:
    """Return an e-mail address as donors are found by it: trimmed, lower case."""
    return email.strip().lower()


class Donor(Model):
    __tablename__ = "donors"
    __table_args__ = (
        # the staff donor list, sorted by name or by when donors joined, a page at a time
        sa.Index("ix_donors_name_id", "name", "id"),
        sa.Index("ix_donors_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  #: normalised: lower case
    name: Mapped[str] = mapped_column(sa.String(200))
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    gifts: Mapped[list["Gift"]] = relationship(back_populates="donor", order_by="Gift.id")

    @property
    def erased(self) -> bool:
        """Whether staff erased this donor's personal data (no later update brings it back)."""
        return self.email.startswith("erased-") and self.email.endswith("@invalid")


#: the statuses of an attempt, as SQL: the donor exists once the first payment is made
_ATTEMPT_STATUSES = ", ".join(f"'{status.value}'" for status in GiftStatus if status in BEFORE_FIRST_PAYMENT)


class Gift(GiftRules, Model):
    """A one-time, monthly or yearly gift, with where it came from."""

    __tablename__ = "gifts"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("fee_amount >= 0 AND fee_amount < amount", name="fee_valid"),
        sa.CheckConstraint(CURRENCY_CHECK, name="currency_valid"),
        sa.CheckConstraint("received >= 0", name="received_not_negative"),
        # a checkout attempt has no donor until its first payment succeeds
        sa.CheckConstraint(
            f"donor_id IS NOT NULL OR status IN ({_ATTEMPT_STATUSES})",
            name="donor_once_paid",
        ),
        sa.Index("ix_gifts_campaign_status", "campaign_id", "status"),
        # each donor's totals (the staff donor list, retention) from the gifts alone
        sa.Index(
            "ix_gifts_donor_totals",
            "donor_id",
            "currency",
            postgresql_include=["frequency", "received", "last_paid_at"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_reference)
    #: the donate page's submission id: a repeated submission finds this gift again
    checkout_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: None while the gift is an attempt: the donor exists once a payment succeeds
    donor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("donors.id"), index=True)
    #: what the donate form said, kept until a payment makes (or finds) the donor
    checkout_email: Mapped[str | None] = mapped_column(sa.String(254))
    checkout_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: who tried, for the card-testing brake: a keyed digest of the IP, and the browser's session id
    checkout_client: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    checkout_browser: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    # active_history: the MRR listener (models.mrr_movements) needs the old value even when it was not loaded
    frequency: Mapped[Frequency] = mapped_column(enum_column(Frequency), active_history=True)
    amount: Mapped[int] = mapped_column(active_history=True)  #: minor units each time, fee included
    fee_amount: Mapped[int] = mapped_column(default=0)  #: the part of `amount` covering card fees
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[GiftStatus] = mapped_column(
        enum_column(GiftStatus), default=GiftStatus.PENDING, index=True, active_history=True
    )
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))

    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    #: a recurring gift's own Stripe customer: a typed e-mail never reaches another gift's
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    stripe_payment_method_id: Mapped[str | None] = mapped_column(sa.String(255))
    card_brand: Mapped[str | None] = mapped_column(sa.String(20))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    #: the card's expiry, as the card network last told Stripe (for "card expiring" notices)
    card_exp_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    card_exp_year: Mapped[int | None] = mapped_column(sa.SmallInteger)

    #: attribution: which banner and article brought the gift
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    variant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("variants.id"))
    article_url: Mapped[str | None] = mapped_column(sa.String(2000))
    referrer: Mapped[str | None] = mapped_column(sa.String(2000))

    #: recurring gifts: the paid period, and what Stripe says of renewals and cancellation
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the latest renewal waits for the donor to confirm it (3-D Secure)
    action_required: Mapped[bool] = mapped_column(default=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancellation_reason: Mapped[str | None] = mapped_column(sa.String(40))  #: Stripe feedback code
    cancellation_comment: Mapped[str | None] = mapped_column(sa.Text)  #: the donor's words
    #: who or what ended it: donor, staff, stripe_dashboard, failed_payment, dispute
    cancellation_channel: Mapped[str | None] = mapped_column(sa.String(20))
    #: the subscription's status at Stripe (active, past_due, canceled, ...), as last heard
    stripe_status: Mapped[str | None] = mapped_column(sa.String(30))
    #: how new the subscription news applied is (gift_rules.watermark), and the
    #: invoice news (renewals, failures): older news never overwrites newer, whatever the order
    stripe_watermark: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    invoice_watermark: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: a chargeback was opened

    #: what its payments brought in so far, net of refunds, and the latest of them: kept in step
    #: with the payments by models.payment's listener, so reports need not add up every payment
    received: Mapped[int] = mapped_column(default=0)
    last_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    receipt_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    donor: Mapped[Donor | None] = relationship(back_populates="gifts")
    campaign: Mapped["Campaign | None"] = relationship()
    variant: Mapped["Variant | None"] = relationship()
    payments: Mapped[list["Payment"]] = relationship(back_populates="gift", order_by="Payment.id")
    events: Mapped[list["GiftEvent"]] = relationship(back_populates="gift", order_by="GiftEvent.id")

    def set_status(
        self,
        status: GiftStatus,
        actor: "Actor",
        *,
        reason: str | None = None,
        actor_ref: str | None = None,
        **data,
    ) -> None:
        """Move the gift to `status`, recording who or what moved it and why.

        Raises gift_rules.TransitionRefused for a move the rules do not allow.
        """
        check_move(self.status, status)
        self.events.append(
            GiftEvent(
                kind="status",
                from_status=self.status,
                to_status=status,
                actor=actor,
                actor_ref=actor_ref,
                reason=reason,
                data=data,
            )
        )
        self.status = status

    @property
    def base_amount(self) -> int:
        """Return the gift without the fee the donor chose to cover."""
        return self.amount - self.fee_amount

    @hybrid_property
    def monthly_amount(self) -> int:
        """Return what the gift gives a month while it runs: 0 for a one-time gift."""
        return per_month(self.amount, self.frequency)

    @monthly_amount.inplace.expression
    @classmethod
    def _monthly_amount_sql(cls) -> sa.ColumnElement[int]:
        return sa.case(
            (cls.frequency == Frequency.MONTH, cls.amount),
            (cls.frequency == Frequency.YEAR, twelfth(cls.amount)),
            else_=0,
        )

    @hybrid_property
    def monthly_value(self) -> int:
        """Return what the gift adds to MRR now: its monthly amount while it counts, else 0."""
        return monthly_value(self.amount, self.frequency, self.status)

    @monthly_value.inplace.expression
    @classmethod
    def _monthly_value_sql(cls) -> sa.ColumnElement[int]:
        return sa.case((cls.status.in_(COUNTED_IN_MRR), cls.monthly_amount), else_=0)

    @property
    def giving_resumes_on(self) -> datetime | None:
        """Return the first charge after a pause: the one just after `paused_until`."""
        if self.paused_until is None or self.current_period_end is None or not self.frequency.recurring:
            return None
        return billing.next_charge_after(self.paused_until, self.current_period_end, self.frequency.value)


class GiftEvent(Model):
    """One change of a gift: what, when, who or what caused it, and why."""

    __tablename__ = "gift_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(sa.ForeignKey("gifts.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))  #: e.g. created, status, payment, amount
    from_status: Mapped[GiftStatus | None] = mapped_column(enum_column(GiftStatus, "from_status"))
    to_status: Mapped[GiftStatus | None] = mapped_column(enum_column(GiftStatus, "to_status"))
    actor: Mapped[Actor] = mapped_column(enum_column(Actor))
    #: who exactly: a staff e-mail, a Stripe event id, a command name
    actor_ref: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: kind "mrr": how the gift's monthly value changed (minor units a month) and as what
    movement: Mapped[str | None] = mapped_column(sa.String(20))
    mrr_delta: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    gift: Mapped[Gift] = relationship(back_populates="events")

    __table_args__ = (
        # Covers the reports' sums over movements (an index-only scan on PostgreSQL).
        sa.Index(
            "ix_gift_events_movement_created",
            "movement",
            "created_at",
            postgresql_include=["gift_id", "mrr_delta", "id"],
        ),
        # the reports' counts of one kind of event in a period (cancel requests, save offers)
        sa.Index("ix_gift_events_kind_created", "kind", "created_at"),
        sa.CheckConstraint(
            "movement IS NULL OR movement IN ('new', 'reactivation', 'expansion', 'contraction', "
            "'voluntary_churn', 'involuntary_churn')",
            name="movement_valid",
        ),
    )


# Monthly recurring revenue. Every change of a gift's monthly value is kept as a movement
# (an "mrr" GiftEvent, banner.models.mrr_movements), so MRR at any date, the monthly waterfall
# and churn are sums of them.

#: the statuses in which a recurring gift counts in MRR (kept as a name the reports know)
MRR_STATUSES = COUNTED_IN_MRR
INVOLUNTARY = ("failed_payment", "dispute")


def twelfth(amount):
    """Return a yearly amount's monthly share in whole minor units, rounded half up.

    The one rounding rule of monthly value: the same expression in Python (on an int) and in SQL
    (on an Integer column, where `//` is integer division on SQLite and PostgreSQL alike).
    """
    return (amount + 6) // 12


def per_month(amount: int, frequency: Frequency) -> int:
    """Return what `amount` given at `frequency` comes to a month: 0 for a one-time gift."""
    if frequency is Frequency.ONCE:
        return 0
    return amount if frequency is Frequency.MONTH else twelfth(amount)


def monthly_value(amount: int, frequency: Frequency, status: GiftStatus) -> int:
    """Return what a gift adds to MRR: its monthly amount in the MRR statuses, else 0."""
    return per_month(amount, frequency) if status in COUNTED_IN_MRR else 0


def movement(before: int, after: int, status: GiftStatus, channel: str | None, returning: bool) -> str:
    """Name a change of monthly value from `before` to `after`.

    A pause counts as contraction and its resumption as reactivation, as does a donor who had
    given monthly before and starts again.
    """
    if before == 0:
        return "reactivation" if returning else "new"
    if after == 0 and status in ENDED:
        return "involuntary_churn" if channel in INVOLUNTARY else "voluntary_churn"
    return "expansion" if after > before else "contraction"
