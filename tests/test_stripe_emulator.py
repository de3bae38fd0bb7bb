"""The Stripe emulator's shim: its pure translations, then the shim itself through stripe-python."""

import http.server
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

from devtools.stripe_emulator import server, translate
from tests.stripe_helpers import DECLINED, DECLINED_AT_CHARGE, THREE_D_SECURE, VISA
from tests.waiting import eventually

PRICE = {"currency": "usd", "product": "prod_gift", "unit_amount": "1000", "recurring": {"interval": "month"}}

# Translations ----------------------------------------------------------------------------------


def test_form_encoding_decodes_to_nested_dicts_and_lists():
    body = (
        "items[0][price_data][recurring][interval]=month&items[0][price_data][unit_amount]=500"
        "&expand[0]=latest_invoice.confirmation_secret&allowed_payment_method_types[]=card"
        "&pause_collection=&metadata[gift]=g1"
    )
    assert translate.decode_form(body) == {
        "items": [{"price_data": {"recurring": {"interval": "month"}, "unit_amount": "500"}}],
        "expand": ["latest_invoice.confirmation_secret"],
        "allowed_payment_method_types": ["card"],
        "pause_collection": "",
        "metadata": {"gift": "g1"},
    }


def test_the_same_inline_price_always_names_the_same_plan():
    other = {**PRICE, "unit_amount": "2000"}
    assert translate.price_id(PRICE) == translate.price_id(dict(PRICE))
    assert translate.price_id(PRICE) != translate.price_id(other)
    assert translate.plan_params(PRICE) == {
        "id": translate.price_id(PRICE),
        "product": "prod_gift",
        "currency": "usd",
        "amount": 1000,
        "interval": "month",
        "interval_count": 1,
    }


@pytest.mark.parametrize(
    "choice",
    [{"allowed_payment_method_types": ["card"]}, {"automatic_payment_methods": {"enabled": "true"}}],
    ids=["allowed", "automatic"],
)
def test_payment_intent_create_keeps_what_localstripe_lacks(choice):
    params = {
        "amount": "1500",
        "currency": "usd",
        "metadata": {"gift": "g1"},
        "description": "A gift",
        **choice,
    }
    params["setup_future_usage"] = "off_session"
    upstream, kept = translate.payment_intent_request(params)
    assert upstream == {"amount": "1500", "currency": "usd", "metadata": {"gift": "g1"}}
    assert kept["description"] == "A gift"
    assert kept["setup_future_usage"] == "off_session"
    assert kept["payment_method_types"] == ["card"]


def test_setup_intent_create_asks_localstripe_for_a_card():
    params = {"customer": "cus_1", "usage": "off_session", "automatic_payment_methods": {"enabled": "true"}}
    upstream, kept = translate.setup_intent_request(params)
    assert upstream == {"customer": "cus_1", "usage": "off_session", "payment_method_types": ["card"]}
    assert kept["automatic_payment_methods"] == {"enabled": True}


def test_subscription_request_makes_plans_of_prices_and_keeps_the_rest():
    params = translate.decode_form(
        urllib.parse.urlencode(
            {
                "customer": "cus_1",
                "items[0][id]": "si_1",
                "items[0][price_data][currency]": "usd",
                "items[0][price_data][product]": "prod_gift",
                "items[0][price_data][unit_amount]": "1000",
                "items[0][price_data][recurring][interval]": "month",
                "proration_behavior": "none",
                "pause_collection": "",
                "cancellation_details[feedback]": "too_expensive",
                "payment_settings[save_default_payment_method]": "on_subscription",
            }
        )
    )
    upstream, kept, plans = translate.subscription_request(params)
    assert upstream == {"customer": "cus_1", "items": [{"id": "si_1", "plan": translate.price_id(PRICE)}]}
    assert plans == [translate.plan_params(PRICE)]
    assert kept == {
        "pause_collection": None,
        "cancellation_details": {"feedback": "too_expensive"},
        "payment_settings": {"save_default_payment_method": "on_subscription"},
    }


PLAN = {
    "id": "price_1",
    "object": "plan",
    "amount": 1000,
    "currency": "usd",
    "interval": "month",
    "product": "prod_gift",
}
RAW_SUBSCRIPTION = {
    "id": "sub_1",
    "object": "subscription",
    "status": "active",
    "plan": PLAN,
    "quantity": 1,
    "current_period_start": 100,
    "current_period_end": 200,
    "start_date": 100,
    "metadata": {"gift": "g1"},
    "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "plan": PLAN}]},
}


