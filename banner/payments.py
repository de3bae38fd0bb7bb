"""Everything the service asks of Stripe; the only module that imports `stripe`.

The service speaks the API version our stripe library pins (`API_VERSION`) and nothing else:
every request is typed with the library's own parameter TypedDicts, checked by mypy through
`_call`, and the test suite checks every request it sends against the same types. Functions
take and return plain values and raise the payment errors of banner.errors (re-exported here).
They work the same against real Stripe (test or live keys) and against the local emulator
(BANNER_STRIPE_API_BASE), which translates this version into what it understands.
"""

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import stripe
from flask import current_app
from stripe.params import (
    InvoiceCreatePreviewParams,
    PaymentIntentCreateParams,
    SetupIntentCreateParams,
    SubscriptionCancelParamsCancellationDetails,
    SubscriptionCreateParams,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsCancellationDetails,
    SubscriptionUpdateParamsItemPriceData,
)

from banner.errors import CardDeclined, NotFound, PaymentError, PaymentUnavailable, StripeRequestRejected

log = logging.getLogger(__name__)

#: the one Product every recurring gift's Price belongs to
PRODUCT_ID = "banner-recurring-gift"

P = ParamSpec("P")
R = TypeVar("R")


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


def client() -> stripe.StripeClient:
    """Return the app's Stripe client, made once per app."""
    cached = current_app.extensions.get("stripe_client")
    if cached is None:
        config = current_app.config
        base = config["STRIPE_API_BASE"]
        cached = stripe.StripeClient(
            config["STRIPE_SECRET_KEY"],
            base_addresses={"api": base} if base else {},
            max_network_retries=0 if base else 2,
        )
        current_app.extensions["stripe_client"] = cached
    return cached


def _call(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call the Stripe library, turning its errors into this module's.

    Only network trouble, rate limits and Stripe's own 5xx read as "unavailable". A missing
    object is NotFound. Any other refusal is about our own request, so a bug of ours: it is
    logged at ERROR with Stripe's request id and error code (the test suite fails on it).
    """
    try:
        return function(*args, **kwargs)
    except stripe.CardError as error:
        raise CardDeclined(error.user_message, error.code) from error
    except stripe.APIConnectionError as error:
        log.warning("Stripe unreachable: %s", error)
        raise PaymentUnavailable(detail=str(error)) from error
    except stripe.StripeError as error:
        status = error.http_status or 0
        if status >= 500 or status in (409, 429) or isinstance(error, stripe.RateLimitError):
            log.warning("Stripe unavailable (HTTP %s, request %s): %s", status, error.request_id, error)
            raise PaymentUnavailable(detail=str(error)) from error
        if error.code == "resource_missing" or status == 404:
            log.info("Stripe has no such object (request %s): %s", error.request_id, error)
            raise NotFound(detail=str(error)) from error
        log.error(
            "Stripe rejected our request (HTTP %s, request %s, code %s): %s",
            status,
            error.request_id,
            error.code,
            error,
            extra={"stripe_request_rejected": True},
        )
        raise StripeRequestRejected(
            request_id=error.request_id, stripe_code=error.code, detail=str(error)
        ) from error


def _key(key: str) -> stripe.RequestOptions:
    return {"idempotency_key": key}


def field(obj, *path, default=None):
    """Read a nested field of a Stripe object or dict; missing anywhere gives `default`."""
    for name in path:
        if obj is None:
            return default
        if isinstance(obj, dict):
            obj = obj.get(name)
        else:
            obj = getattr(obj, name, None)
    return default if obj is None else obj


def object_id(value) -> str | None:
    """Return the id of an expandable field, whether Stripe sent the id or the object."""
    if value is None or isinstance(value, str):
        return value
    return field(value, "id")


def ping() -> bool:
    """Return whether Stripe answers with these keys."""
    try:
        client().v1.customers.list(params={"limit": 1})
    except stripe.StripeError as error:
        log.warning("Stripe health check failed: %s", error)
        return False
    return True


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


def start_card_update(customer_id: str, key: str, metadata: dict[str, str]) -> str:
    """Start saving a new card for one gift; return the secret the page confirms it with."""
    params: SetupIntentCreateParams = {"customer": customer_id, "usage": "off_session", "metadata": metadata}
    methods = _payment_methods()
    if methods is None:
        params["automatic_payment_methods"] = {"enabled": True}
    else:
        params["allowed_payment_method_types"] = methods
    intent = _call(client().v1.setup_intents.create, params=params, options=_key(key))
    if intent.client_secret is None:
        raise PaymentError("The card could not be saved. Please try again.")
    return intent.client_secret


@dataclass(frozen=True)
class SavedCard:
    """A SetupIntent as the card update needs it."""

    status: str
    customer: str | None
    payment_method: str | None
    card: Card | None
    error_message: str | None


def get_saved_card(setup_intent_id: str) -> SavedCard:
    """Return a SetupIntent with the card it saved."""
    intent = _call(client().v1.setup_intents.retrieve, setup_intent_id, params={"expand": ["payment_method"]})
    method = intent.payment_method if isinstance(intent.payment_method, stripe.PaymentMethod) else None
    card = method.card if method is not None else None
    return SavedCard(
        status=intent.status,
        customer=object_id(intent.customer),
        payment_method=object_id(intent.payment_method),
        card=Card(brand=card.brand, last4=card.last4) if card is not None else None,
        error_message=intent.last_setup_error.message if intent.last_setup_error else None,
    )


def use_card_for(subscription_id: str, payment_method_id: str, key: str) -> None:
    """Make a card the one a subscription charges, leaving the customer's default alone."""
    _call(
        client().v1.subscriptions.update,
        subscription_id,
        params={"default_payment_method": payment_method_id},
        options=_key(key),
    )


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


def verify_webhook(payload: bytes, signature: str | None, secret: str, tolerance: int = 300) -> dict:
    """Check a webhook's Stripe-Signature against the raw body; return the event as a dict.

    Raises ValueError for anything not signed with `secret` within the tolerance.
    """
    if not signature:
        raise ValueError("no Stripe-Signature header")
    # The library rejects old timestamps only; one from the future is refused as well.
    stamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
    if not stamps or not stamps[0].isdigit() or int(stamps[0]) > time.time() + tolerance:
        raise ValueError("Stripe-Signature timestamp missing or in the future")
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, tolerance)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise ValueError(str(error)) from error
    if not isinstance(event, dict) or not {"id", "type", "created", "data"} <= event.keys():
        raise ValueError("not a Stripe event")
    return event


