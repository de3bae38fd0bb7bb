"""A gift's states, the named sets of them, the moves allowed between them, and the watermark
that orders what Stripe tells about a gift: every rule about a gift's status, once.

Templates and services ask these names (or the Gift's `is_*` properties below), never a list
of statuses of their own.
"""

import enum
from datetime import datetime


class GiftStatus(enum.Enum):
    PENDING = "pending"  #: the donor has not finished the card step
    PROCESSING = "processing"  #: a request is charging the card right now
    REQUIRES_ACTION = "requires_action"  #: the bank asked for 3-D Secure
    FAILED = "failed"  #: declined or abandoned; nothing was charged
    SUCCEEDED = "succeeded"  #: a one-time gift was paid
    ACTIVE = "active"  #: a recurring gift is paid up
    PAST_DUE = "past_due"  #: a renewal failed; Stripe retries
    ACTION_REQUIRED = "action_required"  #: a renewal waits for the donor's 3-D Secure
    PAUSED = "paused"
    CANCELLING = "cancelling"  #: ends at the close of the paid period
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


# -- named sets

#: an attempt the donate page has not seen paid (yet)
UNPAID = frozenset({GiftStatus.PENDING, GiftStatus.PROCESSING, GiftStatus.REQUIRES_ACTION})
#: an attempt: its first payment is not made yet, or failed for good; it has no donor
BEFORE_FIRST_PAYMENT = UNPAID | {GiftStatus.FAILED}
#: a gift that brought money in (refunds and cancellations later do not undo that)
PAID = frozenset(GiftStatus) - BEFORE_FIRST_PAYMENT
#: what the donate page shows as a gift made: a one-time gift paid, a recurring one started
MADE_AT_CHECKOUT = frozenset({GiftStatus.SUCCEEDED, GiftStatus.ACTIVE})
#: a recurring gift that counts in monthly recurring revenue: paying, at risk, or ending at
#: the close of its paid period
COUNTED_IN_MRR = frozenset(
    {GiftStatus.ACTIVE, GiftStatus.PAST_DUE, GiftStatus.ACTION_REQUIRED, GiftStatus.CANCELLING}
)
#: a recurring gift that still runs: counted in MRR, or paused
LIVE = COUNTED_IN_MRR | {GiftStatus.PAUSED}
#: a recurring gift its donor (or staff, at the donor's request) may still change, pause or
#: cancel: live and not ending already
CHANGEABLE = LIVE - {GiftStatus.CANCELLING}
#: a recurring gift cancelled, or set to end at the close of its paid period
ENDING = frozenset({GiftStatus.CANCELLING, GiftStatus.CANCELLED})
#: a gift that ended for good, worth nothing any more
ENDED = frozenset({GiftStatus.CANCELLED, GiftStatus.FAILED, GiftStatus.REFUNDED})

# -- allowed moves

#: what Stripe's news about a subscription can make of a recurring gift
_SUBSCRIPTION_SAYS = LIVE | {GiftStatus.CANCELLED}

#: every move a gift may make, from -> the statuses it may go to; None is a gift not yet saved
TRANSITIONS: dict[GiftStatus | None, frozenset[GiftStatus]] = {
    None: frozenset({GiftStatus.PENDING}),
    # the card step: charged, declined, or for a recurring gift what its subscription says
    GiftStatus.PENDING: frozenset(
        {GiftStatus.PROCESSING, GiftStatus.REQUIRES_ACTION, GiftStatus.SUCCEEDED, GiftStatus.FAILED}
    )
    | _SUBSCRIPTION_SAYS,
    GiftStatus.PROCESSING: frozenset({GiftStatus.SUCCEEDED, GiftStatus.FAILED}) | _SUBSCRIPTION_SAYS,
    GiftStatus.REQUIRES_ACTION: frozenset({GiftStatus.PROCESSING, GiftStatus.SUCCEEDED, GiftStatus.FAILED})
    | _SUBSCRIPTION_SAYS,
    # a payment Stripe made after all (3-D Secure finished once the page was closed), or a
    # subscription that ended before its first payment, whose payment comes in late
    GiftStatus.FAILED: frozenset({GiftStatus.SUCCEEDED}) | _SUBSCRIPTION_SAYS,
    # refunded in full, and paid again when the refund failed
    GiftStatus.SUCCEEDED: frozenset({GiftStatus.REFUNDED}),
    GiftStatus.REFUNDED: frozenset({GiftStatus.SUCCEEDED}),
    # a running gift follows its subscription: renewals fail and recover, pauses, cancellation
    **{status: _SUBSCRIPTION_SAYS - {status} for status in LIVE},
    GiftStatus.CANCELLED: frozenset(),
}


