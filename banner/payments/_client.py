"""The Stripe client, the one way of calling it (`_call`, which turns Stripe's errors into those
of banner.errors), and readers of fields that work on Stripe objects and on dicts alike."""

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import stripe
from flask import current_app

from banner.errors import CardDeclined, NotFound, PaymentUnavailable, StripeRequestRejected

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


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
