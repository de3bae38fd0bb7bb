"""The signature of Stripe's webhooks, checked against the raw body."""

import json
import time

import stripe


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
