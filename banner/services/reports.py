"""Donor reports for staff: money raised, monthly revenue, churn and its reasons, retention,
and which banners and articles bring money.

Everything is counted by SQL aggregates, one currency at a time; Python only arranges the few
aggregated rows. Monthly recurring revenue (MRR) comes from the "mrr" GiftEvents (see
banner/models/donor.py): each change of a gift's monthly value is a movement (new,
reactivation, expansion, contraction, voluntary or involuntary churn) with its delta, so MRR at
any date is the sum of the deltas before it, and a month's waterfall is the sum of its deltas
by movement. A donor is active while the sum over their gifts is above zero. A gift's monthly
value is `Gift.monthly_value`, the one rule shared by Python and SQL.

Days and months are the newsroom's, in BANNER_TIMEZONE: a month's boundaries are worked out in
Python and compared with the UTC timestamps, so SQLite and PostgreSQL group alike.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from banner.extensions import db
from banner.models import (
    CANCELLATION_REASONS,
    LIVE,
    MRR_STATUSES,
    Campaign,
    CampaignStatus,
    Donor,
    Frequency,
    Gift,
    GiftEvent,
    GiftStatus,
    Payment,
    RenewalFailure,
    utcnow,
)
from banner.services import campaigns

CHURN = ("voluntary_churn", "involuntary_churn")
MOVEMENTS = ("new", "reactivation", "expansion", "contraction", "voluntary_churn", "involuntary_churn")


def site_zone() -> tzinfo:
    """Return the newsroom's time zone (BANNER_TIMEZONE)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_midnight(day: date) -> datetime:
    """Return the UTC moment the newsroom's `day` begins."""
    return datetime(day.year, day.month, day.day, tzinfo=site_zone()).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """Days of the newsroom's calendar, from `start` to `end` inclusive."""

    start: date
    end: date  #: inclusive

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        return local_midnight(date.fromordinal(self.end.toordinal() + 1))

    @property
    def months(self) -> list[str]:
        """Return the months the period touches as "YYYY-MM", oldest first."""
        first, last = self.start.year * 12 + self.start.month - 1, self.end.year * 12 + self.end.month - 1
        return [f"{index // 12:04d}-{index % 12 + 1:02d}" for index in range(first, max(first, last) + 1)]


def today() -> date:
    """Return the newsroom's date now."""
    return utcnow().astimezone(site_zone()).date()


def currencies() -> list[str]:
    """Return the currencies gifts were made in, the site's default first."""
    default = current_app.config["DEFAULT_CURRENCY"]
    used = db.session.scalars(sa.select(Gift.currency).distinct()).all()
    return [default, *sorted(c for c in used if c != default)]


#: the month key of moments before, and after, the months asked about
BEFORE, AFTER = "0000-00", "9999-99"


def month_key(column, keys: Sequence[str]):
    """SQL for the newsroom's month ("YYYY-MM", one of `keys`) of a UTC timestamp column; BEFORE
    or AFTER outside them."""
    bounds = [month_start(key) for key in keys] + [month_start(next_month(keys[-1]))]
    return sa.case(
        (column < bounds[0], BEFORE),
        *((column < bound, key) for key, bound in zip(keys, bounds[1:], strict=True)),
        else_=AFTER,
    )


