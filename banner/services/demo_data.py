"""A made-up but plausible history of donors for demos and benchmarks.

Over the last months, donors give once, monthly or yearly; recurring gifts renew, fail and
recover or lapse, change amount, pause, take or decline save offers and are cancelled with a
reason and a channel; some payments are refunded or disputed; the live campaign's banner counts
follow the gifts it brought. The same seed on the same day makes the same history.

Rows are built as plain dicts and inserted in batches (executemany), so the ORM's before_flush
listener never sees them: every change of a recurring gift's monthly value is recorded here as
the "mrr" event that listener would add, with the same `monthly_value` and `movement`, at the
moment it happened.
"""

import base64
import bisect
import calendar
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Generic, TypedDict, TypeVar

import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    ENDING,
    Actor,
    BannerStat,
    Campaign,
    Donor,
    Frequency,
    GiftStatus,
    PaymentStatus,
    check_move,
    monthly_value,
    utcnow,
    watermark,
)
from banner.models.donor import movement
from banner.services.checkout import fee_for
from banner.services.manage import ACTOR_REF, OFFERS, REASONS

CAMPAIGN = "spring"  #: seed-demo's live campaign, whose banner brought a share of the gifts
TABLES = ("donors", "gifts", "payments", "gift_events")  #: the tables of the history, parents first
DONORS_PER_BATCH = 5_000
KEYS_PER_RESERVE = 10_000
SITE = "https://ledger.example"
CURRENCY = "usd"

MONTHLY_SHARE = 0.30
YEARLY_SHARE = 0.05
#: preset amounts (minor units) and how often donors choose each
ONCE_PRESETS = {500: 10, 1000: 22, 1500: 6, 2500: 25, 5000: 16, 10000: 9, 25000: 2, 50000: 0.7, 100000: 0.3}
MONTHLY_PRESETS = {300: 4, 500: 30, 1000: 30, 1500: 10, 2000: 6, 2500: 10, 5000: 5, 10000: 1.5}
YEARLY_PRESETS = {5000: 25, 10000: 30, 12000: 15, 25000: 12, 50000: 5, 100000: 1}
TYPED_SHARE = 0.12  #: donors who type their own amount rather than take a preset
MAJOR_GIFT_SHARE = 0.003  #: one-time gifts of $1,000 to $5,000
FEE_COVERED_SHARE = 0.35  #: donors who also cover the card fee
REPEAT_SHARE = 0.25  #: one-time donors who give again
CONVERT_SHARE = 0.04  #: one-time donors who later give monthly
EXTRA_ONCE_SHARE = 0.08  #: recurring donors who also give once
DECLINED_SHARE = 0.03  #: donors whose first card was declined before another worked
ABANDONED_SHARE = 0.01  #: donors who also left a gift at the card step
ATTRIBUTED_SHARE = 0.55  #: gifts that came through the campaign's banner

#: chances per billing period, by frequency
CANCEL_CHANCE = {Frequency.MONTH: 0.02, Frequency.YEAR: 0.15}
FAIL_CHANCE = {Frequency.MONTH: 0.035, Frequency.YEAR: 0.06}
UPGRADE_CHANCE = {Frequency.MONTH: 0.008, Frequency.YEAR: 0.05}
DOWNGRADE_CHANCE = {Frequency.MONTH: 0.003, Frequency.YEAR: 0.02}
PAUSE_CHANCE = {Frequency.MONTH: 0.003, Frequency.YEAR: 0.0}
DISPUTE_CHANCE = {Frequency.MONTH: 0.0005, Frequency.YEAR: 0.002}
RECOVERY_SHARE = 0.65  #: failed renewals paid on one of Stripe's retries
RETRY_DAYS = (3, 7, 14)  #: Stripe's retries after a failed renewal; then it cancels
SAVE_SHARE = 0.22  #: donors about to cancel who take an offer instead
DASHBOARD_SHARE = 0.25  #: cancellations staff make in Stripe's dashboard at a donor's request
COMMENT_SHARE = 0.35
REACTIVATION_SHARE = 0.12  #: donors who cancelled and start a new monthly gift months later
REFUND_SHARE = 0.01
SUBSCRIPTION_NEWS = "customer.subscription.updated"  #: the kind of a gift's last subscription news
FULL_REFUND_SHARE = 0.4
ONCE_DISPUTE_SHARE = 0.001