def test_subscriptions_answer_prices_and_periods_on_their_items():
    kept = {"pause_collection": {"behavior": "void", "resumes_at": 300}, "default_payment_method": "pm_1"}
    obj = translate.subscription(RAW_SUBSCRIPTION, kept)
    item = obj["items"]["data"][0]
    assert "plan" not in obj and "current_period_end" not in obj and "plan" not in item
    assert item["price"]["unit_amount"] == 1000
    assert item["price"]["currency"] == "usd"
    assert item["price"]["recurring"]["interval"] == "month"
    assert item["price"]["product"] == "prod_gift"
    assert (item["current_period_start"], item["current_period_end"]) == (100, 200)
    assert obj["pause_collection"] == {"behavior": "void", "resumes_at": 300}
    assert obj["default_payment_method"] == "pm_1"


RAW_INVOICE = {
    "id": "in_1",
    "object": "invoice",
    "status": "paid",
    "subscription": "sub_1",
    "payment_intent": "pi_1",
    "charge": {"id": "ch_1", "object": "charge"},
    "amount_due": 1000,
    "amount_paid": 1000,
    "currency": "usd",
    "created": 100,
    "status_transitions": {"paid_at": 150, "voided_at": None},
    "lines": {"object": "list", "data": []},
}


def test_invoices_answer_their_parent_and_payments_in_the_current_shape():
    obj = translate.invoice(
        RAW_INVOICE, subscription_metadata={"gift": "g1"}, expand=["payments", "confirmation_secret"]
    )
    assert not {"subscription", "payment_intent", "charge"} & obj.keys()
    assert obj["parent"] == {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {"subscription": "sub_1", "metadata": {"gift": "g1"}},
    }
    [payment] = obj["payments"]["data"]
    assert payment["object"] == "invoice_payment"
    assert payment["invoice"] == "in_1" and payment["is_default"] is True
    assert payment["status"] == "paid" and payment["amount_paid"] == 1000
    assert payment["payment"] == {"type": "payment_intent", "payment_intent": "pi_1", "charge": "ch_1"}
    assert payment["status_transitions"]["paid_at"] == 150
    assert obj["confirmation_secret"] is None  # a paid invoice has nothing left to confirm


def test_invoices_answer_payments_and_confirmation_secret_only_when_expanded():
    obj = translate.invoice({**RAW_INVOICE, "status": "open", "amount_paid": 0})
    assert "payments" not in obj and "confirmation_secret" not in obj
    opened = translate.invoice(
        {**RAW_INVOICE, "status": "open"}, client_secret="pi_1_secret_x", expand=["confirmation_secret"]
    )
    assert opened["confirmation_secret"] == {"client_secret": "pi_1_secret_x", "type": "payment_intent"}


def test_payment_intents_and_charges_no_longer_name_their_invoice():
    intent = translate.payment_intent(
        {
            "id": "pi_1",
            "status": "succeeded",
            "amount": 5,
            "invoice": "in_1",
            "latest_charge": {"id": "ch_1"},
        },
        {"description": "A gift"},
    )
    assert "invoice" not in intent and intent["latest_charge"] == "ch_1" and intent["description"] == "A gift"
    assert "invoice" not in translate.charge({"id": "ch_1", "invoice": "in_1", "status": "succeeded"})


def test_a_paid_invoice_also_sends_invoice_paid_and_invoice_payment_paid():
    raw = {
        "id": "evt_1",
        "type": "invoice.payment_succeeded",
        "created": 100,
        "data": {"object": RAW_INVOICE},
    }
    events = translate.events_for(translate.event(raw, translate.invoice(RAW_INVOICE)), RAW_INVOICE)
    assert [event["type"] for event in events] == [
        "invoice.payment_succeeded",
        "invoice.paid",
        "invoice_payment.paid",
    ]
    assert {event["api_version"] for event in events} == {translate.API_VERSION}
    assert events[2]["data"]["object"]["object"] == "invoice_payment"
    assert len({event["id"] for event in events}) == 3


def test_the_shims_own_plans_never_show_as_events():
    raw = {"id": "evt_1", "type": "plan.created", "created": 100, "data": {"object": PLAN}}
    assert translate.events_for(translate.event(raw, PLAN), PLAN) == []


