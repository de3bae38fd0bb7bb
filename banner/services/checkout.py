"""A reader gives once, monthly or yearly, confirming the payment once on the donate page.

The page mounts Stripe's Payment Element before any call here (Stripe's deferred-intent flow).
When the reader sends valid details, `start_gift` records an attempt (a Gift with no donor yet)
and makes what the page confirms: a PaymentIntent for a one-time gift, or for a recurring gift
its own Stripe customer and a subscription whose first invoice waits for that payment. The page
confirms it once with Stripe.js, 3-D Secure included; `complete_gift` then reads the result.

Only a payment makes a donor (`ledger.record_payment` finds or creates them from the attempt's
e-mail), so an abandoned or declined attempt leaves no donor behind, and is forgotten after
BANNER_ATTEMPT_HOURS. Both steps are safe to repeat (a double click, a retried request, the
return from a redirect): they answer from the gift's state and never charge twice.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from banner import payments
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import (
    MADE_AT_CHECKOUT,
    UNPAID,
    Actor,
    Frequency,
    Gift,
    GiftStatus,
    normalise_email,
    utcnow,
)
from banner.money import cover_fee
from banner.services import brakes, campaigns, receipts
from banner.services.ledger import record_payment

log = logging.getLogger(__name__)


class CheckoutError(ServiceError):
    """The gift cannot go on; the message is fit to show the donor."""

    code = "conflict"


class GiftNotFound(CheckoutError):
    """No gift has this reference."""

    code = "not_found"
    http_status = 404
    title = "Not found"
    default_message = "We could not find this gift."


@dataclass(frozen=True)
class GiftRequest:
    """What the donate form asks for, validated."""

    amount: int  #: minor units, before any fee the donor covers
    currency: str
    frequency: Frequency
    cover_fees: bool
    name: str
    email: str
    checkout_key: str
    campaign: str | None = None
    variant: str | None = None
    article_url: str | None = None
    referrer: str | None = None
    client: brakes.Client | None = None  #: who is giving, for the card-testing brake
    challenge: str | None = None  #: the challenge's token, when the page showed one
    ip: str | None = None


@dataclass(frozen=True)
class Outcome:
    """Where a gift stands after a step, for the page to act on."""

    reference: str
    status: str  #: "confirm_payment", "succeeded", "failed" or "processing"
    client_secret: str | None = None
    message: str | None = None


def fee_for(amount: int) -> int:
    """Return the extra a donor pays to cover the card fees on `amount`."""
    config = current_app.config
    return cover_fee(amount, config["FEE_PERCENT_BPS"], config["FEE_FIXED"])


def start_gift(request: GiftRequest) -> Outcome:
    """Record the attempt and return the secret of the payment the page confirms.

    Raises brakes.TooManyDeclines (or ChallengeRequired), before any call to Stripe, for a reader
    declined too often or a challenge not passed.
    """
    gift = db.session.scalar(sa.select(Gift).where(Gift.checkout_key == request.checkout_key))
    if gift is None:
        if request.client is not None:
            brakes.check(request.client, request.challenge, request.ip)
        gift = _new_gift(request)
    elif not _same_gift(gift, request):
        raise CheckoutError("This form was already sent with other details. Reload the page to give again.")
    if gift.status in MADE_AT_CHECKOUT:
        return Outcome(gift.reference, "succeeded")
    if gift.status is GiftStatus.FAILED:
        raise CheckoutError("This attempt has ended. Reload the page to give again.")
    if gift.frequency is Frequency.ONCE:
        charge = (
            payments.get_charge(gift.stripe_payment_intent_id)
            if gift.stripe_payment_intent_id
            else payments.start_payment(gift.amount, gift.currency, _key(gift, "payment"), _metadata(gift))
        )
        gift.stripe_payment_intent_id = charge.id
        secret = charge.client_secret
    else:
        secret = _subscribe(gift).client_secret
    db.session.commit()
    return Outcome(gift.reference, "confirm_payment", client_secret=secret)


def _same_gift(gift: Gift, request: GiftRequest) -> bool:
    return (
        gift.frequency is request.frequency
        and gift.currency == request.currency
        and gift.base_amount == request.amount
        and gift.checkout_email in (None, normalise_email(request.email))
    )


def _new_gift(request: GiftRequest) -> Gift:
    campaign = campaigns.find(request.campaign)
    fee = fee_for(request.amount) if request.cover_fees else 0
    gift = Gift(
        checkout_key=request.checkout_key,
        checkout_email=normalise_email(request.email),
        checkout_name=request.name.strip(),
        checkout_client=request.client.address if request.client else None,
        checkout_browser=request.client.browser if request.client else None,
        frequency=request.frequency,
        amount=request.amount + fee,
        fee_amount=fee,
        currency=request.currency,
        campaign=campaign,
        variant=campaigns.find_variant(campaign, request.variant),
        article_url=request.article_url,
        referrer=request.referrer,
    )
    gift.set_status(GiftStatus.PENDING, Actor.DONOR, reason="donate form sent")
    db.session.add(gift)
    try:
        db.session.commit()
    except IntegrityError:
        # The same form arrived twice at once: the other request's gift stands.
        db.session.rollback()
        other = db.session.scalar(sa.select(Gift).where(Gift.checkout_key == request.checkout_key))
        if other is None:
            raise
        return other
    return gift


def _subscribe(gift: Gift) -> payments.SubscriptionResult:
    """Return the gift's subscription, making its own customer and the subscription once."""
    if gift.stripe_subscription_id:
        return payments.get_subscription(gift.stripe_subscription_id)
    if gift.stripe_customer_id is None:
        gift.stripe_customer_id = payments.create_customer(
            gift.checkout_email or "",
            gift.checkout_name or "",
            _key(gift, "customer"),
            {"gift": gift.reference},
        )
        db.session.commit()
    subscription = payments.start_subscription(
        gift.stripe_customer_id,
        gift.amount,
        gift.currency,
        gift.frequency.value,
        _key(gift, "subscription"),
        _metadata(gift),
    )
    gift.stripe_subscription_id = subscription.id
    gift.stripe_status = subscription.status
    return subscription


