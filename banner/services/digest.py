"""The staff's daily digest: the day's new monthly and yearly donors, cancellations in the donors'
words, and failed renewals, e-mailed to BANNER_DIGEST_TO and, when BANNER_DIGEST_WEBHOOK_URL is
set, posted to a Slack-compatible incoming webhook. Both go through the outbox (the worker makes
the POST, with its retries), once per day (`SentNotice` "digest:<day>").

A day is the newsroom's (BANNER_TIMEZONE). By default the command summarises yesterday, a
complete day, so run it each morning.
"""

import json
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, render_template

from banner import mail
from banner.extensions import db
from banner.models import Donor, Frequency, Gift, GiftEvent, GiftStatus, MailKind, Payment, RenewalFailure
from banner.money import format_amount
from banner.services import notices
from banner.services.reports import Period, reason_words, today

EVERY = {Frequency.MONTH: "monthly", Frequency.YEAR: "yearly", Frequency.ONCE: "one-time"}
#: who ended a gift, as staff read it
CHANNELS = {
    "donor": "by the donor",
    "staff": "by staff",
    "stripe_dashboard": "in the Stripe dashboard",
    "failed_payment": "after failed payments",
    "dispute": "after a dispute",
}


@dataclass(frozen=True)
class Line:
    """One donor in the digest, with their gift."""

    donor_id: int | None
    name: str
    amount: str  #: "$10.00 monthly"
    donor_url: str | None


@dataclass(frozen=True)
class Cancellation(Line):
    reason: str  #: in words
    words: str | None  #: the donor's comment
    channel: str
    months_given: int


@dataclass(frozen=True)
class FailedRenewal(Line):
    attempts: int
    next_attempt: str | None  #: the day of Stripe's next try; None: no more tries


@dataclass(frozen=True)
class Digest:
    day: date
    new_donors: list[Line]
    cancellations: list[Cancellation]
    failed_renewals: list[FailedRenewal]

    @property
    def headline(self) -> str:
        return (
            f"{len(self.new_donors)} new monthly donors, {len(self.cancellations)} cancellations, "
            f"{len(self.failed_renewals)} failed renewals"
        )


def _line(gift: Gift, donor: Donor | None) -> dict:
    return {
        "donor_id": donor.id if donor else None,
        "name": donor.name if donor and donor.name else "(no name)",
        "amount": f"{format_amount(gift.amount, gift.currency)} {EVERY[gift.frequency]}",
        "donor_url": mail.public_url("staff.show_donor", donor_id=donor.id) if donor else None,
    }


def build(day: date) -> Digest:
    """Gather what happened to monthly and yearly gifts on the newsroom's `day`."""
    period = Period(day, day)
    in_day = (GiftEvent.created_at >= period.since, GiftEvent.created_at < period.until)
    started = db.session.execute(
        sa.select(Gift, Donor)
        .join(GiftEvent, GiftEvent.gift_id == Gift.id)
        .outerjoin(Donor, Gift.donor_id == Donor.id)
        .where(GiftEvent.movement.in_(("new", "reactivation")), *in_day)
        .order_by(GiftEvent.created_at, GiftEvent.id)
    ).all()
    # asked on our pages (donor or staff), or ended at Stripe (dashboard, failed payments, dispute)
    ended = sa.or_(
        GiftEvent.kind == "cancel_request",
        sa.and_(
            GiftEvent.kind == "status",
            GiftEvent.to_status == GiftStatus.CANCELLED,
            Gift.cancellation_channel.not_in(("donor", "staff")),
        ),
    )
    paid_charges = (
        sa.select(sa.func.count(Payment.id))
        .where(Payment.gift_id == Gift.id, Payment.amount_refunded < Payment.amount)
        .scalar_subquery()
    )
    cancelled = db.session.execute(
        sa.select(Gift, Donor, GiftEvent, paid_charges)
        .join(GiftEvent, GiftEvent.gift_id == Gift.id)
        .outerjoin(Donor, Gift.donor_id == Donor.id)
        .where(ended, *in_day)
        .order_by(GiftEvent.created_at, GiftEvent.id)
    ).all()
    failed = db.session.execute(
        sa.select(RenewalFailure, Gift, Donor)
        .join(Gift, RenewalFailure.gift_id == Gift.id)
        .outerjoin(Donor, Gift.donor_id == Donor.id)
        .where(RenewalFailure.failed_at >= period.since, RenewalFailure.failed_at < period.until)
        .order_by(RenewalFailure.failed_at, RenewalFailure.id)
    ).all()
    seen: set[int] = set()
    cancellations = []
    for gift, donor, event, charges in cancelled:
        if gift.id in seen:
            continue
        seen.add(gift.id)
        data = event.data or {}
        code = data.get("reason") if event.kind == "cancel_request" else gift.cancellation_reason
        cancellations.append(
            Cancellation(
                **_line(gift, donor),
                reason=reason_words(code),
                words=(event.reason if event.kind == "cancel_request" else gift.cancellation_comment) or None,
                channel=CHANNELS.get(gift.cancellation_channel or "donor", "by the donor"),
                months_given=(charges or 0) * (12 if gift.frequency is Frequency.YEAR else 1),
            )
        )
    return Digest(
        day=day,
        new_donors=[Line(**_line(gift, donor)) for gift, donor in started],
        cancellations=cancellations,
        failed_renewals=[
            FailedRenewal(
                **_line(gift, donor),
                attempts=row.attempts,
                next_attempt=notices.local_day(row.next_attempt_at) if row.next_attempt_at else None,
            )
            for row, gift, donor in failed
        ],
    )


def webhook_payload(digest: Digest) -> str:
    """Return the digest as a Slack-compatible incoming webhook's JSON body (`text`, mrkdwn)."""
    return json.dumps({"text": render_template("mail/digest.txt", digest=digest).strip()})


def send_digest(day: date | None = None) -> str:
    """Queue the digest of `day` (yesterday by default) to BANNER_DIGEST_TO, and to the webhook
    when set, once per day; return what was done, in words."""
    to = current_app.config["DIGEST_TO"]
    if not to:
        return "No digest: BANNER_DIGEST_TO is not set."
    day = day or today() - timedelta(days=1)
    if not notices.claim(f"digest:{day.isoformat()}", "digest"):
        db.session.rollback()
        return f"The digest of {day} was sent already."
    digest = build(day)
    mail.send_digest(to, digest)
    hook = current_app.config["DIGEST_WEBHOOK_URL"]
    if hook:
        mail.send(
            MailKind.DIGEST_WEBHOOK,
            to=urlsplit(hook).hostname or "webhook",  # the address itself is a secret: read when posting
            subject=f"Digest of {day}",
            body=webhook_payload(digest),
        )
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # a concurrent run queued it first
        db.session.rollback()
        return f"The digest of {day} was sent already."
    return f"The digest of {day} is queued: {digest.headline}."