def test_an_update_names_what_changed_as_stripe_does():
    before = {"id": "sub_1", "status": "incomplete", "pause_collection": None, "items": {"data": [1]}}
    after = {"id": "sub_1", "status": "active", "pause_collection": None, "items": {"data": [1]}}
    assert translate.previous_attributes(before, after) == {"status": "incomplete"}


def test_events_are_listed_newest_first_from_the_given_time():
    events = [{"id": f"evt_{n}", "type": "invoice.paid", "created": n} for n in (100, 200, 300)]
    page = translate.select_events(events, {"created": {"gte": "200"}, "limit": "10"})
    assert [event["id"] for event in page["data"]] == ["evt_300", "evt_200"]


def test_webhooks_are_signed_as_stripe_signs_them():
    payload = json.dumps({"id": "evt_1", "object": "event"}).encode()
    header = translate.signature(payload, "whsec_test", int(time.time()))
    assert stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_test", tolerance=300)


# The shim ------------------------------------------------------------------------------------


@pytest.fixture
def emulator(stripe_base):
    urllib.request.urlopen(urllib.request.Request(f"{stripe_base}/_config/data", method="DELETE"))
    urllib.request.urlopen(urllib.request.Request(f"{stripe_base}/_shim/requests", method="DELETE"))
    return stripe_base


@pytest.fixture
def client(emulator):
    return stripe.StripeClient("sk_test_suite", base_addresses={"api": emulator}, max_network_retries=0)


def browser_post(base: str, path: str, fields: dict) -> tuple[int, dict]:
    """POST as the Stripe.js double does: form fields with the publishable key."""
    body = urllib.parse.urlencode({**fields, "key": "pk_test_suite"}).encode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(base + path, data=body, method="POST")
        ) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def card(base: str, number: str) -> str:
    fields = {"type": "card", "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2034"}
    status, method = browser_post(base, "/v1/payment_methods", {**fields, "card[cvc]": "123"})
    assert status == 200, method
    return method["id"]


def pay_on_the_page(base: str, client_secret: str, number: str) -> tuple[int, dict]:
    """Confirm an intent as the page does, completing 3-D Secure once when asked."""
    intent = client_secret.split("_secret_")[0]
    fields = {"client_secret": client_secret, "payment_method": card(base, number)}
    status, answer = browser_post(base, f"/v1/payment_intents/{intent}/confirm", fields)
    if answer.get("status") == "requires_action":
        path = f"/v1/payment_intents/{intent}/_authenticate?success=true"
        status, answer = browser_post(base, path, {"client_secret": client_secret})
    return status, answer


def start_gift(client, **extra):
    customer = client.v1.customers.create(params={"email": "ada@example.org", "name": "Ada"})
    if not client.v1.products.list().data:
        client.v1.products.create(params={"id": "prod_gift", "name": "Monthly gift"})
    params = {
        "customer": customer.id,
        "items": [{"price_data": {**PRICE, "unit_amount": 1000}}],
        "payment_behavior": "default_incomplete",
        "payment_settings": {
            "save_default_payment_method": "on_subscription",
            "payment_method_types": ["card"],
        },
        "metadata": {"gift": "g1"},
        "expand": ["latest_invoice.confirmation_secret"],
        **extra,
    }
    return client.v1.subscriptions.create(params=params)


def test_a_one_time_payment_intent_is_confirmed_with_the_card_from_the_page(client, emulator):
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "metadata": {"gift": "g1"},
            "description": "A gift",
            "automatic_payment_methods": {"enabled": True},
        }
    )
    status, answer = pay_on_the_page(emulator, intent.client_secret, VISA)
    assert (status, answer["status"]) == (200, "succeeded")
    intent = client.v1.payment_intents.retrieve(intent.id)
    assert intent.status == "succeeded" and intent.description == "A gift"
    assert "invoice" not in intent
    assert client.v1.charges.retrieve(intent.latest_charge).amount == 1500


def test_a_default_incomplete_subscription_paid_with_visa_becomes_active(client, emulator):
    subscription = start_gift(client)
    assert subscription.status == "incomplete"
    assert subscription.latest_invoice.status == "open"
    secret = subscription.latest_invoice.confirmation_secret
    assert secret.type == "payment_intent"

    status, intent = pay_on_the_page(emulator, secret.client_secret, VISA)

    assert (status, intent["status"]) == (200, "succeeded")
    subscription = client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice.payments"]}
    )
    assert subscription.status == "active"
    assert subscription.default_payment_method == intent["payment_method"]
    assert subscription["items"].data[0].price.unit_amount == 1000
    invoice = subscription.latest_invoice
    assert invoice.status == "paid"
    assert [payment.payment.payment_intent for payment in invoice.payments.data] == [intent["id"]]
    assert invoice.parent.subscription_details.subscription == subscription.id
    customer = client.v1.customers.retrieve(subscription.customer)
    assert customer.invoice_settings.default_payment_method is None


