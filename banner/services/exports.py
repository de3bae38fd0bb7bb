"""CSV exports of donors, gifts and payments of a period, written row by row as the database
hands them over, so an export of a million payments takes no more memory than one of ten.

Donors carry what each gave in all (net of refunds, from their gifts' own totals); a donor who
gave in several currencies has no single total: their currency reads "several" and the gifts
export has each amount. Gifts carry their cancellation: when, the reason (code and words), the
channel and the donor's comment."""

import csv
import enum
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from banner.extensions import db
from banner.models import CANCELLATION_REASONS, Campaign, Donor, Gift, Payment, StaffUser, Variant
from banner.services.audit import record_audit

#: rows fetched from the database, and written out, at a time
BATCH = 1000
#: what a spreadsheet would run as a formula when a cell starts with it
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: each donor's gifts added up: net total, and the lowest and highest currency they paid in
TOTALS = (
    sa.select(
        Gift.donor_id.label("donor_id"),
        sa.func.sum(Gift.received).label("total"),
        sa.func.min(Gift.currency).filter(Gift.last_paid_at.is_not(None)).label("low"),
        sa.func.max(Gift.currency).filter(Gift.last_paid_at.is_not(None)).label("high"),
    )
    .group_by(Gift.donor_id)
    .subquery("totals")
)
SEVERAL = TOTALS.c.low != TOTALS.c.high
#: a cancellation reason in the words the donor chose it by
REASON_WORDS = sa.case(
    {code: words for code, (words, _) in CANCELLATION_REASONS.items()},
    value=Gift.cancellation_reason,
    else_=Gift.cancellation_reason,
)
#: export -> (header, SQL column) of each of its columns; amounts in minor units beside their currency
COLUMNS: dict[str, list[tuple[str, QueryableAttribute | ColumnElement]]] = {
    "donors": [
        ("donor_id", Donor.id),
        ("email", Donor.email),
        ("name", Donor.name),
        ("joined_at", Donor.created_at),
        ("stripe_customer_id", Donor.stripe_customer_id),
        ("total_minor", sa.case((SEVERAL, None), else_=sa.func.coalesce(TOTALS.c.total, 0))),
        ("total_currency", sa.case((SEVERAL, "several"), else_=TOTALS.c.low)),
    ],
    "gifts": [
        ("gift_id", Gift.id),
        ("reference", Gift.reference),
        ("donor_id", Gift.donor_id),
        ("donor_email", Donor.email),
        ("frequency", Gift.frequency),
        ("status", Gift.status),
        ("amount_minor", Gift.amount),
        ("fee_minor", Gift.fee_amount),
        ("currency", Gift.currency),
        ("campaign", Campaign.slug),
        ("variant", Variant.key),
        ("article_url", Gift.article_url),
        ("created_at", Gift.created_at),
        ("cancelled_at", Gift.cancelled_at),
        ("cancellation_reason", Gift.cancellation_reason),
        ("cancellation_reason_words", REASON_WORDS),
        ("cancellation_channel", Gift.cancellation_channel),
        ("cancellation_comment", Gift.cancellation_comment),
        ("stripe_subscription_id", Gift.stripe_subscription_id),
    ],
    "payments": [
        ("payment_id", Payment.id),
        ("gift_id", Payment.gift_id),
        ("donor_id", Gift.donor_id),
        ("donor_email", Donor.email),
        ("frequency", Gift.frequency),
        ("status", Payment.status),
        ("amount_minor", Payment.amount),
        ("refunded_minor", Payment.amount_refunded),
        ("currency", Payment.currency),
        ("paid_at", Payment.paid_at),
        ("stripe_payment_intent_id", Payment.stripe_payment_intent_id),
        ("stripe_invoice_id", Payment.stripe_invoice_id),
        ("stripe_charge_id", Payment.stripe_charge_id),
    ],
}


def export(staff: StaffUser, kind: str, start: date, end: date, ip: str | None) -> Iterator[str]:
    """Audit an export of `kind` (donors who joined, gifts started or payments received from
    `start` to `end`, both included), then return its CSV lines, header first, as they are read."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown export {kind!r}")
    record_audit(
        "export",
        staff,
        ip,
        target=f"export:{kind}",
        data={"kind": kind, "from": start.isoformat(), "to": end.isoformat()},
    )
    db.session.commit()
    return _lines(kind, _midnight(start), _midnight(end + timedelta(days=1)))


def _lines(kind: str, since: datetime, until: datetime) -> Iterator[str]:
    query = sa.select(*(column for _, column in COLUMNS[kind]))
    if kind == "donors":
        query = (
            query.outerjoin(TOTALS, TOTALS.c.donor_id == Donor.id)
            .where(Donor.created_at >= since, Donor.created_at < until)
            .order_by(Donor.id)
        )
    elif kind == "gifts":
        query = (
            query.join(Donor, Gift.donor_id == Donor.id)
            .outerjoin(Campaign, Gift.campaign_id == Campaign.id)
            .outerjoin(Variant, Gift.variant_id == Variant.id)
            .where(Gift.created_at >= since, Gift.created_at < until)
            .order_by(Gift.id)
        )
    else:
        query = (
            query.join(Gift, Payment.gift_id == Gift.id)
            .join(Donor, Gift.donor_id == Donor.id)
            .where(Payment.paid_at >= since, Payment.paid_at < until)
            .order_by(Payment.id)
        )
    yield _csv([[header for header, _ in COLUMNS[kind]]])
    for rows in db.session.execute(query.execution_options(yield_per=BATCH)).partitions():
        yield _csv([[_cell(value) for value in row] for row in rows])


def _csv(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _cell(value):
    """Write a value as a spreadsheet should read it: text that looks like a formula stays text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
