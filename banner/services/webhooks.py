"""Stripe's signed events as they arrive: check the signature on the raw body, then apply the
event (banner.services.lifecycle) or answer so that Stripe sends it again."""

import logging

from flask import current_app

from banner import payments
from banner.errors import ServiceError
from banner.services import lifecycle

log = logging.getLogger(__name__)


class BadSignature(ServiceError):
    """The body is not an event signed with our webhook secret."""

    code = "bad_signature"
    http_status = 400
    title = "Bad request"
    default_message = "The Stripe-Signature header does not match."


class NotApplied(ServiceError):
    """The event could not be applied; nothing of it was kept, and Stripe delivers it again."""

    code = "not_applied"
    http_status = 500
    title = "Sorry"
    default_message = "The event could not be applied; send it again."


def receive(payload: bytes, signature: str | None) -> bool:
    """Apply a signed event once; return False for one applied before."""
    try:
        event = payments.verify_webhook(payload, signature, current_app.config["STRIPE_WEBHOOK_SECRET"])
    except ValueError as error:
        raise BadSignature(detail=str(error)) from error
    try:
        return lifecycle.receive(event)
    except Exception as error:  # whatever failed, Stripe's retry is the remedy
        log.exception("stripe event %s could not be applied", event.get("id"))
        raise NotApplied(detail=f"{type(error).__name__}: {error}") from error