# Webhook and reconciliation payloads, read the same way whether they come as dicts (events)
# or as objects (list calls), in the shape of the pinned API version only.

#: the API version the library speaks, and the only one whose events the service applies
API_VERSION: str = stripe._api_version._ApiVersion.CURRENT


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


# A donor managing a recurring gift. Each returns the subscription as Stripe now has it.


@dataclass(frozen=True)
class BillingCycle:
    next_charge: int | None  #: the end of the paid period, when Stripe charges next
    anchor: int | None  #: billing_cycle_anchor: its day of the month is the day Stripe charges on


def billing_cycle(subscription_id: str) -> BillingCycle:
    """Return when Stripe charges the subscription next, and the anchor its charges follow."""
    subscription = _call(client().v1.subscriptions.retrieve, subscription_id)
    return BillingCycle(
        next_charge=period_end(subscription), anchor=field(subscription, "billing_cycle_anchor")
    )


def _price_data(interval: str, currency: str, amount: int) -> SubscriptionUpdateParamsItemPriceData:
    """An inline Price: this gift's amount every `interval`, under the one Product."""
    return {
        "currency": currency,
        "product": PRODUCT_ID,
        "unit_amount": amount,
        "recurring": {"interval": interval},
    }


def _item(subscription_id: str):
    """Return the subscription's one item and its interval."""
    current = _call(client().v1.subscriptions.retrieve, subscription_id)
    item = field(current, "items", "data")[0]
    return item, field(item, "price", "recurring", "interval")


#: An interval change cannot wait for the paid period to end: Stripe resets the billing anchor,
#: starts the new interval at once and invoices it now (`billing_cycle_anchor: unchanged` is
#: refused, and `proration_behavior: none` only drops the credit for the unused time). So the
#: unused time is credited on that same invoice, the donor is shown its amount first
#: (`preview_change`, at the same `proration_date`), and a declined card changes nothing.
@dataclass(frozen=True)
class ChangePreview:
    amount_due: int  #: charged now, minor units, the unused time already credited
    currency: str
    proration_date: int  #: the moment the credit is reckoned at; the change must use it too
    next_charge: int | None  #: when the new interval charges next


def preview_change(
    subscription_id: str, interval: str, currency: str, amount: int, proration_date: int
) -> ChangePreview:
    """Return what moving the subscription to `amount` every `interval` would charge now.

    The emulator has no invoice preview; tests answer with Stripe-shaped JSON (tests.fake_stripe).
    """
    ensure_product()
    item, _ = _item(subscription_id)
    params: InvoiceCreatePreviewParams = {
        "subscription": subscription_id,
        "subscription_details": {
            "items": [{"id": item.id, "price_data": _price_data(interval, currency, amount)}],
            "proration_behavior": "always_invoice",  # as change_subscription makes it
            "proration_date": proration_date,
        },
    }
    invoice = _call(client().v1.invoices.create_preview, params=params)
    ends = [field(line, "period", "end") for line in field(invoice, "lines", "data", default=[])]
    return ChangePreview(
        amount_due=field(invoice, "amount_due", default=0),
        currency=field(invoice, "currency", default=currency),
        proration_date=proration_date,
        next_charge=max((end for end in ends if end), default=None),
    )


