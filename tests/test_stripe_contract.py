"""The Stripe contract checker: requests against stripe.params, fields against the resource classes."""

import ast
import http.server
import importlib
import inspect
import json
import re
import threading
import urllib.error
from types import SimpleNamespace

import pytest
import stripe

from devtools import stripe_contract
from devtools.stripe_contract import Tally, check, field_exists, params_class, recorded
from tests import conftest

VERSION = "2026-10-28.endive"


def request(method, path, params=None, key="gift-abc-subscription", version=VERSION):
    return {
        "method": method,
        "path": path,
        "params": params or {},
        "stripe_version": version,
        "idempotency_key": key,
    }


def test_the_checker_holds_requests_to_the_library_s_pinned_version():
    assert stripe._api_version._ApiVersion.CURRENT == VERSION == stripe_contract.API_VERSION


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/subscriptions", "SubscriptionCreateParams"),
        ("POST", "/v1/subscriptions/sub_123", "SubscriptionUpdateParams"),
        ("DELETE", "/v1/subscriptions/sub_123", "SubscriptionCancelParams"),
        ("GET", "/v1/subscriptions/sub_123", "SubscriptionRetrieveParams"),
        ("GET", "/v1/subscriptions", "SubscriptionListParams"),
        ("GET", "/v1/subscriptions/search", "SubscriptionSearchParams"),
        ("POST", "/v1/invoices/in_123/pay", "InvoicePayParams"),
        ("POST", "/v1/invoices/in_123/finalize", "InvoiceFinalizeInvoiceParams"),
        ("GET", "/v1/invoices/in_123", "InvoiceRetrieveParams"),
        ("GET", "/v1/invoices", "InvoiceListParams"),
        ("POST", "/v1/payment_intents/pi_123/confirm", "PaymentIntentConfirmParams"),
        ("POST", "/v1/payment_intents", "PaymentIntentCreateParams"),
        ("POST", "/v1/setup_intents", "SetupIntentCreateParams"),
        ("GET", "/v1/setup_intents/seti_123", "SetupIntentRetrieveParams"),
        ("POST", "/v1/payment_methods/pm_123/attach", "PaymentMethodAttachParams"),
        ("GET", "/v1/payment_methods/pm_card_visa", "PaymentMethodRetrieveParams"),
        ("POST", "/v1/customers", "CustomerCreateParams"),
        ("POST", "/v1/customers/cus_123", "CustomerUpdateParams"),
        ("GET", "/v1/customers", "CustomerListParams"),
        ("GET", "/v1/customers/cus_123/payment_methods", "CustomerPaymentMethodListParams"),
        ("POST", "/v1/products", "ProductCreateParams"),
        ("GET", "/v1/products/banner-recurring-gift", "ProductRetrieveParams"),
        ("POST", "/v1/prices", "PriceCreateParams"),
        ("GET", "/v1/prices", "PriceListParams"),
        ("GET", "/v1/events", "EventListParams"),
        ("GET", "/v1/charges/ch_123", "ChargeRetrieveParams"),
        ("POST", "/v1/refunds", "RefundCreateParams"),
        ("GET", "/v1/disputes/dp_123", "DisputeRetrieveParams"),
    ],
)
def test_each_endpoint_maps_to_its_params_typeddict(method, path, expected):
    assert params_class(method, path).__name__ == expected


SERVICES = [
    "customer",
    "product",
    "price",
    "plan",
    "payment_intent",
    "setup_intent",
    "payment_method",
    "invoice",
    "invoice_payment",
    "event",
    "charge",
    "refund",
    "dispute",
    "subscription",
    "subscription_item",
]


def library_routes(resource):
    """Yield (method, path, params class name) for each call of the library's service for `resource`."""
    tree = ast.parse(inspect.getsource(importlib.import_module(f"stripe._{resource}_service")))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        annotations = [ast.unparse(arg.annotation) for arg in function.args.args if arg.arg == "params"]
        calls = [
            node
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "self._request"
        ]
        if not annotations or not calls:
            continue
        verb, target = calls[0].args[:2]
        template = target.value if isinstance(target, ast.Constant) else target.func.value.value
        path = re.sub(r"\{\w+\}", "xx_123", template)
        yield verb.value.upper(), path, re.search(r"\w+Params", annotations[0]).group()