def test_a_card_declined_at_charge_leaves_the_subscription_incomplete(client, emulator):
    subscription = start_gift(client)
    status, error = pay_on_the_page(
        emulator, subscription.latest_invoice.confirmation_secret.client_secret, DECLINED_AT_CHARGE
    )
    assert status == 402
    assert (error["error"]["type"], error["error"]["code"]) == ("card_error", "card_declined")
    assert error["error"]["payment_intent"]["status"] == "requires_payment_method"
    subscription = client.v1.subscriptions.retrieve(subscription.id, params={"expand": ["latest_invoice"]})
    assert (subscription.status, subscription.latest_invoice.status) == ("incomplete", "open")

    status, intent = pay_on_the_page(emulator, error["error"]["payment_intent"]["client_secret"], VISA)
    assert (status, intent["status"]) == (200, "succeeded")
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_a_card_real_stripe_declines_is_declined_on_a_one_time_payment(client, emulator):
    intent = client.v1.payment_intents.create(
        params={"amount": 500, "currency": "usd", "allowed_payment_method_types": ["card"]}
    )
    status, error = pay_on_the_page(emulator, intent.client_secret, DECLINED)
    assert (status, error["error"]["code"]) == (402, "card_declined")
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_a_three_d_secure_card_is_authenticated_once(client, emulator):
    subscription = start_gift(client)
    secret = subscription.latest_invoice.confirmation_secret.client_secret
    intent = secret.split("_secret_")[0]
    fields = {"client_secret": secret, "payment_method": card(emulator, THREE_D_SECURE)}
    status, answer = browser_post(emulator, f"/v1/payment_intents/{intent}/confirm", fields)
    assert (status, answer["status"]) == (200, "requires_action")

    path = f"/v1/payment_intents/{intent}/_authenticate?success=true"
    status, answer = browser_post(emulator, path, {"client_secret": secret})

    assert (status, answer["status"]) == (200, "succeeded")
    subscription = client.v1.subscriptions.retrieve(subscription.id, params={"expand": ["latest_invoice"]})
    assert (subscription.status, subscription.latest_invoice.status) == ("active", "paid")


def test_failed_authentication_keeps_the_subscription_waiting_for_another_card(client, emulator):
    subscription = start_gift(client)
    secret = subscription.latest_invoice.confirmation_secret.client_secret
    intent = secret.split("_secret_")[0]
    fields = {"client_secret": secret, "payment_method": card(emulator, THREE_D_SECURE)}
    browser_post(emulator, f"/v1/payment_intents/{intent}/confirm", fields)
    status, answer = browser_post(
        emulator, f"/v1/payment_intents/{intent}/_authenticate?success=false", {"client_secret": secret}
    )
    assert (status, answer["status"]) == (200, "requires_payment_method")
    assert client.v1.subscriptions.retrieve(subscription.id).status == "incomplete"


def test_the_page_cannot_confirm_an_intent_without_its_client_secret(client, emulator):
    intent = client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    fields = {"client_secret": "pi_other_secret_x", "payment_method": card(emulator, VISA)}
    status, _ = browser_post(emulator, f"/v1/payment_intents/{intent.id}/confirm", fields)
    assert status == 400
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_a_setup_intent_confirmed_on_the_page_saves_the_card_to_the_customer(client, emulator):
    customer = client.v1.customers.create(params={"email": "ada@example.org"})
    setup = client.v1.setup_intents.create(
        params={
            "customer": customer.id,
            "usage": "off_session",
            "automatic_payment_methods": {"enabled": True},
        }
    )
    fields = {"client_secret": setup.client_secret, "payment_method": card(emulator, VISA)}
    status, answer = browser_post(emulator, f"/v1/setup_intents/{setup.id}/confirm", fields)
    assert (status, answer["status"]) == (200, "succeeded")
    assert client.v1.payment_methods.retrieve(answer["payment_method"]).customer == customer.id


