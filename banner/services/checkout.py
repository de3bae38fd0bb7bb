"""A donor gives once, monthly or yearly: save the card with a SetupIntent, then charge it.

start_gift records a pending gift and returns the SetupIntent the page confirms with Stripe.js;
complete_gift then charges the card once or starts the subscription, and is safe to call again
(a double click, a retried request, the return from 3-D Secure): it answers from the gift's
state and never charges twice.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from banner import mail, payments
from banner.extensions import db
from banner.models import Actor, Donor, Frequency, Gift, GiftStatus, utcnow
from banner.money import cover_fee
from banner.services import campaigns, links
from banner.services.ledger import record_payment

log = logging.getLogger(__name__)

DONE = (GiftStatus.SUCCEEDED, GiftStatus.ACTIVE)
STALE_PROCESSING = timedelta(minutes=2)


class CheckoutError(Exception):
    """The gift cannot go on; the message is fit to show the donor."""


class GiftNotFound(CheckoutError):
    pass


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


@dataclass(frozen=True)
class Outcome:
    """Where a gift stands after a step, for the page to act on."""

    reference: str
    status: str  #: "confirm_card", "requires_action", "succeeded", "failed" or "processing"
    client_secret: str | None = None
    message: str | None = None


def fee_for(amount: int) -> int:
    """Return the extra a donor pays to cover the card fees on `amount`."""
    config = current_app.config
    return cover_fee(amount, config["FEE_PERCENT_BPS"], config["FEE_FIXED"])


def normalise_email(email: str) -> str:
    return email.strip().lower()


def start_gift(request: GiftRequest) -> Outcome:
    """Record a pending gift and return the SetupIntent secret that saves the donor's card."""
    gift = db.session.scalar(sa.select(Gift).where(Gift.checkout_key == request.checkout_key))
    if gift is None:
        gift = _new_gift(request)
    elif gift.status is not GiftStatus.PENDING:
        raise CheckoutError("This form was already sent. Reload the page to give again.")
    if gift.stripe_setup_intent_id:
        setup = payments.get_setup_intent(gift.stripe_setup_intent_id)
    else:
        setup = payments.create_setup_intent(
            _customer_id(gift.donor), _key(gift, "setup"), {"gift": gift.reference}
        )
        gift.stripe_setup_intent_id = setup.id
        db.session.commit()
    return Outcome(gift.reference, "confirm_card", client_secret=setup.client_secret)


def _new_gift(request: GiftRequest) -> Gift:
    campaign = campaigns.find(request.campaign)
    fee = fee_for(request.amount) if request.cover_fees else 0
    gift = Gift(
        checkout_key=request.checkout_key,
        donor=_donor(request.email, request.name),
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
        gift = db.session.scalar(sa.select(Gift).where(Gift.checkout_key == request.checkout_key))
        if gift is None:
            raise
    return gift


def _donor(email: str, name: str) -> Donor:
    email = normalise_email(email)
    donor = db.session.scalar(sa.select(Donor).where(Donor.email == email))
    if donor is None:
        donor = Donor(email=email, name=name.strip())
        db.session.add(donor)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            donor = db.session.scalar(sa.select(Donor).where(Donor.email == email))
    return donor


def _customer_id(donor: Donor) -> str:
    if donor.stripe_customer_id is None:
        donor.stripe_customer_id = payments.create_customer(
            donor.email, donor.name, f"donor-{donor.id}-customer"
        )
        db.session.commit()
    return donor.stripe_customer_id


def _key(gift: Gift, step: str) -> str:
    """Return the idempotency key of one Stripe request for this gift."""
    return f"gift-{gift.reference}-{step}"


def complete_gift(reference: str, setup_intent_id: str | None) -> Outcome:
    """Charge the saved card once, or start the subscription; report where the gift stands."""
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == reference))
    if gift is None:
        raise GiftNotFound("We could not find this gift. Reload the page to start again.")
    if gift.status in (GiftStatus.PENDING, GiftStatus.PROCESSING):
        outcome = _charge(gift, setup_intent_id) if _claim(gift) else _outcome(gift)
    elif gift.status is GiftStatus.REQUIRES_ACTION:
        outcome = _after_authentication(gift)
    else:
        outcome = _outcome(gift)
    if outcome.status == "succeeded":
        send_receipt(gift)
    return outcome


def _claim(gift: Gift) -> bool:
    """Move the gift from pending to processing unless another request already did.

    A gift left processing by a request that died (a crash, a timeout) may be claimed again after
    STALE_PROCESSING; the same idempotency keys then find the Stripe objects already made.
    """
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Gift)
        .where(
            Gift.id == gift.id,
            (Gift.status == GiftStatus.PENDING)
            | ((Gift.status == GiftStatus.PROCESSING) & (Gift.updated_at < now - STALE_PROCESSING)),
        )
        .values(status=GiftStatus.PROCESSING, updated_at=now)
    ).rowcount
    db.session.commit()
    db.session.refresh(gift)
    return claimed == 1