@pytest.mark.parametrize("resource", SERVICES)
def test_the_mapping_agrees_with_every_call_of_the_library_s_services(resource):
    routes = list(library_routes(resource))
    assert routes
    wrong = [
        (method, path, name)
        for method, path, name in routes
        if getattr(params_class(method, path), "__name__", None) != name
    ]
    assert wrong == []


GOOD = [
    request("POST", "/v1/customers", {"email": "ada@example.org", "name": "Ada"}),
    request(
        "POST",
        "/v1/subscriptions",
        {
            "customer": "cus_123",
            "items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "product": "prod_1",
                        "unit_amount": "500",
                        "recurring": {"interval": "month"},
                    }
                }
            ],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "metadata": {"gift": "abc"},
            "expand": ["latest_invoice.confirmation_secret"],
        },
    ),
    request(
        "POST",
        "/v1/subscriptions/sub_123",
        {"pause_collection": {"behavior": "void", "resumes_at": "1780000000"}},
    ),
    request("POST", "/v1/subscriptions/sub_123", {"pause_collection": ""}),
    request(
        "POST",
        "/v1/subscriptions/sub_123",
        {
            "cancel_at_period_end": "true",
            "cancellation_details": {"feedback": "too_expensive", "comment": ""},
        },
    ),
    request(
        "POST",
        "/v1/subscriptions/sub_123",
        {"items": [{"id": "si_1", "price": "price_1"}], "proration_behavior": "none"},
    ),
    request("DELETE", "/v1/subscriptions/sub_123", {"cancellation_details": {"feedback": "other"}}),
    request("GET", "/v1/subscriptions/sub_123", {"expand": ["latest_invoice"]}, key=None),
    request(
        "GET",
        "/v1/subscriptions",
        {"customer": "cus_123", "status": "all", "limit": "100", "expand": ["data.latest_invoice"]},
        key=None,
    ),
    request("GET", "/v1/invoices/in_123", {"expand": ["payments"]}, key=None),
    request(
        "GET",
        "/v1/events",
        {"created": {"gte": "1780000000"}, "delivery_success": "false", "limit": "100"},
        key=None,
    ),
    request("POST", "/v1/invoices/in_123/pay"),
    request(
        "POST",
        "/v1/payment_intents",
        {"amount": "500", "currency": "usd", "allowed_payment_method_types": ["card"], "confirm": "true"},
    ),
    request(
        "POST",
        "/v1/setup_intents",
        {"customer": "cus_123", "usage": "off_session", "allowed_payment_method_types": ["card"]},
    ),
    request("POST", "/v1/payment_methods/pm_123/attach", {"customer": "cus_123"}),
    # The pinned types still list `plan` on an item: Plans are legacy, not yet refused.
    request("POST", "/v1/subscriptions", {"customer": "cus_123", "items": [{"plan": "gift-month-usd-500"}]}),
    # Enums typed `Literal[...]|str` take any string; an unknown value is Stripe's to refuse.
    request("POST", "/v1/subscriptions", {"customer": "cus_123", "payment_behavior": "whenever"}),
]


@pytest.mark.parametrize("recorded_request", GOOD, ids=lambda r: f"{r['method']} {r['path']}")
def test_requests_of_the_pinned_version_pass(recorded_request):
    assert check(recorded_request) == []


