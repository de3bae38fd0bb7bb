"""Stripe webhook events as received, stored once each, and what they said of invoice payments."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from banner.extensions import Model
from banner.models.base import UTCDateTime, utcnow


class StripeEvent(Model):
    """An event as received: stored, and Stripe answered, before it is applied (by its own
    request right after the answer, else by the worker at `next_attempt_at`)."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(255), unique=True)  #: Stripe's evt_...
    type: Mapped[str] = mapped_column(sa.String(100), index=True)
    created: Mapped[int] = mapped_column(sa.BigInteger)  #: Stripe's Unix timestamp
    payload: Mapped[dict] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  #: when it was applied
    #: when the worker applies it if it is not applied by then; None once applied, given up or
    #: never to be applied (another API version)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  #: attempts that failed
    #: a note of how it was applied, or why it was not (the last failure's error)
    error: Mapped[str | None] = mapped_column(sa.Text)


class InvoicePayment(Model):
    """Which PaymentIntent and charge paid an invoice (invoice_payment.paid), kept whether it
    comes before or after the invoice.paid that records the payment."""

    __tablename__ = "invoice_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_invoice_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_charge_id: Mapped[str | None] = mapped_column(sa.String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
