"""Stripe's side of the demo history: the objects it keeps, its answers to the service, its events.

The service's calls to Stripe (banner.payments: start a payment, start, change, pause or cancel a
subscription, ...) are answered here from an in-memory account, through the same parsers
payments.py applies to Stripe's answers, and every other call fails loudly: the demo makes no
request. What Stripe then tells the webhook is built as events of the pinned API version
(the shapes tests/stripe_events.py builds) and handed to banner.services.lifecycle.receive, the
function the webhook view calls, at the event's `created` time.
"""

import contextlib
import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from banner import payments
from banner.services import lifecycle
from devtools.demo.choices import add_months
from devtools.demo.clock import Recorder

#: the banner.payments calls the demo answers; any other one is a bug of the demo
#: the modules of banner.payments that call Stripe through `client`
PAYMENTS_MODULES = ("_client", "checkout", "subscriptions", "objects")
ANSWERED = (
    "create_customer",
    "start_payment",
    "get_charge",
    "cancel_payment",
    "start_subscription",
    "get_subscription",
    "cancel_subscription",
    "cancel_subscription_for",
    "change_subscription",
    "pause_subscription",
    "billing_cycle",
)


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


class StripeDouble:
    """An in-memory Stripe account answering the service, and sending the events Stripe sends."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self.numbers: Counter[str] = Counter()
        self.subscriptions: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.latest_invoice: dict[str, dict] = {}  #: subscription id -> its latest invoice
        #: subscription id -> (billing anchor, periods billed since)
        self.cycles: dict[str, tuple[datetime, int]] = {}

    def new_id(self, prefix: str) -> str:
        self.numbers[prefix] += 1
        return f"{prefix}_demo_{self.numbers[prefix]}"

    @contextmanager
    def answering(self) -> Iterator["StripeDouble"]:
        """Answer banner.payments' calls from this account while the history is made."""
        with contextlib.ExitStack() as patches:
            # the package and each of its modules hold their own name for the client
            for module in (payments, *(getattr(payments, name) for name in PAYMENTS_MODULES)):
                patches.enter_context(mock.patch.object(module, "client", _no_requests))
            answers = {name: getattr(self, name) for name in ANSWERED}
            patches.enter_context(mock.patch.multiple(payments, **answers))
            yield self

    def send(self, kind: str, obj: dict, at: datetime) -> None:
        """Apply a Stripe event of `kind` about `obj`, created at `at`, as the webhook would."""
        self.recorder.at(at, kind)
        obj = copy.deepcopy(obj)  # the event keeps the object as it was at `at`
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": payments.API_VERSION,
            "type": kind,
            "created": stamp(at),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj, "previous_attributes": {}},
        }
        lifecycle.receive(event)

    # -- objects, in the current API's shape

    def _charge(self, intent: dict, card: tuple[str, str]) -> dict:
        charge = {
            "id": self.new_id("ch"),
            "object": "charge",
            "payment_intent": intent["id"],
            "amount": intent["amount"],
            "amount_refunded": 0,
            "refunded": False,
            "currency": intent["currency"],
            "status": "succeeded",
            "payment_method_details": {"type": "card", "card": {"brand": card[0], "last4": card[1]}},
        }
        self.charges[charge["id"]] = charge
        return charge

    def _intent(self, amount: int, currency: str, metadata: dict[str, str], at: int) -> dict:
        intent: dict[str, Any] = {
            "id": self.new_id("pi"),
            "object": "payment_intent",
            "status": "requires_payment_method",
            "amount": amount,
            "currency": currency,
            "created": at,
            "metadata": metadata,
            "latest_charge": None,
            "last_payment_error": None,
        }
        self.intents[intent["id"]] = intent
        return intent

    def pay_intent(self, intent: dict, card: tuple[str, str]) -> dict:
        """The card paid the PaymentIntent; return its charge."""
        charge = self._charge(intent, card)
        intent.update(status="succeeded", latest_charge=charge["id"])
        return charge

    def decline_intent(self, intent: dict, message: str) -> None:
        intent.update(status="requires_payment_method", last_payment_error={"message": message})

    def invoice(self, subscription: dict, at: datetime, amount: int) -> dict:
        """Open the subscription's next invoice, for `amount`, with the PaymentIntent that pays it."""
        created = stamp(at)
        intent = self._intent(amount, subscription["currency"], {}, created)
        invoice = {
            "id": self.new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "open",
            "amount_due": amount,
            "amount_paid": 0,
            "currency": subscription["currency"],
            "attempt_count": 0,
            "next_payment_attempt": None,
            "created": created,
            "billing_reason": "subscription_cycle",
            "status_transitions": {"finalized_at": created, "paid_at": None, "voided_at": None},
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"metadata": {}, "subscription": subscription["id"]},
            },
            "intent": intent,  #: the demo's own note; no parser reads it
        }
        self.latest_invoice[subscription["id"]] = invoice
        return invoice

    def pay_invoice(self, invoice: dict, at: datetime, card: tuple[str, str]) -> tuple[dict, dict]:
        """The invoice's PaymentIntent succeeded: return the invoice and its invoice_payment."""
        charge = self.pay_intent(invoice["intent"], card)
        paid = stamp(at)
        invoice.update(
            status="paid", amount_paid=invoice["amount_due"], amount_due=0, next_payment_attempt=None
        )
        invoice["attempt_count"] += 1
        invoice["status_transitions"] = {**invoice["status_transitions"], "paid_at": paid}
        invoice_payment = {
            "id": f"inpay_{invoice['id']}",
            "object": "invoice_payment",
            "invoice": invoice["id"],
            "amount_paid": invoice["amount_paid"],
            "amount_requested": invoice["amount_paid"],
            "currency": invoice["currency"],
            "status": "paid",
            "created": paid,
            "payment": {
                "type": "payment_intent",
                "payment_intent": invoice["intent"]["id"],
                "charge": charge["id"],
            },
            "status_transitions": {"canceled_at": None, "paid_at": paid},
        }
        return _public(invoice), invoice_payment

    def fail_invoice(self, invoice: dict, next_attempt: datetime | None) -> dict:
        invoice["attempt_count"] += 1
        invoice["next_payment_attempt"] = stamp(next_attempt) if next_attempt else None
        return _public(invoice)

    def subscription(
        self, customer: str, amount: int, currency: str, interval: str, metadata: dict, at: int
    ) -> dict:
        sub_id = self.new_id("sub")
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": "incomplete",
            "currency": currency,
            "metadata": dict(metadata),
            "created": at,
            "billing_cycle_anchor": at,
            "items": {"object": "list", "data": [{"id": f"si_{sub_id}", "object": "subscription_item"}]},
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "pause_collection": None,
        }
        self.set_price(subscription, amount, interval)
        self.subscriptions[sub_id] = subscription
        return subscription

    @staticmethod
    def set_price(subscription: dict, amount: int, interval: str) -> None:
        subscription["items"]["data"][0]["price"] = {
            "id": f"price_demo_{amount}_{interval}",
            "object": "price",
            "unit_amount": amount,
            "currency": subscription["currency"],
            "recurring": {"interval": interval, "interval_count": 1},
        }
        subscription["items"]["data"][0]["quantity"] = 1

    @staticmethod
    def set_period(subscription: dict, start: datetime, end: datetime) -> None:
        item = subscription["items"]["data"][0]
        item.update(current_period_start=stamp(start), current_period_end=stamp(end))

    # -- billing periods: counted from an anchor, as Stripe bills on the anchor's day

    @staticmethod
    def moment(timestamp: int) -> datetime:
        return datetime.fromtimestamp(timestamp, UTC)

    @staticmethod
    def price(subscription: dict) -> tuple[int, str]:
        price = subscription["items"]["data"][0]["price"]
        return price["unit_amount"], price["recurring"]["interval"]

    def period(self, subscription: dict) -> tuple[datetime, datetime]:
        item = subscription["items"]["data"][0]
        return self.moment(item["current_period_start"]), self.moment(item["current_period_end"])

    def periods(self, subscription: dict) -> int:
        """How many periods the subscription has billed since its anchor."""
        return self.cycles[subscription["id"]][1]

    def _bill_from(self, subscription: dict, anchor: datetime) -> None:
        self.cycles[subscription["id"]] = (anchor, 1)
        subscription["billing_cycle_anchor"] = stamp(anchor)
        months = 12 if self.price(subscription)[1] == "year" else 1
        self.set_period(subscription, anchor, add_months(anchor, months))

    def next_period(self, subscription: dict) -> tuple[datetime, datetime]:
        """Start the next billing period (Stripe does so when it bills, paid or not)."""
        anchor, count = self.cycles[subscription["id"]]
        months = 12 if self.price(subscription)[1] == "year" else 1
        self.cycles[subscription["id"]] = (anchor, count + 1)
        start, end = add_months(anchor, count * months), add_months(anchor, (count + 1) * months)
        self.set_period(subscription, start, end)
        return start, end

    def subscription_starts(self, subscription: dict, at: datetime) -> None:
        self._bill_from(subscription, at.replace(microsecond=0))

    def interval_changed(self, subscription: dict, at: datetime) -> dict:
        """Another interval starts now and is charged now, less the unused time already paid."""
        start, end = self.period(subscription)
        unused = self.latest_invoice[subscription["id"]]["amount_paid"] * max(0.0, (end - at) / (end - start))
        self._bill_from(subscription, at)
        amount = self.price(subscription)[0]
        return self.invoice(subscription, at, max(amount - int(unused), 100))

    def dispute(self, charge: dict, at: datetime, reason: str) -> None:
        """The donor's bank disputes the charge."""
        dispute = {
            "id": self.new_id("dp"),
            "object": "dispute",
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "amount": charge["amount"] - charge["amount_refunded"],
            "currency": charge["currency"],
            "status": "needs_response",
            "reason": reason,
        }
        self.send("charge.dispute.created", dispute, at.replace(microsecond=0))

    # -- answers to banner.payments

    def create_customer(self, email: str, name: str, key: str, metadata: dict[str, str]) -> str:
        return self.new_id("cus")

    def start_payment(self, amount: int, currency: str, key: str, metadata: dict[str, str]):
        intent = self._intent(amount, currency, metadata, stamp(self.recorder.now))
        return self.get_charge(intent["id"])

    def get_charge(self, payment_intent_id: str) -> payments.ChargeResult:
        intent = self.intents[payment_intent_id]
        charge = self.charges.get(intent["latest_charge"] or "")
        card = charge["payment_method_details"]["card"] if charge else None
        error = intent["last_payment_error"]
        return payments.ChargeResult(
            id=intent["id"],
            status=intent["status"],
            client_secret=f"{intent['id']}_secret_demo",
            amount=intent["amount"],
            currency=intent["currency"],
            created=intent["created"],
            error_message=error["message"] if error else None,
            charge=charge["id"] if charge else None,
            card=payments.Card(card["brand"], card["last4"]) if card else None,
        )

    def cancel_payment(self, payment_intent_id: str, key: str) -> None:
        self.intents[payment_intent_id]["status"] = "canceled"

    def start_subscription(self, customer_id, amount, currency, interval, key, metadata):
        subscription = self.subscription(
            customer_id, amount, currency, interval, metadata, stamp(self.recorder.now)
        )
        self.invoice(subscription, self.recorder.now, amount)["billing_reason"] = "subscription_create"
        return self.get_subscription(subscription["id"])

    def get_subscription(self, subscription_id: str) -> payments.SubscriptionResult:
        subscription = self.subscriptions[subscription_id]
        invoice = self.latest_invoice[subscription_id]
        intent = invoice["intent"]
        return payments.SubscriptionResult(
            id=subscription_id,
            status=subscription["status"],
            current_period_end=payments.period_end(subscription),
            invoice_id=invoice["id"],
            invoice_paid=invoice["status"] == "paid",
            invoice_amount_paid=invoice["amount_paid"],
            invoice_created=invoice["created"],
            client_secret=f"{intent['id']}_secret_demo",
            charge=self.get_charge(intent["id"]) if _confirmed(intent) else None,
        )

    def cancel_subscription(self, subscription_id: str, key: str) -> None:
        self.end(self.subscriptions[subscription_id], self.recorder.now, "cancellation_requested")

    def end(self, subscription: dict, at: datetime, reason: str, feedback=None, comment=None) -> dict:
        subscription.update(status="canceled", canceled_at=stamp(at), cancel_at_period_end=False)
        details = subscription["cancellation_details"]
        details["reason"] = reason
        details["feedback"] = feedback or details["feedback"]
        details["comment"] = comment or details["comment"]
        return subscription

    def cancel_subscription_for(self, subscription_id, feedback, comment, at_period_end, key):
        subscription = self.subscriptions[subscription_id]
        subscription["cancellation_details"].update(feedback=feedback, comment=comment or None)
        if at_period_end:
            subscription["cancel_at_period_end"] = True
        else:
            self.end(subscription, self.recorder.now, "cancellation_requested")
        return payments.subscription_snapshot(subscription)

    def change_subscription(self, subscription_id, interval, currency, amount, key, proration_date=None):
        subscription = self.subscriptions[subscription_id]
        self.set_price(subscription, amount, interval)
        return payments.subscription_snapshot(subscription)

    def pause_subscription(self, subscription_id: str, resumes_at: int, key: str):
        subscription = self.subscriptions[subscription_id]
        subscription["pause_collection"] = {"behavior": "void", "resumes_at": resumes_at}
        return payments.subscription_snapshot(subscription)

    def billing_cycle(self, subscription_id: str) -> payments.BillingCycle:
        subscription = self.subscriptions[subscription_id]
        return payments.BillingCycle(
            next_charge=payments.period_end(subscription), anchor=subscription["billing_cycle_anchor"]
        )


def _public(invoice: dict) -> dict:
    """The invoice as Stripe sends it, without the demo's note of its PaymentIntent."""
    return {key: value for key, value in invoice.items() if key != "intent"}


def _confirmed(intent: dict) -> bool:
    """Whether the page confirmed the PaymentIntent: paid, or declined with an error."""
    return intent["status"] != "requires_payment_method" or intent["last_payment_error"] is not None


def _no_requests(*args, **kwargs):
    raise RuntimeError("the demo history makes no request to Stripe; answer this call in devtools.demo")
