"""Errors people may see: one base class, rendered by one handler.

A service raises a `ServiceError` subclass when a use case cannot go on. Each class says what the
person is told (`message`, or the message it is raised with), a stable `code` for the JSON error
shape `{"error": {"code": ..., "message": ...}}` and the `http_status` of the answer. The handler
registered by `create_app` (banner.configure_errors) rolls back the request's transaction and
renders any of them: the error page for a page, the JSON shape for the API and JSON requests.
A view catches one only to do something more fitting where it is (re-render its form with the
message inline, flash it and go back).

The payment errors live here too, so that a view can name them without importing the payments
package (the one door to Stripe, used by services only); banner.payments raises and re-exports
them.
"""

from typing import ClassVar


class ServiceError(Exception):
    """A use case cannot go on; `message` is fit to show the person who asked."""

    code: ClassVar[str] = "refused"
    http_status: ClassVar[int] = 409
    #: the heading of the error page
    title: ClassVar[str] = "Not done"
    #: what the person is told when the error is raised without a message of its own
    default_message: ClassVar[str] = "This cannot be done."

    def __init__(self, message: str | None = None, *, detail: str | None = None):
        """Raise with the person's `message` (or the class's), and a `detail` for the logs only."""
        self.message = message or self.default_message
        super().__init__(detail or self.message)


class PaymentError(ServiceError):
    """Stripe refused a request for a reason the donor cannot fix."""

    code = "payment_error"
    http_status = 502
    title = "Payment problem"
    default_message = "Something went wrong with our payment provider, so nothing was changed."


class CardDeclined(PaymentError):
    """The bank declined the card; the message is the bank's reason, fit to show the donor."""

    code = "card_declined"
    http_status = 402
    default_message = "Your card was declined."

    def __init__(self, message: str | None = None, stripe_code: str | None = None):
        super().__init__(message)
        #: Stripe's decline code (card_declined, insufficient_funds, ...)
        self.stripe_code = stripe_code


class NotFound(PaymentError):
    """Stripe has no object with that id."""

    code = "payment_not_found"
    http_status = 409
    default_message = (
        "We could not find this at our payment provider; it may have ended. Nothing was changed."
    )


class PaymentUnavailable(PaymentError):
    """Stripe could not be reached or failed; trying again later may work."""

    code = "payment_unavailable"
    http_status = 503
    default_message = "The payment service did not answer; please try again."


class StripeRequestRejected(PaymentError):
    """Stripe refused a request of ours as malformed or not allowed: a bug here, not the donor's."""

    code = "payment_rejected"
    default_message = "The payment could not be processed."

    def __init__(
        self,
        message: str | None = None,
        request_id: str | None = None,
        stripe_code: str | None = None,
        *,
        detail: str | None = None,
    ):
        super().__init__(message, detail=detail)
        self.request_id = request_id
        #: Stripe's error code (parameter_unknown, ...)
        self.stripe_code = stripe_code
