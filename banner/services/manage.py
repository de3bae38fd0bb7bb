"""A donor manages their own gifts from a signed link (banner.services.links): change, pause,
card, cancel.

No account: a link names the donor, expires, and stops working when the donor's e-mail changes.
Every action asks Stripe first and changes nothing here when Stripe fails; then it records what
Stripe now says, as the webhooks would, with the donor as the actor. Asking twice for what is
already so (the same amount, a pause while paused, a cancellation of a cancelled gift) changes
nothing, so a double submit changes once.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app

from banner import billing, mail, payments
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import (
    CHANGEABLE,
    ENDING,
    PAID,
    STRIPE_ANSWER,
    Actor,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    normalise_email,
    utcnow,
    watermark,
)
from banner.models.donor import per_month
from banner.models.gift_rules import CANCELLATION_REASONS
from banner.money import major_units
from banner.services import lifecycle, outbox
from banner.services.links import manage_url
from banner.services.pauses import PauseOption, pause_option

ACTOR_REF = "manage page"
#: why a donor leaves: our words, and the Stripe feedback code each one is sent as
REASONS = CANCELLATION_REASONS
#: what the newsroom may offer before a donor cancels (banner.services.save_offers)
OFFERS = ("pause", "lower", "yearly")


class ManageError(ServiceError):
    """The action cannot be done; the message is fit to show the donor."""


def send_link(email: str) -> None:
    """E-mail a manage link to the donor with this address, if there is one; say nothing either
    way, so that the page cannot tell who gives."""
    donor = db.session.scalar(sa.select(Donor).where(Donor.email == normalise_email(email)))
    if donor is not None:
        mail.send_manage_link(donor, manage_url(donor))
        db.session.commit()


def gift_of(donor: Donor, reference: str) -> Gift:
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == reference, Gift.donor_id == donor.id))
    if gift is None:
        raise ManageError("We could not find this gift.")
    return gift


@dataclass(frozen=True)
class Overview:
    recurring: list[Gift]  #: monthly and yearly gifts, live ones first
    one_time: list[Gift]  #: paid one-time gifts, newest first
    last: Gift | None  #: the newest paid gift, which "Give again" offers


def overview(donor: Donor) -> Overview:
    gifts = db.session.scalars(
        sa.select(Gift).where(Gift.donor_id == donor.id).order_by(Gift.created_at.desc(), Gift.id.desc())
    ).all()
    paid = [g for g in gifts if g.status in PAID]
    recurring = [g for g in paid if g.frequency.recurring]
    recurring.sort(key=lambda g: g.is_cancelled)
    one_time = [g for g in paid if g.frequency is Frequency.ONCE]
    return Overview(recurring=recurring, one_time=one_time, last=paid[0] if paid else None)


def give_again(gift: Gift) -> dict[str, str]:
    """Return the donate page's query that offers this gift again: its amount (without the fees
    covered), frequency and campaign."""
    query = {"amount": major_units(gift.base_amount, gift.currency), "frequency": gift.frequency.value}
    if gift.campaign is not None:
        query["campaign"] = gift.campaign.slug
    return query


def _live(gift: Gift) -> str:
    """Return the subscription of a gift the donor may still change."""
    if gift.status not in CHANGEABLE or not gift.stripe_subscription_id:
        raise ManageError("This gift cannot be changed any more.")
    return gift.stripe_subscription_id


def _key(gift: Gift, action: str, action_key: str) -> str:
    return f"gift-{gift.reference}-{action}-{action_key}"


def _apply(
    gift: Gift,
    snapshot: payments.SubscriptionSnapshot,
    actor: Actor = Actor.DONOR,
    actor_ref: str = ACTOR_REF,
) -> None:
    """Take Stripe's answer as the newest news about the gift, made by `actor`."""
    lifecycle.apply_subscription(gift, snapshot, _newest(gift.stripe_watermark), actor, actor_ref)


def _newest(applied: int) -> int:
    """A watermark for what Stripe just answered: newer than anything the gift has applied."""
    return max(applied + 1, watermark(utcnow(), STRIPE_ANSWER))


@dataclass(frozen=True)
class IntervalChange:
    """What moving a gift to another interval charges now, as the donor is shown it."""

    amount: int
    frequency: Frequency
    currency: str
    charged_now: int  #: minor units, the unused paid time already credited
    next_charge: datetime | None
    proration_date: int  #: the change must be made at this moment's figures


#: how long the figures of an interval change shown to a donor stay good to confirm
CONFIRM_SECONDS = 3600