def next_month(key: str) -> str:
    year, month = (int(part) for part in key.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def months_back(count: int, day: date | None = None) -> list[str]:
    """Return the last `count` months as "YYYY-MM", oldest first, ending with `day`'s (today's)."""
    day = day or today()
    keys, year, month = [], day.year, day.month
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return keys[::-1]


def month_start(key: str) -> datetime:
    """Return the UTC moment the newsroom's month `key` begins."""
    year, month = (int(part) for part in key.split("-"))
    return local_midnight(date(year, month, 1))


# Overview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    currency: str
    raised: dict[str, int]  #: once, month, year, total: net of refunds and disputes
    refunded: int
    payments: int  #: payments received: a monthly gift paying twice counts twice
    gifts: int  #: the gifts those payments were for
    donors: int
    average: int  #: per payment
    live_campaigns: list[tuple[Campaign, campaigns.Progress]]


def overview(currency: str, period: Period) -> Overview:
    """Money received in the period by frequency, net of refunds and disputes, and the live
    campaigns."""
    net = Payment.net
    rows = db.session.execute(
        sa.select(
            Gift.frequency,
            sa.func.coalesce(sa.func.sum(net), 0),
            sa.func.coalesce(sa.func.sum(Payment.amount_refunded), 0),
            sa.func.count(Payment.id),
            sa.func.count(sa.distinct(Payment.gift_id)),
        )
        .join(Gift, Payment.gift_id == Gift.id)
        .where(Payment.currency == currency, Payment.paid_at >= period.since, Payment.paid_at < period.until)
        .group_by(Gift.frequency)
    ).all()
    raised = {frequency.value: 0 for frequency in Frequency}
    refunded = count = gifts = 0
    for frequency, amount, refunds, payments, paid_gifts in rows:
        raised[frequency.value] = int(amount)
        refunded += int(refunds)
        count += payments
        gifts += paid_gifts  # a gift has one frequency: no gift is in two rows
    raised["total"] = sum(raised.values())
    donors = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Gift.donor_id)))
        .join(Payment, Payment.gift_id == Gift.id)
        .where(Payment.currency == currency, Payment.paid_at >= period.since, Payment.paid_at < period.until)
    )
    live = db.session.scalars(
        sa.select(Campaign).where(Campaign.status == CampaignStatus.LIVE).order_by(Campaign.priority.desc())
    ).all()
    now = utcnow()
    return Overview(
        currency=currency,
        raised=raised,
        refunded=refunded,
        payments=count,
        gifts=gifts,
        donors=int(donors or 0),
        average=raised["total"] // count if count else 0,
        live_campaigns=[(c, campaigns.goal_progress(c)) for c in live if c.is_live(now)],
    )


# Recurring revenue -----------------------------------------------------------------------


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


# Cancellations ---------------------------------------------------------------------------


def reason_words(code: str | None) -> str:
    """Return a cancellation reason as staff read it: in the donor's wording when they chose it
    on our page, in words when it is Stripe's feedback code."""
    if not code:
        return "No reason given"
    if code in CANCELLATION_REASONS:
        return CANCELLATION_REASONS[code][0]
    return code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CancellationComment:
    """What a donor wrote when they cancelled, with who they are and what they gave."""

    when: datetime
    reason: str  #: in words (reason_words)
    channel: str
    words: str
    donor_id: int | None
    donor_name: str | None
    amount: int
    currency: str
    frequency: Frequency
    months_given: int  #: the months their paid charges covered


@dataclass(frozen=True)
class Cancellations:
    total: int
    by_reason: list[tuple[str, int]]  #: reasons in words, most frequent first
    by_channel: list[tuple[str, int]]
    comments: list[CancellationComment]
    offered: int  #: cancellation requests that were shown save offers, plus offers taken
    taken: list[tuple[str, int]]


