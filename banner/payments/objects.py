"""Webhook and reconciliation payloads as plain values, read the same way whether they come as
dicts (events) or as objects (list calls), in the shape of the pinned API version only; and the
lists reconciliation reads."""

import json
from dataclasses import dataclass

import stripe

from banner.payments._client import _call, client, field, object_id

#: the API version the library speaks, and the only one whose events the service applies
API_VERSION: str = stripe._api_version._ApiVersion.CURRENT


def period_end(subscription) -> int | None:
    """Return the end of the paid period, which the current API keeps on the subscription's item."""
    items = field(subscription, "items", "data", default=[])
    return field(items[0], "current_period_end") if items else None


def invoice_payment_intent(invoice) -> str | None:
    """Return the PaymentIntent id of an invoice's payment (`payments`, when it was expanded)."""
    return _invoice_payment_field(invoice, "payment_intent")


def invoice_charge(invoice) -> str | None:
    """Return the charge id of an invoice's payment (`payments`, when it was expanded)."""
    return _invoice_payment_field(invoice, "charge")


def _invoice_payment_field(invoice, name: str) -> str | None:
    for payment in field(invoice, "payments", "data", default=[]):
        value = object_id(field(payment, "payment", name))
        if value:
            return value
    return None


def invoice_subscription(invoice) -> str | None:
    """Return the subscription id of an invoice: `parent.subscription_details.subscription`."""
    return object_id(field(invoice, "parent", "subscription_details", "subscription"))


@dataclass(frozen=True)
class SubscriptionSnapshot:
    id: str
    status: str
    customer: str | None
    gift_reference: str | None  #: the metadata this service set when it made the subscription
    amount: int | None  #: per interval, minor units
    currency: str | None
    interval: str | None  #: "month" or "year"
    current_period_end: int | None
    cancel_at_period_end: bool
    canceled_at: int | None
    paused_until: int | None  #: pause_collection.resumes_at (None while not paused, or no date)
    paused: bool
    cancellation_reason: str | None  #: cancellation_requested, payment_failed, payment_disputed
    cancellation_feedback: str | None  #: too_expensive, switched_service, ...
    cancellation_comment: str | None


def subscription_snapshot(subscription) -> SubscriptionSnapshot:
    items = field(subscription, "items", "data", default=[])
    item = items[0] if items else None
    price = field(item, "price")
    unit = field(price, "unit_amount")
    quantity = field(item, "quantity", default=1)
    pause = field(subscription, "pause_collection")
    return SubscriptionSnapshot(
        id=field(subscription, "id"),
        status=field(subscription, "status"),
        customer=object_id(field(subscription, "customer")),
        gift_reference=field(subscription, "metadata", "gift"),
        amount=None if unit is None else int(unit) * int(quantity),
        currency=field(price, "currency"),
        interval=field(price, "recurring", "interval"),
        current_period_end=period_end(subscription),
        cancel_at_period_end=bool(field(subscription, "cancel_at_period_end", default=False)),
        canceled_at=field(subscription, "canceled_at"),
        paused_until=field(pause, "resumes_at"),
        paused=pause is not None,
        cancellation_reason=field(subscription, "cancellation_details", "reason"),
        cancellation_feedback=field(subscription, "cancellation_details", "feedback"),
        cancellation_comment=field(subscription, "cancellation_details", "comment"),
    )


@dataclass(frozen=True)
class InvoiceInfo:
    id: str
    subscription: str | None
    customer: str | None
    status: str | None
    amount_paid: int
    currency: str
    created: int
    paid_at: int
    attempt_count: int
    next_payment_attempt: int | None
    payment_intent: str | None  #: only when `payments` was expanded: invoice_payment.paid tells
    charge: str | None


def invoice_info(invoice) -> InvoiceInfo:
    created = field(invoice, "created", default=0)
    return InvoiceInfo(
        id=field(invoice, "id"),
        subscription=invoice_subscription(invoice),
        customer=object_id(field(invoice, "customer")),
        status=field(invoice, "status"),
        amount_paid=field(invoice, "amount_paid", default=0),
        currency=field(invoice, "currency", default="usd"),
        created=created,
        paid_at=field(invoice, "status_transitions", "paid_at") or created,
        attempt_count=field(invoice, "attempt_count", default=0),
        next_payment_attempt=field(invoice, "next_payment_attempt"),
        payment_intent=invoice_payment_intent(invoice),
        charge=invoice_charge(invoice),
    )


@dataclass(frozen=True)
class InvoicePaymentInfo:
    """One payment of an invoice (`invoice_payment`): which PaymentIntent and charge paid it."""

    id: str
    invoice: str
    status: str | None
    payment_intent: str | None
    charge: str | None
    amount_paid: int
    currency: str | None
    paid_at: int | None


