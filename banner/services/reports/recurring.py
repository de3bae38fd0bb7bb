"""The monthly revenue report: MRR, its waterfall and churn per month, and failed renewals
recovered and lost."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from banner.extensions import db
from banner.models import MRR_STATUSES, Frequency, Gift, GiftEvent, RenewalFailure
from banner.services.reports.periods import AFTER, Period, month_key, month_start, months_back, next_month

CHURN = ("voluntary_churn", "involuntary_churn")


MOVEMENTS = ("new", "reactivation", "expansion", "contraction", "voluntary_churn", "involuntary_churn")


@dataclass(frozen=True)
class Rate:
    """A rate shown with what it is made of."""

    numerator: int
    denominator: int
    minimum: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def too_few(self) -> bool:
        return self.denominator < self.minimum


@dataclass
class Month:
    key: str
    mrr_start: int = 0
    mrr_end: int = 0
    movements: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MOVEMENTS, 0))
    gifts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MOVEMENTS, 0))
    active_start: int = 0  #: donors giving monthly or yearly when the month began
    started: int = 0  #: donors who began (or resumed) giving monthly or yearly
    ended: int = 0  #: donors who stopped: lost, or paused
    lost: int = 0  #: donors who cancelled or whose payments failed for good
    lost_involuntary: int = 0
    churn: Rate | None = None


@dataclass
class Renewals:
    """Renewals that failed in a month, and failed ones recovered or lost in it (count, money)."""

    failed: int = 0
    failed_amount: int = 0
    recovered: int = 0
    recovered_amount: int = 0
    lost: int = 0
    lost_amount: int = 0


@dataclass(frozen=True)
class Recurring:
    currency: str
    mrr: int
    arr: int
    active_donors: int
    months: list[Month]
    renewals: dict[str, Renewals]  #: per month key


def renewals(currency: str, keys: Sequence[str]) -> dict[str, Renewals]:
    """Per month: renewals that first failed in it, and failed renewals paid (recovered) or given
    up (lost: the gift ended, or Stripe voided the invoice) in it."""
    table = {key: Renewals() for key in keys}
    since, until = month_start(keys[0]), month_start(next_month(keys[-1]))
    for column, name in (
        (RenewalFailure.failed_at, "failed"),
        (RenewalFailure.recovered_at, "recovered"),
        (RenewalFailure.lost_at, "lost"),
    ):
        month = month_key(column, keys).label("month")
        rows = db.session.execute(
            sa.select(month, sa.func.count(RenewalFailure.id), sa.func.sum(RenewalFailure.amount))
            .where(RenewalFailure.currency == currency, column >= since, column < until)
            .group_by(month)
        )
        for key, count, amount in rows:
            if key in table:
                setattr(table[key], name, int(count))
                setattr(table[key], f"{name}_amount", int(amount or 0))
    return table


def _monthly(currency: str):
    """What each gift in `currency` adds to MRR now, and which gifts count in it."""
    live = (Gift.currency == currency, Gift.frequency != Frequency.ONCE, Gift.status.in_(MRR_STATUSES))
    return Gift.monthly_value, live


def _changes(currency: str, since: datetime):
    """Each "mrr" event since `since` of gifts in `currency`, with its donor's total monthly value
    after it.

    Worked back from the donor's total now: after a movement, it is the total now less the
    donor's later movements. So only the window's events are read, however long the history.
    """
    moves = (
        sa.select(
            GiftEvent.id,
            GiftEvent.gift_id,
            Gift.donor_id,
            GiftEvent.created_at,
            GiftEvent.movement,
            GiftEvent.mrr_delta,
        )
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(GiftEvent.movement.is_not(None), GiftEvent.created_at >= since, Gift.currency == currency)
        .subquery()
    )
    value, live = _monthly(currency)
    now = (
        sa.select(Gift.donor_id, sa.func.sum(value).label("total"))
        .where(*live)
        .group_by(Gift.donor_id)
        .subquery()
    )
    later = sa.func.sum(moves.c.mrr_delta).over(
        partition_by=moves.c.donor_id, order_by=(moves.c.created_at, moves.c.id), rows=(1, None)
    )
    return (
        sa.select(
            moves.c.gift_id,
            moves.c.created_at,
            moves.c.movement,
            moves.c.mrr_delta,
            (sa.func.coalesce(now.c.total, 0) - sa.func.coalesce(later, 0)).label("after"),
        )
        .select_from(moves)
        .outerjoin(now, now.c.donor_id == moves.c.donor_id)
        .subquery()
    )


def recurring(currency: str, months: int = 12, period: Period | None = None) -> Recurring:
    """MRR and ARR now, active donors, and per month of the period (else of the last `months`)
    the MRR waterfall, churn, and failed renewals recovered and lost.

    Only the movements since the first month began are read: MRR (and the number of donors
    giving) at its start is what it is now less what changed since.
    """
    value, live = _monthly(currency)
    mrr, active = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(value), 0), sa.func.count(sa.distinct(Gift.donor_id))).where(
            *live
        )
    ).one()
    mrr, active = int(mrr), int(active)

    keys = period.months if period is not None else months_back(months)
    table = {key: Month(key) for key in keys}
    later = Month(AFTER)  # what changed after the period, up to now
    changes = _changes(currency, month_start(keys[0]))
    after, before = changes.c.after, changes.c.after - changes.c.mrr_delta
    month = month_key(changes.c.created_at, keys).label("month")
    statement = sa.select(
        month,
        changes.c.movement,
        sa.func.sum(changes.c.mrr_delta),
        sa.func.count(sa.distinct(changes.c.gift_id)),
        sa.func.sum(sa.case((sa.and_(before <= 0, after > 0), 1), else_=0)),  # began or resumed giving
        sa.func.sum(sa.case((sa.and_(before > 0, after <= 0), 1), else_=0)),  # stopped: lost or paused
    ).group_by(month, changes.c.movement)
    for key, movement_name, delta, gifts, starts, ends in db.session.execute(statement):
        row = table.get(key, later)
        row.movements[movement_name], row.gifts[movement_name] = int(delta), int(gifts)
        row.started += int(starts)
        row.ended += int(ends)
        if movement_name in CHURN:
            row.lost += int(ends)
        if movement_name == "involuntary_churn":
            row.lost_involuntary += int(ends)

    rows = [*table.values(), later]
    running = mrr - sum(sum(row.movements.values()) for row in rows)
    active_before = active - sum(row.started - row.ended for row in rows)
    minimum = current_app.config["REPORT_MIN_DONORS"]
    for row in table.values():
        row.mrr_start = running
        running += sum(row.movements.values())
        row.mrr_end = running
        row.active_start = active_before
        row.churn = Rate(row.lost, row.active_start, minimum)
        active_before += row.started - row.ended
    return Recurring(
        currency=currency,
        mrr=mrr,
        arr=mrr * 12,
        active_donors=active,
        months=list(table.values()),
        renewals=renewals(currency, keys),
    )