def cancellations(currency: str, period: Period) -> Cancellations:
    """Cancellations in the period by reason and by channel, the donors' comments, save offers.

    A gift whose subscription ended before its first payment failed; it was never cancelled.
    """
    in_period = (
        Gift.currency == currency,
        Gift.cancellation_channel.is_not(None),
        Gift.status != GiftStatus.FAILED,
        sa.func.coalesce(Gift.cancelled_at, Gift.updated_at) >= period.since,
        sa.func.coalesce(Gift.cancelled_at, Gift.updated_at) < period.until,
    )

    def grouped(column):
        return [
            (key or "not given", count)
            for key, count in db.session.execute(
                sa.select(column, sa.func.count(Gift.id))
                .where(*in_period)
                .group_by(column)
                .order_by(sa.func.count(Gift.id).desc())
            )
        ]

    by_reason: dict[str, int] = {}
    for code, count in grouped(Gift.cancellation_reason):
        words = reason_words(None if code == "not given" else code)
        by_reason[words] = by_reason.get(words, 0) + count
    by_channel = grouped(Gift.cancellation_channel)
    paid_charges = (
        sa.select(sa.func.count(Payment.id))
        .where(Payment.gift_id == Gift.id, Payment.amount_refunded < Payment.amount)
        .scalar_subquery()
    )
    comments = db.session.execute(
        sa.select(sa.func.coalesce(Gift.cancelled_at, Gift.updated_at), Gift, Donor, paid_charges)
        .outerjoin(Donor, Gift.donor_id == Donor.id)
        .where(*in_period, Gift.cancellation_comment.is_not(None), Gift.cancellation_comment != "")
        .order_by(sa.func.coalesce(Gift.cancelled_at, Gift.updated_at).desc())
        .limit(50)
    ).all()
    events = (
        GiftEvent.created_at >= period.since,
        GiftEvent.created_at < period.until,
        Gift.currency == currency,
    )
    requests = db.session.scalar(
        sa.select(sa.func.count(GiftEvent.id))
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(
            GiftEvent.kind == "cancel_request",
            GiftEvent.data[("offered", 0)].as_string().is_not(None),  # shown at least one offer
            *events,
        )
    )
    taken_name = GiftEvent.data["taken"].as_string()
    taken = db.session.execute(
        sa.select(taken_name, sa.func.count(GiftEvent.id))
        .join(Gift, GiftEvent.gift_id == Gift.id)
        .where(GiftEvent.kind == "save_offer", *events)
        .group_by(taken_name)
    ).all()
    saves = sum(count for _, count in taken)
    return Cancellations(
        total=sum(count for _, count in by_channel),
        by_reason=sorted(by_reason.items(), key=lambda item: -item[1]),
        by_channel=by_channel,
        comments=[
            CancellationComment(
                when=when,
                reason=reason_words(gift.cancellation_reason),
                channel=gift.cancellation_channel or "",
                words=gift.cancellation_comment or "",
                donor_id=donor.id if donor else None,
                donor_name=donor.name if donor else None,
                amount=gift.amount,
                currency=gift.currency,
                frequency=gift.frequency,
                months_given=charges * (12 if gift.frequency is Frequency.YEAR else 1),
            )
            for when, gift, donor, charges in comments
        ],
        offered=int(requests or 0) + saves,
        taken=[(name, count) for name, count in taken],
    )


# Retention -------------------------------------------------------------------------------


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


# Banners and articles --------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    url: str
    money: int
    gifts: int
    new_monthly_donors: int


def top_articles(currency: str, period: Period, limit: int = 10) -> tuple[list[Article], list[Article]]:
    """The articles that brought the most money, and the most new monthly donors, in the period."""
    net = sa.func.coalesce(sa.func.sum(Payment.net), 0)
    money_rows = db.session.execute(
        sa.select(Gift.article_url, net, sa.func.count(sa.distinct(Gift.id)))
        .join(Payment, Payment.gift_id == Gift.id)
        .where(
            Gift.article_url.is_not(None),
            Payment.currency == currency,
            Payment.paid_at >= period.since,
            Payment.paid_at < period.until,
        )
        .group_by(Gift.article_url)
        .order_by(net.desc())
        .limit(limit)
    ).all()
    new = sa.func.count(sa.distinct(Gift.donor_id))
    monthly_rows = db.session.execute(
        sa.select(Gift.article_url, new)
        .join(GiftEvent, GiftEvent.gift_id == Gift.id)
        .where(
            Gift.article_url.is_not(None),
            Gift.currency == currency,
            GiftEvent.movement == "new",
            GiftEvent.created_at >= period.since,
            GiftEvent.created_at < period.until,
        )
        .group_by(Gift.article_url)
        .order_by(new.desc())
        .limit(limit)
    ).all()
    return (
        # `url is not None`, as the queries ask
        [Article(url, int(money), gifts, 0) for url, money, gifts in money_rows if url is not None],
        [Article(url, 0, 0, count) for url, count in monthly_rows if url is not None],
    )


def campaign_list() -> Sequence[Campaign]:
    return db.session.scalars(sa.select(Campaign).order_by(Campaign.priority.desc(), Campaign.id)).all()