BAD = [
    (
        request("POST", "/v1/setup_intents", {"customer": "cus_123", "payment_method_types": ["card"]}),
        ["POST /v1/setup_intents: payment_method_types: unknown parameter"],
    ),
    (
        request(
            "POST",
            "/v1/payment_intents",
            {"amount": "500", "currency": "usd", "payment_method_types": ["card"]},
        ),
        ["POST /v1/payment_intents: payment_method_types: unknown parameter"],
    ),
    (
        request("POST", "/v1/payment_intents", {"currency": "usd"}),
        ["POST /v1/payment_intents: amount: required parameter missing"],
    ),
    (
        request(
            "POST",
            "/v1/subscriptions",
            {"items": [{"price_data": {"currency": "usd", "recurring": {"interval": "month"}}}]},
        ),
        ["POST /v1/subscriptions: items[0][price_data][product]: required parameter missing"],
    ),
    (
        request("POST", "/v1/subscriptions", {"items": [{"plan": "p", "amount": "500"}]}),
        ["POST /v1/subscriptions: items[0][amount]: unknown parameter"],
    ),
    (
        request("POST", "/v1/subscriptions", {"items": {"0": {"price": "price_1"}}}),
        ["POST /v1/subscriptions: items: expected a list, got a dict"],
    ),
    (
        request("POST", "/v1/subscriptions", {"metadata": "gift"}),
        ["POST /v1/subscriptions: metadata: expected a dict (or '' to unset), got 'gift'"],
    ),
    (
        request("POST", "/v1/subscriptions", {"trial_end": "tomorrow"}),
        ["POST /v1/subscriptions: trial_end: expected one of 'now' or an integer, got 'tomorrow'"],
    ),
    (
        request(
            "POST",
            "/v1/subscriptions/sub_123",
            {"pause_collection": {"behavior": "void", "resumes_at": "soon"}},
        ),
        ["POST /v1/subscriptions/sub_123: pause_collection[resumes_at]: expected an integer, got 'soon'"],
    ),
    (
        request("POST", "/v1/subscriptions/sub_123", {"cancel_at_period_end": "yes"}),
        ["POST /v1/subscriptions/sub_123: cancel_at_period_end: expected true or false, got 'yes'"],
    ),
    (
        request(
            "POST",
            "/v1/payment_intents",
            {
                "amount": "500",
                "currency": "usd",
                "payment_method_options": {
                    "card": {
                        "installments": {"plan": {"count": "3", "interval": "week", "type": "fixed_count"}}
                    }
                },
            },
        ),
        [
            "POST /v1/payment_intents: payment_method_options[card][installments][plan][interval]: 'week' is not one of 'month'"
        ],
    ),
    (
        request("GET", "/v1/invoices/in_123", {"expand": ["payment_intent"]}, key=None),
        ["GET /v1/invoices/in_123: expand: 'payment_intent' is not a field of invoice"],
    ),
    (
        request("GET", "/v1/subscriptions", {"expand": ["latest_invoice"]}, key=None),
        ["GET /v1/subscriptions: expand: 'latest_invoice' does not start with 'data.' on a list"],
    ),
    (
        request("POST", "/v1/customers", {"email": "ada@example.org"}, key=None),
        ["POST /v1/customers: no idempotency key"],
    ),
    (
        request("DELETE", "/v1/subscriptions/sub_123", key=""),
        ["DELETE /v1/subscriptions/sub_123: no idempotency key"],
    ),
    (
        request("GET", "/v1/customers/cus_123", version="2020-08-27", key=None),
        ["GET /v1/customers/cus_123: Stripe-Version '2020-08-27', not '2026-10-28.endive'"],
    ),
    (
        request("POST", "/v1/unheard_of/x_1/y/z/w"),
        ["POST /v1/unheard_of/x_1/y/z/w: unknown endpoint"],
    ),
    (
        request("PATCH", "/v1/customers/cus_123"),
        ["PATCH /v1/customers/cus_123: unknown endpoint"],
    ),
]


@pytest.mark.parametrize(
    ("recorded_request", "violations"), BAD, ids=lambda v: v["path"] if isinstance(v, dict) else ""
)
def test_requests_outside_the_pinned_version_are_reported_exactly(recorded_request, violations):
    assert check(recorded_request) == violations