def invoice_payment_info(invoice_payment) -> InvoicePaymentInfo:
    return InvoicePaymentInfo(
        id=field(invoice_payment, "id"),
        invoice=object_id(field(invoice_payment, "invoice")) or "",
        status=field(invoice_payment, "status"),
        payment_intent=object_id(field(invoice_payment, "payment", "payment_intent")),
        charge=object_id(field(invoice_payment, "payment", "charge")),
        amount_paid=field(invoice_payment, "amount_paid", default=0),
        currency=field(invoice_payment, "currency"),
        paid_at=field(invoice_payment, "status_transitions", "paid_at"),
    )


@dataclass(frozen=True)
class IntentInfo:
    id: str
    status: str
    amount: int
    currency: str
    created: int
    gift_reference: str | None
    charge: str | None
    error_message: str | None


def intent_info(intent) -> IntentInfo:
    return IntentInfo(
        id=field(intent, "id"),
        status=field(intent, "status"),
        amount=field(intent, "amount", default=0),
        currency=field(intent, "currency", default="usd"),
        created=field(intent, "created", default=0),
        gift_reference=field(intent, "metadata", "gift"),
        charge=object_id(field(intent, "latest_charge")),
        error_message=field(intent, "last_payment_error", "message"),
    )


@dataclass(frozen=True)
class ChargeInfo:
    id: str
    payment_intent: str | None
    amount: int
    amount_refunded: int  #: every refund so far, failed ones excepted


def charge_info(charge) -> ChargeInfo:
    return ChargeInfo(
        id=field(charge, "id"),
        payment_intent=object_id(field(charge, "payment_intent")),
        amount=field(charge, "amount", default=0),
        amount_refunded=field(charge, "amount_refunded", default=0),
    )


@dataclass(frozen=True)
class RefundInfo:
    id: str
    charge: str | None
    payment_intent: str | None
    amount: int
    status: str | None  #: pending, succeeded, failed, canceled, requires_action


def refund_info(refund) -> RefundInfo:
    return RefundInfo(
        id=field(refund, "id"),
        charge=object_id(field(refund, "charge")),
        payment_intent=object_id(field(refund, "payment_intent")),
        amount=field(refund, "amount", default=0),
        status=field(refund, "status"),
    )


@dataclass(frozen=True)
class DisputeInfo:
    id: str
    charge: str | None
    payment_intent: str | None
    amount: int
    status: str | None  #: warning_needs_response, needs_response, under_review, won, lost, ...
    reason: str | None


def dispute_info(dispute) -> DisputeInfo:
    return DisputeInfo(
        id=field(dispute, "id"),
        charge=object_id(field(dispute, "charge")),
        payment_intent=object_id(field(dispute, "payment_intent")),
        amount=field(dispute, "amount", default=0),
        status=field(dispute, "status"),
        reason=field(dispute, "reason"),
    )


@dataclass(frozen=True)
class CardInfo:
    """A card payment method as the card network last described it."""

    id: str
    customer: str | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


def card_info(payment_method) -> CardInfo:
    return CardInfo(
        id=field(payment_method, "id"),
        customer=object_id(field(payment_method, "customer")),
        brand=field(payment_method, "card", "brand"),
        last4=field(payment_method, "card", "last4"),
        exp_month=field(payment_method, "card", "exp_month"),
        exp_year=field(payment_method, "card", "exp_year"),
    )


def list_subscriptions(customer_id: str) -> list[SubscriptionSnapshot]:
    """Return every subscription of the customer, ended ones included."""
    found = _call(
        client().v1.subscriptions.list, params={"customer": customer_id, "status": "all", "limit": 100}
    )
    return [subscription_snapshot(subscription) for subscription in found.auto_paging_iter()]


def list_invoices(customer_id: str, since: int) -> list[InvoiceInfo]:
    """Return the customer's invoices created since the Unix time `since`.

    Filtered here rather than with `created[gte]`, which the emulator answers with HTTP 500; a
    donor has a few dozen invoices at most.
    """
    found = _call(client().v1.invoices.list, params={"customer": customer_id, "limit": 100})
    invoices = (invoice_info(invoice) for invoice in found.auto_paging_iter())
    return [invoice for invoice in invoices if invoice.created >= since]


def list_events(since: int) -> list[dict]:
    """Return the events created since the Unix time `since`, oldest first.

    Real Stripe can also filter by `delivery_success=false`; the emulator cannot, and the caller
    skips the events it already has, so every event is listed.
    """
    found = _call(client().v1.events.list, params={"created": {"gte": since}, "limit": 100})
    # As a webhook would bring them: plain JSON (the library reads decimals as Decimal).
    events = [json.loads(json.dumps(event.to_dict(), default=float)) for event in found.auto_paging_iter()]
    return sorted(events, key=lambda event: event["created"])
