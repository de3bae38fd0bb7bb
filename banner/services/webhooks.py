"""Stripe's signed events as they arrive: check the signature on the raw body, store the event
and answer; apply it once the answer is sent (banner.services.lifecycle), here or in the worker.

Stripe waits for our answer, and its own advice is to answer before any work that may take
long: applying an event takes a dozen statements and more (a renewal: its payment, the gift's
history, a receipt queued), and while the banner is under load that kept the answer waiting
over 100 ms. Once the event is stored, Stripe need not send it again: its own request applies it
right after the answer, and the worker (`banner worker`) applies what was not applied then (the
process died, or applying failed: retried, then given up with the error logged).

With EVENTS_APPLIED_BY=worker, the worker applies every event, told at once on PostgreSQL: the
process that answers only stores. Applying a renewal takes about 30 ms of CPU, and in the
process that answers the next event, that answer waited behind it (bench/load.py: p99 over
100 ms, against about 40 ms when another process applies).
"""

import logging
from collections.abc import Iterator

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


class NotStored(ServiceError):
    """The event could not be stored; Stripe delivers it again."""

    code = "not_stored"
    http_status = 500
    title = "Sorry"
    default_message = "The event could not be stored; send it again."


def applied_here() -> bool:
    """Whether the request that stores an event applies it (then_apply), rather than the worker."""
    return current_app.config["EVENTS_APPLIED_BY"] == "request"


def applies_after_answer(stored: lifecycle.Stored) -> bool:
    """Whether this request's answer is to apply the event it stored (then_apply)."""
    return stored.pending and applied_here()


def receive(payload: bytes, signature: str | None) -> lifecycle.Stored:
    """Verify a signed event and store it once (committed): for then_apply to apply it, or the
    worker (applied_here)."""
    try:
        event = payments.verify_webhook(payload, signature, current_app.config["STRIPE_WEBHOOK_SECRET"])
    except ValueError as error:
        raise BadSignature(detail=str(error)) from error
    try:
        return lifecycle.store(event, for_worker=not applied_here())
    except Exception as error:  # the database failed: Stripe's retry is the remedy
        log.exception("stripe event %s could not be stored", event.get("id"))
        raise NotStored(detail=f"{type(error).__name__}: {error}") from error


def then_apply(body: bytes, stored: lifecycle.Stored) -> Iterator[bytes]:
    """An answer's body that applies the stored event once it is sent.

    A server sends each part of a body before it asks for the next, and with the answer's
    Content-Length, Stripe has the whole answer then. The event is applied when the server asks
    for more, or when it closes the body without asking (a client gone): in an app context of
    its own, since the request's has ended by then. If the process dies first, the worker
    applies it (lifecycle.APPLY_GRACE)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def body_then_apply() -> Iterator[bytes]:
        try:
            yield body
        finally:
            try:
                with app.app_context():
                    lifecycle.apply(stored.id)
            except Exception:  # the database failed: the worker applies it later
                log.exception("stripe event %s: left to the worker", stored.id)

    return body_then_apply()
