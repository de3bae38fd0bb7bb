"""Giving once and monthly through the checkout service, against the Stripe emulator."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe

from banner.extensions import db
from banner.models import Frequency, Gift, GiftEvent, GiftStatus, Payment, utcnow
from banner.services import checkout
from tests.stripe_helpers import (
    DECLINED_AT_CHARGE,
    DECLINED_AT_SETUP,
    THREE_D_SECURE,
    VISA,
    authenticate_payment,
    confirm_card_setup,
)


@pytest.fixture
def give(app, stripe_base):
    """Run the donate flow as the page does: start, confirm the card, complete."""

    def run(amount=2500, frequency=Frequency.ONCE, card=VISA, **fields):
        request = checkout.GiftRequest(
            amount=amount,
            currency="usd",
            frequency=frequency,
            cover_fees=fields.pop("cover_fees", False),
            name=fields.pop("name", "Ada Reader"),
            email=fields.pop("email", "ada@example.org"),
            checkout_key=uuid.uuid4().hex,
            **fields,
        )
        started = checkout.start_gift(request)
        setup = confirm_card_setup(stripe_base, started.client_secret, card)
        return checkout.complete_gift(started.reference, setup.get("id"))

    return run


def gift_request(**overrides) -> checkout.GiftRequest:
    """A validated donate form: $15 once from Ada, with a new submission id."""
    fields = dict(
        amount=1500,
        currency="usd",
        frequency=Frequency.ONCE,
        cover_fees=False,
        name="Ada",
        email="ada@example.org",
        checkout_key=uuid.uuid4().hex,
    )
    return checkout.GiftRequest(**{**fields, **overrides})


def stripe_client(stripe_base):
    return stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base})


def test_one_time_gift_records_donor_gift_payment_and_attribution(give, make_campaign, outbox):
    campaign = make_campaign()
    outcome = give(
        2500,
        campaign="spring",
        variant="a",
        article_url="https://news.example/2026/bridge",
        referrer="https://social.example/",
    )

    assert outcome.status == "succeeded"
    gift = db.session.scalar(sa.select(Gift))
    assert (gift.amount, gift.currency, gift.status) == (2500, "usd", GiftStatus.SUCCEEDED)
    assert gift.donor.email == "ada@example.org"
    assert gift.donor.stripe_customer_id.startswith("cus_")
    assert gift.campaign_id == campaign.id and gift.variant.key == "a"
    assert gift.article_url == "https://news.example/2026/bridge"
    assert gift.referrer == "https://social.example/"
    assert (gift.card_brand, gift.card_last4) == ("visa", "4242")
    [payment] = gift.payments
    assert (payment.amount, payment.currency) == (2500, "usd")
    assert payment.stripe_payment_intent_id == gift.stripe_payment_intent_id
    assert [event.to_status for event in gift.events] == [GiftStatus.PENDING, GiftStatus.SUCCEEDED]

    [receipt] = outbox
    assert receipt["To"] == "ada@example.org"
    body = receipt.get_content()
    assert "$25, once" in body
    assert gift.created_at.strftime("%d %B %Y") in body


def test_monthly_gift_starts_an_active_subscription(give, stripe_base, outbox):
    outcome = give(1000, Frequency.MONTH)

    assert outcome.status == "succeeded"
    gift = db.session.scalar(sa.select(Gift))
    assert gift.status is GiftStatus.ACTIVE
    subscription = stripe_client(stripe_base).v1.subscriptions.retrieve(gift.stripe_subscription_id)
    assert subscription.status == "active"
    assert subscription["items"].data[0].plan.id == "gift-month-usd-1000"
    assert subscription.metadata["gift"] == gift.reference
    [payment] = gift.payments
    assert payment.amount == 1000 and payment.stripe_invoice_id.startswith("in_")
    assert gift.current_period_end > gift.created_at

    body = outbox[0].get_content()
    assert "$10 every month" in body
    assert "Next charge: " + gift.current_period_end.strftime("%d %B %Y") in body


def test_yearly_gifts_of_one_amount_share_one_plan(give, stripe_base):
    give(5000, Frequency.YEAR, email="one@example.org")
    give(5000, Frequency.YEAR, email="two@example.org")

    plans = stripe_client(stripe_base).v1.plans.list().data
    assert [plan.id for plan in plans] == ["gift-year-usd-5000"]
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 2


def test_covering_fees_charges_the_fee_on_top(give):
    give(2500, cover_fees=True)

    gift = db.session.scalar(sa.select(Gift))
    assert gift.fee_amount == checkout.fee_for(2500) == 106
    assert gift.amount == 2606 and gift.base_amount == 2500
    assert gift.payments[0].amount == 2606


@pytest.mark.parametrize("frequency", [Frequency.ONCE, Frequency.MONTH])
@pytest.mark.parametrize("card", [DECLINED_AT_SETUP, DECLINED_AT_CHARGE])
def test_declined_card_fails_the_gift_and_records_no_payment(give, card, frequency, outbox):
    outcome = give(2500, frequency, card=card)

    assert outcome.status == "failed"
    assert "declined" in outcome.message
    gift = db.session.scalar(sa.select(Gift))
    assert gift.status is GiftStatus.FAILED and gift.failure_message == outcome.message
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 0
    assert outbox == []


def test_declined_monthly_gift_leaves_no_live_subscription(give, stripe_base):
    give(1000, Frequency.MONTH, card=DECLINED_AT_CHARGE)

    gift = db.session.scalar(sa.select(Gift))
    subscription = stripe_client(stripe_base).v1.subscriptions.retrieve(gift.stripe_subscription_id)
    assert subscription.status == "canceled"


@pytest.mark.parametrize("frequency", [Frequency.ONCE, Frequency.MONTH])
def test_three_d_secure_completes_after_authentication(give, stripe_base, frequency):
    outcome = give(2500, frequency, card=THREE_D_SECURE)
    assert outcome.status == "requires_action"
    assert db.session.scalar(sa.select(Gift)).status is GiftStatus.REQUIRES_ACTION

    authenticate_payment(stripe_base, outcome.client_secret)
    final = checkout.complete_gift(outcome.reference, None)

    assert final.status == "succeeded"
    gift = db.session.scalar(sa.select(Gift))
    assert gift.status in checkout.DONE
    assert len(gift.payments) == 1


def test_repeated_confirmation_charges_once(give, stripe_base, outbox):
    outcome = give(2500)
    again = checkout.complete_gift(outcome.reference, None)

    assert again.status == "succeeded"
    gift = db.session.scalar(sa.select(Gift))
    intents = stripe_client(stripe_base).v1.payment_intents.list().data
    assert [intent.customer for intent in intents] == [gift.donor.stripe_customer_id]
    assert len(gift.payments) == 1
    assert len(outbox) == 1


def test_repeated_form_submission_finds_the_same_gift(app, stripe_base):
    request = gift_request(email="ADA@Example.org ")
    first = checkout.start_gift(request)
    second = checkout.start_gift(request)

    assert first == second
    assert db.session.scalar(sa.select(sa.func.count(Gift.id))) == 1
    assert db.session.scalar(sa.select(Gift)).donor.email == "ada@example.org"


def test_submission_of_a_finished_gift_is_refused(give, app):
    request = gift_request()
    checkout.start_gift(request)
    db.session.scalar(sa.select(Gift)).status = GiftStatus.FAILED
    db.session.commit()

    with pytest.raises(checkout.CheckoutError):
        checkout.start_gift(request)


def test_a_returning_donor_is_one_donor(give):
    give(1000, email="ada@example.org")
    give(2000, Frequency.MONTH, email="Ada@Example.org")

    gifts = db.session.scalars(sa.select(Gift)).all()
    assert len(gifts) == 2 and gifts[0].donor_id == gifts[1].donor_id
    assert gifts[0].donor.stripe_customer_id == gifts[1].donor.stripe_customer_id


def test_a_setup_intent_of_another_gift_is_refused(give, app, stripe_base):
    other = give(1000, email="other@example.org")
    request = gift_request()
    started = checkout.start_gift(request)
    other_gift = db.session.scalar(sa.select(Gift).where(Gift.reference == other.reference))

    outcome = checkout.complete_gift(started.reference, other_gift.stripe_setup_intent_id)

    assert outcome.status == "failed"
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 1


def test_every_status_change_is_a_gift_event(give):
    give(1000, Frequency.MONTH)

    events = db.session.scalars(sa.select(GiftEvent).order_by(GiftEvent.id)).all()
    changes = [event for event in events if event.kind == "status"]
    assert [(event.from_status, event.to_status) for event in changes] == [
        (None, GiftStatus.PENDING),
        (GiftStatus.PROCESSING, GiftStatus.ACTIVE),
    ]
    assert all(event.actor.value == "donor" for event in changes)
    [mrr] = [event for event in events if event.kind == "mrr"]
    assert (mrr.movement, mrr.mrr_delta) == ("new", 1000)


def test_a_gift_being_charged_by_another_request_is_not_charged_again(app, stripe_base):
    request = gift_request()
    started = checkout.start_gift(request)
    setup = confirm_card_setup(stripe_base, started.client_secret, VISA)
    gift = db.session.scalar(sa.select(Gift))
    gift.status = GiftStatus.PROCESSING  # another request holds it
    db.session.commit()

    assert checkout.complete_gift(started.reference, setup["id"]).status == "processing"
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 0


def test_a_gift_left_processing_by_a_dead_request_is_finished_by_a_retry(app, stripe_base):
    request = gift_request()
    started = checkout.start_gift(request)
    setup = confirm_card_setup(stripe_base, started.client_secret, VISA)
    db.session.execute(
        sa.update(Gift).values(
            status=GiftStatus.PROCESSING,
            updated_at=utcnow() - checkout.STALE_PROCESSING - timedelta(seconds=1),
        )
    )
    db.session.commit()

    assert checkout.complete_gift(started.reference, setup["id"]).status == "succeeded"
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 1
