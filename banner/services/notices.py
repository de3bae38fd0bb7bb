"""Notices that save gifts: a failed renewal (the retry date and a link to put in a new card, or
the last notice when Stripe will not retry), a card about to expire, a yearly gift about to renew.

Each notice is queued in the outbox in the transaction of what causes it, once: its key
(`SentNotice`) names the invoice and attempt, the gift's card and its expiry, or the
subscription and its renewal date, so a webhook delivered again, an older event arriving late or
a second run of `flask --app wsgi banner notices` sends nothing more. Renewals that failed are
kept (`RenewalFailure`) with what became of them, recovered or lost, for the reports.
"""

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from banner import mail
from banner.extensions import db
from banner.models import (
    CHANGEABLE,
    ENDED,
    Frequency,
    Gift,
    GiftStatus,
    Payment,
    RenewalFailure,
    SentNotice,
    utcnow,
)
from banner.money import format_amount
from banner.services import links
from banner.services.reports import site_zone, today

EVERY = {Frequency.MONTH: "monthly", Frequency.YEAR: "yearly", Frequency.ONCE: "one-time"}


def claim(key: str, kind: str, gift: Gift | None = None) -> bool:
    """Claim a notice's key in the current transaction; return False when it was sent before."""
    if db.session.scalar(sa.select(SentNotice.id).where(SentNotice.key == key)) is not None:
        return False
    db.session.add(SentNotice(key=key, kind=kind, gift_id=gift.id if gift is not None else None))
    return True


def local_day(moment: datetime) -> str:
    """Return a moment as the donor reads it: its day in the site's time zone."""
    return f"{moment.astimezone(site_zone()):%A %d %B %Y}"


def _card(gift: Gift) -> str | None:
    if gift.card_last4 and gift.card_brand:
        return f"{gift.card_brand.capitalize()} ending in {gift.card_last4}"
    return None


def _reachable(gift: Gift) -> bool:
    return gift.donor is not None and not gift.donor.erased


def _context(gift: Gift, amount: int | None = None) -> dict:
    assert gift.donor is not None  # _reachable
    return {
        "amount": format_amount(amount or gift.amount, gift.currency),
        "every": EVERY[gift.frequency],
        "card": _card(gift),
        "manage_url": links.manage_url(gift.donor),
    }


# Failed renewals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A failed attempt at a renewal invoice, as invoice.payment_failed tells it."""

    invoice: str
    amount: int  #: minor units due
    currency: str
    attempt: int  #: Stripe's attempt_count: 1 for the first failure
    next_attempt: datetime | None  #: None: Stripe will not try again
    at: datetime  #: when it failed (the event's time)


def _failure(invoice_id: str) -> RenewalFailure | None:
    return db.session.scalar(sa.select(RenewalFailure).where(RenewalFailure.stripe_invoice_id == invoice_id))


def record_failure(gift: Gift, failure: Failure) -> RenewalFailure:
    """Keep a renewal's failed attempt (once per invoice, however late or often told)."""
    row = db.session.scalar(
        sa.select(RenewalFailure).where(RenewalFailure.stripe_invoice_id == failure.invoice)
    )
    if row is None:
        row = RenewalFailure(
            gift_id=gift.id,
            stripe_invoice_id=failure.invoice,
            amount=failure.amount,
            currency=failure.currency,
            failed_at=failure.at,
            attempts=failure.attempt,
            next_attempt_at=failure.next_attempt,
        )
        db.session.add(row)
        paid = db.session.scalar(
            sa.select(Payment.paid_at).where(Payment.stripe_invoice_id == failure.invoice)
        )
        row.recovered_at = paid  # told of the failure after the payment: recovered already
    elif failure.attempt >= row.attempts:
        row.attempts = failure.attempt
        row.next_attempt_at = failure.next_attempt
    row.failed_at = min(row.failed_at, failure.at)
    return row


