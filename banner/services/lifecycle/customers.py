"""customer.* and payment_method.*: a donor's new e-mail or name, a deleted customer, and the
card each gift is paid by, with its expiry."""

import sqlalchemy as sa

from banner import payments
from banner.extensions import db
from banner.models import Actor, Donor, Gift, StripeEvent, normalise_email, utcnow
from banner.services.lifecycle.gifts import Delivery, _settle_status, _time


def on_customer_updated(customer: dict, delivery: Delivery) -> None:
    """customer.updated: the donor changed their e-mail or name at Stripe."""
    donor = db.session.scalar(sa.select(Donor).where(Donor.stripe_customer_id == customer["id"]))
    if donor is None or donor.erased:
        delivery.note = "no donor for this customer" if donor is None else "donor erased; not changed"
        return
    email = normalise_email(customer.get("email") or donor.email)
    if email != donor.email:
        if db.session.scalar(sa.select(Donor.id).where(Donor.email == email)):
            delivery.note = f"e-mail {email} belongs to another donor; not changed"
            return
        donor.email = email
    donor.name = (customer.get("name") or donor.name).strip()


def on_customer_deleted(customer: dict, delivery: Delivery) -> None:
    """customer.deleted: Stripe ended the donor's subscriptions with the customer; the donor
    keeps their gifts here, without a Stripe customer."""
    donor = db.session.scalar(
        sa.select(Donor).where(Donor.stripe_customer_id == customer["id"]).with_for_update()
    )
    if donor is None:
        delivery.note = "no donor for this customer"
        return
    donor.stripe_customer_id = None
    for gift in donor.gifts:
        if gift.stripe_subscription_id is None or delivery.mark <= gift.stripe_watermark:
            continue
        if gift.stripe_status in ("canceled", "incomplete_expired"):
            continue
        gift.stripe_watermark = delivery.mark
        gift.stripe_status = "canceled"
        gift.cancel_at_period_end = False
        gift.cancelled_at = gift.cancelled_at or _time(delivery.event["created"])
        if gift.cancellation_channel not in ("donor", "staff"):
            gift.cancellation_channel = "stripe_dashboard"
        _settle_status(gift, Actor.STRIPE, delivery.id, "Stripe customer deleted")


def on_card_updated(payment_method: dict, delivery: Delivery) -> None:
    """payment_method.attached / updated / automatically_updated: a card saved for a gift (at
    checkout, or a new one from the manage page), or given a new number or expiry date by the
    card network; the gifts it pays keep its digits and expiry, for the "card expiring" notice.

    A gift's card is its subscription's default_payment_method (see on_subscription); the card
    saved at checkout may be told before the subscription names it, so a gift of that customer
    with no card known yet and the same last digits takes it.
    """
    card = payments.card_info(payment_method)
    gifts = db.session.scalars(sa.select(Gift).where(Gift.stripe_payment_method_id == card.id)).all()
    if not gifts and card.customer:
        gifts = db.session.scalars(
            sa.select(Gift).where(
                Gift.stripe_customer_id == card.customer,
                Gift.stripe_payment_method_id.is_(None),
                Gift.card_last4 == card.last4,
            )
        ).all()
    if not gifts:
        delivery.note = NO_CARD
    attached = delivery.event["type"] == "payment_method.attached"
    for gift in gifts:
        gift.stripe_payment_method_id = card.id
        if attached and gift.card_exp_year is not None:
            continue  # the card network's later news is kept, however late this comes
        gift.card_brand = card.brand or gift.card_brand
        gift.card_last4 = card.last4 or gift.card_last4
        gift.card_exp_month = card.exp_month or gift.card_exp_month
        gift.card_exp_year = card.exp_year or gift.card_exp_year


def _follow_card(gift: Gift, subscription: dict) -> None:
    """The subscription's default_payment_method is the gift's card; a new one's expiry is not
    known until its payment_method event, so the old card's is dropped."""
    card_id = payments.object_id(payments.field(subscription, "default_payment_method"))
    if card_id and card_id != gift.stripe_payment_method_id:
        if gift.stripe_payment_method_id is not None:
            gift.card_exp_month = gift.card_exp_year = None
        gift.stripe_payment_method_id = card_id
        apply_waiting_card(card_id)


#: the note of a card event that came before any gift was known to use the card
NO_CARD = "no gift paid by this card"


def apply_waiting_card(card_id: str) -> None:
    """Apply the events of a card that came before a gift was known to use it, oldest first."""
    waiting = db.session.scalars(
        sa.select(StripeEvent)
        .where(
            StripeEvent.error == NO_CARD,
            StripeEvent.payload["data"]["object"]["id"].as_string() == card_id,
        )
        .order_by(StripeEvent.created, StripeEvent.id)
    ).all()
    for stored in waiting:
        delivery = Delivery(stored.payload)
        on_card_updated(stored.payload["data"]["object"], delivery)
        stored.error = delivery.note
        stored.processed_at = utcnow()