def change_subscription(
    subscription_id: str,
    interval: str,
    currency: str,
    amount: int,
    key: str,
    proration_date: int | None = None,
) -> SubscriptionSnapshot:
    """Give `amount` every `interval`: within the same interval from the next charge on with
    nothing charged now; to another interval at once, charged as `preview_change` showed.

    Inline Prices are the current API; the emulator has none yet, so tests answer with
    Stripe-shaped JSON (tests.fake_stripe).
    """
    ensure_product()
    item, current_interval = _item(subscription_id)
    params: SubscriptionUpdateParams = {
        "items": [{"id": item.id, "price_data": _price_data(interval, currency, amount)}]
    }
    if interval == current_interval:
        params["proration_behavior"] = "none"
    else:
        if proration_date is None:
            raise ValueError("an interval change needs the proration_date the donor was shown")
        # Charged now as the preview showed (the unused paid time credited); a decline changes nothing.
        params["proration_behavior"] = "always_invoice"
        params["payment_behavior"] = "error_if_incomplete"
        params["proration_date"] = proration_date
    updated = _call(client().v1.subscriptions.update, subscription_id, params=params, options=_key(key))
    return subscription_snapshot(updated)


def pause_subscription(subscription_id: str, resumes_at: int, key: str) -> SubscriptionSnapshot:
    """Stop charging until `resumes_at`; the invoices of the pause are voided, not owed."""
    updated = _call(
        client().v1.subscriptions.update,
        subscription_id,
        params={"pause_collection": {"behavior": "void", "resumes_at": resumes_at}},
        options=_key(key),
    )
    return subscription_snapshot(updated)


def resume_subscription(subscription_id: str, key: str) -> SubscriptionSnapshot:
    updated = _call(
        client().v1.subscriptions.update,
        subscription_id,
        params={"pause_collection": ""},
        options=_key(key),
    )
    return subscription_snapshot(updated)


def keep_subscription(subscription_id: str, key: str) -> SubscriptionSnapshot:
    """Undo a cancellation set for the end of the paid period: the subscription renews again."""
    kept = _call(
        client().v1.subscriptions.update,
        subscription_id,
        params={"cancel_at_period_end": False},
        options=_key(key),
    )
    return subscription_snapshot(kept)


def cancel_subscription_for(
    subscription_id: str, feedback: str | None, comment: str | None, at_period_end: bool, key: str
) -> SubscriptionSnapshot:
    """Cancel now, or at the end of the paid period, with the donor's reason (a Stripe feedback
    code, or none when the donor gave none)."""
    details: SubscriptionUpdateParamsCancellationDetails = {"comment": (comment or "")[:500]}
    if feedback is not None:
        details["feedback"] = feedback
    if at_period_end:
        ended = _call(
            client().v1.subscriptions.update,
            subscription_id,
            params={"cancel_at_period_end": True, "cancellation_details": details},
            options=_key(key),
        )
    else:
        ended = _call(
            client().v1.subscriptions.cancel,
            subscription_id,
            params={"cancellation_details": SubscriptionCancelParamsCancellationDetails(**details)},
            options=_key(key),
        )
    return subscription_snapshot(ended)


def latest_invoice(subscription_id: str) -> InvoiceInfo | None:
    subscription = _call(
        client().v1.subscriptions.retrieve, subscription_id, params={"expand": ["latest_invoice"]}
    )
    invoice = field(subscription, "latest_invoice")
    return invoice_info(invoice) if invoice is not None and not isinstance(invoice, str) else None


def invoice_to_confirm(subscription_id: str) -> str | None:
    """Return the secret with which the donor confirms the subscription's open invoice (a renewal
    their bank wants authenticated), or None when no invoice waits for them."""
    subscription = _call(
        client().v1.subscriptions.retrieve,
        subscription_id,
        params={"expand": ["latest_invoice.confirmation_secret"]},
    )
    invoice = subscription.latest_invoice
    if isinstance(invoice, str) or invoice is None or invoice.status != "open":
        return None
    return field(invoice, "confirmation_secret", "client_secret")


def pay_invoice(invoice_id: str, payment_method_id: str, key: str) -> InvoiceInfo:
    """Try an open invoice again now, with the gift's own card."""
    return invoice_info(
        _call(
            client().v1.invoices.pay,
            invoice_id,
            params={"payment_method": payment_method_id},
            options=_key(key),
        )
    )
