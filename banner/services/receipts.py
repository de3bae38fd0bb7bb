"""Receipts that count for tax, and the yearly statement of a donor's gifts.

A receipt names the organisation (BANNER_ORG_LEGAL_NAME, BANNER_ORG_ADDRESS, BANNER_ORG_TAX_ID),
says what the law asks (BANNER_DEDUCTIBILITY; no goods or services in exchange) and dates the
payment in the site's time zone (BANNER_TIMEZONE), so a gift at 8 pm in New York on 31 December
counts for that year. Each payment gets one receipt, queued with the change that records it
(`Payment.receipt_queued_at`); with BANNER_RENEWAL_RECEIPTS=statement renewals get only the yearly
statement. A statement is sent once per donor and year (`YearlyStatement`), however often the
command runs. The receipt page online shows the same receipt whatever happened to the gift since.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app

from banner import mail
from banner.errors import ServiceError
from banner.extensions import db
from banner.models import Donor, Gift, Payment, StaffUser, YearlyStatement, utcnow
from banner.money import format_amount
from banner.services import links
from banner.services.audit import record_audit
from banner.services.reports import local_date, local_midnight

FREQUENCY_WORDS = {"once": "One-time gift", "month": "Monthly gift", "year": "Yearly gift"}


class StatementError(ServiceError):
    """No statement to give: the donor gave nothing that year."""

    code = "no_statement"
    http_status = 404
    title = "No statement"


@dataclass(frozen=True)
class Receipt:
    """One payment as its receipt shows it."""

    gift: Gift
    payment: Payment | None  #: None only for a gift whose payment is not recorded yet
    amount: str
    date: date  #: in the site's time zone
    card: str | None  #: "Visa ending in 4242"
    refunded: str | None  #: what was refunded of it since, if anything

    @property
    def description(self) -> str:
        return FREQUENCY_WORDS[self.gift.frequency.value]


@dataclass(frozen=True)
class Statement:
    """A donor's payments in one year, and their total net of refunds."""

    donor: Donor
    year: int
    lines: list[Receipt]
    totals: list[str]  #: one per currency


def receipt_of(gift: Gift, payment: Payment | None = None) -> Receipt:
    """Return the receipt of one payment of a gift (its first payment when none is named)."""
    if payment is None and gift.payments:
        payment = min(gift.payments, key=lambda p: (p.paid_at, p.id or 0))
    amount, currency = (payment.amount, payment.currency) if payment else (gift.amount, gift.currency)
    refunded = payment.amount_refunded + payment.amount_disputed if payment else 0
    card = (
        f"{gift.card_brand.capitalize()} ending in {gift.card_last4}"
        if gift.card_last4 and gift.card_brand
        else None
    )
    return Receipt(
        gift=gift,
        payment=payment,
        amount=format_amount(amount, currency),
        date=local_date(payment.paid_at if payment else gift.created_at),
        card=card,
        refunded=format_amount(refunded, currency) if refunded else None,
    )


def queue_first_receipt(gift: Gift) -> None:
    """Queue the receipt of a gift's first payment, in the caller's transaction."""
    if gift.donor is None:  # a paid gift always has its donor
        return
    receipt = receipt_of(gift)
    if receipt.payment is not None:
        receipt.payment.receipt_queued_at = utcnow()
        db.session.flush()
    mail.send_receipt(receipt, links.receipt_url(gift, receipt.payment), links.manage_url(gift.donor))


def queue_renewal_receipt(payment: Payment) -> None:
    """Queue the receipt of a renewal just recorded, once, unless renewals get only the statement."""
    if current_app.config["RENEWAL_RECEIPTS"] != "each" or payment.receipt_queued_at is not None:
        return
    if payment.gift.donor is None:
        return
    payment.receipt_queued_at = utcnow()
    db.session.flush()  # the receipt's link names the payment by its id
    mail.send_receipt(
        receipt_of(payment.gift, payment),
        links.receipt_url(payment.gift, payment),
        links.manage_url(payment.gift.donor),
    )


def receipt_online(token: str) -> Receipt:
    """Return the receipt a signed link names, or raise links.LinkError."""
    gift, payment_id = links.gift_for_receipt(token)
    payment = None
    if payment_id is not None:
        payment = db.session.get(Payment, payment_id)
        if payment is None or payment.gift_id != gift.id:
            raise links.LinkError("This receipt does not exist.")
    return receipt_of(gift, payment)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1))


def years_given(donor: Donor) -> list[int]:
    """Return the years (site's time zone) in which a donor's payments were received, latest first."""
    paid = db.session.scalars(sa.select(Payment.paid_at).join(Gift).where(Gift.donor_id == donor.id))
    return sorted({local_date(moment).year for moment in paid}, reverse=True)


def statement(donor: Donor, year: int | None = None) -> Statement:
    """Return a donor's statement of a year (the latest they gave in when None), or raise
    StatementError when they gave nothing that year."""
    if year is None:
        years = years_given(donor)
        if not years:
            raise StatementError("No gifts were received yet.")
        year = years[0]
    if not 2000 <= year <= 9999:
        raise StatementError(f"No gifts were received in {year}.")
    start, end = _year_bounds(year)
    paid = db.session.scalars(
        sa.select(Payment)
        .join(Gift)
        .where(Gift.donor_id == donor.id, Payment.paid_at >= start, Payment.paid_at < end)
        .order_by(Payment.paid_at, Payment.id)
    ).all()
    if not paid:
        raise StatementError(f"No gifts were received in {year}.")
    sums: dict[str, int] = {}
    for payment in paid:
        sums[payment.currency] = sums.get(payment.currency, 0) + payment.net
    return Statement(
        donor=donor,
        year=year,
        lines=[receipt_of(payment.gift, payment) for payment in paid],
        totals=[format_amount(total, currency) for currency, total in sorted(sums.items())],
    )


def donors_to_send(year: int) -> list[Donor]:
    """Return the donors who paid in `year` and were not sent its statement yet."""
    start, end = _year_bounds(year)
    sent = sa.select(YearlyStatement.donor_id).where(YearlyStatement.year == year)
    return list(
        db.session.scalars(
            sa.select(Donor)
            .where(
                Donor.id.in_(
                    sa.select(Gift.donor_id)
                    .join(Payment)
                    .where(Payment.paid_at >= start, Payment.paid_at < end)
                ),
                Donor.id.not_in(sent),
            )
            .order_by(Donor.id)
        )
    )


def send_statements(year: int, progress: Callable[[Donor], None] = lambda donor: None) -> int:
    """E-mail each donor who paid in `year` their statement, once; return how many were sent.

    Each donor's statement is committed on its own, so a run stopped halfway resumes where it was.
    """
    sent = 0
    for donor in donors_to_send(year):
        _queue_statement(donor, year)
        try:
            db.session.add(YearlyStatement(donor_id=donor.id, year=year))
            db.session.commit()
        except sa.exc.IntegrityError:  # a concurrent run sent it first
            db.session.rollback()
            continue
        sent += 1
        progress(donor)
    return sent


def resend_statement(staff: StaffUser, donor: Donor, year: int, ip: str | None) -> None:
    """E-mail a donor their statement of a year again, at a staff member's request, audited."""
    _queue_statement(donor, year)
    record_audit("statement_resend", staff, ip, target=f"donor:{donor.id}", data={"year": year})
    db.session.commit()


def _queue_statement(donor: Donor, year: int) -> None:
    mail.send_statement(statement(donor, year), links.manage_url(donor))