def test_a_subscription_keeps_what_localstripe_has_no_field_for(client, emulator):
    subscription = start_gift(client)
    pay_on_the_page(emulator, subscription.latest_invoice.confirmation_secret.client_secret, VISA)
    item = client.v1.subscriptions.retrieve(subscription.id)["items"].data[0]
    changed = client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "price_data": {**PRICE, "unit_amount": 2500}}],
            "proration_behavior": "none",
            "pause_collection": {"behavior": "void", "resumes_at": 2_000_000_000},
        },
    )
    assert changed["items"].data[0].price.unit_amount == 2500
    assert changed.pause_collection.behavior == "void"
    resumed = client.v1.subscriptions.update(subscription.id, params={"pause_collection": ""})
    assert resumed.pause_collection is None
    canceled = client.v1.subscriptions.cancel(
        subscription.id,
        params={"cancellation_details": {"feedback": "too_expensive", "comment": "Later"}},
        options={"idempotency_key": "cancel-later"},
    )
    assert canceled.status == "canceled"
    assert (canceled.cancellation_details.feedback, canceled.cancellation_details.comment) == (
        "too_expensive",
        "Later",
    )


def test_an_interval_change_invoiced_at_once_is_paid_with_the_subscriptions_card(client, emulator):
    subscription = start_gift(client)
    pay_on_the_page(emulator, subscription.latest_invoice.confirmation_secret.client_secret, VISA)
    first = subscription.latest_invoice.id
    item = client.v1.subscriptions.retrieve(subscription.id)["items"].data[0]
    yearly = {**PRICE, "unit_amount": 12000, "recurring": {"interval": "year"}}

    changed = client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "price_data": yearly}],
            "proration_behavior": "always_invoice",
            "expand": ["latest_invoice.payments"],
        },
    )

    assert changed["items"].data[0].price.recurring.interval == "year"
    assert changed.latest_invoice.id != first and changed.latest_invoice.status == "paid"
    [payment] = changed.latest_invoice.payments.data
    intent = client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert intent.payment_method == changed.default_payment_method


def test_an_open_invoice_is_paid_with_the_payment_method_given(client, emulator):
    subscription = start_gift(client)
    invoice = client.v1.invoices.pay(
        subscription.latest_invoice.id, params={"payment_method": card(emulator, VISA)}
    )
    assert invoice.status == "paid"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_a_three_d_secure_card_is_authenticated_once_on_a_setup_intent(client, emulator):
    customer = client.v1.customers.create(params={"email": "ada@example.org"})
    setup = client.v1.setup_intents.create(params={"customer": customer.id, "usage": "off_session"})
    fields = {"client_secret": setup.client_secret, "payment_method": card(emulator, THREE_D_SECURE)}
    status, answer = browser_post(emulator, f"/v1/setup_intents/{setup.id}/confirm", fields)
    assert (status, answer["status"]) == (200, "requires_action")
    path = f"/v1/setup_intents/{setup.id}/_authenticate?success=true"
    status, answer = browser_post(emulator, path, {"client_secret": setup.client_secret})
    assert (status, answer["status"]) == (200, "succeeded")
    assert client.v1.setup_intents.retrieve(setup.id).status == "succeeded"


def test_a_card_declined_at_setup_answers_a_card_error_with_the_setup_intent(client, emulator):
    setup = client.v1.setup_intents.create(params={"usage": "off_session"})
    fields = {"client_secret": setup.client_secret, "payment_method": card(emulator, DECLINED)}
    status, error = browser_post(emulator, f"/v1/setup_intents/{setup.id}/confirm", fields)
    assert (status, error["error"]["type"], error["error"]["code"]) == (402, "card_error", "card_declined")
    assert error["error"]["setup_intent"]["status"] == "requires_payment_method"


def test_events_listed_since_a_time_are_in_the_current_shape(client, emulator):
    subscription = start_gift(client)
    pay_on_the_page(emulator, subscription.latest_invoice.confirmation_secret.client_secret, VISA)
    events = client.v1.events.list(params={"created": {"gte": subscription.created}, "limit": 100}).data
    kinds = [event.type for event in events]
    assert {"invoice.payment_succeeded", "invoice.paid", "invoice_payment.paid"} <= set(kinds)
    assert "customer.subscription.created" in kinds and not [
        kind for kind in kinds if kind.startswith("plan.")
    ]
    assert {event.api_version for event in events} == {translate.API_VERSION}
    paid = next(event for event in events if event.type == "invoice.paid").data.object
    assert paid.parent.subscription_details.metadata.to_dict() == {"gift": "g1"}