def notify_failure(gift: Gift, failure: Failure, row: RenewalFailure) -> bool:
    """Queue the notice of this failed attempt, once per invoice and attempt; the last notice
    when Stripe will not try again. Return whether one was queued."""
    if row.recovered_at is not None or not _reachable(gift):
        return False
    if failure.next_attempt is not None and failure.next_attempt <= utcnow():
        return False  # told late (reconcile): that retry is past, and has news of its own
    last = failure.next_attempt is None
    if not claim(f"renewal_failed:{failure.invoice}:{failure.attempt}", "renewal_failed", gift):
        return False
    context = _context(gift, failure.amount) | {
        "last": last,
        "attempts": failure.attempt,
        "retry_on": local_day(failure.next_attempt) if failure.next_attempt else None,
    }
    mail.send_renewal_failed(gift, context)
    return True


def renewal_paid(invoice_id: str, paid_at: datetime) -> None:
    """A failed renewal paid after all is recovered (even after it was counted lost)."""
    row = _failure(invoice_id)
    if row is not None and row.recovered_at is None:
        row.recovered_at = paid_at
        row.lost_at = None


def renewals_lost(gift: Gift, when: datetime, invoice_id: str | None = None) -> None:
    """The gift ended (or Stripe gave up an invoice) with failed renewals unpaid: they are lost."""
    query = sa.select(RenewalFailure).where(
        RenewalFailure.gift_id == gift.id,
        RenewalFailure.recovered_at.is_(None),
        RenewalFailure.lost_at.is_(None),
    )
    if invoice_id is not None:
        query = query.where(RenewalFailure.stripe_invoice_id == invoice_id)
    for row in db.session.scalars(query):
        row.lost_at = when


def follow_status(gift: Gift, when: datetime) -> None:
    """Called when a gift's status changes: one that ended loses its unpaid renewals."""
    if gift.status in ENDED:
        renewals_lost(gift, when)


# A yearly gift about to renew ------------------------------------------------------------


def yearly_reminder(gift: Gift, charge_at: datetime, amount: int | None) -> bool:
    """Queue the reminder of a yearly gift's coming charge, once per renewal; return whether one
    was queued. Only a yearly gift that will be charged (active) gets one."""
    if gift.frequency is not Frequency.YEAR or gift.status is not GiftStatus.ACTIVE or not _reachable(gift):
        return False
    if charge_at <= utcnow():
        return False  # told late: charged already
    key = f"yearly_reminder:{gift.stripe_subscription_id or gift.id}:{charge_at.date().isoformat()}"
    if not claim(key, "yearly_reminder", gift):
        return False
    mail.send_yearly_reminder(gift, _context(gift, amount) | {"charge_on": local_day(charge_at)})
    return True


# Cards about to expire ---------------------------------------------------------------------


def cards_expiring(day: date) -> list[Gift]:
    """Return the gifts still charged whose card stops working at the end of `day`'s month."""
    return list(
        db.session.scalars(
            sa.select(Gift)
            .where(
                Gift.frequency != Frequency.ONCE,
                Gift.status.in_(CHANGEABLE),  # a gift set to end, or ended, needs no new card
                Gift.donor_id.is_not(None),
                Gift.card_exp_year == day.year,
                Gift.card_exp_month == day.month,
            )
            .order_by(Gift.id)
        )
    )


def send_card_notices(day: date | None = None) -> int:
    """Queue a notice for each gift whose card expires at the end of this month (a month before
    it stops working), once per gift, card and expiry; return how many were queued.

    Each notice is committed on its own, so a run stopped halfway resumes where it was.
    """
    day = day or today()
    queued = 0
    for gift in cards_expiring(day):
        key = f"card_expiring:{gift.id}:{gift.stripe_payment_method_id or '-'}:{day:%Y-%m}"
        if not _reachable(gift) or not claim(key, "card_expiring", gift):
            continue
        mail.send_card_expiring(gift, _context(gift) | {"expires": f"{day:%B %Y}"})
        try:
            db.session.commit()
        except sa.exc.IntegrityError:  # a concurrent run sent it first
            db.session.rollback()
            continue
        queued += 1
    db.session.commit()
    return queued