def proposed_amount(gift: Gift, frequency: Frequency) -> int:
    """Return what giving every `frequency` comes to for this gift: 12 months make a year, and a
    year's twelfth is rounded as monthly value is."""
    if (gift.frequency, frequency) == (Frequency.MONTH, Frequency.YEAR):
        return gift.base_amount * 12
    if (gift.frequency, frequency) == (Frequency.YEAR, Frequency.MONTH):
        return max(current_app.config["MIN_AMOUNT"], per_month(gift.base_amount, Frequency.YEAR))
    return gift.base_amount


def preview_interval_change(gift: Gift, amount: int, frequency: Frequency) -> IntervalChange:
    """Ask Stripe what giving `amount` every `frequency` from now on would charge today."""
    subscription_id = _live(gift)
    preview = payments.preview_change(
        subscription_id, frequency.value, gift.currency, amount, int(utcnow().timestamp())
    )
    return IntervalChange(
        amount=amount,
        frequency=frequency,
        currency=gift.currency,
        charged_now=preview.amount_due,
        next_charge=_time(preview.next_charge),
        proration_date=preview.proration_date,
    )


def change_amount(
    gift: Gift, amount: int, frequency: Frequency, action_key: str, proration_date: int | None = None
) -> bool:
    """Give `amount` every `frequency`; return whether anything changed.

    Within the interval it applies from the next charge, with nothing charged now. Another
    interval starts today and is charged today (Stripe allows nothing else without a schedule),
    so it needs the `proration_date` of the figures the donor confirmed, if still fresh.
    """
    subscription_id = _live(gift)
    if (gift.amount, gift.frequency) == (amount, frequency):
        return False
    if frequency is not gift.frequency:
        now = int(utcnow().timestamp())
        if proration_date is None or not now - CONFIRM_SECONDS <= proration_date <= now:
            raise ManageError("Those figures are out of date, so nothing was changed. Please look again.")
    else:
        proration_date = None
    snapshot = payments.change_subscription(
        subscription_id,
        frequency.value,
        gift.currency,
        amount,
        _key(gift, "amount", action_key),
        proration_date,
    )
    gift.fee_amount = 0  # the new amount is what the donor typed
    _apply(gift, snapshot)
    db.session.commit()
    return True


def pause(gift: Gift, skipped: int, action_key: str) -> PauseOption | None:
    """Skip the gift's next `skipped` charges, reckoned from Stripe's own billing cycle; return the
    pause, or None when the gift is paused already."""
    subscription_id = _live(gift)
    if gift.status is GiftStatus.PAUSED:
        return None
    cycle = payments.billing_cycle(subscription_id)
    next_charge = _time(cycle.next_charge) or gift.current_period_end
    anchor = _time(cycle.anchor)
    option = pause_option(gift, skipped, next_charge, anchor.day if anchor else None)
    if option is None:
        raise ManageError("Choose one of the pauses offered.")
    resumes_at = option.skipped[-1] + billing.PAUSE_MARGIN
    snapshot = payments.pause_subscription(
        subscription_id, int(resumes_at.timestamp()), _key(gift, "pause", action_key)
    )
    _apply(gift, snapshot)
    db.session.commit()
    return option


