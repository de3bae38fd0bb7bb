"""A donor manages their own gifts from a signed link (banner.services.links): change, pause,
card, cancel.

No account: a link names the donor, expires, and stops working when the donor's e-mail changes.
Every action asks Stripe first and changes nothing here when Stripe fails; then it records what
Stripe now says, as the webhooks would, with the donor as the actor. Asking twice for what is
already so (the same amount, a pause while paused, a cancellation of a cancelled gift) changes
nothing, so a double submit changes once.
"""

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from banner import mail, payments
from banner.extensions import db
from banner.models import Actor, Donor, Frequency, Gift, GiftEvent, GiftStatus, utcnow
from banner.services import lifecycle
from banner.services.checkout import normalise_email
from banner.services.links import manage_url

ACTOR_REF = "manage page"
#: why a donor leaves: our words, and the Stripe feedback code each one is sent as
REASONS = {
    "too_expensive": ("It costs too much for me right now", "too_expensive"),
    "financial": ("My finances changed", "too_expensive"),
    "coverage": ("I am unhappy with the coverage", "low_quality"),
    "community": ("I am unhappy with the comments or the community", "customer_service"),
    "one_time": ("I would rather give once in a while", "switched_service"),
    "other": ("Something else", "other"),
}
#: what the newsroom may offer before a donor cancels
OFFERS = ("pause", "lower", "yearly")
#: recurring gifts the donor can still change
LIVE = (GiftStatus.ACTIVE, GiftStatus.PAST_DUE, GiftStatus.PAUSED, GiftStatus.CANCELLING)


class ManageError(Exception):
    """The action cannot be done; the message is fit to show the donor."""


def send_link(email: str) -> None:
    """E-mail a manage link to the donor with this address, if there is one; say nothing either
    way, so that the page cannot tell who gives."""
    donor = db.session.scalar(sa.select(Donor).where(Donor.email == normalise_email(email)))
    if donor is not None:
        mail.send_manage_link(donor, manage_url(donor))


def gift_of(donor: Donor, reference: str) -> Gift:
    gift = db.session.scalar(sa.select(Gift).where(Gift.reference == reference, Gift.donor_id == donor.id))
    if gift is None:
        raise ManageError("We could not find this gift.")
    return gift


@dataclass(frozen=True)
class Overview:
    recurring: list[Gift]  #: monthly and yearly gifts, live ones first
    one_time: list[Gift]  #: paid one-time gifts, newest first


def overview(donor: Donor) -> Overview:
    gifts = db.session.scalars(
        sa.select(Gift).where(Gift.donor_id == donor.id).order_by(Gift.created_at.desc())
    ).all()
    recurring = [g for g in gifts if g.frequency.recurring and g.status in (*LIVE, GiftStatus.CANCELLED)]
    recurring.sort(key=lambda g: g.status is GiftStatus.CANCELLED)
    paid = (GiftStatus.SUCCEEDED, GiftStatus.REFUNDED)
    one_time = [g for g in gifts if g.frequency is Frequency.ONCE and g.status in paid]
    return Overview(recurring=recurring, one_time=one_time)


def _live(gift: Gift) -> str:
    """Return the subscription of a gift the donor may still change."""
    if gift.status not in LIVE or not gift.stripe_subscription_id:
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


def _newest(watermark: int) -> int:
    """A watermark for what Stripe just answered: newer than anything the gift has applied."""
    return max(watermark + 1, int(utcnow().timestamp()) * 10 + 5)


def change_amount(gift: Gift, amount: int, frequency: Frequency, action_key: str) -> bool:
    """Give `amount` every `frequency` from the next charge on; return whether anything changed."""
    subscription_id = _live(gift)
    if (gift.amount, gift.frequency) == (amount, frequency):
        return False
    plan = payments.ensure_plan(frequency.value, gift.currency, amount)
    snapshot = payments.change_subscription(subscription_id, plan, _key(gift, "amount", action_key))
    gift.fee_amount = 0  # the new amount is what the donor typed
    _apply(gift, snapshot)
    db.session.commit()
    return True