REASON_WEIGHTS = {"too_expensive": 30, "financial": 20, "coverage": 18, "community": 7, "one_time": 12}
COMMENTS = {
    "too_expensive": ("Money is tight this year.", "Everything costs more lately."),
    "financial": ("Lost my job; I will be back.", "Retired, on a fixed income now."),
    "coverage": ("Too much national news.", "You never cover my neighbourhood.", "Not for me anymore."),
    "community": ("The comments under articles are nasty.",),
    "one_time": ("I would rather give at the end of the year.",),
    "other": ("Moving away from the area.", "My partner already gives."),
}
OFFER_WEIGHTS = {"pause": 50, "lower": 35, "yearly": 15}
ARTICLES = (
    "/news/city-council-passes-budget",
    "/news/river-flooding-what-we-know",
    "/news/schools/teacher-shortage-deepens",
    "/news/housing/downtown-rents-rise-again",
    "/investigations/water-contracts",
    "/news/transit/bus-route-cuts",
    "/opinion/why-local-news-matters",
    "/news/elections/county-races-guide",
    "/news/health/rural-clinic-closures",
    "/news/business/mill-reopens",
    "/sports/state-football-final",
    "/news/environment/heat-wave-cooling-centers",
)
REFERRERS = (
    "https://www.google.com/",
    "https://news.google.com/",
    "https://www.facebook.com/",
    "https://t.co/",
    "https://newsletter.ledger.example/",
)
FIRST_NAMES = (
    "Maria",
    "James",
    "Linda",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Elizabeth",
    "David",
    "Susan",
    "Richard",
    "Sarah",
    "Thomas",
    "Karen",
    "Daniel",
    "Ana",
    "Wei",
    "Priya",
    "Kevin",
    "Laura",
    "Jason",
    "Emily",
    "Joseph",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Lee",
    "Nguyen",
    "Chen",
    "Patel",
    "Okafor",
    "Kowalski",
    "Rivera",
    "Baker",
    "Smithson",
)
EMAIL_DOMAINS = ("example.org", "example.com", "example.net")
CARD_BRANDS = {"visa": 60, "mastercard": 28, "amex": 10, "discover": 2}
DECLINES = ("Your card was declined.", "Your card has insufficient funds.", "Your card has expired.")
DISPUTE_REASONS = ("fraudulent", "subscription_canceled", "unrecognized", "product_not_received")

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Summary:
    donors: int
    gifts: int
    payments: int
    events: int
    banner_stats: int  #: counter rows, one per variant and day
    seconds: float


class _Attribution(TypedDict):
    campaign_id: int | None
    variant_id: int | None
    article_url: str | None
    referrer: str | None


class _PaymentRow(TypedDict):
    id: int
    gift_id: int
    stripe_payment_intent_id: str | None
    stripe_invoice_id: str | None
    stripe_charge_id: str
    amount: int
    amount_refunded: int
    currency: str
    status: PaymentStatus
    paid_at: datetime
    created_at: datetime


class _EventRow(TypedDict):
    id: int
    gift_id: int
    kind: str
    from_status: GiftStatus | None
    to_status: GiftStatus | None
    actor: Actor
    actor_ref: str | None
    reason: str | None
    data: dict[str, object]
    movement: str | None
    mrr_delta: int
    created_at: datetime


def donors_exist() -> bool:
    return db.session.scalar(sa.select(Donor.id).limit(1)) is not None


def generate(
    donors: int,
    months: int = 12,
    seed: int = 1,
    *,
    monthly_share: float = MONTHLY_SHARE,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary | None:
    """Add `donors` donors with `months` months of history ending at midnight UTC before `now`.

    `monthly_share` of the donors start with a monthly gift (`YEARLY_SHARE` with a yearly one, the
    rest give once). Adds nothing and returns None when there are donors already. Needs the "spring" campaign
    (seed-demo adds it), whose start it moves back to the beginning of the history.
    """
    if donors_exist():
        return None
    started = time.perf_counter()
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == CAMPAIGN))
    if campaign is None or not campaign.variants:
        raise ValueError(f"the {CAMPAIGN!r} campaign and its variants come first (seed-demo adds them)")
    end = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    if not 0 <= monthly_share <= 1 - YEARLY_SHARE:
        raise ValueError(f"the monthly share must be between 0 and {1 - YEARLY_SHARE:g}")
    history = _History(campaign, donors, _add_months(end, -months), end, random.Random(seed), monthly_share)
    if campaign.starts_at is None or campaign.starts_at > history.start:
        campaign.starts_at = history.start
    for first in range(0, donors, DONORS_PER_BATCH):
        count = min(DONORS_PER_BATCH, donors - first)
        for _ in range(count):
            history.add_donor()
        history.insert()
        if progress is not None:
            progress(count)
    history.insert_banner_stats()
    counts = history.counts
    return Summary(
        donors=counts["donors"],
        gifts=counts["gifts"],
        payments=counts["payments"],
        events=counts["gift_events"],
        banner_stats=counts["banner_stats"],
        seconds=time.perf_counter() - started,
    )


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


K = TypeVar("K")


class _Pick(Generic[K]):
    """Draws one of `weights`' keys, as often as its weight says."""

    def __init__(self, weights: Mapping[K, float]):
        self.items = list(weights)
        self.cumulative: list[float] = []
        total = 0.0
        for weight in weights.values():
            total += weight
            self.cumulative.append(total)

    def __call__(self, rng: random.Random) -> K:
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


