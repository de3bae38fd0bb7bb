"""POST /stripe/webhook: signed events from Stripe, and nothing else."""

from flask import Blueprint, jsonify, request

from banner.extensions import csrf
from banner.services import webhooks

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe/webhook")
@csrf.exempt  # Stripe signs the body instead
def stripe_webhook():
    # a bad signature answers 400, an event not stored 500 so that Stripe sends it again
    # (banner.errors' handler); a stored one is applied once this answer is sent, here or by
    # the worker (BANNER_EVENTS_APPLIED_BY)
    stored = webhooks.receive(request.get_data(), request.headers.get("Stripe-Signature"))
    answer = jsonify(received=True, duplicate=not stored.new)
    if webhooks.applies_after_answer(stored):
        # the Content-Length stays: the answer is whole with its first part
        answer.response = webhooks.then_apply(answer.get_data(), stored)
    return answer
