"""POST /stripe/webhook: signed events from Stripe, and nothing else."""

import logging

from flask import Blueprint, current_app, request

from banner import payments
from banner.extensions import csrf
from banner.services import lifecycle
from banner.views import json_error

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


@bp.post("/stripe/webhook")
@csrf.exempt  # Stripe signs the body instead
def stripe_webhook():
    try:
        event = payments.verify_webhook(
            request.get_data(),
            request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
        )
    except ValueError:
        return json_error("bad_signature", "The Stripe-Signature header does not match.", 400)
    try:
        new = lifecycle.receive(event)
    except Exception:
        # Nothing was kept: Stripe delivers the event again later, and it is applied then.
        log.exception("stripe event %s could not be applied", event.get("id"))
        return json_error("not_applied", "The event could not be applied; send it again.", 500)
    return {"received": True, "duplicate": not new}
