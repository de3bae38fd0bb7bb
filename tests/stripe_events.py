"""Stripe webhook events shaped like Stripe's current API (tests/fixtures/stripe_objects.json),
signed the way Stripe signs them, for the events the emulator never sends."""

import copy
import hashlib
import hmac
import itertools
import json
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from banner.extensions import db
from banner.models import StripeEvent
from banner.payments import API_VERSION
from tests.waiting import eventually

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "stripe_objects.json").read_text())
SECRET = "whsec_test_suite"
_ids = itertools.count(1)


def _example(resource: str, **fields) -> dict:
    obj = copy.deepcopy(EXAMPLES[resource])
    obj.update(fields)
    return obj


def subscription(
    sub_id: str,
    *,
    customer="cus_test",
    gift=None,
    status="active",
    amount=1000,
    interval="month",
    period_end=None,
    cancel_at_period_end=False,
    canceled_at=None,
    cancellation=None,
    pause=None,
) -> dict:
    item = copy.deepcopy(EXAMPLES["subscription"]["items"]["data"][0])
    price = _example("price")
    price.update(
        {
            "id": f"price_{amount}_{interval}",
            "object": "price",
            "unit_amount": amount,
            "currency": "usd",
            "recurring": {"interval": interval, "interval_count": 1},
        }
    )
    item.update(
        {
            "id": f"si_{sub_id}",
            "price": price,
            "quantity": 1,
            "subscription": sub_id,
            "current_period_end": period_end or int(time.time()) + 30 * 86400,
        }
    )
    item.pop("plan", None)
    return _example(
        "subscription",
        id=sub_id,
        customer=customer,
        status=status,
        metadata={"gift": gift} if gift else {},
        items={"object": "list", "data": [item], "has_more": False, "url": "/v1/subscription_items"},
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=canceled_at,
        cancellation_details=cancellation or {"comment": None, "feedback": None, "reason": None},
        pause_collection=pause,
    )


def invoice(
    inv_id: str,
    sub_id: str,
    *,
    customer="cus_test",
    status="paid",
    amount_paid=1000,
    attempt_count=1,
    next_payment_attempt=None,
    created=None,
) -> dict:
    created = created or int(time.time())
    obj = _example(
        "invoice",
        id=inv_id,
        customer=customer,
        status=status,
        amount_paid=amount_paid,
        amount_due=amount_paid if status != "paid" else 0,
        currency="usd",
        attempt_count=attempt_count,
        next_payment_attempt=next_payment_attempt,
        created=created,
        status_transitions={
            "paid_at": created if status == "paid" else None,
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "voided_at": None,
        },
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub_id},
        },
    )
    obj.pop("subscription", None)  # today's shape names it only under parent
    return obj


def payment_intent(
    pi_id: str, *, status="succeeded", amount=2500, gift=None, charge=None, error=None
) -> dict:
    return _example(
        "payment_intent",
        id=pi_id,
        status=status,
        amount=amount,
        currency="usd",
        metadata={"gift": gift} if gift else {},
        latest_charge=charge,
        last_payment_error={"message": error} if error else None,
        created=int(time.time()),
    )


def charge(ch_id: str, *, payment_intent=None, amount=2500, amount_refunded=0) -> dict:
    return _example(
        "charge",
        id=ch_id,
        payment_intent=payment_intent,
        amount=amount,
        amount_refunded=amount_refunded,
        refunded=amount_refunded == amount,
    )


def invoice_payment(
    inv_id: str, *, payment_intent: str, charge: str | None = None, amount_paid=1000, paid_at=None
) -> dict:
    """The payment of an invoice, as invoice_payment.paid carries it."""
    paid_at = paid_at or int(time.time())
    return _example(
        "invoice_payment",
        id=f"inpay_{inv_id}",
        invoice=inv_id,
        amount_paid=amount_paid,
        amount_requested=amount_paid,
        currency="usd",
        status="paid",
        livemode=False,
        created=paid_at,
        payment={"type": "payment_intent", "payment_intent": payment_intent, "charge": charge},
        status_transitions={"canceled_at": None, "paid_at": paid_at},
    )


def refund(re_id: str, *, charge_id: str, amount: int, status="succeeded", payment_intent=None) -> dict:
    return _example(
        "refund", id=re_id, charge=charge_id, payment_intent=payment_intent, amount=amount, status=status
    )


def dispute(
    dp_id: str,
    *,
    charge_id: str,
    payment_intent=None,
    reason="fraudulent",
    amount=2500,
    status="needs_response",
) -> dict:
    return _example(
        "dispute",
        id=dp_id,
        charge=charge_id,
        payment_intent=payment_intent,
        reason=reason,
        amount=amount,
        status=status,
    )


def payment_method(pm_id: str, *, customer="cus_test", brand="visa", last4="4242", exp=(8, 2030)) -> dict:
    card = copy.deepcopy(EXAMPLES["payment_method"]["card"])
    card.update(
        {"brand": brand, "display_brand": brand, "last4": last4, "exp_month": exp[0], "exp_year": exp[1]}
    )
    return _example("payment_method", id=pm_id, customer=customer, card=card)


def customer(cus_id: str, *, email: str, name: str) -> dict:
    return _example("customer", id=cus_id, email=email, name=name)


def event(kind: str, obj: dict, *, created=None, event_id=None, api_version=API_VERSION) -> dict:
    return {
        "id": event_id or f"evt_test_{next(_ids)}",
        "object": "event",
        "api_version": api_version,
        "type": kind,
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj, "previous_attributes": {}},
    }


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def deliver_over_http(base_url: str, evt: dict) -> int:
    """POST the event to a running server's webhook endpoint, signed; return the HTTP status."""
    payload = json.dumps(evt).encode()
    request = urllib.request.Request(
        f"{base_url}/stripe/webhook",
        data=payload,
        method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def applied(timeout: float = 10) -> None:
    """Wait until every stored event is applied: a server applies an event after its answer."""

    def none_waiting() -> bool:
        with db.engine.connect() as connection:
            waiting = sa.select(sa.func.count(StripeEvent.id)).where(StripeEvent.next_attempt_at.is_not(None))
            return connection.scalar(waiting) == 0

    def which() -> str:
        with db.engine.connect() as connection:
            rows = connection.execute(
                sa.select(StripeEvent.event_id, StripeEvent.attempts, StripeEvent.error).where(
                    StripeEvent.next_attempt_at.is_not(None)
                )
            ).all()
        return f"every stored Stripe event applied; waiting: {rows}"

    eventually(none_waiting, timeout, what=which)


def deliver(client, evt: dict, **options):
    """POST the event to the webhook endpoint, signed with the test secret (`options`: the test
    client's, e.g. buffered=False to read the answer before the server ends it)."""
    payload = json.dumps(evt).encode()
    return client.post(
        "/stripe/webhook",
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
        **options,
    )
