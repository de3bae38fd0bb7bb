"""The HTTP shim in front of localstripe: the app talks to it as to Stripe's current API.

Every request goes through here. The ones localstripe cannot answer in today's terms are emulated
with calls localstripe does understand (see `translate` for the pure rules):

- a PaymentIntent or SetupIntent confirmed with a `payment_method` (localstripe answers 500): the
  method is set on the intent, then the intent is confirmed; cards real Stripe declines at any
  charge (0002) are declined here too; the Stripe.js double's calls with a publishable key are
  checked against the intent's client secret, then made with the secret key;
- `payment_behavior=default_incomplete` subscriptions: localstripe charges the customer's default
  method at once and stops with "no payment method" when there is none, leaving the subscription
  `incomplete` and its first invoice open. The shim lets it, then gives that invoice a
  PaymentIntent of its own (what real Stripe's `confirmation_secret` points at). When the page
  confirms it, localstripe pays the invoice and activates the subscription, and the card becomes
  the subscription's `default_payment_method`. A customer who already has a default method is
  charged at once, as localstripe does;
- what localstripe has no field for (pause_collection, cancellation_details, a subscription's
  default_payment_method and payment_settings, a PaymentIntent's description) is kept here and
  added to every answer and event;
- webhooks: a client registering one (`POST /_config/webhooks/<name>`) registers the shim with
  localstripe instead; localstripe's events are translated, the shim's bookkeeping hidden, the
  events real Stripe adds derived (`invoice.paid`, `invoice_payment.paid`; and made here:
  `customer.subscription.created` for an emulated subscription, `customer.subscription.updated`
  for each change of one), and each is signed as Stripe signs and posted on;
- every request the app sends with a secret key is recorded (`GET/DELETE /_shim/requests`) and
  answers are replayed for a repeated `Idempotency-Key`, as Stripe does;
- `/js.stripe.com/v3/` serves the Stripe.js test double beside this file when there is one.
"""

import contextlib
import http.server
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.stripe_emulator import translate

SECRET_KEY = "sk_test_emulator"
STRIPE_JS = Path(__file__).with_name("stripe.js")
NO_PAYMENT_METHOD = "This customer has no payment method"
CORS_HEADERS = "Content-Type, Accept, Authorization, Stripe-Version, Idempotency-Key"
GETTERS = {
    "in_": "invoice",
    "sub_": "subscription",
    "pi_": "payment_intent",
    "seti_": "setup_intent",
    "ch_": "charge",
    "pm_": "payment_method",
    "cus_": "customer",
}


class Refusal(Exception):
    """An error answer: HTTP status and Stripe's error body."""

    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status, self.body = status, body


def refusal(status: int, message: str, code: str | None = None) -> Refusal:
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    return Refusal(status, {"error": error})


@dataclass
class State:
    """What the shim keeps beside localstripe's own store."""

    subscriptions: dict = field(default_factory=dict)  # id -> kept fields
    payment_intents: dict = field(default_factory=dict)
    setup_intents: dict = field(default_factory=dict)
    cards: dict = field(default_factory=dict)  # payment method id -> card number
    events: list = field(default_factory=list)  # events made here
    requests: list = field(default_factory=list)
    replies: dict = field(default_factory=dict)  # (idempotency key, path) -> (status, body)


@dataclass
class Call:
    method: str
    path: str
    query: dict
    params: dict
    headers: object
    secret: bool
    publishable: bool


