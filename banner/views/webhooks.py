"""POST /stripe/webhook: signed events from Stripe, and nothing else."""

from flask import Blueprint, current_app, request

from banner import payments
from banner.extensions import csrf
from banner.services import lifecycle
from banner.views import json_error

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
    new = lifecycle.receive(event)
    return {"received": True, "duplicate": not new}
