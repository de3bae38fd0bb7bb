"""A donor's personal data at their request: erased from everywhere we keep it, or handed over.

Erasure replaces the donor's name and e-mail with placeholders, and takes them out of what we keep
beside the donor: the Stripe events stored whole (their ids and types stay), the customers at
Stripe (each monthly gift has its own), the stored copies of mail sent to them (the file outbox),
checkout attempts typed with their address, and their words on cancellations. Amounts, dates and
Stripe ids stay for the accounts. Stripe comes first: when it fails, nothing changes here.

The export is one JSON document of everything stored about one donor: the donor, their gifts,
payments, gift events and the audit entries about them; nobody else's.
"""

import enum
from datetime import datetime

import sqlalchemy as sa

from banner import mail, payments
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import LIVE, AuditEntry, Donor, Gift, GiftEvent, Payment, StaffUser
from banner.services import outbox, redaction
from banner.services.audit import record_audit

ERASED_NAME = "Erased donor"


class DonorHasRunningGift(ServiceError):
    """The donor still has a monthly or yearly gift running, which needs their e-mail."""

    code = "gift_running"


def erase(staff: StaffUser, donor: Donor, ip: str | None) -> None:
    """Erase the donor's personal data here, at Stripe, in the outbox (the staff digests too) and
    in stored mail."""
    running = sa.select(Gift.id).where(Gift.donor_id == donor.id, Gift.status.in_(LIVE)).limit(1)
    if db.session.scalar(running) is not None:
        raise DonorHasRunningGift(
            "This donor still has a monthly or yearly gift running. Cancel it first: "
            "receipts and renewal notices need their e-mail."
        )
    attempts = sa.select(Gift).where(
        Gift.donor_id.is_(None), sa.func.lower(Gift.checkout_email) == donor.email
    )
    gifts = [*donor.gifts, *db.session.scalars(attempts)]
    emails = {donor.email, *(gift.checkout_email for gift in gifts)} - {None, ""}
    known = sorted({donor.name, *emails, *(gift.checkout_name for gift in gifts)} - {None, ""})
    customers = sorted({donor.stripe_customer_id, *(gift.stripe_customer_id for gift in gifts)} - {None})
    for customer in customers:
        payments.erase_customer(customer, f"donor-{donor.id}-erase-{customer}")
    events = redaction.redact_events({*customers, *emails, *_stripe_ids(gifts)}, known)
    removed = mail.forget(emails) + sum(outbox.erase_messages_to(email) for email in emails)
    words = {gift.cancellation_comment for gift in gifts} | {
        event.reason for gift in gifts for event in gift.events if event.kind == "cancel_request"
    }
    outbox.redact_digests({*known, *(w for w in words if w)})
    donor.email = f"erased-{donor.id}@invalid"
    donor.name = ERASED_NAME
    comments = 0
    for gift in gifts:
        gift.checkout_email = gift.checkout_name = None
        if gift.cancellation_comment is not None:
            gift.cancellation_comment = None
            comments += 1
        for event in gift.events:
            if event.kind in ("cancel_request", "staff_reply") and event.reason is not None:
                event.reason = None
                comments += 1
    data = {
        "gifts": len(donor.gifts),
        "comments_cleared": comments,
        "stripe_customers": len(customers),
        "stripe_events_redacted": events,
        "mail_copies_removed": removed,
    }
    record_audit("donor_erase", staff, ip, target=f"donor:{donor.id}", data=data)
    db.session.commit()


def _stripe_ids(gifts: list[Gift]) -> set[str]:
    """The references and Stripe ids by which stored events can name these gifts."""
    ids: set[str | None] = set()
    for gift in gifts:
        ids |= {gift.reference, gift.stripe_subscription_id, gift.stripe_payment_intent_id}
        ids.add(gift.stripe_payment_method_id)
        for payment in gift.payments:
            ids |= {payment.stripe_payment_intent_id, payment.stripe_invoice_id, payment.stripe_charge_id}
    return {value for value in ids if value}


def export(staff: StaffUser, donor: Donor, ip: str | None) -> dict:
    """Return everything stored about one donor, for their subject-access request; audited."""
    record_audit("donor_export", staff, ip, target=f"donor:{donor.id}")
    db.session.commit()
    gifts = db.session.scalars(sa.select(Gift).where(Gift.donor_id == donor.id).order_by(Gift.id)).all()
    gift_ids = [gift.id for gift in gifts]
    targets = [f"donor:{donor.id}", *(f"gift:{gift.reference}" for gift in gifts)]
    return {
        "donor": _row(donor),
        "gifts": [_row(gift) for gift in gifts],
        "payments": _rows(sa.select(Payment).where(Payment.gift_id.in_(gift_ids)).order_by(Payment.id)),
        "gift_events": _rows(
            sa.select(GiftEvent).where(GiftEvent.gift_id.in_(gift_ids)).order_by(GiftEvent.id)
        ),
        "audit_entries": _rows(
            sa.select(AuditEntry).where(AuditEntry.target.in_(targets)).order_by(AuditEntry.id)
        ),
    }


def _rows(statement) -> list[dict]:
    return [_row(obj) for obj in db.session.scalars(statement)]


def _row(obj) -> dict:
    """Every column of a stored row, as JSON values."""
    return {column.key: _value(getattr(obj, column.key)) for column in sa.inspect(type(obj)).column_attrs}


def _value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