class _Keys:
    """Primary keys handed out before the insert: from the table's sequence on PostgreSQL, else
    after the largest one (SQLite has a single writer)."""

    def __init__(self, table: sa.Table):
        self.table = table
        self.free: Iterator[int] = iter(())
        self.last: int | None = None

    def next(self) -> int:
        key = next(self.free, None)
        if key is None:
            self.free = iter(self._reserve(KEYS_PER_RESERVE))
            key = next(self.free)
        return key

    def _reserve(self, count: int) -> Sequence[int]:
        if db.session.get_bind().dialect.name == "postgresql":
            reserve = sa.text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            )
            return db.session.scalars(reserve, {"table": self.table.name, "n": count}).all()
        if self.last is None:
            self.last = db.session.scalar(sa.select(sa.func.max(self.table.c.id))) or 0
        self.last += count
        return range(self.last - count + 1, self.last + 1)


class _History:
    """The donors of one run, made one after another and inserted a batch at a time."""

    def __init__(
        self,
        campaign: Campaign,
        donors: int,
        start: datetime,
        end: datetime,
        rng: random.Random,
        monthly_share: float = MONTHLY_SHARE,
    ):
        self.rng, self.start, self.end = rng, start, end
        #: nothing is decided in the last hour, so that events a moment after a decision still
        #: fall before the end
        self.until = end - HOUR
        self.campaign_id = campaign.id
        self.variants = [variant.id for variant in campaign.variants]
        self.variant_weights = {
            Frequency.ONCE: _Pick({variant.id: variant.weight or 1 for variant in campaign.variants}),
            # later variants were written to ask for monthly gifts, and do a little better at it
            Frequency.MONTH: _Pick(
                {v.id: (v.weight or 1) * (1 + 0.25 * n) for n, v in enumerate(campaign.variants)}
            ),
        }
        self.donor_count = donors
        self.monthly_share = monthly_share
        self.days = _Pick(self._day_weights())
        self.presets = {
            Frequency.ONCE: _Pick(ONCE_PRESETS),
            Frequency.MONTH: _Pick(MONTHLY_PRESETS),
            Frequency.YEAR: _Pick(YEARLY_PRESETS),
        }
        self.ladders = {frequency: sorted(pick.items) for frequency, pick in self.presets.items()}
        self.reasons = _Pick({key: REASON_WEIGHTS.get(key, 13) for key in REASONS})
        self.offers = _Pick({name: OFFER_WEIGHTS.get(name, 10) for name in OFFERS})
        self.cards = _Pick(CARD_BRANDS)
        self.keys = {table: _Keys(db.metadata.tables[table]) for table in TABLES}
        self.rows: dict[str, list[Mapping[str, object]]] = {table: [] for table in TABLES}
        self.counts: Counter[str] = Counter()
        #: (variant id, day) -> gifts the banner brought
        self.gifts_by_day: Counter[tuple[int, date]] = Counter()
        self.numbers: Counter[str] = Counter()  #: running numbers of the fake Stripe ids

    def _day_weights(self) -> dict[int, float]:
        """Weigh each day of the history by the gifts it brings: more as the newsroom grows, in
        the spring drive and at the end of the year, and on days of big stories."""
        weights: dict[int, float] = {}
        days = (self.end - self.start).days
        for index in range(days):
            day = self.start + index * DAY
            season = {12: 2.0, 11: 1.3, 3: 1.3, 4: 1.3, 5: 1.2}.get(day.month, 1.0)
            story = self.rng.uniform(2, 4) if self.rng.random() < 0.03 else self.rng.uniform(0.7, 1.3)
            weights[index] = (1 + index / days) * season * story
        return weights

    def moment(self) -> datetime:
        return self.start + (self.days(self.rng) + self.rng.random()) * DAY

    def stripe_id(self, prefix: str) -> str:
        self.numbers[prefix] += 1
        return f"{prefix}_demo_{self.numbers[prefix]}"

    def amount(self, frequency: Frequency) -> tuple[int, int]:
        """Return (amount, fee) in minor units: a preset, sometimes a typed amount or a large gift."""
        rng = self.rng
        base = self.presets[frequency](rng)
        if frequency is Frequency.ONCE and rng.random() < MAJOR_GIFT_SHARE:
            base = rng.randrange(1000, 5001, 100) * 100
        elif rng.random() < TYPED_SHARE:
            base = max(100, round(base * rng.lognormvariate(0, 0.7) / 100) * 100)
        fee = fee_for(base) if rng.random() < FEE_COVERED_SHARE else 0
        return base + fee, fee

    def attribution(self, frequency: Frequency) -> _Attribution:
        rng = self.rng
        if rng.random() >= ATTRIBUTED_SHARE:
            referrer = rng.choice(REFERRERS) if rng.random() < 0.5 else None
            return {"campaign_id": None, "variant_id": None, "article_url": None, "referrer": referrer}
        pick = self.variant_weights[Frequency.ONCE if frequency is Frequency.ONCE else Frequency.MONTH]
        variant = pick(rng)
        article = SITE + (rng.choice(ARTICLES) if rng.random() < 0.8 else "/")
        return {
            "campaign_id": self.campaign_id,
            "variant_id": variant,
            "article_url": article,
            "referrer": None,
        }

    def add_donor(self) -> None:
        rng = self.rng
        self.numbers["donor"] += 1
        number = self.numbers["donor"]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        donor = _Donor(self.keys["donors"].next())
        at = self.moment()
        kind = rng.random()
        frequency = (
            Frequency.MONTH
            if kind < self.monthly_share
            else Frequency.YEAR
            if kind < self.monthly_share + YEARLY_SHARE
            else Frequency.ONCE
        )
        if rng.random() < DECLINED_SHARE:
            _Gift(self, donor, frequency, at - rng.uniform(2, 30) * MINUTE).decline()
        if rng.random() < ABANDONED_SHARE:
            _Gift(self, donor, Frequency.ONCE, self.moment()).abandon()
        if frequency is Frequency.ONCE:
            self.give_once(donor, at)
            later = at
            while rng.random() < REPEAT_SHARE:
                later += rng.expovariate(1 / 90) * DAY + HOUR
                if later >= self.end:
                    break
                self.give_once(donor, later)
            if rng.random() < CONVERT_SHARE:
                converts = at + rng.uniform(14, 200) * DAY
                if converts < self.end:
                    self.give_recurring(donor, Frequency.MONTH, converts)
        else:
            self.give_recurring(donor, frequency, at)
            if rng.random() < EXTRA_ONCE_SHARE:
                extra = at + rng.uniform(1, 365) * DAY
                if extra < self.end:
                    self.give_once(donor, extra)
        self.rows["donors"].append(
            {
                "id": donor.id,
                "email": f"{first}.{last}{number}@{rng.choice(EMAIL_DOMAINS)}".lower(),
                "name": f"{first} {last}",
                "stripe_customer_id": f"cus_demo_{number}",
                "created_at": donor.created_at,
                "updated_at": donor.created_at,
            }
        )

    def give_once(self, donor: "_Donor", at: datetime) -> None:
        gift = _Gift(self, donor, Frequency.ONCE, at)
        payment = gift.start(at)
        rng = self.rng
        if rng.random() < REFUND_SHARE:
            gift.refund(payment, payment["paid_at"] + rng.uniform(1, 14) * DAY)
        elif rng.random() < ONCE_DISPUTE_SHARE:
            gift.dispute(payment, payment["paid_at"] + rng.uniform(10, 45) * DAY)
        gift.finish()

    def give_recurring(self, donor: "_Donor", frequency: Frequency, at: datetime) -> None:
        """Live through a recurring gift; a donor who cancels may start another one later."""
        while True:
            gift = _Gift(self, donor, frequency, at)
            gift.start(at)
            gift.live()
            gift.finish()
            voluntary = gift.status is GiftStatus.CANCELLED and gift.channel in ("donor", "stripe_dashboard")
            if not voluntary or self.rng.random() >= REACTIVATION_SHARE:
                return
            assert gift.cancelled_at is not None  # every cancellation records its moment
            at = gift.cancelled_at + self.rng.uniform(30, 180) * DAY
            frequency = Frequency.MONTH
            if at >= self.end:
                return

    def event(self, gift_id: int, kind: str, at: datetime, actor: Actor, **fields) -> _EventRow:
        row: _EventRow = {
            "id": self.keys["gift_events"].next(),
            "gift_id": gift_id,
            "kind": kind,
            "from_status": fields.get("from_status"),
            "to_status": fields.get("to_status"),
            "actor": actor,
            "actor_ref": fields.get("actor_ref"),
            "reason": fields.get("reason"),
            "data": fields.get("data") or {},
            "movement": fields.get("movement"),
            "mrr_delta": fields.get("mrr_delta", 0),
            "created_at": at,
        }
        self.rows["gift_events"].append(row)
        return row

    def insert(self) -> None:
        """Insert the rows made so far, parents first, and commit them."""
        for table in TABLES:
            rows = self.rows[table]
            if rows:
                # Into the table: the ORM's bulk insert would split the rows into many small
                # statements, one for each run of rows with the same columns left None.
                db.session.execute(sa.insert(db.metadata.tables[table]), rows)
            self.counts[table] += len(rows)
            rows.clear()
        db.session.commit()

    def insert_banner_stats(self) -> None:
        """Add each variant's daily counters, consistent with the gifts its banner brought:
        impressions far above views, above clicks, above gifts."""
        rng = self.rng
        known = set(
            db.session.execute(
                sa.select(BannerStat.variant_id, BannerStat.day).where(
                    BannerStat.campaign_id == self.campaign_id
                )
            ).all()
        )
        days = (self.end - self.start).days
        browsing = max(3.0, self.donor_count * ATTRIBUTED_SHARE / max(days, 1) / len(self.variants))
        click_rates = {variant: rng.uniform(0.02, 0.04) for variant in self.variants}
        rows = []
        for index in range(days):
            day = (self.start + index * DAY).date()
            for variant in self.variants:
                if (variant, day) in known:
                    continue
                gifts = self.gifts_by_day[variant, day]
                clicks = max(1, round(gifts * rng.uniform(8, 14) + browsing * rng.uniform(0.6, 1.4)))
                views = math.ceil(clicks / (click_rates[variant] * rng.uniform(0.85, 1.15)))
                rows.append(
                    {
                        "campaign_id": self.campaign_id,
                        "variant_id": variant,
                        "day": day,
                        "impressions": math.ceil(views * rng.uniform(1.8, 2.6)),
                        "views": views,
                        "clicks": clicks,
                        "dismissals": round(views * rng.uniform(0.03, 0.08)),
                    }
                )
        if rows:
            db.session.execute(sa.insert(db.metadata.tables["banner_stats"]), rows)
        self.counts["banner_stats"] = len(rows)
        db.session.commit()


