"""Pure translations between Stripe's current API (2026-10-28.endive) and localstripe's dialect.

The app speaks only the current API; localstripe speaks one from around 2019. Nothing here does
input or output, so each rule is tested on its own:

- requests: Prices given inline (`price_data`) become Plans with a stable id (localstripe has no
  Prices); `allowed_payment_method_types` / `automatic_payment_methods` become the
  `payment_method_types` localstripe knows; what localstripe refuses (`description`,
  `setup_future_usage`, `pause_collection`, `cancellation_details`, `default_payment_method` on a
  subscription, `payment_settings`, `proration_behavior`, ...) is set aside for the shim to keep;
- answers and events: subscriptions get `items.data[].price` and the periods on their items;
  invoices get `parent.subscription_details`, `payments` (InvoicePayments) and
  `confirmation_secret` instead of `subscription`, `payment_intent` and `charge`; PaymentIntents
  and charges lose `invoice`; every event says the current `api_version`;
- events real Stripe sends and localstripe never does are derived where they are certain:
  `invoice.paid` and `invoice_payment.paid` beside `invoice.payment_succeeded`;
- webhooks are signed exactly as Stripe signs them.
"""

import hashlib
import hmac
import json
import re
import urllib.parse

API_VERSION = "2026-10-28.endive"
#: Events of objects the shim makes for its own bookkeeping (a Plan per Price); the app never asked.
HIDDEN_EVENTS = ("plan.",)
#: localstripe declines these cards only when they are attached; real Stripe declines any charge.
DECLINED_CARDS = frozenset(
    {
        "4000000000000002",
        "4000000000009995",
        "4000000000009987",
        "4000000000009979",
        "4000000000000069",
        "4000000000000127",
        "4000000000000119",
    }
)
PAYMENT_INTENT_PARAMS = frozenset(
    {
        "amount",
        "currency",
        "customer",
        "payment_method",
        "metadata",
        "capture_method",
        "confirm",
        "off_session",
    }
)
SETUP_INTENT_PARAMS = frozenset({"customer", "usage", "metadata"})


# Form encoding ---------------------------------------------------------------------------------


def decode_form(text: str) -> dict:
    """Decode Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) into nested dicts and lists."""
    root: dict = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = root
        for index, part in enumerate(parts):
            if part == "":  # `name[]`: the next element of a list
                part = str(sum(1 for existing in node if existing.isdigit()))
            if index == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(value):
    if not isinstance(value, dict):
        return value
    if value and all(key.isdigit() for key in value):
        return [_listify(value[key]) for key in sorted(value, key=int)]
    return {key: _listify(item) for key, item in value.items()}


def decode_body(body: bytes) -> dict:
    """Decode a request body: JSON (as localstripe's own Stripe.js sends) or Stripe's form encoding."""
    text = body.decode("utf-8") if body else ""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return decode_form(text)


def encode_form(params: dict | list, prefix: str = "") -> list[tuple[str, str]]:
    """Encode nested params the way Stripe's libraries do, for query strings."""
    pairs: list[tuple[str, str]] = []
    items = enumerate(params) if isinstance(params, list) else params.items()
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict | list):
            pairs.extend(encode_form(value, name))
        elif value is not None:
            pairs.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
    return pairs


def coerce(value):
    """Turn the form's "true"/"false" and digit strings into what the JSON answers carry."""
    if isinstance(value, dict):
        return {key: coerce(item) for key, item in value.items()}
    if isinstance(value, list):
        return [coerce(item) for item in value]
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def record(method: str, path: str, params: dict, headers) -> dict:
    """The record of one request the app sent, for the contract checker."""
    return {
        "method": method,
        "path": path,
        "params": params,
        "stripe_version": headers.get("Stripe-Version"),
        "idempotency_key": headers.get("Idempotency-Key"),
    }


# Requests --------------------------------------------------------------------------------------


def price_id(price_data: dict) -> str:
    """A stable id for an inline price: the same price_data always names the same Plan."""
    recurring = price_data.get("recurring") or {}
    key = "|".join(
        str(part)
        for part in (
            price_data.get("product"),
            str(price_data.get("currency", "")).lower(),
            price_data.get("unit_amount"),
            recurring.get("interval"),
            recurring.get("interval_count", 1),
        )
    )
    return "price_" + hashlib.sha1(key.encode()).hexdigest()[:20]


