"""The made-up donors of one run, each living through their gifts in time order."""

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypedDict

import sqlalchemy as sa

from banner.extensions import db
from banner.models import BannerStat, Campaign, Frequency, GiftStatus
from banner.services import manage
from devtools.demo import choices as c
from devtools.demo.clock import Recorder
from devtools.demo.lives import GiftLife
from devtools.demo.stripe_double import StripeDouble


class Attribution(TypedDict):
    """Where the donate link came from, as the donate form receives it."""

    campaign: str | None
    variant: str | None
    article_url: str | None
    referrer: str | None


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    card: tuple[str, str]  #: brand and last four digits


class World:
    """What the donors of one run share: the campaign, the clock, Stripe, the dice."""

    def __init__(
        self, campaign: Campaign, start: datetime, end: datetime, rng: random.Random, monthly_share: float
    ):
        self.rng, self.start, self.end = rng, start, end
        #: nothing is decided in the last hour, so that events a moment after a decision still
        #: fall before the end
        self.until = end - c.HOUR
        self.campaign = campaign.slug
        self.monthly_share = monthly_share
        variants = list(campaign.variants)
        self.variant_ids = [variant.id for variant in variants]
        self.variant_picks = {
            Frequency.ONCE: c.Pick({variant.key: variant.weight or 1 for variant in variants}),
            # later variants were written to ask for monthly gifts, and do a little better at it
            Frequency.MONTH: c.Pick(
                {v.key: (v.weight or 1) * (1 + 0.25 * n) for n, v in enumerate(variants)}
            ),
        }
        self.days = c.day_weights(start, end, rng)
        self.presets = {
            Frequency.ONCE: c.Pick(c.ONCE_PRESETS),
            Frequency.MONTH: c.Pick(c.MONTHLY_PRESETS),
            Frequency.YEAR: c.Pick(c.YEARLY_PRESETS),
        }
        self.ladders = {frequency: sorted(pick.items) for frequency, pick in self.presets.items()}
        self.reasons = c.Pick({key: c.REASON_WEIGHTS.get(key, 13) for key in manage.REASONS})
        self.offers = c.Pick({name: c.OFFER_WEIGHTS.get(name, 10) for name in manage.OFFERS})
        self.cards = c.Pick(c.CARD_BRANDS)
        self.recorder = Recorder()
        self.stripe = StripeDouble(self.recorder)
        self.gifts_by_day: Counter[tuple[int, date]] = Counter()  #: (variant id, day) -> gifts
        self.renewals: Counter[str] = Counter()  #: failed renewals: recovered, lost, still retrying
        self.donors = 0

    def moment(self) -> datetime:
        return self.start + (self.days(self.rng) + self.rng.random()) * c.DAY

    def attribution(self, frequency: Frequency) -> Attribution:
        rng = self.rng
        if rng.random() >= c.ATTRIBUTED_SHARE:
            referrer = rng.choice(c.REFERRERS) if rng.random() < 0.5 else None
            return {"campaign": None, "variant": None, "article_url": None, "referrer": referrer}
        variant = self.variant_picks[Frequency.ONCE if frequency is Frequency.ONCE else Frequency.MONTH](rng)
        article = c.SITE + (rng.choice(c.ARTICLES) if rng.random() < 0.8 else "/")
        return {"campaign": self.campaign, "variant": variant, "article_url": article, "referrer": None}

    def add_donor(self) -> None:
        """Make up one donor and live through their gifts, oldest first."""
        rng = self.rng
        self.donors += 1
        first, last = rng.choice(c.FIRST_NAMES), rng.choice(c.LAST_NAMES)
        person = Person(
            name=f"{first} {last}",
            email=f"{first}.{last}{self.donors}@{rng.choice(c.EMAIL_DOMAINS)}".lower(),
            card=(self.cards(rng), f"{rng.randrange(10_000):04d}"),
        )
        at = self.moment()
        kind = rng.random()
        frequency = (
            Frequency.MONTH
            if kind < self.monthly_share
            else Frequency.YEAR
            if kind < self.monthly_share + c.YEARLY_SHARE
            else Frequency.ONCE
        )
        if rng.random() < c.DECLINED_SHARE:
            GiftLife(self, person, frequency, at - rng.uniform(2, 30) * c.MINUTE).decline()
        if rng.random() < c.ABANDONED_SHARE:
            GiftLife(self, person, Frequency.ONCE, self.moment()).abandon()
        if frequency is Frequency.ONCE:
            GiftLife(self, person, frequency, at).start()
            later = at
            while rng.random() < c.REPEAT_SHARE:
                later += rng.expovariate(1 / 90) * c.DAY + c.HOUR
                if later >= self.until:
                    break
                GiftLife(self, person, frequency, later).start()
            if rng.random() < c.CONVERT_SHARE:
                converts = at + rng.uniform(14, 200) * c.DAY
                if converts < self.until:
                    self.give_recurring(person, Frequency.MONTH, converts)
        else:
            self.give_recurring(person, frequency, at)
            if rng.random() < c.EXTRA_ONCE_SHARE:
                extra = at + rng.uniform(1, 365) * c.DAY
                if extra < self.until:
                    GiftLife(self, person, Frequency.ONCE, extra).start()

    def give_recurring(self, person: Person, frequency: Frequency, at: datetime) -> None:
        """Live through a recurring gift; a donor who cancels may start another one later."""
        while True:
            life = GiftLife(self, person, frequency, at)
            life.start()
            life.live()
            gift = life.gift
            if gift is None or gift.status is not GiftStatus.CANCELLED:
                return
            if gift.cancellation_channel not in ("donor", "stripe_dashboard"):
                return
            if self.rng.random() >= c.REACTIVATION_SHARE or gift.cancelled_at is None:
                return
            at, frequency = gift.cancelled_at + self.rng.uniform(30, 180) * c.DAY, Frequency.MONTH
            if at >= self.until:
                return

    def add_banner_stats(self, campaign_id: int, donors: int) -> int:
        """Add each variant's daily counters, consistent with the gifts its banner brought:
        impressions far above views, above clicks, above gifts; return how many rows."""
        rng = self.rng
        known = set(
            db.session.execute(
                sa.select(BannerStat.variant_id, BannerStat.day).where(BannerStat.campaign_id == campaign_id)
            ).all()
        )
        days = (self.end - self.start).days
        browsing = max(3.0, donors * c.ATTRIBUTED_SHARE / max(days, 1) / len(self.variant_ids))
        click_rates = {variant: rng.uniform(0.02, 0.04) for variant in self.variant_ids}
        rows = []
        for index in range(days):
            day = (self.start + index * c.DAY).date()
            for variant in self.variant_ids:
                if (variant, day) in known:
                    continue
                gifts = self.gifts_by_day[variant, day]
                clicks = max(1, round(gifts * rng.uniform(8, 14) + browsing * rng.uniform(0.6, 1.4)))
                views = math.ceil(clicks / (click_rates[variant] * rng.uniform(0.85, 1.15)))
                rows.append(
                    {
                        "campaign_id": campaign_id,
                        "variant_id": variant,
                        "day": day,
                        "impressions": math.ceil(views * rng.uniform(1.8, 2.6)),
                        "views": views,
                        "clicks": clicks,
                        "dismissals": round(views * rng.uniform(0.03, 0.08)),
                    }
                )
        if rows:
            db.session.execute(sa.insert(BannerStat), rows)
        db.session.commit()
        return len(rows)