class TransitionRefused(ValueError):
    """A gift was asked to make a move the rules do not allow (a bug, never the donor's doing)."""


def check_move(before: GiftStatus | None, after: GiftStatus) -> None:
    """Raise TransitionRefused unless a gift may move from `before` to `after`."""
    if after not in TRANSITIONS[before]:
        name = before.value if before else "new"
        raise TransitionRefused(f"a gift cannot move from {name} to {after.value}")


# -- the watermark

#: the kind of news: Stripe's answer to a request of ours, read just now
STRIPE_ANSWER = "stripe.answer"
#: the kind of news: what reconciling read from Stripe now, newer than any event before it
STRIPE_READ = "stripe.read"
#: orders news of the same second: a subscription is created, then updated, then deleted; an
#: invoice fails before it is paid; a refund before its failure; what we read from Stripe now
#: comes after any event of that second
RANK = {
    "customer.subscription.created": 0,
    "customer.subscription.updated": 1,
    "customer.subscription.deleted": 2,
    "customer.deleted": 3,
    "invoice.payment_failed": 0,
    "invoice.payment_action_required": 1,
    "invoice.paid": 2,
    "invoice.payment_succeeded": 2,
    "charge.refunded": 0,
    "refund.failed": 1,
    STRIPE_ANSWER: 5,
    STRIPE_READ: 9,
}


def watermark(created: int | datetime, kind: str) -> int:
    """Return how new a piece of news is: the second it was made, then its kind's rank."""
    seconds = int(created.timestamp()) if isinstance(created, datetime) else int(created)
    return seconds * 10 + RANK.get(kind, 1)


class GiftRules:
    """What a gift's status means, for services and templates to ask instead of comparing."""

    status: GiftStatus

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    @property
    def is_changeable(self) -> bool:
        return self.status in CHANGEABLE

    @property
    def made_at_checkout(self) -> bool:
        """Whether the donate page made this gift: a one-time gift paid, a recurring one started."""
        return self.status in MADE_AT_CHECKOUT

    @property
    def is_ending(self) -> bool:
        return self.status in ENDING

    @property
    def is_active(self) -> bool:
        return self.status is GiftStatus.ACTIVE

    @property
    def is_past_due(self) -> bool:
        return self.status is GiftStatus.PAST_DUE

    @property
    def waits_for_donor(self) -> bool:
        """Whether a renewal waits for the donor to confirm it with their bank (3-D Secure)."""
        return self.status is GiftStatus.ACTION_REQUIRED

    @property
    def is_paused(self) -> bool:
        return self.status is GiftStatus.PAUSED

    @property
    def is_cancelling(self) -> bool:
        return self.status is GiftStatus.CANCELLING

    @property
    def is_cancelled(self) -> bool:
        return self.status is GiftStatus.CANCELLED

    @property
    def is_refunded(self) -> bool:
        return self.status is GiftStatus.REFUNDED


#: why a donor leaves: our words, and the Stripe feedback code each one is sent as
CANCELLATION_REASONS = {
    "too_expensive": ("It costs too much for me right now", "too_expensive"),
    "financial": ("My finances changed", "too_expensive"),
    "coverage": ("I am unhappy with the coverage", "low_quality"),
    "community": ("I am unhappy with the comments or the community", "customer_service"),
    "one_time": ("I would rather give once in a while", "switched_service"),
    "other": ("Something else", "other"),
}