def _charge(gift: Gift, setup_intent_id: str | None) -> Outcome:
    try:
        setup = payments.get_setup_intent(gift.stripe_setup_intent_id)
        mismatch = setup_intent_id is not None and setup_intent_id != setup.id
        if mismatch or setup.customer != gift.donor.stripe_customer_id:
            return _fail(gift, "This card was not saved for this gift. Please try again.")
        if setup.status != "succeeded" or not setup.payment_method:
            return _fail(gift, setup.error_message or "Your card was declined.")
        card = payments.make_default_card(setup.customer, setup.payment_method, _key(gift, "card"))
        gift.stripe_payment_method_id = setup.payment_method
        gift.card_brand, gift.card_last4 = card.brand, card.last4
        if gift.frequency is Frequency.ONCE:
            return _charge_once(gift, setup)
        return _subscribe(gift, setup)
    except payments.CardDeclined as declined:
        return _fail(gift, str(declined))
    except payments.PaymentUnavailable:
        # Nothing is lost: a retry repeats the same idempotent Stripe requests.
        db.session.rollback()
        gift.set_status(GiftStatus.PENDING, Actor.SYSTEM, reason="payment service unavailable")
        db.session.commit()
        raise
    except payments.PaymentError as error:
        return _fail(gift, str(error))


def _charge_once(gift: Gift, setup: payments.SetupResult) -> Outcome:
    charge = payments.charge_once(
        setup.customer,
        setup.payment_method,
        gift.amount,
        gift.currency,
        _key(gift, "charge"),
        _metadata(gift),
    )
    gift.stripe_payment_intent_id = charge.id
    return _apply_charge(gift, charge)


def _apply_charge(gift: Gift, charge: payments.ChargeResult) -> Outcome:
    if charge.status == "succeeded":
        record_payment(
            gift,
            amount=charge.amount,
            currency=charge.currency,
            paid_at=charge.created,
            payment_intent_id=charge.id,
            charge_id=charge.charge,
        )
        gift.set_status(GiftStatus.SUCCEEDED, Actor.DONOR, reason="card charged")
        db.session.commit()
        return _outcome(gift)
    if charge.status == "requires_action":
        gift.set_status(GiftStatus.REQUIRES_ACTION, Actor.STRIPE, reason="bank asks for 3-D Secure")
        db.session.commit()
        return Outcome(gift.reference, "requires_action", client_secret=charge.client_secret)
    return _fail(gift, charge.error_message or "Your card was declined.")


def _subscribe(gift: Gift, setup: payments.SetupResult) -> Outcome:
    plan = payments.ensure_plan(gift.frequency.value, gift.currency, gift.amount)
    subscription = payments.start_subscription(
        setup.customer, plan, _key(gift, "subscription"), _metadata(gift)
    )
    gift.stripe_subscription_id = subscription.id
    return _apply_subscription(gift, subscription)


def _apply_subscription(gift: Gift, subscription: payments.SubscriptionResult) -> Outcome:
    gift.stripe_status = subscription.status
    if subscription.status in ("active", "trialing") and subscription.invoice_paid:
        record_payment(
            gift,
            amount=subscription.invoice_amount_paid,
            currency=gift.currency,
            paid_at=subscription.invoice_created,
            invoice_id=subscription.invoice_id,
            payment_intent_id=subscription.invoice_payment_intent,
            charge_id=subscription.invoice_charge,
        )
        gift.current_period_end = _timestamp(subscription.current_period_end)
        gift.set_status(GiftStatus.ACTIVE, Actor.DONOR, reason="first payment made")
        db.session.commit()
        return _outcome(gift)
    charge = subscription.charge
    if charge is not None and charge.status == "requires_action":
        gift.stripe_payment_intent_id = charge.id
        gift.set_status(GiftStatus.REQUIRES_ACTION, Actor.STRIPE, reason="bank asks for 3-D Secure")
        db.session.commit()
        return Outcome(gift.reference, "requires_action", client_secret=charge.client_secret)
    payments.cancel_subscription(subscription.id, _key(gift, "cancel-incomplete"))
    message = charge.error_message if charge is not None else None
    return _fail(gift, message or "Your card was declined.")


def _after_authentication(gift: Gift) -> Outcome:
    """Read the result of 3-D Secure, which the page completed with Stripe.js."""
    if gift.frequency is Frequency.ONCE:
        charge = payments.get_charge(gift.stripe_payment_intent_id)
        if charge.status == "requires_action":
            return Outcome(gift.reference, "requires_action", client_secret=charge.client_secret)
        return _apply_charge(gift, charge)
    subscription = payments.get_subscription(gift.stripe_subscription_id)
    if subscription.status == "incomplete" and subscription.charge is not None:
        if subscription.charge.status == "requires_action":
            return Outcome(gift.reference, "requires_action", client_secret=subscription.charge.client_secret)
        if subscription.charge.status == "succeeded":
            # The invoice is paid a moment after its PaymentIntent; read it once more.
            subscription = payments.get_subscription(gift.stripe_subscription_id)
    return _apply_subscription(gift, subscription)


def _fail(gift: Gift, message: str) -> Outcome:
    gift.failure_message = message[:500]
    gift.set_status(GiftStatus.FAILED, Actor.STRIPE, reason=message)
    db.session.commit()
    return _outcome(gift)


def _outcome(gift: Gift) -> Outcome:
    if gift.status in DONE:
        return Outcome(gift.reference, "succeeded")
    if gift.status is GiftStatus.FAILED:
        return Outcome(gift.reference, "failed", message=gift.failure_message)
    return Outcome(gift.reference, "processing")


def _metadata(gift: Gift) -> dict:
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


def send_receipt(gift: Gift) -> None:
    """E-mail the donor a receipt, once per gift, after it is paid."""
    sent = db.session.execute(
        sa.update(Gift)
        .where(Gift.id == gift.id, Gift.receipt_sent_at.is_(None))
        .values(receipt_sent_at=utcnow())
    ).rowcount
    db.session.commit()
    if sent:
        try:
            mail.send_receipt(gift, links.manage_url(gift.donor))
        except OSError:
            log.exception("receipt for gift %s not sent", gift.reference)