def plan_params(price_data: dict) -> dict:
    """The localstripe Plan that stands for an inline price."""
    recurring = price_data.get("recurring") or {}
    return {
        "id": price_id(price_data),
        "product": price_data["product"],
        "currency": str(price_data["currency"]).lower(),
        "amount": int(price_data["unit_amount"]),
        "interval": recurring.get("interval", "month"),
        "interval_count": int(recurring.get("interval_count", 1)),
    }


def _kept(params: dict, known: frozenset, dropped: tuple = ("expand", "key")) -> tuple[dict, dict]:
    upstream = {key: value for key, value in params.items() if key in known}
    kept = {key: coerce(value) for key, value in params.items() if key not in known and key not in dropped}
    return upstream, kept


def payment_intent_request(params: dict) -> tuple[dict, dict]:
    """Split a PaymentIntent create into localstripe's params and the fields the shim keeps."""
    upstream, kept = _kept(params, PAYMENT_INTENT_PARAMS)
    types = kept.pop("allowed_payment_method_types", None) or kept.pop("payment_method_types", None)
    if kept.get("automatic_payment_methods", {}).get("enabled"):
        types = types or ["card"]
    kept["payment_method_types"] = types or ["card"]
    kept.setdefault("automatic_payment_methods", None)
    kept.setdefault("description", None)
    kept.setdefault("setup_future_usage", None)
    return upstream, kept


def setup_intent_request(params: dict) -> tuple[dict, dict]:
    """Split a SetupIntent create into localstripe's params and the fields the shim keeps."""
    upstream, kept = _kept(params, SETUP_INTENT_PARAMS)
    kept.pop("allowed_payment_method_types", None)
    kept.pop("payment_method_types", None)
    upstream["payment_method_types"] = ["card"]
    kept.setdefault("automatic_payment_methods", None)
    kept["payment_method_types"] = ["card"]
    return upstream, kept


SUBSCRIPTION_KEPT = ("pause_collection", "cancellation_details", "default_payment_method", "payment_settings")


def subscription_request(params: dict) -> tuple[dict, dict, list[dict]]:
    """Split a subscription create or update into localstripe's params, the kept fields and the
    Plans to make first (one per inline price)."""
    upstream: dict = {}
    kept: dict = {}
    plans: list[dict] = []
    for key, value in params.items():
        if key in SUBSCRIPTION_KEPT:
            kept[key] = None if value == "" else coerce(value)
        elif key == "items":
            upstream["items"] = []
            for item in value:
                translated = {k: v for k, v in item.items() if k in ("id", "plan", "quantity", "metadata")}
                if "price_data" in item:
                    plans.append(plan_params(item["price_data"]))
                    translated["plan"] = plans[-1]["id"]
                elif "price" in item:
                    translated["plan"] = item["price"]
                upstream["items"].append(translated)
        elif key in ("customer", "metadata", "cancel_at_period_end", "cancel_at", "trial_end"):
            upstream[key] = value
    return upstream, kept, plans


# Answers ---------------------------------------------------------------------------------------


def price(plan: dict) -> dict:
    """A localstripe Plan as the Price real Stripe answers."""
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan.get("active", True),
        "billing_scheme": plan.get("billing_scheme", "per_unit"),
        "created": plan.get("created"),
        "currency": plan["currency"],
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": plan.get("metadata") or {},
        "nickname": plan.get("nickname"),
        "product": plan["product"],
        "recurring": {
            "interval": plan["interval"],
            "interval_count": plan.get("interval_count", 1),
            "meter": None,
            "trial_period_days": None,
            "usage_type": plan.get("usage_type", "licensed"),
        },
        "tax_behavior": "unspecified",
        "tiers_mode": plan.get("tiers_mode"),
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": plan["amount"],
        "unit_amount_decimal": str(plan["amount"]),
    }


def subscription(raw: dict, kept: dict | None = None) -> dict:
    """A localstripe subscription in the current shape, with the fields the shim keeps."""
    obj = {key: value for key, value in raw.items() if key not in ("plan", "quantity", "tax_percent")}
    start, end = obj.pop("current_period_start", None), obj.pop("current_period_end", None)
    items = dict(obj.get("items") or {"object": "list", "data": []})
    items["data"] = [
        {
            **{key: value for key, value in item.items() if key != "plan"},
            "price": price(item["plan"]) if isinstance(item.get("plan"), dict) else item.get("price"),
            "subscription": raw["id"],
            "current_period_start": start,
            "current_period_end": end,
        }
        for item in items.get("data", [])
    ]
    obj["items"] = items
    currency = items["data"][0]["price"]["currency"] if items["data"] else None
    obj.update(
        {
            "currency": currency,
            "billing_cycle_anchor": obj.get("billing_cycle_anchor") or obj.get("start_date"),
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "pause_collection": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
        }
    )
    for key, value in (kept or {}).items():
        if key in ("cancellation_details", "payment_settings") and value is not None:
            obj[key] = {**obj[key], **value}
        else:
            obj[key] = value
    if obj.get("status") == "canceled" and obj["cancellation_details"].get("reason") is None:
        obj["cancellation_details"]["reason"] = "cancellation_requested"
    return obj