class Shim(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: str):
        self.upstream = upstream.rstrip("/")
        self.state = State()
        self.lock = threading.RLock()
        self.webhooks: dict[str, dict] = {}
        self.upstream_secret = "whsec_" + secrets.token_hex(12)
        super().__init__(address, Handler)

    # localstripe ------------------------------------------------------------------------------

    def call(self, method: str, path: str, params: dict | None = None) -> tuple[int, dict]:
        """Call localstripe with the secret key: a JSON body for POST, a query otherwise."""
        url, data = self.upstream + path, None
        headers = {"Authorization": f"Bearer {SECRET_KEY}"}
        if method == "POST" and params is not None:
            data, headers["Content-Type"] = json.dumps(params).encode(), "application/json"
        elif params:
            url += "?" + urllib.parse.urlencode(translate.encode_form(params))
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body)
            except ValueError:
                return error.code, {"error": {"type": "api_error", "message": body.decode(errors="replace")}}
        except OSError:
            return 502, {"error": {"type": "api_error", "message": "localstripe did not answer"}}

    def need(self, method: str, path: str, params: dict | None = None) -> dict:
        status, body = self.call(method, path, params)
        if status != 200:
            raise Refusal(status, body)
        return body

    # Objects in the current shape ---------------------------------------------------------------

    def fetch(self, kind: str, object_id: str, expand=()) -> dict:
        return getattr(self, kind)(object_id, expand)

    def subscription(self, subscription_id: str, expand=()) -> dict:
        return self.subscription_from(self.need("GET", f"/v1/subscriptions/{subscription_id}"), expand)

    def subscription_from(self, raw: dict, expand=()) -> dict:
        kept = self.state.subscriptions.get(raw["id"])
        return self.expand(translate.subscription(raw, kept), expand)

    def invoice(self, invoice_id: str, expand=()) -> dict:
        return self.invoice_from(self.need("GET", f"/v1/invoices/{invoice_id}"), expand)

    def invoice_from(self, raw: dict, expand=()) -> dict:
        own = [path for path in expand if path in ("payments", "confirmation_secret")]
        metadata: dict | None = {}
        secret: str | None = None
        if raw.get("subscription"):
            status, found = self.call("GET", f"/v1/subscriptions/{raw['subscription']}")
            metadata = found.get("metadata") if status == 200 else {}
        if "confirmation_secret" in own and raw.get("payment_intent") and raw.get("status") == "open":
            secret = self.need("GET", f"/v1/payment_intents/{raw['payment_intent']}")["client_secret"]
        obj = translate.invoice(raw, subscription_metadata=metadata, client_secret=secret, expand=own)
        return self.expand(obj, [path for path in expand if path not in own])

    def payment_intent(self, intent_id: str, expand=()) -> dict:
        raw = self.need("GET", f"/v1/payment_intents/{intent_id}")
        return self.expand(translate.payment_intent(raw, self.state.payment_intents.get(intent_id)), expand)

    def setup_intent(self, intent_id: str, expand=()) -> dict:
        raw = self.need("GET", f"/v1/setup_intents/{intent_id}")
        return self.expand(translate.setup_intent(raw, self.state.setup_intents.get(intent_id)), expand)

    def charge(self, charge_id: str, expand=()) -> dict:
        return self.expand(translate.charge(self.need("GET", f"/v1/charges/{charge_id}")), expand)

    def payment_method(self, method_id: str, expand=()) -> dict:
        return self.expand(self.need("GET", f"/v1/payment_methods/{method_id}"), expand)

    def customer(self, customer_id: str, expand=()) -> dict:
        return self.expand(translate.customer(self.need("GET", f"/v1/customers/{customer_id}")), expand)

    def expand(self, obj: dict, paths) -> dict:
        """Expand ids into objects in the current shape, as `expand[]` asks."""
        groups: dict[str, list[str]] = {}  # "a.b" and "a.c" expand one "a" with both
        for path in paths:
            head, _, rest = path.partition(".")
            groups.setdefault(head, [])
            if rest:
                groups[head].append(rest)
        for head, rests in groups.items():
            if obj.get("object") == "list" and head == "data":
                obj["data"] = [self.expand(item, rests) for item in obj["data"]]
                continue
            value = obj.get(head)
            if isinstance(value, str):
                kind = next((kind for prefix, kind in GETTERS.items() if value.startswith(prefix)), None)
                if kind:
                    obj[head] = self.fetch(kind, value, rests)
            elif isinstance(value, dict) and rests:
                obj[head] = self.expand(value, rests)
        return obj

    def translated(self, obj: dict) -> dict:
        """Any localstripe answer in the current shape."""
        kind = obj.get("object")
        if obj.get("deleted"):
            return obj
        if kind == "list":
            return {**obj, "data": [self.translated(item) for item in obj.get("data", [])]}
        if kind == "subscription":
            return self.subscription_from(obj)
        if kind == "invoice":
            return self.invoice_from(obj)
        if kind == "payment_intent":
            return translate.payment_intent(obj, self.state.payment_intents.get(obj["id"]))
        if kind == "setup_intent":
            return translate.setup_intent(obj, self.state.setup_intents.get(obj["id"]))
        if kind == "charge":
            return translate.charge(obj)
        if kind == "customer":
            return translate.customer(obj)
        return obj

    # Events and webhooks ------------------------------------------------------------------------

    def events_from(self, raw: dict) -> list[dict]:
        """The events the app sees for one of localstripe's."""
        raw_object = raw["data"]["object"]
        current = self.translated(raw_object)
        return translate.events_for(translate.event(raw, current), raw_object)

    def all_events(self) -> list[dict]:
        upstream = self.need("GET", "/v1/events", {"limit": 100_000})["data"]
        found = [made for raw in upstream for made in self.events_from(raw)]
        return found + list(self.state.events)

    def emit(self, event: dict) -> None:
        """Keep an event made here and send it to the registered webhooks."""
        self.state.events.append(event)
        self.deliver([event])

    def announce(self, before: dict | None) -> None:
        """Send `customer.subscription.updated` when a subscription changed, as Stripe does."""
        if before is None:
            return
        after = self.subscription(before["id"])
        previous = translate.previous_attributes(before, after)
        if previous:
            source = f"{before['id']}:{secrets.token_hex(8)}"
            made = translate.made_event(
                "customer.subscription.updated", after, int(time.time()), source, previous
            )
            self.emit(made)

    def subscription_paid_by(self, raw_intent: dict) -> dict | None:
        """The subscription whose invoice this PaymentIntent pays, in the current shape."""
        if not raw_intent.get("invoice"):
            return None
        invoice = self.need("GET", f"/v1/invoices/{raw_intent['invoice']}")
        return self.subscription(invoice["subscription"]) if invoice.get("subscription") else None

    def deliver(self, events: list[dict]) -> None:
        threading.Thread(target=self._deliver, args=(events, dict(self.webhooks)), daemon=True).start()

    @staticmethod
    def _deliver(events: list[dict], webhooks: dict) -> None:
        for event in events:
            for hook in webhooks.values():
                if hook.get("events") and event["type"] not in hook["events"]:
                    continue
                payload = json.dumps(event).encode()
                header = translate.signature(payload, hook["secret"], int(time.time()))
                request = urllib.request.Request(
                    hook["url"],
                    data=payload,
                    method="POST",
                    headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header},
                )
                with contextlib.suppress(OSError):  # an app that is down reconciles later
                    urllib.request.urlopen(request, timeout=30).close()

    # Emulations ---------------------------------------------------------------------------------

    def ensure_plan(self, plan: dict) -> None:
        if self.call("GET", f"/v1/plans/{plan['id']}")[0] == 404:
            self.need("POST", "/v1/plans", plan)

    def open_payment(self, invoice_id: str) -> str | None:
        """Give an open invoice the PaymentIntent real Stripe makes at finalization."""
        raw = self.need("GET", f"/v1/invoices/{invoice_id}")
        if raw.get("payment_intent") or raw["amount_due"] <= 0:
            return raw.get("payment_intent")
        intent = self.need(
            "POST",
            "/v1/payment_intents",
            {"amount": raw["amount_due"], "currency": raw["currency"], "customer": raw["customer"]},
        )
        self.need("POST", f"/v1/payment_intents/{intent['id']}", {"invoice": invoice_id})
        self.need("POST", f"/v1/invoices/{invoice_id}", {"payment_intent": intent["id"]})
        first = len(self.need("GET", "/v1/invoices", {"subscription": raw["subscription"]})["data"]) == 1
        self.state.payment_intents[intent["id"]] = {
            "description": "Subscription creation" if first else "Subscription update",
            "payment_method_types": ["card"],
            "setup_future_usage": "off_session",
        }
        return intent["id"]

    def confirm_intent(self, intent_id: str, method_id: str | None) -> dict:
        """Confirm a PaymentIntent with this payment method, as real Stripe does in one call."""
        raw = self.need("GET", f"/v1/payment_intents/{intent_id}")
        kept = self.state.payment_intents.setdefault(intent_id, {})
        if raw["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise refusal(
                400, f"This PaymentIntent's status is {raw['status']}.", "payment_intent_unexpected_state"
            )
        if method_id:
            kept.pop("last_payment_error", None)
            if self.state.cards.get(method_id) in translate.DECLINED_CARDS:
                self.need(
                    "POST",
                    f"/v1/payment_intents/{intent_id}",
                    {"payment_method": None, "latest_charge": None},
                )
                kept["last_payment_error"] = {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                    "payment_method": {"id": method_id},
                }
                raise self.declined(intent_id, "Your card was declined.")
            self.need(
                "POST",
                f"/v1/payment_intents/{intent_id}",
                {"payment_method": method_id, "latest_charge": None},
            )
        elif raw["status"] == "requires_payment_method":
            raise refusal(400, "You must provide a payment method to confirm this PaymentIntent.")
        before = self.subscription_paid_by(raw)
        status, answer = self.call("POST", f"/v1/payment_intents/{intent_id}/confirm")
        if status == 402:
            raise self.declined(intent_id, answer["error"].get("message", "Your card was declined."))
        if status != 200:
            raise Refusal(status, answer)
        self.after_payment(answer)
        self.announce(before)
        return self.payment_intent(intent_id)

    def declined(self, intent_id: str, message: str) -> Refusal:
        intent = self.payment_intent(intent_id)
        return Refusal(402, translate.card_error(message, "card_declined", payment_intent=intent))

    def after_payment(self, raw_intent: dict) -> None:
        """What real Stripe does once a PaymentIntent succeeds: the card is saved to the customer,
        and on the subscription whose invoice it paid when that subscription asks so."""
        if raw_intent.get("status") != "succeeded":
            return
        method_id, customer_id = raw_intent.get("payment_method"), raw_intent.get("customer")
        kept = self.state.payment_intents.get(raw_intent["id"], {})
        if raw_intent.get("invoice"):
            invoice = self.need("GET", f"/v1/invoices/{raw_intent['invoice']}")
            subscription = self.state.subscriptions.setdefault(invoice.get("subscription"), {})
            settings = subscription.get("payment_settings") or {}
            if settings.get("save_default_payment_method") == "on_subscription":
                subscription["default_payment_method"] = method_id
        elif not kept.get("setup_future_usage"):
            return
        if customer_id and method_id:
            self.call("POST", f"/v1/payment_methods/{method_id}/attach", {"customer": customer_id})

    def pay_invoice(self, invoice_id: str, method_id: str | None) -> None:
        raw = self.need("GET", f"/v1/invoices/{invoice_id}")
        if raw["status"] == "paid":
            raise refusal(400, "Invoice is already paid", "invoice_already_paid")
        if raw["status"] == "draft" or not method_id:
            status, answer = self.call("POST", f"/v1/invoices/{invoice_id}/pay")
            if status == 200 or answer.get("error", {}).get("message") != NO_PAYMENT_METHOD or not method_id:
                if status != 200:
                    raise Refusal(status, answer)
                return
        intent_id = self.open_payment(invoice_id)
        if intent_id:
            self.confirm_intent(intent_id, method_id)

    def drop_pending_items(self, customer_id: str) -> None:
        """localstripe credits every earlier invoice on a price change; Stripe, told not to
        prorate, credits nothing."""
        items = self.need("GET", "/v1/invoiceitems", {"customer": customer_id, "limit": 1000})["data"]
        for item in items:
            if item.get("invoice") is None:
                self.call("DELETE", f"/v1/invoiceitems/{item['id']}")

    # Routes -------------------------------------------------------------------------------------

    def create_payment_intent(self, call: Call) -> dict:
        upstream, kept = translate.payment_intent_request(call.params)
        status, raw = self.call("POST", "/v1/payment_intents", upstream)
        if status == 402:
            raise Refusal(402, {"error": {**raw["error"], "type": "card_error"}})
        if status != 200:
            raise Refusal(status, raw)
        self.state.payment_intents[raw["id"]] = kept
        self.after_payment(raw)
        return self.payment_intent(raw["id"], call.params.get("expand", []))

    def update_payment_intent(self, call: Call, intent_id: str) -> dict:
        upstream, kept = translate.payment_intent_request(call.params)
        for key in ("payment_method_types", "automatic_payment_methods", "description", "setup_future_usage"):
            if key not in call.params and not (
                key == "payment_method_types" and "allowed_payment_method_types" in call.params
            ):
                kept.pop(key, None)
        self.state.payment_intents.setdefault(intent_id, {}).update(kept)
        if upstream:
            self.need("POST", f"/v1/payment_intents/{intent_id}", upstream)
        return self.payment_intent(intent_id, call.params.get("expand", []))

    def check_secret(self, call: Call, raw: dict) -> None:
        if not call.secret and call.params.get("client_secret") != raw["client_secret"]:
            raise refusal(401 if not call.publishable else 400, "Invalid client_secret.", "resource_missing")

    def get_payment_intent(self, call: Call, intent_id: str) -> dict:
        self.check_secret(call, self.need("GET", f"/v1/payment_intents/{intent_id}"))
        return self.payment_intent(intent_id, call.params.get("expand", []))

    def confirm_payment_intent(self, call: Call, intent_id: str) -> dict:
        self.check_secret(call, self.need("GET", f"/v1/payment_intents/{intent_id}"))
        method_id = call.params.get("payment_method") or self.make_payment_method(
            call.params.get("payment_method_data")
        )
        if "setup_future_usage" in call.params:
            self.state.payment_intents.setdefault(intent_id, {})["setup_future_usage"] = (
                call.params["setup_future_usage"] or None
            )
        return self.confirm_intent(intent_id, method_id)

    def authenticate_payment_intent(self, call: Call, intent_id: str) -> dict:
        raw = self.need("GET", f"/v1/payment_intents/{intent_id}")
        self.check_secret(call, raw)
        success = str(call.params.get("success", "false")).lower() == "true"
        invoice_id = raw.get("invoice")
        before = self.subscription_paid_by(raw)
        if not success and invoice_id:  # localstripe would cancel the subscription; Stripe keeps it
            self.need("POST", f"/v1/payment_intents/{intent_id}", {"invoice": None})
        try:
            params = {"client_secret": raw["client_secret"], "success": success}
            status, answer = self.call("POST", f"/v1/payment_intents/{intent_id}/_authenticate", params)
        finally:
            if not success and invoice_id:
                self.need("POST", f"/v1/payment_intents/{intent_id}", {"invoice": invoice_id})
        if status == 402:
            raise self.declined(intent_id, answer["error"].get("message", "Your card was declined."))
        if status != 200:
            raise Refusal(status, answer)
        self.after_payment(answer)
        self.announce(before)
        return self.payment_intent(intent_id)

    def make_payment_method(self, data: dict | None) -> str | None:
        if not data:
            return None
        return self.create_payment_method(Call("POST", "", {}, data, {}, True, False))["id"]

    def create_payment_method(self, call: Call) -> dict:
        params = {key: value for key, value in call.params.items() if key not in ("key", "expand")}
        params.pop("allow_redisplay", None)
        card = params.get("card")
        if isinstance(card, dict):
            card = {
                key: str(card.get(key, "")).replace(" ", "")
                for key in ("number", "exp_month", "exp_year", "cvc")
            }
            params["card"] = card
        answer = self.need("POST", "/v1/payment_methods", params)
        if isinstance(card, dict):
            self.state.cards[answer["id"]] = card["number"]
        return answer

    def create_setup_intent(self, call: Call) -> dict:
        upstream, kept = translate.setup_intent_request(call.params)
        raw = self.need("POST", "/v1/setup_intents", upstream)
        self.state.setup_intents[raw["id"]] = kept
        return self.setup_intent(raw["id"], call.params.get("expand", []))

    def get_setup_intent(self, call: Call, intent_id: str) -> dict:
        self.check_secret(call, self.need("GET", f"/v1/setup_intents/{intent_id}"))
        return self.setup_intent(intent_id, call.params.get("expand", []))

    def confirm_setup_intent(self, call: Call, intent_id: str) -> dict:
        raw = self.need("GET", f"/v1/setup_intents/{intent_id}")
        self.check_secret(call, raw)
        kept = self.state.setup_intents.setdefault(intent_id, {})
        method_id = call.params.get("payment_method") or self.make_payment_method(
            call.params.get("payment_method_data")
        )
        params = {"client_secret": raw["client_secret"]}
        if method_id:
            params["payment_method"] = method_id
            kept.pop("last_setup_error", None)
        status, answer = self.call("POST", f"/v1/setup_intents/{intent_id}/confirm", params)
        if status == 402:
            self.need(
                "POST",
                f"/v1/setup_intents/{intent_id}",
                {"status": "requires_payment_method", "payment_method": None},
            )
            kept["last_setup_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "message": "Your card was declined.",
            }
            body = translate.card_error(
                "Your card was declined.", "card_declined", setup_intent=self.setup_intent(intent_id)
            )
            raise Refusal(402, body)
        if status != 200:
            raise Refusal(status, answer)
        self.after_setup(answer)
        return self.setup_intent(intent_id)

    def after_setup(self, raw: dict) -> None:
        if raw.get("status") == "succeeded" and raw.get("customer") and raw.get("payment_method"):
            self.call(
                "POST", f"/v1/payment_methods/{raw['payment_method']}/attach", {"customer": raw["customer"]}
            )

    def authenticate_setup_intent(self, call: Call, intent_id: str) -> dict:
        raw = self.need("GET", f"/v1/setup_intents/{intent_id}")
        self.check_secret(call, raw)
        if raw["status"] != "requires_action":
            raise refusal(
                400, f"This SetupIntent's status is {raw['status']}.", "setup_intent_unexpected_state"
            )
        if str(call.params.get("success", "false")).lower() == "true":
            self.after_setup(
                self.need(
                    "POST", f"/v1/setup_intents/{intent_id}/confirm", {"client_secret": raw["client_secret"]}
                )
            )
        else:
            reset = {"status": "requires_payment_method", "payment_method": None, "next_action": None}
            self.need("POST", f"/v1/setup_intents/{intent_id}", reset)
            self.state.setup_intents.setdefault(intent_id, {})["last_setup_error"] = {
                "type": "invalid_request_error",
                "code": "setup_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
            }
        return self.setup_intent(intent_id)

    def create_subscription(self, call: Call) -> dict:
        upstream, kept, plans = translate.subscription_request(call.params)
        for plan in plans:
            self.ensure_plan(plan)
        customer_id = upstream.get("customer")
        listed = {"customer": customer_id, "status": "incomplete", "limit": 100_000}
        before = {sub["id"] for sub in self.need("GET", "/v1/subscriptions", listed)["data"]}
        status, answer = self.call("POST", "/v1/subscriptions", upstream)
        emulated = status == 404 and answer.get("error", {}).get("message") == NO_PAYMENT_METHOD
        if emulated:
            made = [
                sub
                for sub in self.need("GET", "/v1/subscriptions", listed)["data"]
                if sub["id"] not in before
            ]
            if not made:
                raise Refusal(status, answer)
            answer = made[0]
        elif status != 200:
            raise Refusal(status, answer)
        self.state.subscriptions[answer["id"]] = kept
        if emulated:
            self.open_payment(answer["latest_invoice"])
            current = self.subscription(answer["id"])
            self.emit(
                translate.made_event(
                    "customer.subscription.created", current, current["created"], answer["id"]
                )
            )
            method_id = kept.get("default_payment_method")
            if method_id and call.params.get("payment_behavior") != "default_incomplete":
                try:
                    self.pay_invoice(answer["latest_invoice"], method_id)
                except Refusal as error:
                    if error.status != 402 or call.params.get("payment_behavior") == "error_if_incomplete":
                        raise
        return self.subscription(answer["id"], call.params.get("expand", []))

    def get_subscription(self, call: Call, subscription_id: str) -> dict:
        return self.subscription(subscription_id, call.params.get("expand", []))

    def update_subscription(self, call: Call, subscription_id: str) -> dict:
        upstream, kept, plans = translate.subscription_request(call.params)
        for plan in plans:
            self.ensure_plan(plan)
        before = self.subscription(subscription_id)
        stored = self.state.subscriptions.setdefault(subscription_id, {})
        for key, value in kept.items():
            if isinstance(value, dict) and isinstance(stored.get(key), dict) and key != "pause_collection":
                stored[key] = {**stored[key], **value}
            else:
                stored[key] = value
        if upstream:
            before = self.need("GET", f"/v1/subscriptions/{subscription_id}")
            status, answer = self.call("POST", f"/v1/subscriptions/{subscription_id}", upstream)
            invoiced = status == 404 and answer.get("error", {}).get("message") == NO_PAYMENT_METHOD
            if status != 200 and not invoiced:
                raise Refusal(status, answer)
            if "items" in upstream:
                self.drop_pending_items(before["customer"])
                after = self.need("GET", f"/v1/subscriptions/{subscription_id}")
                if not invoiced and call.params.get("proration_behavior") == "always_invoice":
                    made = self.need(
                        "POST",
                        "/v1/invoices",
                        {"customer": before["customer"], "subscription": subscription_id},
                    )
                    status, answer = self.call("POST", f"/v1/invoices/{made['id']}/pay")
                    invoiced = status == 404
                    after["latest_invoice"] = made["id"]
                if invoiced:
                    method_id = stored.get("default_payment_method")
                    self.open_payment(after["latest_invoice"])
                    if method_id:
                        try:
                            self.pay_invoice(after["latest_invoice"], method_id)
                        except Refusal as error:
                            if error.status != 402:
                                raise
        self.announce(before)
        return self.subscription(subscription_id, call.params.get("expand", []))

    def cancel_subscription(self, call: Call, subscription_id: str) -> dict:
        _, kept, _ = translate.subscription_request(call.params)
        stored = self.state.subscriptions.setdefault(subscription_id, {})
        if kept.get("cancellation_details"):
            stored["cancellation_details"] = {
                **(stored.get("cancellation_details") or {}),
                **kept["cancellation_details"],
            }
        self.need("DELETE", f"/v1/subscriptions/{subscription_id}")
        return self.subscription(subscription_id, call.params.get("expand", []))

    def list_subscriptions(self, call: Call) -> dict:
        return self._list(call, "/v1/subscriptions", ("customer", "status"), self.subscription_from)

    def get_invoice(self, call: Call, invoice_id: str) -> dict:
        return self.invoice(invoice_id, call.params.get("expand", []))

    def list_invoices(self, call: Call) -> dict:
        return self._list(call, "/v1/invoices", ("customer", "subscription"), self.invoice_from)

    def _list(self, call: Call, path: str, filters: tuple[str, ...], current) -> dict:
        """A list from localstripe, with the filters it knows, each item in the current shape."""
        wanted = (*filters, "limit", "starting_after")
        found = self.need("GET", path, {key: value for key, value in call.params.items() if key in wanted})
        found["data"] = [current(raw) for raw in found["data"]]
        return self.expand(found, call.params.get("expand", []))

    def pay_invoice_route(self, call: Call, invoice_id: str) -> dict:
        raw = self.need("GET", f"/v1/invoices/{invoice_id}")
        method_id = call.params.get("payment_method")
        if not method_id and raw.get("subscription"):
            method_id = self.state.subscriptions.get(raw["subscription"], {}).get("default_payment_method")
        self.pay_invoice(invoice_id, method_id)
        return self.invoice(invoice_id, call.params.get("expand", []))

    def get_charge(self, call: Call, charge_id: str) -> dict:
        return self.charge(charge_id, call.params.get("expand", []))

    def list_events(self, call: Call) -> dict:
        return translate.select_events(self.all_events(), call.params)

    def get_event(self, call: Call, event_id: str) -> dict:
        for found in self.all_events():
            if found["id"] == event_id:
                return found
        raise refusal(404, f"No such event: '{event_id}'", "resource_missing")


