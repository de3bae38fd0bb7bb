"""POST /stripe/webhook: signed events from Stripe, and nothing else."""

from flask import Blueprint, request

from banner.extensions import csrf
from banner.services import webhooks

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe/webhook")
@csrf.exempt  # Stripe signs the body instead
def stripe_webhook():
    # a bad signature answers 400, an event not applied 500 so that Stripe sends it again
    # (banner.errors' handler)
    new = webhooks.receive(request.get_data(), request.headers.get("Stripe-Signature"))
    return {"received": True, "duplicate": not new}