def _time(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def resume(gift: Gift, action_key: str) -> bool:
    subscription_id = _live(gift)
    if gift.status is not GiftStatus.PAUSED:
        return False
    snapshot = payments.resume_subscription(subscription_id, _key(gift, "resume", action_key))
    _apply(gift, snapshot)
    db.session.commit()
    return True


def start_card_update(gift: Gift, action_key: str) -> str:
    """Return the secret of a SetupIntent that saves a new card for this gift alone."""
    _live(gift)
    return payments.start_card_update(
        _customer(gift), _key(gift, "card", action_key), {"gift": gift.reference}
    )


def _customer(gift: Gift) -> str:
    customer = gift.stripe_customer_id or (gift.donor.stripe_customer_id if gift.donor else None)
    if customer is None:
        raise ManageError("This gift cannot be changed any more.")
    return customer


def finish_card_update(gift: Gift, setup_intent_id: str, action_key: str) -> GiftStatus:
    """Make the saved card the one this gift's subscription charges (no other gift's, and not
    the customer's default), and retry a past-due gift's open invoice with it."""
    subscription_id = _live(gift)
    saved = payments.get_saved_card(setup_intent_id)
    if saved.customer != _customer(gift) or saved.status != "succeeded" or not saved.payment_method:
        raise ManageError(saved.error_message or "The card could not be saved. Please try again.")
    payments.use_card_for(subscription_id, saved.payment_method, _key(gift, "card", action_key))
    if gift.stripe_payment_method_id != saved.payment_method:
        # the new card's expiry comes with its payment_method.attached event
        gift.card_exp_month = gift.card_exp_year = None
    gift.stripe_payment_method_id = saved.payment_method
    if saved.card is not None:
        gift.card_brand, gift.card_last4 = saved.card.brand, saved.card.last4
    lifecycle.apply_waiting_card(saved.payment_method)
    gift.events.append(
        GiftEvent(
            kind="card",
            actor=Actor.DONOR,
            actor_ref=ACTOR_REF,
            data={"brand": gift.card_brand, "last4": gift.card_last4},
        )
    )
    db.session.commit()
    if gift.status is GiftStatus.PAST_DUE:
        invoice = payments.latest_invoice(subscription_id)
        if invoice is not None and invoice.status == "open":
            invoice = payments.pay_invoice(invoice.id, saved.payment_method, _key(gift, "retry", action_key))
        if invoice is not None and invoice.status == "paid":
            lifecycle.apply_invoice(gift, invoice, _newest(gift.invoice_watermark), Actor.DONOR, ACTOR_REF)
            db.session.commit()
    return gift.status


def start_authentication(gift: Gift) -> str:
    """Return the secret the page confirms a renewal with, when the donor's bank asked for 3-D
    Secure (the gift waits for the donor)."""
    subscription_id = _live(gift)
    secret = payments.invoice_to_confirm(subscription_id)
    if secret is None:
        raise ManageError("There is no payment waiting for you to confirm.")
    return secret


def finish_authentication(gift: Gift) -> GiftStatus:
    """Record the renewal the donor just confirmed, if Stripe says it is paid."""
    subscription_id = _live(gift)
    invoice = payments.latest_invoice(subscription_id)
    if invoice is not None and invoice.status == "paid":
        lifecycle.apply_invoice(gift, invoice, _newest(gift.invoice_watermark), Actor.DONOR, ACTOR_REF)
        db.session.commit()
    return gift.status


def cancel(gift: Gift, reason: str | None, comment: str | None, offered: list[str], action_key: str) -> bool:
    """Cancel at the end of the paid period, or now (BANNER_CANCEL_AT_PERIOD_END), with the
    donor's reason if they gave one; return whether anything changed."""
    at_period_end = current_app.config["CANCEL_AT_PERIOD_END"]
    if not end_gift(gift, reason, comment, at_period_end, action_key, offered=offered):
        return False
    donor = gift.donor
    if donor is not None:  # a live gift always has its donor
        outbox.queue_or_log(lambda: mail.send_cancellation(gift, manage_url(donor)), "cancellation")
    db.session.commit()
    return True


def end_gift(
    gift: Gift,
    reason: str | None,
    comment: str | None,
    at_period_end: bool,
    action_key: str,
    *,
    offered: list[str] | None = None,
    actor: Actor = Actor.DONOR,
    actor_ref: str = ACTOR_REF,
    channel: str = "donor",
) -> bool:
    """Ask Stripe to end a recurring gift and record why and who asked, without committing;
    return False when it is cancelled or ending already. The donor's cancellation and staff's
    (banner.services.donors.cancel_gift) both come here."""
    if gift.status in ENDING:
        return False
    subscription_id = _live(gift)
    reason = reason or None
    if reason is not None and reason not in REASONS:
        raise ManageError("Choose one of the reasons offered, or none.")
    snapshot = payments.cancel_subscription_for(
        subscription_id,
        REASONS[reason][1] if reason else None,
        comment,
        at_period_end,
        _key(gift, "cancel", action_key),
    )
    gift.cancellation_channel = channel
    gift.cancellation_reason = reason
    gift.cancellation_comment = comment or None
    if snapshot.status == "canceled":
        gift.cancelled_at = utcnow()
    gift.events.append(
        GiftEvent(
            kind="cancel_request",
            actor=actor,
            actor_ref=actor_ref,
            reason=comment,
            data={"reason": reason, "offered": offered or [], "taken": None, "at_period_end": at_period_end},
        )
    )
    _apply(gift, snapshot, actor, actor_ref)
    return True


def keep(gift: Gift, action_key: str) -> bool:
    """Keep a gift set to end at the close of its paid period, while that period lasts; return
    False when it is not set to end."""
    if gift.status in CHANGEABLE:
        return False
    period_over = gift.current_period_end is not None and gift.current_period_end <= utcnow()
    if gift.status is not GiftStatus.CANCELLING or period_over or not gift.stripe_subscription_id:
        raise ManageError("This gift has ended; you are welcome to give again.")
    snapshot = payments.keep_subscription(gift.stripe_subscription_id, _key(gift, "keep", action_key))
    gift.events.append(
        GiftEvent(
            kind="keep", actor=Actor.DONOR, actor_ref=ACTOR_REF, data={"reason": gift.cancellation_reason}
        )
    )
    # the gift no longer counts as cancelled; its cancel_request event keeps what the donor said
    gift.cancellation_channel = gift.cancellation_reason = gift.cancellation_comment = None
    _apply(gift, snapshot)
    db.session.commit()
    return True
