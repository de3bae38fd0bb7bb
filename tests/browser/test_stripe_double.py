"""The emulator's Stripe.js double on its own: the subset of Stripe.js the pages use, against the
emulator, on a bare page."""

import pytest
import stripe
from playwright.sync_api import expect

from tests.stripe_helpers import DECLINED, PUBLISHABLE_KEY, THREE_D_SECURE, VISA

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><script src="{base}/js.stripe.com/v3/"></script></head>
<body><form><div id="payment-element"></div></form></body></html>"""
MOUNT = """([mode, key]) => {
  window.stripeClient = Stripe(key);
  window.elements = stripeClient.elements({mode: mode, amount: 2500, currency: "usd"});
  elements.create("payment").mount("#payment-element");
}"""


@pytest.fixture
def bare(page, stripe_base):
    """A bare page with the double loaded; `mount` mounts the Payment Element on it."""
    url = f"{stripe_base}/test-page/"  # answered here, never by the emulator
    page.route(url, lambda route: route.fulfill(body=PAGE.format(base=stripe_base), content_type="text/html"))
    page.goto(url)

    def mount(mode="payment"):
        page.evaluate(MOUNT, [mode, PUBLISHABLE_KEY])
        return page

    return mount


def server(stripe_base):
    return stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base}, max_network_retries=0).v1


def fill(page, number):
    card = page.locator("#payment-element")
    card.get_by_label("Card number").fill(number)
    card.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    card.get_by_label("CVC").fill("123")


def intent(stripe_base, key):
    return server(stripe_base).payment_intents.create(
        params={"amount": 2500, "currency": "usd", "allowed_payment_method_types": ["card"]},
        options={"idempotency_key": key},
    )


CONFIRM = """secret => elements.submit().then(() => stripeClient.confirmPayment({
  elements: elements, clientSecret: secret, confirmParams: {return_url: "http://127.0.0.1/"}, redirect: "if_required"
}))"""


def test_incomplete_details_are_a_validation_error_that_sends_nothing(bare):
    page = bare()
    sent = []
    page.on("request", lambda request: sent.append(request.url))
    page.locator("#payment-element").get_by_label("Card number").fill("4242 4242")

    result = page.evaluate("() => elements.submit()")

    assert result["error"]["type"] == "validation_error"
    assert result["error"]["message"] == "Your card number is incomplete."
    assert sent == []


def test_confirming_before_submit_is_refused(bare, stripe_base):
    page = bare()
    fill(page, VISA)
    secret = intent(stripe_base, "before-submit").client_secret

    result = page.evaluate(
        """secret => stripeClient.confirmPayment({elements: elements, clientSecret: secret,
             confirmParams: {return_url: "http://127.0.0.1/"}, redirect: "if_required"})""",
        secret,
    )

    assert "elements.submit()" in result["error"]["message"]


def test_a_good_card_pays_the_intent(bare, stripe_base):
    page = bare()
    fill(page, VISA)
    created = intent(stripe_base, "good-card")

    result = page.evaluate(CONFIRM, created.client_secret)

    assert result["paymentIntent"]["status"] == "succeeded"
    assert server(stripe_base).payment_intents.retrieve(created.id).status == "succeeded"


def test_a_declined_card_is_a_card_error(bare, stripe_base):
    page = bare()
    fill(page, DECLINED)

    result = page.evaluate(CONFIRM, intent(stripe_base, "declined").client_secret)

    assert result["error"]["type"] == "card_error"
    assert result["error"]["code"] == "card_declined"


@pytest.mark.parametrize(
    ("answer", "paid"), [("Complete authentication", True), ("Fail authentication", False)]
)
def test_three_d_secure_prompts_once_and_follows_the_answer(bare, stripe_base, answer, paid):
    page = bare()
    fill(page, THREE_D_SECURE)
    created = intent(stripe_base, f"3ds-{paid}")

    page.evaluate(
        f"secret => {{ window.result = null; ({CONFIRM})(secret).then(r => window.result = r); }}",
        created.client_secret,
    )
    dialog = page.get_by_role("dialog", name="3D Secure authentication")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=answer).click()
    result = page.wait_for_function("() => window.result").json_value()

    expect(dialog).to_have_count(0)
    assert ("paymentIntent" in result) is paid
    assert (server(stripe_base).payment_intents.retrieve(created.id).status == "succeeded") is paid


def test_a_setup_intent_saves_the_card(bare, stripe_base):
    page = bare("setup")
    fill(page, VISA)
    customer = server(stripe_base).customers.create(options={"idempotency_key": "saver"})
    setup = server(stripe_base).setup_intents.create(
        params={"customer": customer.id, "usage": "off_session", "allowed_payment_method_types": ["card"]},
        options={"idempotency_key": "saver-setup"},
    )

    result = page.evaluate(
        """secret => elements.submit().then(() => stripeClient.confirmSetup({elements: elements,
             clientSecret: secret, confirmParams: {return_url: "http://127.0.0.1/"}, redirect: "if_required"}))""",
        setup.client_secret,
    )

    assert result["setupIntent"]["status"] == "succeeded"
