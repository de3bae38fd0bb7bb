"""What the donate page needs of Stripe: customers, a one-time gift's PaymentIntent, and a
recurring gift's Subscription with its first invoice to confirm."""

import contextlib
from dataclasses import dataclass

import stripe
from flask import current_app
from stripe.params import (
    PaymentIntentCreateParams,
    SubscriptionCreateParams,
)

from banner.errors import NotFound
from banner.payments._client import _call, _key, client, field, object_id
from banner.payments.objects import invoice_payment_intent, period_end

#: the one Product every recurring gift's Price belongs to
PRODUCT_ID = "banner-recurring-gift"


@dataclass(frozen=True)
class Card:
    brand: str | None
    last4: str | None


@dataclass(frozen=True)
class ChargeResult:
    """A PaymentIntent as the service needs it."""

    id: str
    status: str  #: succeeded, requires_action, requires_payment_method, processing, ...
    client_secret: str | None
    amount: int
    currency: str
    created: int
    error_message: str | None
    charge: str | None = None  #: the latest charge's id
    card: Card | None = None  #: the card it was paid with, when known


@dataclass(frozen=True)
class SubscriptionResult:
    id: str
    status: str  #: active, incomplete, past_due, canceled, ...
    current_period_end: int | None
    invoice_id: str | None
    invoice_paid: bool
    invoice_amount_paid: int
    invoice_created: int | None
    #: the secret the page confirms the first invoice's payment with (Stripe.js)
    client_secret: str | None
    #: the first invoice's PaymentIntent, once the page has confirmed it
    charge: ChargeResult | None


def _payment_methods() -> list[str] | None:
    """Return the payment method types a gift may use, or None for the account's own choice
    (wallets and Link where the Stripe dashboard enables them; card always)."""
    setting = current_app.config["PAYMENT_METHODS"]
    return None if setting == "automatic" else [name.strip() for name in setting.split(",")]


def create_customer(email: str, name: str, key: str, metadata: dict[str, str]) -> str:
    """Create a Stripe Customer and return its id."""
    customer = _call(
        client().v1.customers.create,
        params={"email": email, "name": name, "metadata": metadata},
        options=_key(key),
    )
    return customer.id


def update_customer(customer_id: str, email: str, name: str, key: str) -> None:
    """Give the Stripe Customer the donor's corrected e-mail and name."""
    _call(
        client().v1.customers.update,
        customer_id,
        params={"email": email, "name": name},
        options=_key(key),
    )


def erase_customer(customer_id: str, key: str) -> None:
    """Remove the name and e-mail of an erased donor from a Stripe Customer (an empty value
    unsets a field); a customer Stripe no longer has needs nothing."""
    with contextlib.suppress(NotFound):
        _call(client().v1.customers.update, customer_id, params={"email": "", "name": ""}, options=_key(key))


def start_payment(amount: int, currency: str, key: str, metadata: dict[str, str]) -> ChargeResult:
    """Create the PaymentIntent of a one-time gift; the page confirms it with Stripe.js.

    No customer and no saved card: a one-time gift keeps nothing for later charges.
    """
    params: PaymentIntentCreateParams = {
        "amount": amount,
        "currency": currency,
        "metadata": metadata,
        "description": "One-time gift",
    }
    methods = _payment_methods()
    if methods is None:
        params["automatic_payment_methods"] = {"enabled": True}
    else:
        params["allowed_payment_method_types"] = methods
    return _charge_result(_call(client().v1.payment_intents.create, params=params, options=_key(key)))


def get_charge(payment_intent_id: str) -> ChargeResult:
    """Return a PaymentIntent with the card it was paid with."""
    intent = _call(
        client().v1.payment_intents.retrieve, payment_intent_id, params={"expand": ["payment_method"]}
    )
    return _charge_result(intent)


def _charge_result(intent: stripe.PaymentIntent) -> ChargeResult:
    method = intent.payment_method if isinstance(intent.payment_method, stripe.PaymentMethod) else None
    card = method.card if method is not None else None
    return ChargeResult(
        id=intent.id,
        status=intent.status,
        client_secret=intent.client_secret,
        amount=intent.amount,
        currency=intent.currency,
        created=intent.created,
        error_message=intent.last_payment_error.message if intent.last_payment_error else None,
        charge=object_id(intent.latest_charge),
        card=Card(brand=card.brand, last4=card.last4) if card is not None else None,
    )


def cancel_payment(payment_intent_id: str, key: str) -> None:
    """Cancel a one-time gift's PaymentIntent that was never paid."""
    _call(client().v1.payment_intents.cancel, payment_intent_id, options=_key(key))


def ensure_product() -> str:
    """Return the id of the Product every recurring gift's Price belongs to, creating it once."""
    try:
        _call(client().v1.products.retrieve, PRODUCT_ID)
    except NotFound:
        _call(
            client().v1.products.create,
            params={"id": PRODUCT_ID, "name": "Recurring gift"},
            options=_key(f"product-{PRODUCT_ID}"),
        )
    return PRODUCT_ID


def start_subscription(
    customer_id: str, amount: int, currency: str, interval: str, key: str, metadata: dict[str, str]
) -> SubscriptionResult:
    """Create a recurring gift whose first invoice waits for the page to confirm its payment.

    The card the donor pays with becomes the subscription's own (never the customer's default),
    so one gift can never change another's card.
    """
    params: SubscriptionCreateParams = {
        "customer": customer_id,
        "items": [
            {
                "price_data": {
                    "currency": currency,
                    "product": ensure_product(),
                    "unit_amount": amount,
                    "recurring": {"interval": "year" if interval == "year" else "month"},
                }
            }
        ],
        "payment_behavior": "default_incomplete",
        "payment_settings": {"save_default_payment_method": "on_subscription"},
        "metadata": metadata,
        "expand": ["latest_invoice.confirmation_secret"],
    }
    methods = _payment_methods()
    if methods is not None:
        params["payment_settings"]["payment_method_types"] = methods
    subscription = _call(client().v1.subscriptions.create, params=params, options=_key(key))
    return _subscription_result(subscription)


def get_subscription(subscription_id: str) -> SubscriptionResult:
    """Return a recurring gift's subscription and where its first (latest) invoice stands."""
    subscription = _call(
        client().v1.subscriptions.retrieve,
        subscription_id,
        params={"expand": ["latest_invoice.payments", "latest_invoice.confirmation_secret"]},
    )
    return _subscription_result(subscription)


def cancel_subscription(subscription_id: str, key: str) -> None:
    """End a subscription now (an incomplete one whose first payment failed, for example)."""
    _call(client().v1.subscriptions.cancel, subscription_id, options=_key(key))


def _subscription_result(subscription: stripe.Subscription) -> SubscriptionResult:
    invoice = subscription.latest_invoice
    if isinstance(invoice, str):
        invoice = _call(
            client().v1.invoices.retrieve, invoice, params={"expand": ["payments", "confirmation_secret"]}
        )
    intent_id = invoice_payment_intent(invoice) if invoice is not None else None
    secret = field(invoice, "confirmation_secret", "client_secret")
    return SubscriptionResult(
        id=subscription.id,
        status=subscription.status,
        current_period_end=period_end(subscription),
        invoice_id=field(invoice, "id"),
        invoice_paid=field(invoice, "status") == "paid",
        invoice_amount_paid=field(invoice, "amount_paid", default=0),
        invoice_created=field(invoice, "created"),
        client_secret=secret,
        charge=get_charge(intent_id) if intent_id else None,
    )