class _Donor:
    def __init__(self, donor_id: int):
        self.id = donor_id
        self.created_at: datetime | None = None
        #: when one of the donor's gifts first counted in MRR: a later new gift is a reactivation
        self.first_mrr_at: datetime | None = None


class _Gift:
    """One gift lived through in time order: its events and payments, and its state."""

    def __init__(self, history: _History, donor: _Donor, frequency: Frequency, at: datetime):
        self.history, self.donor, self.rng = history, donor, history.rng
        self.id = history.keys["gifts"].next()
        self.frequency = frequency
        self.amount, self.fee = history.amount(frequency)
        self.status: GiftStatus | None = None
        self.created_at = self.sent_at = at  #: the first payment's time; the form was sent a bit before
        self.clock = at - SECOND  #: the time of the latest event; the next one comes after it
        self.attribution: _Attribution = {
            "campaign_id": None,
            "variant_id": None,
            "article_url": None,
            "referrer": None,
        }
        self.channel: str | None = None
        self.reason: str | None = None
        self.comment: str | None = None
        self.cancelled_at: datetime | None = None
        self.paused_until: datetime | None = None
        self.disputed_at: datetime | None = None
        self.period_end: datetime | None = None
        self.next_retry_at: datetime | None = None
        self.failure_message: str | None = None
        self.cancel_at_period_end = False
        self.failed_attempts = 0
        self.subscription: str | None = None
        self.payment_intent: str | None = None
        self.card: tuple[str, str] | None = None  #: brand and last four digits
        self.first_paid_at: datetime | None = None
        self.last_payment: _PaymentRow | None = None
        self.payments: list[_PaymentRow] = []
        self.invoice_news: datetime | None = None

    # -- events

    def event(self, kind: str, at: datetime, actor: Actor, **fields) -> _EventRow:
        """Record an event at `at`, or just after the gift's latest one."""
        self.clock = max(at, self.clock + SECOND)
        return self.history.event(self.id, kind, self.clock, actor, **fields)

    def value(self) -> int:
        return monthly_value(self.amount, self.frequency, self.status) if self.status else 0

    def set_status(
        self, status: GiftStatus, at: datetime, actor: Actor, reason: str, actor_ref: str | None = None
    ) -> None:
        before, old = self.value(), self.status
        check_move(old, status)
        cause = self.event(
            "status", at, actor, from_status=old, to_status=status, actor_ref=actor_ref, reason=reason
        )
        self.status = status
        self._record_mrr(before, old, cause)

    def change_amount(self, amount: int, frequency: Frequency, at: datetime) -> None:
        """Give `amount` every `frequency` from the next charge on, as the manage page does."""
        before = self.value()
        old = {"amount": self.amount, "frequency": self.frequency.value}
        self.amount, self.frequency, self.fee = amount, frequency, 0
        data = {"old": old, "new": {"amount": amount, "frequency": frequency.value}}
        cause = self.event("amount", at, Actor.DONOR, actor_ref=ACTOR_REF, data=data)
        self._record_mrr(before, self.status, cause)

    def _record_mrr(self, before: int, old_status: GiftStatus | None, cause: _EventRow) -> None:
        """Add the "mrr" event banner.models.donor's before_flush listener would add."""
        after = self.value()
        if before == after or self.status is None:  # a gift without a status is worth nothing
            return
        at = cause["created_at"]
        first = self.donor.first_mrr_at
        returning = before == 0 and first is not None and first < at
        self.history.event(
            self.id,
            "mrr",
            at,
            cause["actor"],
            actor_ref=cause["actor_ref"],
            movement=movement(before, after, self.status, self.channel, returning),
            mrr_delta=after - before,
            from_status=old_status,
            to_status=self.status,
        )
        if after > before and first is None:
            self.donor.first_mrr_at = at

    def stripe_ref(self) -> str:
        return self.history.stripe_id("evt")

    # -- money

    def pay(self, at: datetime, invoice: str | None = None) -> _PaymentRow:
        history = self.history
        payment: _PaymentRow = {
            "id": history.keys["payments"].next(),
            "gift_id": self.id,
            "stripe_payment_intent_id": None if invoice else self.payment_intent,
            "stripe_invoice_id": invoice,
            "stripe_charge_id": history.stripe_id("ch"),
            "amount": self.amount,
            "amount_refunded": 0,
            "currency": CURRENCY,
            "status": PaymentStatus.SUCCEEDED,
            "paid_at": at,
            "created_at": at,
        }
        history.rows["payments"].append(payment)
        self.payments.append(payment)
        self.first_paid_at = self.first_paid_at or at
        self.last_payment = payment
        if invoice:
            self.invoice_news = at
            if self.rng.random() < REFUND_SHARE:
                self.refund(payment, at + self.rng.uniform(1, 14) * DAY)
        return payment

    def refund(self, payment: _PaymentRow, at: datetime) -> None:
        """Refund part or all of a payment; a refund does not change when later events happen."""
        if at >= self.history.until or payment["status"] is not PaymentStatus.SUCCEEDED:
            return
        amount = payment["amount"]
        full = amount < 200 or self.rng.random() < FULL_REFUND_SHARE
        refunded = amount if full else max(100, amount // 200 * 100)
        payment["amount_refunded"] = refunded
        data = {"payment": payment["id"], "refunded": refunded, "of": amount}
        self.history.event(self.id, "refund", at, Actor.STRIPE, actor_ref=self.stripe_ref(), data=data)
        if full:
            payment["status"] = PaymentStatus.REFUNDED
            if self.frequency is Frequency.ONCE:
                self.set_status(GiftStatus.REFUNDED, at, Actor.STRIPE, "refunded in full", self.stripe_ref())

    def dispute(self, payment: _PaymentRow, at: datetime) -> bool:
        if at >= self.history.until or payment["status"] is not PaymentStatus.SUCCEEDED:
            return False
        payment["status"] = PaymentStatus.DISPUTED
        reason, data = self.rng.choice(DISPUTE_REASONS), {"payment": payment["id"]}
        self.event("dispute", at, Actor.STRIPE, actor_ref=self.stripe_ref(), reason=reason, data=data)
        self.disputed_at = self.clock
        return True

    # -- the gift's life

    def _checkout(self, at: datetime) -> None:
        """Send the donate form, for a gift the banner may have brought."""
        self.attribution = self.history.attribution(self.frequency)
        self.card = (self.history.cards(self.rng), f"{self.rng.randrange(10_000):04d}")
        self.sent_at = at - self.rng.uniform(0.5, 5) * MINUTE
        if self.attribution["variant_id"] is not None:
            self.history.gifts_by_day[self.attribution["variant_id"], self.sent_at.date()] += 1
        self.set_status(GiftStatus.PENDING, self.sent_at, Actor.DONOR, "donate form sent")
        self._charge()

    def _charge(self) -> None:
        """Charge the card: the gift is processing, a step the history records no event of."""
        check_move(self.status, GiftStatus.PROCESSING)
        self.status = GiftStatus.PROCESSING

    def start(self, at: datetime) -> _PaymentRow:
        """Make and return the first payment: a one-time gift is paid, a recurring one starts."""
        self._checkout(at)
        if self.frequency is Frequency.ONCE:
            self.payment_intent = self.history.stripe_id("pi")
            self.set_status(GiftStatus.SUCCEEDED, at, Actor.DONOR, "card charged")
            return self.pay(self.clock)
        self.subscription = self.history.stripe_id("sub")
        self.set_status(GiftStatus.ACTIVE, at, Actor.DONOR, "first payment made")
        return self.pay(self.clock, self.history.stripe_id("in"))

    def decline(self) -> None:
        """Fail at the card step; the donor tries another card a little later."""
        self.attribution = self.history.attribution(self.frequency)
        self.set_status(GiftStatus.PENDING, self.created_at, Actor.DONOR, "donate form sent")
        self._charge()
        self.failure_message = message = self.rng.choice(DECLINES)
        if self.frequency is Frequency.ONCE:
            self.payment_intent = self.history.stripe_id("pi")
        self.set_status(GiftStatus.FAILED, self.created_at + MINUTE, Actor.STRIPE, message)
        self.finish()

    def abandon(self) -> None:
        """Send the form and never finish the card step."""
        self.set_status(GiftStatus.PENDING, self.created_at, Actor.DONOR, "donate form sent")
        self.finish()

    def live(self) -> None:
        """Renew every period until the gift ends or the history does; on the way, the donor may
        cancel (or take an offer instead), change the amount or pause, and renewals may fail."""
        history, rng, end = self.history, self.rng, self.history.until
        anchor, periods, step = self.created_at, 1, self._months()
        period_start = self.clock
        while True:
            renew_at = _add_months(anchor, periods * step)
            action_at = period_start + (renew_at - period_start) * rng.uniform(0.1, 0.9)
            if action_at < end:
                self._act(action_at, periods)
            if self.status is GiftStatus.CANCELLED:
                return
            if self.status is GiftStatus.PAUSED:
                resumed = self.paused_until
                assert resumed is not None  # a pause always says when collection resumes
                if resumed >= end:
                    self.period_end = renew_at
                    return
                self.paused_until = None
                self.set_status(
                    GiftStatus.ACTIVE, resumed, Actor.STRIPE, "subscription active", self.stripe_ref()
                )
                while renew_at < resumed:  # Stripe collected nothing while the gift was paused
                    periods += 1
                    renew_at = _add_months(anchor, periods * step)
            if self._months() != step:  # switched to yearly: a year from the next charge on
                anchor, periods, step = renew_at, 0, self._months()
            if renew_at >= end:
                self.period_end = renew_at
                return
            if self.status is GiftStatus.CANCELLING:
                why = "subscription cancelled (cancellation_requested)"
                self.set_status(GiftStatus.CANCELLED, renew_at, Actor.STRIPE, why, self.stripe_ref())
                self.cancelled_at, self.cancel_at_period_end, self.period_end = self.clock, False, renew_at
                return
            if not self._renew(renew_at + rng.uniform(1, 50) * MINUTE, history.stripe_id("in")):
                # Stripe starts the next period when it bills a renewal, paid or not
                self.period_end = _add_months(anchor, (periods + 1) * step)
                return
            period_start = self.clock
            periods += 1

    def _months(self) -> int:
        return 12 if self.frequency is Frequency.YEAR else 1

    def _act(self, at: datetime, periods: int) -> None:
        """Do what the donor does during one billing period, if anything."""
        frequency, roll = self.frequency, self.rng.random()
        cancel = CANCEL_CHANCE[frequency]
        if frequency is Frequency.MONTH:  # more leave in January, and in their first months
            cancel *= (1.3 if at.month == 1 else 1) * (1.5 if periods <= 3 else 1)
        for chance, action in (
            (cancel, self._cancel),
            (UPGRADE_CHANCE[frequency], self._upgrade),
            (DOWNGRADE_CHANCE[frequency], self._downgrade),
            (PAUSE_CHANCE[frequency], self._pause),
            (DISPUTE_CHANCE[frequency], self._dispute),
        ):
            if roll < chance:
                action(at)
                return
            roll -= chance

    def _cancel(self, at: datetime) -> None:
        rng = self.rng
        reason = self.history.reasons(rng)
        if rng.random() < DASHBOARD_SHARE:
            self.channel, self.reason = "stripe_dashboard", reason
            why = "subscription cancelled (cancellation_requested)"
            self.set_status(GiftStatus.CANCELLED, at, Actor.STRIPE, why, self.stripe_ref())
            self.cancelled_at = self.clock
            return
        offered = [name for name in OFFERS if name != "yearly" or self.frequency is Frequency.MONTH]
        if offered and rng.random() < SAVE_SHARE:
            taken = self.history.offers(rng)
            taken = taken if taken in offered else offered[0]
            if taken == "lower" and self._lower() is None:
                taken = "pause"
            data: dict[str, object] = {"offered": offered, "taken": taken}
            self.event("save_offer", at, Actor.DONOR, actor_ref=ACTOR_REF, data=data)
            {"pause": self._pause, "lower": self._downgrade, "yearly": self._go_yearly}[taken](self.clock)
            return
        comment = (
            rng.choice(COMMENTS.get(reason, COMMENTS["other"])) if rng.random() < COMMENT_SHARE else None
        )
        self.channel, self.reason, self.comment = "donor", reason, comment
        data = {"reason": reason, "offered": offered, "taken": None, "at_period_end": True}
        self.event("cancel_request", at, Actor.DONOR, actor_ref=ACTOR_REF, reason=comment, data=data)
        self.cancel_at_period_end = True
        why = "set to cancel at the end of the period"
        self.set_status(GiftStatus.CANCELLING, self.clock, Actor.DONOR, why, ACTOR_REF)

    def _upgrade(self, at: datetime) -> None:
        ladder = self.history.ladders[self.frequency]
        base = self.amount - self.fee
        higher = ladder[bisect.bisect_right(ladder, base)] if base < ladder[-1] else base * 3 // 200 * 100
        self.change_amount(higher, self.frequency, at)

    def _lower(self) -> int | None:
        ladder = self.history.ladders[self.frequency]
        index = bisect.bisect_left(ladder, self.amount - self.fee)
        return ladder[index - 1] if index > 0 else None

    def _downgrade(self, at: datetime) -> None:
        lower = self._lower()
        if lower is not None:
            self.change_amount(lower, self.frequency, at)

    def _go_yearly(self, at: datetime) -> None:
        """Give ten months' worth once a year, from the next charge on."""
        self.change_amount(max(100, (self.amount - self.fee) * 10 // 100 * 100), Frequency.YEAR, at)

    def _pause(self, at: datetime) -> None:
        self.paused_until = at + self.rng.randint(1, 3) * 30 * DAY
        self.set_status(GiftStatus.PAUSED, at, Actor.DONOR, "collection paused", ACTOR_REF)

    def _dispute(self, at: datetime) -> None:
        """Let the donor's bank take back the latest payment, which ends the subscription."""
        payment = self.last_payment
        if payment is None or not self.dispute(payment, at):
            return
        self.channel = "dispute"
        why = "subscription cancelled (payment_disputed)"
        self.set_status(GiftStatus.CANCELLED, self.clock + MINUTE, Actor.STRIPE, why, self.stripe_ref())
        self.cancelled_at = self.clock

    def _renew(self, at: datetime, invoice: str) -> bool:
        """Charge one renewal; return whether the gift goes on (paid at once or on a retry)."""
        rng, end = self.rng, self.history.until
        if rng.random() >= FAIL_CHANCE[self.frequency]:
            self._paid_invoice(at, invoice)
            return True
        self.failed_attempts, self.invoice_news = 1, at
        self.set_status(
            GiftStatus.PAST_DUE, at, Actor.STRIPE, "payment failed (attempt 1)", self.stripe_ref()
        )
        recovers_on = rng.randint(2, len(RETRY_DAYS) + 1) if rng.random() < RECOVERY_SHARE else None
        for attempt, days in enumerate(RETRY_DAYS, start=2):
            retry = at + days * DAY
            if retry >= end:
                self.next_retry_at = retry
                return False
            self.invoice_news = retry
            if attempt == recovers_on:
                self.failed_attempts = 0
                self._paid_invoice(retry, invoice)
                return True
            self.failed_attempts = attempt
        lapsed = at + RETRY_DAYS[-1] * DAY + HOUR
        if lapsed >= end:
            return False
        self.channel = "failed_payment"
        why = "subscription cancelled (payment_failed)"
        self.set_status(GiftStatus.CANCELLED, lapsed, Actor.STRIPE, why, self.stripe_ref())
        self.cancelled_at = self.clock
        return False

    def _paid_invoice(self, at: datetime, invoice: str) -> None:
        """Record a paid renewal: its payment, the webhook's event, and the gift active again."""
        at = max(at, self.clock + SECOND)
        payment = self.pay(at, invoice)
        data = {"invoice": invoice, "amount": payment["amount"]}
        self.event("payment", at, Actor.STRIPE, actor_ref=self.stripe_ref(), data=data)
        if self.status is GiftStatus.PAST_DUE:
            self.set_status(GiftStatus.ACTIVE, at, Actor.STRIPE, "invoice paid", self.stripe_ref())

    def finish(self) -> None:
        """Add the gift's row, as it stands at the end of the history."""
        assert self.status is not None  # every gift was at least sent from the donate form
        recurring = self.subscription is not None
        stripe_status = None
        if recurring:
            stripe_status = {
                GiftStatus.PAST_DUE: "past_due",
                GiftStatus.CANCELLED: "canceled",
            }.get(self.status, "active")
        ending = self.status in ENDING
        # the latest invoice news: a renewal that failed, if the gift is still past due
        invoice_news = "invoice.payment_failed" if self.status is GiftStatus.PAST_DUE else "invoice.paid"
        self.history.rows["gifts"].append(
            {
                "id": self.id,
                "reference": base64.urlsafe_b64encode(self.rng.randbytes(16)).rstrip(b"=").decode(),
                "checkout_key": None,
                "donor_id": self.donor.id,
                "frequency": self.frequency,
                "amount": self.amount,
                "fee_amount": self.fee,
                "currency": CURRENCY,
                "status": self.status,
                "failure_message": self.failure_message,
                "stripe_payment_intent_id": self.payment_intent,
                "stripe_subscription_id": self.subscription,
                "stripe_payment_method_id": None,
                "card_brand": self.card[0] if self.card else None,
                "card_last4": self.card[1] if self.card else None,
                **self.attribution,
                "current_period_end": self.period_end,
                "cancel_at_period_end": self.cancel_at_period_end,
                "paused_until": self.paused_until if self.status is GiftStatus.PAUSED else None,
                "failed_attempts": self.failed_attempts if self.status is GiftStatus.PAST_DUE else 0,
                "next_retry_at": self.next_retry_at if self.status is GiftStatus.PAST_DUE else None,
                "cancelled_at": self.cancelled_at if self.status is GiftStatus.CANCELLED else None,
                "cancellation_reason": self.reason if ending else None,
                "cancellation_comment": self.comment if ending else None,
                "cancellation_channel": self.channel if ending else None,
                "stripe_status": stripe_status,
                "stripe_watermark": watermark(self.clock, SUBSCRIPTION_NEWS) if recurring else 0,
                "invoice_watermark": watermark(self.invoice_news, invoice_news) if self.invoice_news else 0,
                "disputed_at": self.disputed_at,
                "received": sum(p["amount"] - p["amount_refunded"] for p in self.payments),
                "last_paid_at": max((p["paid_at"] for p in self.payments), default=None),
                "receipt_sent_at": self.first_paid_at,
                "created_at": self.sent_at,
                "updated_at": self.clock,
            }
        )
        self.donor.created_at = min(self.donor.created_at or self.sent_at, self.sent_at)
