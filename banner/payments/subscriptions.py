"""A donor managing a recurring gift: its card, amount, interval, pause, cancellation and the
invoices waiting for them. Each change returns the subscription as Stripe now has it."""

from dataclasses import dataclass

import stripe
from stripe.params import (
    InvoiceCreatePreviewParams,
    SetupIntentCreateParams,
    SubscriptionCancelParamsCancellationDetails,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsCancellationDetails,
    SubscriptionUpdateParamsItemPriceData,
)

from banner.errors import PaymentError
from banner.payments._client import _call, _key, client, field, object_id
from banner.payments.checkout import PRODUCT_ID, Card, _payment_methods, ensure_product
from banner.payments.objects import (
    InvoiceInfo,
    SubscriptionSnapshot,
    invoice_info,
    period_end,
    subscription_snapshot,
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
