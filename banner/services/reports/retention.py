"""The retention report: monthly cohorts of new recurring donors and who still gives."""

from dataclasses import dataclass

import sqlalchemy as sa

from banner.extensions import db
from banner.models import LIVE, Frequency, Gift, GiftEvent
from banner.services.reports.periods import Period, month_key, month_start, months_back
from banner.services.reports.recurring import CHURN


@dataclass(frozen=True)
class Cohort:
    key: str
    donors: int
    active: list[float | None]  #: share still giving after 0, 1, 2 ... months (None: not yet)
    lifetime_value: int  #: average net money per donor of the cohort so far


@dataclass(frozen=True)
class Retention:
    cohorts: list[Cohort]
    lifetime_value: int  #: average net money per recurring donor


def retention(currency: str, months: int = 12, period: Period | None = None) -> Retention:
    """Monthly cohorts of new monthly and yearly donors and the share still giving since.

    A donor belongs to the month of their first new recurring gift (the movement "new": a donor
    who gave monthly before comes back as a "reactivation"). A donor with no live recurring gift
    now (a paused one counts as live) is gone from the month of their last cancellation or final
    failed payment; one who left and came back counts as having stayed. Only the shown cohorts'
    events are read; money comes from the gifts' own totals. The cohorts are the period's months
    (else the last `months`); leaving after the period does not show.
    """
    keys = period.months if period is not None else months_back(months)
    in_window = (GiftEvent.created_at >= month_start(keys[0]), Gift.currency == currency)
    firsts = (
        sa.select(Gift.donor_id, sa.func.min(GiftEvent.created_at).label("first_start"))
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(GiftEvent.movement == "new", *in_window)
        .group_by(Gift.donor_id)
        .cte("firsts")  # read three times, worked out once
    )
    cohort_donors = sa.select(firsts.c.donor_id)
    # A cohort donor's churn comes after their start, so within the window too.
    churns = (
        sa.select(Gift.donor_id, sa.func.max(GiftEvent.created_at).label("last_churn"))
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(GiftEvent.movement.in_(CHURN), *in_window, Gift.donor_id.in_(cohort_donors))
        .group_by(Gift.donor_id)
        .subquery()
    )
    recurring_gift = (Gift.currency == currency, Gift.frequency != Frequency.ONCE)
    donors = (
        sa.select(
            Gift.donor_id,
            sa.func.sum(Gift.received).label("net"),
            sa.func.max(sa.case((Gift.status.in_(LIVE), 1), else_=0)).label("live"),
        )
        .where(*recurring_gift, Gift.donor_id.in_(cohort_donors))
        .group_by(Gift.donor_id)
        .subquery()
    )
    cohort = month_key(firsts.c.first_start, keys).label("cohort")
    gone = sa.case((sa.func.coalesce(donors.c.live, 0) == 0, month_key(churns.c.last_churn, keys))).label(
        "gone"
    )
    rows = db.session.execute(
        sa.select(cohort, gone, sa.func.count(), sa.func.coalesce(sa.func.sum(donors.c.net), 0))
        .select_from(firsts)
        .outerjoin(churns, churns.c.donor_id == firsts.c.donor_id)
        .outerjoin(donors, donors.c.donor_id == firsts.c.donor_id)
        .group_by(cohort, gone)
    ).all()
    # Lifetime value over every donor who ever paid a recurring gift, from the gifts alone.
    all_donors, all_money = db.session.execute(
        sa.select(
            sa.func.count(sa.distinct(Gift.donor_id)), sa.func.coalesce(sa.func.sum(Gift.received), 0)
        ).where(*recurring_gift, Gift.last_paid_at.is_not(None))
    ).one()
    counts: dict[str, dict[str | None, int]] = {key: {} for key in keys}
    cohort_money: dict[str, int] = {}
    for key, gone_month, count, net in rows:
        if key in counts:
            counts[key][gone_month] = counts[key].get(gone_month, 0) + count
            cohort_money[key] = cohort_money.get(key, 0) + int(net)
    result = []
    for index, key in enumerate(keys):
        total = sum(counts[key].values())
        shares: list[float | None] = []
        for offset in range(len(keys) - index):
            if not total:
                shares.append(None)
                continue
            until = keys[index + offset]
            gone_by = sum(n for month, n in counts[key].items() if month is not None and month <= until)
            shares.append((total - gone_by) / total)
        result.append(Cohort(key, total, shares, cohort_money.get(key, 0) // total if total else 0))
    return Retention(cohorts=result, lifetime_value=int(all_money) // all_donors if all_donors else 0)
