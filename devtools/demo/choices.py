"""What the made-up donors choose, and how often: amounts, frequencies, reasons, names, articles.

Only chances and tables live here; what a choice does to a gift is left to the service functions
(banner.services.checkout, manage, lifecycle) that devtools.demo.lives drives.
"""

import bisect
import calendar
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from banner.cli import DEMO_MONTHLY_SHARE, DEMO_YEARLY_SHARE
from banner.models import Frequency

SITE = "https://ledger.example"
CURRENCY = "usd"

MONTHLY_SHARE, YEARLY_SHARE = DEMO_MONTHLY_SHARE, DEMO_YEARLY_SHARE
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
    *("Maria", "James", "Linda", "Robert", "Patricia", "John", "Jennifer", "Michael"),
    *("Elizabeth", "David", "Susan", "Richard", "Sarah", "Thomas", "Karen", "Daniel"),
    *("Ana", "Wei", "Priya", "Kevin", "Laura", "Jason", "Emily", "Joseph"),
)
LAST_NAMES = (
    *("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis"),
    *("Rodriguez", "Martinez", "Lopez", "Wilson", "Anderson", "Taylor", "Moore", "Lee"),
    *("Nguyen", "Chen", "Patel", "Okafor", "Kowalski", "Rivera", "Baker", "Smithson"),
)
EMAIL_DOMAINS = ("example.org", "example.com", "example.net")
CARD_BRANDS = {"visa": 60, "mastercard": 28, "amex": 10, "discover": 2}
DECLINES = ("Your card was declined.", "Your card has insufficient funds.", "Your card has expired.")
DISPUTE_REASONS = ("fraudulent", "subscription_canceled", "unrecognized", "product_not_received")

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

K = TypeVar("K")


class Pick(Generic[K]):
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


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def day_weights(start: datetime, end: datetime, rng: random.Random) -> Pick[int]:
    """Weigh each day of the history by the gifts it brings: more as the newsroom grows, in the
    spring drive and at the end of the year, and on days of big stories."""
    weights: dict[int, float] = {}
    days = (end - start).days
    for index in range(days):
        day = start + index * DAY
        season = {12: 2.0, 11: 1.3, 3: 1.3, 4: 1.3, 5: 1.2}.get(day.month, 1.0)
        story = rng.uniform(2, 4) if rng.random() < 0.03 else rng.uniform(0.7, 1.3)
        weights[index] = (1 + index / days) * season * story
    return Pick(weights)


def base_amount(rng: random.Random, frequency: Frequency, presets: Pick[int]) -> int:
    """Return what a donor gives before any fee (minor units): a preset, a typed amount or a large gift."""
    base = presets(rng)
    if frequency is Frequency.ONCE and rng.random() < MAJOR_GIFT_SHARE:
        return rng.randrange(1000, 5001, 100) * 100
    if rng.random() < TYPED_SHARE:
        return max(100, round(base * rng.lognormvariate(0, 0.7) / 100) * 100)
    return base