ROUTES = [
    ("POST", r"/v1/payment_intents", "create_payment_intent"),
    ("GET", r"/v1/payment_intents/(pi_\w+)", "get_payment_intent"),
    ("POST", r"/v1/payment_intents/(pi_\w+)", "update_payment_intent"),
    ("POST", r"/v1/payment_intents/(pi_\w+)/confirm", "confirm_payment_intent"),
    ("POST", r"/v1/payment_intents/(pi_\w+)/_authenticate", "authenticate_payment_intent"),
    ("POST", r"/v1/payment_methods", "create_payment_method"),
    ("POST", r"/v1/setup_intents", "create_setup_intent"),
    ("GET", r"/v1/setup_intents/(seti_\w+)", "get_setup_intent"),
    ("POST", r"/v1/setup_intents/(seti_\w+)/confirm", "confirm_setup_intent"),
    ("POST", r"/v1/setup_intents/(seti_\w+)/_authenticate", "authenticate_setup_intent"),
    ("POST", r"/v1/subscriptions", "create_subscription"),
    ("GET", r"/v1/subscriptions", "list_subscriptions"),
    ("GET", r"/v1/subscriptions/(sub_\w+)", "get_subscription"),
    ("POST", r"/v1/subscriptions/(sub_\w+)", "update_subscription"),
    ("DELETE", r"/v1/subscriptions/(sub_\w+)", "cancel_subscription"),
    ("GET", r"/v1/invoices", "list_invoices"),
    ("GET", r"/v1/invoices/(in_\w+)", "get_invoice"),
    ("POST", r"/v1/invoices/(in_\w+)/pay", "pay_invoice_route"),
    ("GET", r"/v1/charges/(ch_\w+)", "get_charge"),
    ("GET", r"/v1/events", "list_events"),
    ("GET", r"/v1/events/(evt_\w+)", "get_event"),
]
#: Routes the Stripe.js double calls with the publishable key.
PUBLIC = {
    "get_payment_intent",
    "confirm_payment_intent",
    "authenticate_payment_intent",
    "create_payment_method",
    "get_setup_intent",
    "confirm_setup_intent",
    "authenticate_setup_intent",
}
COMPILED = [(method, re.compile(f"^{pattern}$"), name) for method, pattern, name in ROUTES]


