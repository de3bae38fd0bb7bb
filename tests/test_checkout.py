"""Giving once and monthly through the checkout service, against the Stripe emulator: the page's
part (Stripe.js's confirmPayment) is done by tests.stripe_helpers, as the browser would."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe

from banner import payments
from banner.extensions import db
from banner.models import Donor, Frequency, Gift, GiftEvent, GiftStatus, Payment, utcnow
from banner.services import checkout
from banner.services.reports import local_date
from tests.stripe_helpers import (
    DECLINED,
    DECLINED_AT_CHARGE,
    THREE_D_SECURE,
    VISA,
    confirm_payment,
)


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


@pytest.fixture
def give(app, stripe_base):
    """Run the donate flow as the page does: start, confirm the payment with a card, complete."""

    def run(amount=2500, frequency=Frequency.ONCE, card=VISA, authenticate=True, **fields):
        started = checkout.start_gift(gift_request(amount=amount, frequency=frequency, **fields))
        assert started.status == "confirm_payment"
        confirm_payment(stripe_base, started.client_secret, card, authenticate=authenticate)
        return checkout.complete_gift(started.reference)

    return run


def stripe_client(stripe_base):
    return stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base})


def the_gift() -> Gift:
    return db.session.scalar(sa.select(Gift))


def test_one_time_gift_records_donor_gift_payment_and_attribution(give, make_campaign, outbox):
    campaign = make_campaign()
    outcome = give(
        2500,
        campaign="spring",
        variant="a",
        article_url="https://news.example/2026/bridge",
        referrer="https://social.example/",
        name="Ada Reader",
    )

    assert outcome.status == "succeeded"
    gift = the_gift()
    assert (gift.amount, gift.currency, gift.status) == (2500, "usd", GiftStatus.SUCCEEDED)
    assert (gift.donor.email, gift.donor.name) == ("ada@example.org", "Ada Reader")
    assert gift.checkout_email is None and gift.checkout_name is None  # the donor keeps them
    assert gift.campaign_id == campaign.id and gift.variant.key == "a"
    assert gift.article_url == "https://news.example/2026/bridge"
    assert gift.referrer == "https://social.example/"
    assert (gift.card_brand, gift.card_last4) == ("visa", "4242")
    [payment] = gift.payments
    assert (payment.amount, payment.currency) == (2500, "usd")
    assert payment.stripe_payment_intent_id == gift.stripe_payment_intent_id
    assert payment.stripe_charge_id.startswith("ch_")
    assert [event.to_status for event in gift.events if event.kind == "status"] == [
        GiftStatus.PENDING,
        GiftStatus.SUCCEEDED,
    ]

    [receipt] = outbox
    assert receipt["To"] == "ada@example.org"
    body = receipt.get_body(("plain",)).get_content()
    assert "$25, once" in body
    assert local_date(gift.created_at).strftime("%d %B %Y") in body  # the newsroom's day


def test_one_time_gift_is_one_payment_intent_and_keeps_no_card(give, stripe_base):
    give(2500)

    gift = the_gift()
    intent = stripe_client(stripe_base).v1.payment_intents.retrieve(gift.stripe_payment_intent_id)
    assert intent.status == "succeeded" and intent.amount == 2500
    assert intent.customer is None  # nothing is kept for later charges
    assert gift.donor.stripe_customer_id is None
    assert stripe_client(stripe_base).v1.setup_intents.list().data == []


def test_monthly_gift_starts_an_active_subscription_with_its_own_card(give, stripe_base, outbox):
    outcome = give(1000, Frequency.MONTH)

    assert outcome.status == "succeeded"
    gift = the_gift()
    assert gift.status is GiftStatus.ACTIVE
    client = stripe_client(stripe_base)
    subscription = client.v1.subscriptions.retrieve(gift.stripe_subscription_id)
    assert subscription.status == "active"
    price = subscription["items"].data[0].price
    assert (price.unit_amount, price.currency, price.recurring.interval) == (1000, "usd", "month")
    assert subscription.metadata["gift"] == gift.reference
    assert subscription.default_payment_method is not None
    customer = client.v1.customers.retrieve(gift.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method is None  # the card is the gift's own
    assert gift.donor.stripe_customer_id == gift.stripe_customer_id
    [payment] = gift.payments
    assert payment.amount == 1000 and payment.stripe_invoice_id.startswith("in_")
    assert payment.stripe_payment_intent_id.startswith("pi_")
    assert (gift.card_brand, gift.card_last4) == ("visa", "4242")
    assert gift.current_period_end > gift.created_at

    body = outbox[0].get_body(("plain",)).get_content()
    assert "$10 every month" in body
    assert "Next charge: " + local_date(gift.current_period_end).strftime("%d %B %Y") in body


def test_covering_fees_charges_the_fee_on_top(give):
    give(2500, cover_fees=True)

    gift = the_gift()
    assert gift.fee_amount == checkout.fee_for(2500) == 106
    assert gift.amount == 2606 and gift.base_amount == 2500
    assert gift.payments[0].amount == 2606


@pytest.mark.parametrize("frequency", [Frequency.ONCE, Frequency.MONTH])
@pytest.mark.parametrize("card", [DECLINED, DECLINED_AT_CHARGE])
def test_declined_card_fails_the_gift_and_makes_no_donor(give, card, frequency, outbox):
    outcome = give(2500, frequency, card=card)

    assert outcome.status == "failed"
    assert "declined" in outcome.message
    gift = the_gift()
    assert gift.status is GiftStatus.FAILED and gift.failure_message == outcome.message
    assert gift.donor is None
    assert db.session.scalar(sa.select(sa.func.count(Donor.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 0
    assert outbox == []


def test_declined_monthly_gift_leaves_no_live_subscription(give, stripe_base):
    give(1000, Frequency.MONTH, card=DECLINED_AT_CHARGE)

    subscription = stripe_client(stripe_base).v1.subscriptions.retrieve(the_gift().stripe_subscription_id)
    assert subscription.status in ("canceled", "incomplete_expired")


@pytest.mark.parametrize("frequency", [Frequency.ONCE, Frequency.MONTH, Frequency.YEAR])
def test_three_d_secure_is_asked_once_and_the_gift_completes(give, frequency):
    outcome = give(2500, frequency, card=THREE_D_SECURE)

    assert outcome.status == "succeeded"
    gift = the_gift()
    assert gift.made_at_checkout
    assert len(gift.payments) == 1


def test_failed_authentication_fails_the_gift(give):
    outcome = give(2500, Frequency.MONTH, card=THREE_D_SECURE, authenticate=False)

    assert outcome.status == "failed"
    assert the_gift().donor is None


def test_an_abandoned_attempt_leaves_no_donor_and_is_forgotten(app, stripe_base, monkeypatch):
    started = checkout.start_gift(gift_request(frequency=Frequency.MONTH))
    assert db.session.scalar(sa.select(sa.func.count(Donor.id))) == 0
    gift = the_gift()
    gift.created_at = utcnow() - timedelta(hours=app.config["ATTEMPT_HOURS"], minutes=1)
    db.session.commit()

    assert checkout.forget_attempts() == 1

    gift = the_gift()
    assert gift.status is GiftStatus.FAILED
    assert (gift.checkout_email, gift.checkout_name) == (None, None)
    subscription = stripe_client(stripe_base).v1.subscriptions.retrieve(gift.stripe_subscription_id)
    assert subscription.status in ("canceled", "incomplete_expired")
    assert checkout.complete_gift(started.reference).status == "failed"
    assert checkout.forget_attempts() == 0


def test_repeated_confirmation_charges_once(give, stripe_base, outbox):
    outcome = give(2500)
    again = checkout.complete_gift(outcome.reference)

    assert again.status == "succeeded"
    gift = the_gift()
    intents = stripe_client(stripe_base).v1.payment_intents.list().data
    assert [intent.id for intent in intents] == [gift.stripe_payment_intent_id]
    assert len(gift.payments) == 1
    assert len(outbox) == 1


@pytest.mark.parametrize("frequency", [Frequency.ONCE, Frequency.MONTH])
def test_repeated_form_submission_finds_the_same_gift_and_intent(app, stripe_base, frequency):
    request = gift_request(email="ADA@Example.org ", frequency=frequency)
    first = checkout.start_gift(request)
    second = checkout.start_gift(request)

    assert first == second
    assert db.session.scalar(sa.select(sa.func.count(Gift.id))) == 1
    assert the_gift().checkout_email == "ada@example.org"


def test_the_same_submission_with_other_details_is_refused(app, stripe_base):
    request = gift_request()
    checkout.start_gift(request)

    with pytest.raises(checkout.CheckoutError):
        checkout.start_gift(gift_request(checkout_key=request.checkout_key, amount=9900))


def test_submission_of_a_failed_attempt_is_refused(app, stripe_base):
    request = gift_request()
    checkout.start_gift(request)
    the_gift().status = GiftStatus.FAILED
    db.session.commit()

    with pytest.raises(checkout.CheckoutError):
        checkout.start_gift(request)


def test_a_returning_donor_is_one_donor_with_a_customer_per_monthly_gift(give):
    give(1000, email="ada@example.org")
    give(2000, Frequency.MONTH, email="Ada@Example.org")
    give(3000, Frequency.MONTH, email="ada@example.org")

    gifts = db.session.scalars(sa.select(Gift).order_by(Gift.id)).all()
    assert len({gift.donor_id for gift in gifts}) == 1
    assert gifts[1].stripe_customer_id != gifts[2].stripe_customer_id


def test_a_stranger_giving_with_a_donors_email_never_touches_the_donors_card(give, stripe_base):
    give(1000, Frequency.MONTH, email="ada@example.org")
    donors_gift = the_gift()
    client = stripe_client(stripe_base)
    card_before = client.v1.subscriptions.retrieve(donors_gift.stripe_subscription_id).default_payment_method

    give(100, Frequency.MONTH, email="ada@example.org", card=DECLINED_AT_CHARGE)
    give(100, Frequency.MONTH, email="ada@example.org", card=THREE_D_SECURE)

    db.session.refresh(donors_gift)
    subscription = client.v1.subscriptions.retrieve(donors_gift.stripe_subscription_id)
    assert subscription.default_payment_method == card_before
    customer = client.v1.customers.retrieve(donors_gift.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method is None
    assert (donors_gift.card_brand, donors_gift.card_last4) == ("visa", "4242")
    others = db.session.scalars(sa.select(Gift).where(Gift.id != donors_gift.id)).all()
    assert all(gift.stripe_customer_id != donors_gift.stripe_customer_id for gift in others)


def test_every_status_change_is_a_gift_event(give):
    give(1000, Frequency.MONTH)

    events = db.session.scalars(sa.select(GiftEvent).order_by(GiftEvent.id)).all()
    changes = [event for event in events if event.kind == "status"]
    assert [(event.from_status, event.to_status) for event in changes] == [
        (None, GiftStatus.PENDING),
        (GiftStatus.PENDING, GiftStatus.ACTIVE),
    ]
    assert all(event.actor.value == "donor" for event in changes)
    [mrr] = [event for event in events if event.kind == "mrr"]
    assert (mrr.movement, mrr.mrr_delta) == ("new", 1000)


def test_a_gift_paid_while_the_page_was_closed_is_completed_by_a_later_confirmation(app, stripe_base, outbox):
    started = checkout.start_gift(gift_request())
    confirm_payment(stripe_base, started.client_secret, VISA)  # the page closed before telling us

    assert the_gift().donor is None
    assert checkout.complete_gift(started.reference).status == "succeeded"
    assert the_gift().donor.email == "ada@example.org"
    assert len(outbox) == 1


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.ONCE, ["POST /v1/payment_intents", "GET /v1/payment_intents/*"]),
        (
            Frequency.MONTH,
            [
                "POST /v1/customers",
                "GET /v1/products/*",
                "POST /v1/subscriptions",
                "GET /v1/subscriptions/*",
                "GET /v1/payment_intents/*",
            ],
        ),
    ],
)
def test_the_server_asks_stripe_only_what_one_gift_needs(give, stripe_base, frequency, expected):
    import json
    import re
    import urllib.request

    payments.ensure_product()  # made once, by the first monthly gift ever
    urllib.request.urlopen(urllib.request.Request(f"{stripe_base}/_shim/requests", method="DELETE"))
    give(2500, frequency)

    with urllib.request.urlopen(f"{stripe_base}/_shim/requests") as answer:
        recorded = json.load(answer)
    objects = re.compile(r"/v1/(\w+)/[\w-]+")
    sent = [request["method"] + " " + objects.sub(r"/v1/\1/*", request["path"]) for request in recorded]
    print(f"\n{frequency.value}: {len(sent)} requests to Stripe from the server: {sent}")
    assert sent == expected


@pytest.mark.parametrize(
    "refusal", [payments.NotFound("no such subscription"), payments.StripeRequestRejected("ended")]
)
def test_an_attempt_stripe_already_ended_is_still_forgotten(app, stripe_base, monkeypatch, refusal):
    """Real Stripe expires an incomplete subscription after 23 hours; ending it again is refused."""
    started = checkout.start_gift(gift_request(frequency=Frequency.MONTH))
    the_gift().created_at = utcnow() - timedelta(hours=app.config["ATTEMPT_HOURS"], minutes=1)
    db.session.commit()

    def refused(*args):
        raise refusal

    monkeypatch.setattr(payments, "cancel_subscription", refused)
    assert checkout.forget_attempts() == 1
    assert the_gift().status is GiftStatus.FAILED and the_gift().checkout_email is None
    monkeypatch.undo()
    assert checkout.complete_gift(started.reference).status == "failed"
