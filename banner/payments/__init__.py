"""Everything the service asks of Stripe; the only package that imports `stripe`.

The service speaks the API version our stripe library pins (`API_VERSION`) and nothing else:
every request is typed with the library's own parameter TypedDicts, checked by mypy through
`_client._call`, and the test suite checks every request it sends against the same types.
Functions take and return plain values and raise the payment errors of banner.errors. They work
the same against real Stripe (test or live keys) and against the local emulator
(BANNER_STRIPE_API_BASE), which translates this version into what it understands.

Services use it as `from banner import payments; payments.start_payment(...)`: this module
re-exports what the modules below define.

- `_client`: the client, `_call` and the readers of nested fields;
- `checkout`: customers, one-time payments and new subscriptions (the donate page);
- `subscriptions`: a donor's changes to a recurring gift, and its card;
- `objects`: payloads (events, list calls) as plain values, and reconciliation's lists;
- `webhooks`: the signature check of Stripe's webhooks.
"""

from banner.errors import CardDeclined, NotFound, PaymentError, PaymentUnavailable, StripeRequestRejected
from banner.payments._client import client, field, object_id, ping
from banner.payments.checkout import (
    PRODUCT_ID,
    Card,
    ChargeResult,
    SubscriptionResult,
    cancel_payment,
    cancel_subscription,
    create_customer,
    ensure_product,
    erase_customer,
    get_charge,
    get_subscription,
    start_payment,
    start_subscription,
    update_customer,
)
from banner.payments.objects import (
    API_VERSION,
    CardInfo,
    ChargeInfo,
    DisputeInfo,
    IntentInfo,
    InvoiceInfo,
    InvoicePaymentInfo,
    RefundInfo,
    SubscriptionSnapshot,
    card_info,
    charge_info,
    dispute_info,
    intent_info,
    invoice_charge,
    invoice_info,
    invoice_payment_info,
    invoice_payment_intent,
    invoice_subscription,
    list_events,
    list_invoices,
    list_subscriptions,
    period_end,
    refund_info,
    subscription_snapshot,
)
from banner.payments.subscriptions import (
    BillingCycle,
    ChangePreview,
    SavedCard,
    billing_cycle,
    cancel_subscription_for,
    change_subscription,
    get_saved_card,
    invoice_to_confirm,
    keep_subscription,
    latest_invoice,
    pause_subscription,
    pay_invoice,
    preview_change,
    resume_subscription,
    start_card_update,
    use_card_for,
)
from banner.payments.webhooks import verify_webhook

__all__ = [
    "API_VERSION",
    "PRODUCT_ID",
    "BillingCycle",
    "Card",
    "CardDeclined",
    "CardInfo",
    "ChangePreview",
    "ChargeInfo",
    "ChargeResult",
    "DisputeInfo",
    "IntentInfo",
    "InvoiceInfo",
    "InvoicePaymentInfo",
    "NotFound",
    "PaymentError",
    "PaymentUnavailable",
    "RefundInfo",
    "SavedCard",
    "StripeRequestRejected",
    "SubscriptionResult",
    "SubscriptionSnapshot",
    "billing_cycle",
    "cancel_payment",
    "cancel_subscription",
    "cancel_subscription_for",
    "card_info",
    "change_subscription",
    "charge_info",
    "client",
    "create_customer",
    "dispute_info",
    "ensure_product",
    "erase_customer",
    "field",
    "get_charge",
    "get_saved_card",
    "get_subscription",
    "intent_info",
    "invoice_charge",
    "invoice_info",
    "invoice_payment_info",
    "invoice_payment_intent",
    "invoice_subscription",
    "invoice_to_confirm",
    "keep_subscription",
    "latest_invoice",
    "list_events",
    "list_invoices",
    "list_subscriptions",
    "object_id",
    "pause_subscription",
    "pay_invoice",
    "period_end",
    "ping",
    "preview_change",
    "refund_info",
    "resume_subscription",
    "start_card_update",
    "start_payment",
    "start_subscription",
    "subscription_snapshot",
    "update_customer",
    "use_card_for",
    "verify_webhook",
]
