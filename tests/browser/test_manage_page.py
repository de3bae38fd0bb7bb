"""A monthly donor manages their gift in Chromium, from the link in their receipt e-mail."""

import re
import time

import pytest
import sqlalchemy as sa
import stripe
from playwright.sync_api import expect

from banner import payments
from banner.extensions import db
from banner.models import Gift, GiftEvent, GiftStatus, Variant
from tests import factories
from tests import stripe_events as se
from tests.browser.conftest import type_card
from tests.stripe_helpers import THREE_D_SECURE, VISA, give
from tests.waiting import eventually

pytestmark = pytest.mark.browser


def gift_events(kind=None):
    db.session.expire_all()
    events = db.session.scalars(sa.select(GiftEvent).order_by(GiftEvent.id)).all()
    return [e for e in events if kind is None or e.kind == kind]


@pytest.fixture
def receipt_link(live, page, outbox):
    """Give $10 a month on the real donate page; return the manage link from the receipt."""
    factories.campaign(preset_amounts=[500, 1000], variants=[Variant(key="a", heading="Support us")])
    page.goto(
        f"{live}/donate?campaign=spring&frequency=month&amount=10&from=https%3A%2F%2Fnews.example%2Fstory"
    )
    page.get_by_label("Your name").fill("Ada Reader")
    page.get_by_label("E-mail").fill("ada@example.org")
    type_card(page, VISA)
    page.get_by_role("button", name="Give $10 monthly").click()
    page.wait_for_url(re.compile(r"/donate/thanks/"))
    expect(page.get_by_text("A receipt is on its way to ada@example.org")).to_be_visible()
    eventually(lambda: len(outbox), what="the receipt")
    return re.search(r"(http://\S+/manage/\S+)", outbox[0].get_body(("plain",)).get_content()).group(1)


def test_a_donor_changes_pauses_updates_the_card_and_cancels(page, receipt_link):
    page.goto(receipt_link)
    expect(page.get_by_role("heading", name="$10 every month")).to_be_visible()

    # Changes of amount send inline Prices, which the emulator does not keep yet: tests/test_manage.py
    # makes them against Stripe-shaped answers (tests.fake_stripe). Here: what the page offers.
    page.get_by_text("Change the amount", exact=True).click()
    expect(page.get_by_label("New amount")).to_have_value("10")
    page.get_by_text("Give once a year instead", exact=True).click()
    expect(page.get_by_label("Amount each year")).to_have_value("120")

    page.get_by_text("Pause", exact=True).click()
    page.get_by_label("2 months").check()
    page.get_by_role("button", name="Pause my gift").click()
    expect(page.get_by_role("status")).to_contain_text("are skipped; giving resumes on")
    page.get_by_role("button", name="Resume now").click()
    expect(page.get_by_role("status")).to_contain_text("Resumed")

    page.get_by_role("link", name="Update my card").click()
    type_card(page, "4000056655665556")
    page.get_by_role("button", name="Save my new card").click()
    expect(page.get_by_role("status")).to_contain_text("ending in 5556")

    started = time.monotonic()
    page.get_by_role("link", name="Cancel my gift").click()
    page.get_by_label("I am unhappy with the comments or the community").check()
    page.get_by_label("Anything you would like us to know?").fill("Too many trolls.")
    page.get_by_role("button", name="Cancel my gift").click()
    expect(page.get_by_role("heading", name="Your gift is cancelled")).to_be_visible()
    page.cancel_seconds = time.monotonic() - started

    gift = db.session.scalar(sa.select(Gift))
    assert gift.status is GiftStatus.CANCELLING and gift.cancellation_channel == "donor"
    assert (gift.amount, gift.card_last4, gift.cancellation_reason) == (1000, "5556", "community")
    kinds = [e.kind for e in gift_events() if e.actor.value == "donor"]
    assert kinds.count("amount") == 0 and kinds.count("card") == 1 and kinds.count("cancel_request") == 1
    statuses = [e.to_status for e in gift_events("status")]
    assert statuses[-3:] == [GiftStatus.PAUSED, GiftStatus.ACTIVE, GiftStatus.CANCELLING]
    assert page.errors == []


def test_cancelling_takes_three_clicks_from_the_receipt_link_and_works_by_keyboard(page, receipt_link):
    started = time.monotonic()
    page.goto(receipt_link)  # click 1: the link in the e-mail
    page.get_by_role("link", name="Cancel my gift").focus()
    page.keyboard.press("Enter")  # click 2
    page.get_by_label("It costs too much for me right now").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Cancel my gift").focus()
    page.keyboard.press("Enter")  # click 3
    expect(page.get_by_role("heading", name="Your gift is cancelled")).to_be_visible()
    seconds = time.monotonic() - started
    print(f"\nreceipt link to confirmed cancellation: 3 clicks and a choice, {seconds:.2f} s")
    assert db.session.scalar(sa.select(Gift)).cancellation_reason == "too_expensive"
    assert page.errors == []


def test_a_renewal_the_bank_wants_confirmed_is_confirmed_from_the_manage_page(
    page, live, stripe_base, outbox
):
    """Stripe asks for 3-D Secure on a renewal (invoice.payment_action_required): the donor gets a
    link, and one confirmation on the manage page pays the open invoice."""
    gift = give(stripe_base, amount=1000)
    outbox.clear()
    subscription_stripe = stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base}).v1
    method = subscription_stripe.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": THREE_D_SECURE, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        },
        options={"idempotency_key": "3ds-card"},
    )
    subscription_stripe.payment_methods.attach(
        method.id, params={"customer": gift.stripe_customer_id}, options={"idempotency_key": "3ds-attach"}
    )
    # The renewal, as Stripe would make it: a new invoice charged to a card whose bank asks for 3-D Secure.
    item = subscription_stripe.subscriptions.retrieve(gift.stripe_subscription_id)["items"].data[0]
    renewed = subscription_stripe.subscriptions.update(
        gift.stripe_subscription_id,
        params={
            "default_payment_method": method.id,
            "items": [
                {
                    "id": item.id,
                    "price_data": {
                        "currency": "usd",
                        "product": payments.PRODUCT_ID,
                        "unit_amount": 1000,
                        "recurring": {"interval": "year"},
                    },
                }
            ],
            "proration_behavior": "always_invoice",
            "expand": ["latest_invoice"],
        },
        options={"idempotency_key": "renewal"},
    )
    waiting = renewed.latest_invoice
    assert waiting.status == "open"
    event = se.event(
        "invoice.payment_action_required",
        se.invoice(waiting.id, gift.stripe_subscription_id, status="open", amount_paid=0),
    )
    assert se.deliver_over_http(live, event) == 200
    eventually(lambda: len(outbox), what="the e-mail asking to confirm")
    [message] = outbox
    link = re.search(r"(http://\S+/manage/\S+)", message.get_body(("plain",)).get_content()).group(1)

    page.goto(link)
    page.get_by_role("link", name="Confirm my payment").click()
    page.get_by_role("button", name="Confirm with my bank").click()
    page.get_by_role("button", name="Complete authentication").click()

    expect(page.get_by_role("status")).to_contain_text("your payment is confirmed")
    db.session.expire_all()
    assert db.session.get(Gift, gift.id).status is GiftStatus.ACTIVE
    assert page.errors == []
