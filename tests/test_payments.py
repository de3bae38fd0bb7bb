"""banner.payments: idempotency keys on every Stripe POST, and readers of both object shapes."""

import http.server
import json
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from banner import payments
from banner.models import Frequency
from banner.services import checkout
from tests import fake_stripe as fake
from tests.stripe_helpers import VISA, confirm_payment

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "stripe_objects.json").read_text())


class RecordingProxy(http.server.ThreadingHTTPServer):
    """Forwards requests to the emulator and records method, path and Idempotency-Key."""

    def __init__(self, target: str):
        self.target = target
        self.requests: list[tuple[str, str, str | None]] = []
        super().__init__(("127.0.0.1", 0), ProxyHandler)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(
            (self.command, self.path.split("?")[0], self.headers.get("Idempotency-Key"))
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(
            self.server.target + self.path, data=body or None, headers=headers, method=self.command
        )
        try:
            response = urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        payload = response.read()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def recorded(app, stripe_base):
    proxy = RecordingProxy(stripe_base)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{proxy.server_address[1]}"
    app.extensions.pop("stripe_client", None)
    yield proxy.requests
    proxy.shutdown()
    proxy.server_close()
    app.config["STRIPE_API_BASE"] = stripe_base
    app.extensions.pop("stripe_client", None)


@pytest.mark.parametrize("frequency", [Frequency.ONCE, Frequency.MONTH])
def test_every_stripe_post_carries_an_idempotency_key_derived_from_the_gift(recorded, stripe_base, frequency):
    request = checkout.GiftRequest(
        amount=2500,
        currency="usd",
        frequency=frequency,
        cover_fees=False,
        name="Ada",
        email="ada@example.org",
        checkout_key=uuid.uuid4().hex,
    )
    started = checkout.start_gift(request)
    checkout.start_gift(request)  # the form sent twice
    confirm_payment(stripe_base, started.client_secret, VISA)
    checkout.complete_gift(started.reference)
    checkout.complete_gift(started.reference)  # a double click

    posts = [(path, key) for method, path, key in recorded if method == "POST"]
    assert all(key for _, key in posts), posts
    gift_keys = [key for path, key in posts if not path.startswith("/v1/products")]
    assert all(key.startswith(f"gift-{started.reference}-") for key in gift_keys), posts
    if frequency is Frequency.ONCE:
        assert gift_keys == [f"gift-{started.reference}-payment"]
    else:
        assert gift_keys == [f"gift-{started.reference}-customer", f"gift-{started.reference}-subscription"]
    assert len({key for _, key in posts}) == len(posts)  # one key per request: none repeated


def test_period_end_is_read_from_the_subscriptions_item_only():
    item = {**EXAMPLES["subscription"]["items"]["data"][0], "current_period_end": 1_900_000_000}
    current = {**EXAMPLES["subscription"], "items": {"object": "list", "data": [item]}}
    assert "current_period_end" not in current
    assert payments.period_end(current) == 1_900_000_000
    older = {"current_period_end": 1_800_000_000, "items": {"data": []}}
    assert payments.period_end(older) is None


def test_invoice_subscription_payment_intent_and_charge_are_read_in_the_current_shape_only():
    current = {**EXAMPLES["invoice"], "subscription": None}
    current["parent"] = {"type": "subscription_details", "subscription_details": {"subscription": "sub_new"}}
    current["payments"] = {
        "data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_new", "charge": "ch_new"}}]
    }
    info = payments.invoice_info(current)
    assert (info.subscription, info.payment_intent, info.charge) == ("sub_new", "pi_new", "ch_new")

    older = {"subscription": "sub_old", "payment_intent": {"id": "pi_old"}, "charge": "ch_old"}
    info = payments.invoice_info(older)
    assert (info.subscription, info.payment_intent, info.charge) == (None, None, None)


def test_a_subscription_is_read_from_its_items_price_not_its_plan():
    item = {
        **EXAMPLES["subscription"]["items"]["data"][0],
        "price": {
            **EXAMPLES["price"],
            "unit_amount": 1500,
            "currency": "eur",
            "recurring": {"interval": "year"},
        },
        "plan": {"amount": 999, "interval": "month", "currency": "usd"},
        "quantity": 1,
    }
    snapshot = payments.subscription_snapshot(
        {**EXAMPLES["subscription"], "plan": {"amount": 999}, "items": {"data": [item]}}
    )
    assert (snapshot.amount, snapshot.currency, snapshot.interval) == (1500, "eur", "year")