def route(method: str, path: str) -> tuple[str, tuple] | None:
    """The Shim method that answers this request and its arguments; None to forward it."""
    for wanted, pattern, name in COMPILED:
        match = pattern.match(path)
        if match and wanted == method:
            return name, match.groups()
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    server: Shim
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.handle_call()

    def do_POST(self):
        self.handle_call()

    def do_DELETE(self):
        self.handle_call()

    def do_OPTIONS(self):
        self.answer(204, b"", "text/plain")

    def handle_call(self):
        shim = self.server
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path == "/js.stripe.com/v3/" and STRIPE_JS.exists():
            return self.answer(200, STRIPE_JS.read_bytes(), "application/javascript")
        if path == "/_shim/requests":
            if self.command == "DELETE":
                shim.state.requests.clear()
                return self.answer(200, b"[]")
            return self.answer(200, json.dumps(shim.state.requests).encode())
        if path == "/_shim/events" and self.command == "POST":
            return self.receive_event(body)
        if path.startswith("/_config/webhooks/") and self.command == "DELETE":
            shim.webhooks.pop(path.rsplit("/", 1)[1], None)
            return self.answer(200, b"", "text/plain")
        if path.startswith("/_config/webhooks/") and self.command == "POST":
            return self.register_webhook(path.rsplit("/", 1)[1], translate.decode_body(body))
        if path == "/_config/data" and self.command == "DELETE":
            with shim.lock:
                shim.state = State()
            return self.forward(body)
        query = translate.decode_form(split.query)
        params = {**query, **(translate.decode_body(body) if self.command == "POST" else {})}
        secret = self.headers.get("Authorization", "").replace("Bearer ", "").startswith("sk_")
        publishable = str(params.get("key", "")).startswith("pk_")
        if secret and path.startswith("/v1/"):
            recorded = query if self.command != "POST" else translate.decode_body(body)
            shim.state.requests.append(translate.record(self.command, path, recorded, self.headers))
        idempotency = self.headers.get("Idempotency-Key") if secret and self.command == "POST" else None
        if idempotency and (idempotency, path) in shim.state.replies:
            return self.answer(*shim.state.replies[(idempotency, path)])
        found = route(self.command, path)
        if found is None:
            return self.forward(body, idempotency)
        name, groups = found
        if not secret and not (publishable and name in PUBLIC):
            return self.reply(
                401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}}
            )
        call = Call(self.command, path, query, params, self.headers, secret, publishable)
        try:
            with shim.lock:
                status, answer = 200, getattr(shim, name)(call, *groups)
        except Refusal as error:
            status, answer = error.status, error.body
        payload = json.dumps(answer).encode()
        if idempotency and status < 500:
            shim.state.replies[(idempotency, path)] = (status, payload)
        self.answer(status, payload)

    def reply(self, status: int, body: dict):
        self.answer(status, json.dumps(body).encode())

    def answer(self, status: int, payload: bytes, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        origin = self.headers.get("Origin")
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Headers", CORS_HEADERS)
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS, DELETE")
        self.end_headers()
        self.wfile.write(payload)

    def forward(self, body: bytes, idempotency: str | None = None):
        """Pass a request localstripe answers well to it, and its answer back in today's shape."""
        headers = {
            key: value
            for key, value in self.headers.items()
            if key.lower() not in ("host", "content-length", "connection", "origin")
        }
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body or None, headers=headers, method=self.command
        )
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        except OSError:
            return self.reply(502, {"error": {"type": "api_error", "message": "localstripe did not answer"}})
        with response:
            payload = response.read()
            content_type = response.headers.get("Content-Type", "application/json")
            status = response.status
        if content_type.startswith("application/json") and payload and status == 200:
            with contextlib.suppress(ValueError, Refusal):
                payload = json.dumps(self.server.translated(json.loads(payload))).encode()
        if idempotency and status < 500:
            self.server.state.replies[(idempotency, self.path.split("?")[0])] = (status, payload)
        self.answer(status, payload, content_type.split(";")[0])

    def register_webhook(self, name: str, params: dict):
        shim = self.server
        if not str(params.get("url", "")).startswith("http") or not params.get("secret"):
            return self.reply(400, {"error": {"type": "invalid_request_error", "message": "Bad request"}})
        shim.webhooks[name] = {
            "url": params["url"],
            "secret": params["secret"],
            "events": params.get("events"),
        }
        own = f"http://127.0.0.1:{shim.server_address[1]}/_shim/events"
        status, answer = shim.call(
            "POST", "/_config/webhooks/shim", {"url": own, "secret": shim.upstream_secret}
        )
        self.answer(status, b"" if status == 200 else json.dumps(answer).encode(), "text/plain")

    def receive_event(self, body: bytes):
        shim = self.server
        header = self.headers.get("Stripe-Signature", "")
        stamp = header.split(",")[0].removeprefix("t=")
        if not stamp.isdigit() or translate.signature(body, shim.upstream_secret, int(stamp)) != header:
            return self.answer(400, b"", "text/plain")
        try:
            events = shim.events_from(json.loads(body))
        except Refusal:
            events = []
        self.answer(200, b"", "text/plain")
        shim.deliver(events)

    def log_message(self, *args):
        pass


def serve(port: int, upstream: str) -> Shim:
    """Start the shim on 127.0.0.1:`port` in a thread, in front of localstripe at `upstream`."""
    shim = Shim(("127.0.0.1", port), upstream)
    threading.Thread(target=shim.serve_forever, daemon=True).start()
    return shim