#: every field of a Stripe object the service reads, in the pinned version's names
READ = [
    ("subscription", ("id",)),
    ("subscription", ("status",)),
    ("subscription", ("customer",)),
    ("subscription", ("metadata", "gift")),
    ("subscription", ("latest_invoice",)),
    ("subscription", ("latest_invoice", "confirmation_secret", "client_secret")),
    ("subscription", ("items", "data", "id")),
    ("subscription", ("items", "data", "quantity")),
    ("subscription", ("items", "data", "price", "unit_amount")),
    ("subscription", ("items", "data", "price", "currency")),
    ("subscription", ("items", "data", "price", "recurring", "interval")),
    ("subscription", ("items", "data", "current_period_end")),
    ("subscription", ("cancel_at_period_end",)),
    ("subscription", ("canceled_at",)),
    ("subscription", ("pause_collection", "resumes_at")),
    ("subscription", ("cancellation_details", "reason")),
    ("subscription", ("cancellation_details", "feedback")),
    ("subscription", ("cancellation_details", "comment")),
    ("subscription", ("default_payment_method",)),
    ("invoice", ("id",)),
    ("invoice", ("status",)),
    ("invoice", ("customer",)),
    ("invoice", ("amount_paid",)),
    ("invoice", ("currency",)),
    ("invoice", ("created",)),
    ("invoice", ("attempt_count",)),
    ("invoice", ("next_payment_attempt",)),
    ("invoice", ("status_transitions", "paid_at")),
    ("invoice", ("parent", "subscription_details", "subscription")),
    ("invoice", ("parent", "subscription_details", "metadata")),
    ("invoice", ("payments", "data", "payment", "payment_intent")),
    ("invoice", ("payments", "data", "payment", "charge")),
    ("invoice", ("confirmation_secret", "client_secret")),
    ("invoice_payment", ("invoice",)),
    ("invoice_payment", ("payment", "charge")),
    ("invoice_payment", ("payment", "payment_intent")),
    ("invoice_payment", ("status",)),
    ("payment_intent", ("id",)),
    ("payment_intent", ("status",)),
    ("payment_intent", ("client_secret",)),
    ("payment_intent", ("amount",)),
    ("payment_intent", ("currency",)),
    ("payment_intent", ("created",)),
    ("payment_intent", ("metadata", "gift")),
    ("payment_intent", ("latest_charge",)),
    ("payment_intent", ("payment_method",)),
    ("payment_intent", ("last_payment_error", "message")),
    ("charge", ("id",)),
    ("charge", ("payment_intent",)),
    ("charge", ("amount",)),
    ("charge", ("amount_refunded",)),
    ("charge", ("refunded",)),
    ("charge", ("payment_method_details", "card", "brand")),
    ("charge", ("payment_method_details", "card", "last4")),
    ("dispute", ("status",)),
    ("dispute", ("charge",)),
    ("dispute", ("payment_intent",)),
    ("dispute", ("amount",)),
    ("refund", ("status",)),
    ("refund", ("charge",)),
    ("refund", ("payment_intent",)),
    ("refund", ("failure_reason",)),
    ("customer", ("id",)),
    ("customer", ("email",)),
    ("customer", ("name",)),
    ("payment_method", ("customer",)),
    ("payment_method", ("card", "brand")),
    ("payment_method", ("card", "last4")),
    ("payment_method", ("card", "exp_month")),
    ("payment_method", ("card", "exp_year")),
    ("setup_intent", ("id",)),
    ("setup_intent", ("client_secret",)),
    ("setup_intent", ("status",)),
    ("setup_intent", ("customer",)),
    ("setup_intent", ("payment_method",)),
    ("setup_intent", ("last_setup_error", "message")),
    ("event", ("id",)),
    ("event", ("type",)),
    ("event", ("created",)),
    ("event", ("data", "object")),
    ("event", ("data", "previous_attributes")),
]


@pytest.mark.parametrize(("resource", "path"), READ, ids=lambda v: ".".join(v) if isinstance(v, tuple) else v)
def test_every_field_the_service_reads_exists_in_the_pinned_version(resource, path):
    assert field_exists(resource, path)


#: fields of older API versions (and of the emulator) that the pinned version no longer has
GONE = [
    ("invoice", ("payment_intent",)),
    ("invoice", ("subscription",)),
    ("invoice", ("charge",)),
    ("invoice", ("paid",)),
    ("subscription", ("current_period_end",)),
    ("subscription", ("plan",)),
    ("subscription", ("items", "data", "plan", "nickname", "x")),
    ("charge", ("invoice",)),
    ("payment_intent", ("invoice",)),
    ("payment_intent", ("charges",)),
    ("invoice", ("payments", "data", "payment", "unknown")),
    ("gift", ("id",)),
]


@pytest.mark.parametrize(("resource", "path"), GONE, ids=lambda v: ".".join(v) if isinstance(v, tuple) else v)
def test_fields_of_older_versions_are_reported_missing(resource, path):
    assert not field_exists(resource, path)


class FakeEmulator(http.server.ThreadingHTTPServer):
    """Answers /_shim/requests like the emulator shim, or with an error status like one that records
    nothing."""

    def __init__(self, requests, status=200):
        self.requests = requests
        self.status = status
        super().__init__(("127.0.0.1", 0), FakeEmulatorHandler)


class FakeEmulatorHandler(http.server.BaseHTTPRequestHandler):
    server: FakeEmulator

    def do_GET(self):
        if self.server.status != 200:
            self.send_error(self.server.status)
            return
        body = json.dumps(self.server.requests).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self):
        self.server.requests = []
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_emulator():
    servers = []

    def start(requests, status=200):
        server = FakeEmulator(requests, status)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [404, 401])
def test_an_emulator_that_records_nothing_gives_no_requests(fake_emulator, status):
    _, base = fake_emulator([], status)
    assert recorded(base) is None