def _key(gift: Gift, step: str) -> str:
    """Return the idempotency key of one Stripe request for this gift."""
    return f"gift-{gift.reference}-{step}"


def complete_gift(reference: str) -> Outcome:
    """Read what the page's confirmation did, and record the payment when it succeeded."""
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == reference).with_for_update())
    if gift is None:
        raise GiftNotFound("We could not find this gift. Reload the page to start again.")
    if gift.status in UNPAID and (gift.stripe_payment_intent_id or gift.stripe_subscription_id):
        try:
            if gift.frequency is Frequency.ONCE:
                _apply_charge(gift, payments.get_charge(gift.stripe_payment_intent_id or ""))
            else:
                _apply_subscription(gift, payments.get_subscription(gift.stripe_subscription_id or ""))
        except payments.NotFound:
            _fail(gift, "This payment was not found. Reload the page to give again.")
    outcome = _outcome(gift)
    if outcome.status == "succeeded":
        send_receipt(gift)
    db.session.commit()
    return outcome


def _apply_charge(gift: Gift, charge: payments.ChargeResult) -> None:
    if charge.status == "succeeded":
        record_payment(
            gift,
            amount=charge.amount,
            currency=charge.currency,
            paid_at=charge.created,
            payment_intent_id=charge.id,
            charge_id=charge.charge,
        )
        _keep_card(gift, charge.card)
        gift.set_status(GiftStatus.SUCCEEDED, Actor.DONOR, reason="payment confirmed")
    elif charge.status in ("requires_payment_method", "canceled"):
        if charge.status == "requires_payment_method":
            # Ended, so that no other card can be tried on it (card testing).
            payments.cancel_payment(charge.id, _key(gift, "cancel"))
        _fail(gift, charge.error_message or "The payment was not completed.")
    elif charge.status == "processing" and gift.status is not GiftStatus.PROCESSING:
        gift.set_status(GiftStatus.PROCESSING, Actor.STRIPE, reason="payment processing")