def _id(value):
    return value.get("id") if isinstance(value, dict) else value


def invoice_payment(raw: dict) -> dict | None:
    """The InvoicePayment of a localstripe invoice paid (or to be paid) by a PaymentIntent."""
    intent = _id(raw.get("payment_intent"))
    if not intent:
        return None
    paid = raw.get("status") == "paid"
    charge = _id(raw.get("charge")) if paid else None
    return {
        "id": "inpay_" + intent.removeprefix("pi_"),
        "object": "invoice_payment",
        "amount_paid": raw.get("amount_paid") if paid else None,
        "amount_requested": raw.get("amount_due"),
        "created": raw.get("created"),
        "currency": raw.get("currency"),
        "invoice": raw["id"],
        "is_default": True,
        "livemode": False,
        "payment": {
            "type": "payment_intent",
            "payment_intent": intent,
            **({"charge": charge} if charge else {}),
        },
        "status": "paid" if paid else ("canceled" if raw.get("status") == "void" else "open"),
        "status_transitions": {
            "canceled_at": (raw.get("status_transitions") or {}).get("voided_at"),
            "paid_at": (raw.get("status_transitions") or {}).get("paid_at") if paid else None,
        },
    }


def invoice(
    raw: dict,
    *,
    subscription_metadata: dict | None = None,
    client_secret: str | None = None,
    expand: list[str] | tuple = (),
) -> dict:
    """A localstripe invoice in the current shape; `payments` and `confirmation_secret` only when
    expanded, as real Stripe answers them."""
    hidden = ("subscription", "payment_intent", "charge", "tax_percent", "date", "tax")
    obj = {key: value for key, value in raw.items() if key not in hidden}
    subscription_id = raw.get("subscription") or (
        ((raw.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    obj["parent"] = (
        {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "subscription": subscription_id,
                "metadata": subscription_metadata or {},
            },
        }
        if subscription_id
        else None
    )
    obj["amount_remaining"] = (raw.get("amount_due") or 0) - (raw.get("amount_paid") or 0)
    obj["created"] = raw.get("created") or raw.get("date")
    obj["billing_reason"] = raw.get("billing_reason") or (
        "subscription_create" if subscription_id else "manual"
    )
    lines = dict(obj.get("lines") or {"object": "list", "data": []})
    lines["data"] = [_line(line) for line in lines.get("data", [])]
    obj["lines"] = lines
    if "payments" in expand:
        payment = invoice_payment(raw)
        obj["payments"] = {
            "object": "list",
            "data": [payment] if payment else [],
            "has_more": False,
            "url": f"/v1/invoice_payments?invoice={raw['id']}",
        }
    if "confirmation_secret" in expand:
        obj["confirmation_secret"] = (
            {"client_secret": client_secret, "type": "payment_intent"} if client_secret else None
        )
    return obj


def _line(raw: dict) -> dict:
    obj = {
        key: value for key, value in raw.items() if key not in ("plan", "subscription", "subscription_item")
    }
    plan = raw.get("plan")
    if isinstance(plan, dict):
        obj["pricing"] = {
            "type": "price_details",
            "price_details": {"price": plan["id"], "product": plan["product"]},
            "unit_amount_decimal": str(plan["amount"]),
        }
    if raw.get("subscription"):
        obj["parent"] = {
            "type": "subscription_item_details",
            "subscription_item_details": {
                "subscription": raw["subscription"],
                "subscription_item": raw.get("subscription_item"),
                "proration": raw.get("proration", False),
            },
        }
    return obj


def payment_intent(raw: dict, kept: dict | None = None) -> dict:
    """A localstripe PaymentIntent in the current shape, with the fields the shim keeps."""
    obj = {key: value for key, value in raw.items() if key not in ("invoice", "charges")}
    obj["latest_charge"] = _id(raw.get("latest_charge"))
    obj["amount_received"] = raw["amount"] if raw.get("status") == "succeeded" else 0
    obj.setdefault("payment_method_types", ["card"])
    if raw.get("status") == "requires_payment_method":
        obj["payment_method"] = None  # Stripe detaches a method that failed from the intent
    error = raw.get("last_payment_error")
    if error:
        obj["last_payment_error"] = {
            "type": "card_error",
            "decline_code": "generic_decline" if error.get("code") == "card_declined" else None,
            "payment_method": {"id": raw.get("payment_method")} if raw.get("payment_method") else None,
            **error,
        }
    obj.update(kept or {})
    return obj


def setup_intent(raw: dict, kept: dict | None = None) -> dict:
    """A localstripe SetupIntent in the current shape, with the fields the shim keeps."""
    obj = dict(raw)
    obj.setdefault("last_setup_error", None)
    obj.update(kept or {})
    return obj


def charge(raw: dict) -> dict:
    """A localstripe charge without the `invoice` real Stripe no longer has on charges."""
    obj = {key: value for key, value in raw.items() if key not in ("invoice", "refunds")}
    obj["outcome"] = {"type": "authorized" if raw.get("status") == "succeeded" else "issuer_declined"}
    return obj


def customer(raw: dict) -> dict:
    """A localstripe customer with `balance` for the older `account_balance`."""
    obj = {key: value for key, value in raw.items() if key not in ("account_balance", "sources")}
    obj["balance"] = -(raw.get("account_balance") or 0)
    return obj


def card_error(message: str, code: str, **objects) -> dict:
    """Stripe's error body for a declined card, with the intent it concerns."""
    return {
        "error": {
            "type": "card_error",
            "code": code,
            "decline_code": "generic_decline" if code == "card_declined" else None,
            "message": message,
            **objects,
        }
    }


# Events ----------------------------------------------------------------------------------------


def derived_id(event_id: str, kind: str) -> str:
    return "evt_" + hashlib.sha1(f"{event_id}:{kind}".encode()).hexdigest()[:24]


def event(raw: dict, data_object: dict) -> dict:
    """A localstripe event in the current shape, around its already translated object."""
    obj = {key: value for key, value in raw.items() if key != "data"}
    obj["api_version"] = API_VERSION
    obj["data"] = {"object": data_object}
    obj.setdefault("pending_webhooks", 1)
    obj.setdefault("request", {"id": None, "idempotency_key": None})
    obj["object"] = "event"
    obj["livemode"] = False
    return obj


def made_event(
    kind: str, data_object: dict, created: int, source_id: str, previous: dict | None = None
) -> dict:
    """An event real Stripe sends and localstripe never does."""
    data = {"object": data_object}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": derived_id(source_id, kind),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def previous_attributes(before: dict, after: dict) -> dict:
    """What changed on an object, as `previous_attributes` of its `*.updated` event names it."""
    return {key: before.get(key) for key in after if key != "items" and before.get(key) != after[key]} | (
        {"items": before["items"]} if before.get("items") != after.get("items") else {}
    )


def events_for(translated: dict, raw_object: dict) -> list[dict]:
    """The events the app sees for one translated localstripe event: none for the shim's own
    bookkeeping, and the ones real Stripe sends beside it."""
    if translated["type"].startswith(HIDDEN_EVENTS):
        return []
    found = [translated]
    if translated["type"] == "invoice.payment_succeeded":
        found.append(
            made_event("invoice.paid", translated["data"]["object"], translated["created"], translated["id"])
        )
        payment = invoice_payment(raw_object)
        if payment:
            found.append(made_event("invoice_payment.paid", payment, translated["created"], translated["id"]))
    return found


def select_events(events: list[dict], query: dict) -> dict:
    """A page of `GET /v1/events`: filtered by `type` and `created[gt|gte|lt|lte]`, newest first."""
    created = query.get("created")
    bounds = created if isinstance(created, dict) else ({"eq": created} if created else {})
    tests = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "eq": lambda a, b: a == b,
    }
    matching = [
        (index, found)
        for index, found in enumerate(events)
        if (not query.get("type") or found["type"] == query["type"])
        and all(tests[op](found["created"], int(value)) for op, value in bounds.items() if op in tests)
    ]
    # Newest first; events of the same second in the order they were made, the latest first.
    chosen = [
        found for _, found in sorted(matching, key=lambda pair: (pair[1]["created"], pair[0]), reverse=True)
    ]
    if query.get("starting_after"):
        ids = [found["id"] for found in chosen]
        if query["starting_after"] in ids:
            chosen = chosen[ids.index(query["starting_after"]) + 1 :]
    limit = int(query.get("limit") or 10)
    return {"object": "list", "data": chosen[:limit], "has_more": len(chosen) > limit, "url": "/v1/events"}


def signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header real Stripe sends with `payload`."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