def test_stripe_outage_is_a_payment_unavailable_error(app):
    app.config["STRIPE_API_BASE"], base = "http://127.0.0.1:9", app.config["STRIPE_API_BASE"]
    app.extensions.pop("stripe_client", None)
    try:
        with pytest.raises(payments.PaymentUnavailable):
            payments.create_customer("a@example.org", "A", "key-1", {})
    finally:
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)


class RecordedStripe(http.server.ThreadingHTTPServer):
    """Answers every request with one recorded Stripe object, and records what was asked."""

    def __init__(self, answer: dict):
        self.answer = json.dumps(answer).encode()
        self.requests: list[tuple[str, str, str | None]] = []
        super().__init__(("127.0.0.1", 0), RecordedHandler)


class RecordedHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, self.headers.get("Idempotency-Key")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.answer)))
        self.end_headers()
        self.wfile.write(self.server.answer)

    do_GET = do_POST

    def log_message(self, *args):
        pass


def test_paying_an_open_invoice_reads_stripes_answer(app):
    """The emulator never leaves an invoice open; this call is checked against a recorded answer."""
    paid = {
        **EXAMPLES["invoice"],
        "id": "in_open",
        "status": "paid",
        "amount_paid": 1000,
        "currency": "usd",
        "parent": {"subscription_details": {"subscription": "sub_9"}},
    }
    stub = RecordedStripe(paid)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{stub.server_address[1]}"
    app.extensions.pop("stripe_client", None)
    try:
        invoice = payments.pay_invoice("in_open", "pm_new", "gift-x-retry-1")
    finally:
        stub.shutdown()
        stub.server_close()
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)
    assert (invoice.id, invoice.status, invoice.amount_paid, invoice.subscription) == (
        "in_open",
        "paid",
        1000,
        "sub_9",
    )
    assert stub.requests == [("POST", "/v1/invoices/in_open/pay", "gift-x-retry-1")]


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (404, fake.error("resource_missing", "No such subscription: 'sub_gone'"), payments.NotFound),
        (500, fake.error("api_error", "Something went wrong", kind="api_error"), payments.PaymentUnavailable),
        (503, fake.error("api_error", "Try again", kind="api_error"), payments.PaymentUnavailable),
        (
            429,
            fake.error("rate_limit", "Too many requests", kind="rate_limit_error"),
            payments.PaymentUnavailable,
        ),
        (
            402,
            fake.error("card_declined", "Your card was declined.", kind="card_error"),
            payments.CardDeclined,
        ),
    ],
)
def test_stripe_errors_become_what_happened(fake_stripe, status, body, raised):
    fake_stripe.answer("GET", "/v1/subscriptions/sub_gone", body, status=status)
    with pytest.raises(raised):
        payments.get_subscription("sub_gone")


def test_stripe_that_cannot_be_reached_is_unavailable(app, stripe_base):
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    app.extensions.pop("stripe_client", None)
    try:
        with pytest.raises(payments.PaymentUnavailable):
            payments.get_subscription("sub_any")
    finally:
        app.config["STRIPE_API_BASE"] = stripe_base
        app.extensions.pop("stripe_client", None)


@pytest.mark.stripe_rejection_expected
@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "parameter_unknown"), (400, "parameter_invalid_integer"), (401, None), (403, None)],
)
def test_a_request_stripe_rejects_is_logged_loudly_with_its_request_id(
    fake_stripe, stripe_rejections_fail_the_test, status, code
):
    fake_stripe.answer("POST", "/v1/subscriptions/sub_1", fake.error(code, "Refused"), status=status)
    with pytest.raises(payments.StripeRequestRejected) as raised:
        payments.resume_subscription("sub_1", "gift-x-resume-1")
    assert raised.value.request_id and raised.value.request_id.startswith("req_fake_")
    assert raised.value.stripe_code == code
    [logged] = stripe_rejections_fail_the_test
    assert logged.levelname == "ERROR" and raised.value.request_id in logged.getMessage()