def test_requests_sent_with_the_secret_key_are_recorded(client, emulator):
    client.v1.customers.create(
        params={"email": "ada@example.org", "metadata": {"gift": "g1"}}, options={"idempotency_key": "k1"}
    )
    client.v1.events.list(params={"created": {"gte": 1}})
    with urllib.request.urlopen(f"{emulator}/_shim/requests") as response:
        records = json.load(response)
    assert records == [
        {
            "method": "POST",
            "path": "/v1/customers",
            "params": {"email": "ada@example.org", "metadata": {"gift": "g1"}},
            "stripe_version": stripe.api_version,
            "idempotency_key": "k1",
        },
        {
            "method": "GET",
            "path": "/v1/events",
            "params": {"created": {"gte": "1"}},
            "stripe_version": stripe.api_version,
            "idempotency_key": None,
        },
    ]


def test_a_repeated_idempotency_key_answers_the_first_answer(client, emulator):
    first = client.v1.customers.create(
        params={"email": "ada@example.org"}, options={"idempotency_key": "same"}
    )
    again = client.v1.customers.create(
        params={"email": "ada@example.org"}, options={"idempotency_key": "same"}
    )
    assert first.id == again.id
    assert len(client.v1.customers.list().data) == 1


def test_the_stripe_js_double_is_served_when_it_exists(emulator, tmp_path, monkeypatch):
    double = tmp_path / "stripe.js"
    double.write_text("window.Stripe = function () {};")
    monkeypatch.setattr(server, "STRIPE_JS", double)
    request = urllib.request.Request(
        f"{emulator}/js.stripe.com/v3/", headers={"Origin": "http://127.0.0.1:5000"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.read() == double.read_bytes()
        assert response.headers["Content-Type"] == "application/javascript"
        assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5000"


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self):
        self.received: list[tuple[bytes, str]] = []
        super().__init__(("127.0.0.1", 0), ReceiverHandler)


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((body, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(emulator):
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/stripe/webhook"
    body = urllib.parse.urlencode({"url": url, "secret": "whsec_receiver"}).encode()
    urllib.request.urlopen(f"{emulator}/_config/webhooks/receiver", data=body)
    yield receiver
    urllib.request.urlopen(urllib.request.Request(f"{emulator}/_config/webhooks/receiver", method="DELETE"))
    receiver.shutdown()
    receiver.server_close()


def wait_for_event(receiver, kind: str, about: str, timeout: float = 15) -> tuple[bytes, str]:
    """The first event of this kind whose object mentions `about` (events of earlier tests may
    still be on their way)."""

    def arrived():
        for body, header in list(receiver.received):
            if json.loads(body)["type"] == kind and about in body.decode():
                return body, header
        return None

    return eventually(
        arrived,
        timeout,
        what=lambda: f"no {kind} arrived; got {[json.loads(body)['type'] for body, _ in receiver.received]}",
    )


def test_a_webhook_registered_through_the_shim_arrives_signed_and_in_the_current_shape(
    client, emulator, receiver
):
    subscription = start_gift(client)
    pay_on_the_page(emulator, subscription.latest_invoice.confirmation_secret.client_secret, VISA)

    invoice_id = subscription.latest_invoice.id
    body, header = wait_for_event(receiver, "invoice_payment.paid", invoice_id)
    event = stripe.Webhook.construct_event(body.decode(), header, "whsec_receiver")
    assert event.api_version == translate.API_VERSION
    assert event.data.object.object == "invoice_payment"
    assert event.data.object.payment.type == "payment_intent"

    body, header = wait_for_event(receiver, "invoice.paid", invoice_id)
    invoice = stripe.Webhook.construct_event(body.decode(), header, "whsec_receiver").data.object
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert "subscription" not in invoice and "payment_intent" not in invoice
    created, _ = wait_for_event(receiver, "customer.subscription.created", subscription.id)
    updated, _ = wait_for_event(receiver, "customer.subscription.updated", subscription.id)
    assert json.loads(updated)["data"]["previous_attributes"]["status"] == "incomplete"
    assert json.loads(created)["data"]["object"]["items"]["data"][0]["price"]["unit_amount"] == 1000
    assert not [body for body, _ in receiver.received if json.loads(body)["type"].startswith("plan.")]