def _apply_subscription(gift: Gift, subscription: payments.SubscriptionResult) -> None:
    gift.stripe_status = subscription.status
    charge = subscription.charge
    if subscription.status in ("active", "trialing") and subscription.invoice_paid:
        record_payment(
            gift,
            amount=subscription.invoice_amount_paid,
            currency=gift.currency,
            paid_at=subscription.invoice_created or int(utcnow().timestamp()),
            invoice_id=subscription.invoice_id,
            payment_intent_id=charge.id if charge else None,
            charge_id=charge.charge if charge else None,
        )
        _keep_card(gift, charge.card if charge else None)
        gift.current_period_end = _timestamp(subscription.current_period_end)
        gift.set_status(GiftStatus.ACTIVE, Actor.DONOR, reason="first payment made")
    elif charge is not None and charge.status in ("requires_payment_method", "canceled"):
        # The first payment failed: end the subscription, so nothing is charged later.
        payments.cancel_subscription(subscription.id, _key(gift, "cancel-incomplete"))
        _fail(gift, charge.error_message or "The payment was not completed.")
    elif subscription.status in ("incomplete_expired", "canceled"):
        _fail(gift, "The payment was not completed.")
    elif charge is not None and gift.status is not GiftStatus.PROCESSING:
        # Paid, or nearly: the invoice follows its PaymentIntent a moment later.
        gift.set_status(GiftStatus.PROCESSING, Actor.STRIPE, reason="payment processing")


def _keep_card(gift: Gift, card: payments.Card | None) -> None:
    if card is not None:
        gift.card_brand, gift.card_last4 = card.brand, card.last4


def _fail(gift: Gift, message: str) -> None:
    gift.failure_message = message[:500]
    gift.set_status(GiftStatus.FAILED, Actor.STRIPE, reason=message)


def _outcome(gift: Gift) -> Outcome:
    if gift.status in MADE_AT_CHECKOUT:
        return Outcome(gift.reference, "succeeded")
    if gift.status is GiftStatus.FAILED:
        return Outcome(gift.reference, "failed", message=gift.failure_message)
    return Outcome(gift.reference, "processing")


def _metadata(gift: Gift) -> dict[str, str]:
    metadata = {"gift": gift.reference, "frequency": gift.frequency.value}
    if gift.campaign is not None:
        metadata["campaign"] = gift.campaign.slug
    if gift.variant is not None:
        metadata["variant"] = gift.variant.key
    return metadata


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def get_gift(reference: str) -> Gift:
    """Return the gift with this public reference."""
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == reference))
    if gift is None:
        raise GiftNotFound("We could not find this gift.")
    return gift


def forget_attempts() -> int:
    """End the attempts left unpaid for BANNER_ATTEMPT_HOURS, at Stripe too, and forget who
    typed them; return how many were forgotten."""
    cutoff = utcnow() - timedelta(hours=current_app.config["ATTEMPT_HOURS"])
    stale = db.session.scalars(
        sa.select(Gift).where(
            Gift.donor_id.is_(None),
            sa.or_(Gift.checkout_email.is_not(None), Gift.checkout_client.is_not(None)),
            Gift.created_at < cutoff,
        )
    ).all()
    for gift in stale:
        if gift.status in UNPAID:
            _end_at_stripe(gift)
            _fail(gift, "abandoned before paying")
        gift.checkout_email = gift.checkout_name = gift.checkout_client = gift.checkout_browser = None
    db.session.commit()
    return len(stale)


def _end_at_stripe(gift: Gift) -> None:
    """End an abandoned attempt's payment at Stripe, so that no late confirmation pays an attempt
    with no donor. Stripe may have ended it already (an incomplete subscription expires after 23
    hours), which is just as good."""
    try:
        if gift.stripe_subscription_id:
            payments.cancel_subscription(gift.stripe_subscription_id, _key(gift, "cancel-incomplete"))
        elif gift.stripe_payment_intent_id:
            payments.cancel_payment(gift.stripe_payment_intent_id, _key(gift, "cancel"))
    except (payments.NotFound, payments.StripeRequestRejected) as error:
        log.info("attempt %s already ended at Stripe: %s", gift.reference, error)


def send_receipt(gift: Gift) -> None:
    """Queue the donor's receipt, once per gift, in the transaction that records its payment."""
    claimed = db.session.execute(
        sa.update(Gift)
        .where(Gift.id == gift.id, Gift.receipt_sent_at.is_(None))
        .values(receipt_sent_at=utcnow())
    )
    # A CursorResult: whether this transaction claimed the receipt; a concurrent one waits on
    # the row, then finds it claimed.
    if getattr(claimed, "rowcount", 0) and gift.donor is not None:
        receipts.queue_first_receipt(gift)