def pause(gift: Gift, months: int, action_key: str) -> bool:
    """Stop charging for 1 to 3 months; return whether anything changed."""
    subscription_id = _live(gift)
    if gift.status is GiftStatus.PAUSED:
        return False
    resumes = utcnow() + timedelta(days=30 * months)
    snapshot = payments.pause_subscription(
        subscription_id, int(resumes.timestamp()), _key(gift, "pause", action_key)
    )
    _apply(gift, snapshot)
    db.session.commit()
    return True


def resume(gift: Gift, action_key: str) -> bool:
    subscription_id = _live(gift)
    if gift.status is not GiftStatus.PAUSED:
        return False
    snapshot = payments.resume_subscription(subscription_id, _key(gift, "resume", action_key))
    _apply(gift, snapshot)
    db.session.commit()
    return True


def start_card_update(gift: Gift, action_key: str) -> str:
    """Return the secret of a SetupIntent that saves the donor's new card."""
    _live(gift)
    setup = payments.create_setup_intent(
        gift.donor.stripe_customer_id, _key(gift, "card", action_key), {"gift": gift.reference}
    )
    return setup.client_secret


def finish_card_update(gift: Gift, setup_intent_id: str, action_key: str) -> GiftStatus:
    """Make the saved card the donor's default, and retry a past-due gift's open invoice."""
    subscription_id = _live(gift)
    setup = payments.get_setup_intent(setup_intent_id)
    if setup.customer != gift.donor.stripe_customer_id or setup.status != "succeeded":
        raise ManageError(setup.error_message or "The card could not be saved. Please try again.")
    card = payments.make_default_card(setup.customer, setup.payment_method, _key(gift, "card", action_key))
    for same_card in gift.donor.gifts:
        if same_card.frequency.recurring and same_card.status in LIVE:
            same_card.stripe_payment_method_id = setup.payment_method
            same_card.card_brand, same_card.card_last4 = card.brand, card.last4
    gift.events.append(
        GiftEvent(
            kind="card",
            actor=Actor.DONOR,
            actor_ref=ACTOR_REF,
            data={"brand": card.brand, "last4": card.last4},
        )
    )
    db.session.commit()
    if gift.status is GiftStatus.PAST_DUE:
        invoice = payments.latest_invoice(subscription_id)
        if invoice is not None and invoice.status == "open":
            invoice = payments.pay_invoice(invoice.id, _key(gift, "retry", action_key))
        if invoice is not None and invoice.status == "paid":
            lifecycle.apply_invoice(gift, invoice, _newest(gift.invoice_watermark), Actor.DONOR, ACTOR_REF)
            db.session.commit()
    return gift.status


def cancel(gift: Gift, reason: str, comment: str | None, offered: list[str], action_key: str) -> bool:
    """Cancel at the end of the paid period, or now (BANNER_CANCEL_AT_PERIOD_END), with the
    donor's reason; return whether anything changed."""
    at_period_end = current_app.config["CANCEL_AT_PERIOD_END"]
    if not end_gift(gift, reason, comment, at_period_end, action_key, offered=offered):
        return False
    db.session.commit()
    mail.send_cancellation(gift, manage_url(gift.donor))
    return True


def end_gift(
    gift: Gift,
    reason: str,
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
    if gift.status in (GiftStatus.CANCELLED, GiftStatus.CANCELLING):
        return False
    subscription_id = _live(gift)
    if reason not in REASONS:
        raise ManageError("Choose a reason.")
    snapshot = payments.cancel_subscription_for(
        subscription_id,
        REASONS[reason][1],
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


def record_offer_taken(gift: Gift, offered: list[str], taken: str) -> None:
    """Note that a donor about to cancel took one of the newsroom's offers instead."""
    gift.events.append(
        GiftEvent(
            kind="save_offer",
            actor=Actor.DONOR,
            actor_ref=ACTOR_REF,
            data={"offered": offered, "taken": taken},
        )
    )
    db.session.commit()


def offer_amounts(gift: Gift) -> tuple[int, int]:
    """Return the amounts offered instead of cancelling: half the gift (at least the minimum),
    and a year of it given once a year."""
    return max(current_app.config["MIN_AMOUNT"], gift.base_amount // 2), gift.base_amount * 12


def offers() -> list[str]:
    """Return the alternatives this newsroom offers before a cancellation, in its order."""
    configured = current_app.config["SAVE_OFFERS"]
    names = configured.split(",") if isinstance(configured, str) else configured
    return [name.strip() for name in names if name.strip() in OFFERS]