def test_an_emulator_failing_to_give_its_records_is_an_error(fake_emulator):
    _, base = fake_emulator([], 500)
    with pytest.raises(urllib.error.HTTPError):
        recorded(base)


def test_recorded_requests_are_taken_and_cleared(fake_emulator):
    server, base = fake_emulator([GOOD[0], BAD[0][0]])
    assert recorded(base) == [GOOD[0], BAD[0][0]]
    assert server.requests == []
    assert recorded(base) == []


def test_the_tally_ignores_an_emulator_that_records_nothing(fake_emulator):
    _, base = fake_emulator([], 404)
    tally = Tally()
    assert tally.collect(base) == []
    assert not tally.active
    assert tally.requests == 0


def test_the_tally_collects_each_batch_once(fake_emulator):
    _, base = fake_emulator([GOOD[0], BAD[0][0]])
    tally = Tally()
    assert tally.collect(base) == BAD[0][1]
    assert tally.collect(base) == []
    assert tally.active
    assert tally.summary() == "Stripe contract: 2 requests, 2 endpoints, 1 violations"


def test_the_tally_counts_requests_endpoints_and_violations():
    tally = Tally()
    assert tally.take([GOOD[0], GOOD[2], GOOD[3]]) == []
    assert tally.take([BAD[0][0], BAD[13][0]]) == BAD[0][1] + BAD[13][1]
    assert tally.summary() == "Stripe contract: 5 requests, 3 endpoints, 2 violations"


def run_call_hook(item, test_body=lambda: "passed"):
    """Drive the suite's pytest_runtest_call wrapper around a test body, as pytest would."""
    wrapper = conftest.pytest_runtest_call(item)
    next(wrapper)
    try:
        outcome = test_body()
    except Exception as error:
        wrapper.throw(error)
    try:
        wrapper.send(outcome)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the hook yielded twice")


def test_the_suite_fails_a_test_that_sent_a_request_outside_the_contract(fake_emulator, monkeypatch):
    monkeypatch.setattr(conftest, "STRIPE_CONTRACT", Tally())
    _, base = fake_emulator([GOOD[0], BAD[0][0], BAD[13][0]])
    item = SimpleNamespace(fixturenames=["app", "stripe_base"], funcargs={"stripe_base": base})
    with pytest.raises(pytest.fail.Exception) as failure:
        run_call_hook(item)
    assert str(failure.value) == "\n".join(
        ["Requests outside Stripe's pinned API version:", *BAD[0][1], *BAD[13][1]]
    )
    assert conftest.STRIPE_CONTRACT.summary() == "Stripe contract: 3 requests, 2 endpoints, 2 violations"


def test_the_suite_passes_a_test_whose_requests_keep_the_contract(fake_emulator, monkeypatch):
    monkeypatch.setattr(conftest, "STRIPE_CONTRACT", Tally())
    server, base = fake_emulator([GOOD[0], GOOD[1]])
    item = SimpleNamespace(fixturenames=["stripe_base"], funcargs={"stripe_base": base})
    assert run_call_hook(item) == "passed"
    assert server.requests == []
    assert conftest.STRIPE_CONTRACT.requests == 2


def test_a_test_s_own_failure_is_kept_and_its_requests_still_counted(fake_emulator, monkeypatch):
    monkeypatch.setattr(conftest, "STRIPE_CONTRACT", Tally())
    _, base = fake_emulator([BAD[0][0]])
    item = SimpleNamespace(fixturenames=["stripe_base"], funcargs={"stripe_base": base})

    def failing_body():
        raise ValueError("the test's own failure")

    with pytest.raises(ValueError, match="the test's own failure"):
        run_call_hook(item, failing_body)
    assert conftest.STRIPE_CONTRACT.violations == 1


def test_the_suite_checks_nothing_while_the_emulator_records_nothing(fake_emulator, monkeypatch):
    monkeypatch.setattr(conftest, "STRIPE_CONTRACT", Tally())
    _, base = fake_emulator([], 404)
    item = SimpleNamespace(fixturenames=["stripe_base"], funcargs={"stripe_base": base})
    assert run_call_hook(item) == "passed"
    assert not conftest.STRIPE_CONTRACT.active


def test_tests_without_the_emulator_are_left_alone(monkeypatch):
    monkeypatch.setattr(conftest, "STRIPE_CONTRACT", Tally())
    item = SimpleNamespace(fixturenames=["client"], funcargs={})
    assert run_call_hook(item) == "passed"
    assert conftest.STRIPE_CONTRACT.requests == 0
