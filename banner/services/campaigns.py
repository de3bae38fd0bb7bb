"""Campaigns as donors and the banner see them."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from banner import stats
from banner.extensions import db
from banner.models import (
    PAID,
    BannerStat,
    Campaign,
    CampaignStatus,
    Frequency,
    Gift,
    GiftStatus,
    GoalMode,
    Variant,
    utcnow,
)


@dataclass(frozen=True)
class Progress:
    raised: int  #: minor units, net of refunds
    goal: int
    currency: str

    @property
    def percent(self) -> int:
        return min(100, self.raised * 100 // self.goal)


def find(slug: str | None) -> Campaign | None:
    """Return the campaign with this slug, or None."""
    if not slug:
        return None
    return db.session.scalar(sa.select(Campaign).where(Campaign.slug == slug))


def find_variant(campaign: Campaign | None, key: str | None) -> Variant | None:
    """Return the campaign's variant with this key, or None."""
    if campaign is None or not key:
        return None
    return db.session.scalar(sa.select(Variant).where(Variant.campaign_id == campaign.id, Variant.key == key))


def goal_progress(campaign: Campaign) -> Progress:
    """Return the campaign's progress, summed at most once per BANNER_CACHE_SECONDS per process."""
    cache = current_app.extensions.setdefault("progress_cache", {})
    key = (campaign.id, campaign.goal_mode, campaign.currency)
    hit = cache.get(key)
    if hit is None or hit[0] <= time.monotonic():
        hit = (time.monotonic() + current_app.config["CACHE_SECONDS"], _raised(campaign))
        cache[key] = hit
    return Progress(raised=hit[1], goal=campaign.goal_amount, currency=campaign.currency)


def _raised(campaign: Campaign) -> int:
    """Return what the campaign has raised towards its goal, in its own currency.

    "raised": money received, net of refunds. "committed": the same, except that each active
    monthly or yearly gift counts for a year of its amount (12 months, or one year) instead of
    what it has paid so far; a cancelled gift keeps only what it paid. Added up from the gifts'
    own totals (`Gift.received`), not from every payment.
    """
    paid = (
        sa.select(Gift.status, Gift.frequency, sa.func.coalesce(sa.func.sum(Gift.received), 0))
        .where(Gift.campaign_id == campaign.id, Gift.currency == campaign.currency)
        .group_by(Gift.status, Gift.frequency)
    )
    raised = 0
    for status, frequency, amount in db.session.execute(paid):
        if campaign.goal_mode is GoalMode.COMMITTED and _commits(status, frequency):
            continue
        raised += int(amount)
    if campaign.goal_mode is GoalMode.COMMITTED:
        yearly = sa.case((Gift.frequency == Frequency.MONTH, Gift.amount * 12), else_=Gift.amount)
        raised += (
            db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(yearly), 0)).where(
                    Gift.campaign_id == campaign.id,
                    Gift.currency == campaign.currency,
                    Gift.status == GiftStatus.ACTIVE,
                    Gift.frequency != Frequency.ONCE,
                )
            )
            or 0
        )
    return int(raised)


def _commits(status: GiftStatus, frequency: Frequency) -> bool:
    return status is GiftStatus.ACTIVE and frequency is not Frequency.ONCE


DEFAULT_PRESETS = [500, 1000, 2500, 5000]


def default_campaign() -> Campaign | None:
    """Return the live campaign of highest priority, for a donate page reached without one."""
    now = utcnow()
    live = db.session.scalars(
        sa.select(Campaign)
        .where(Campaign.status == CampaignStatus.LIVE)
        .order_by(Campaign.priority.desc(), Campaign.id)
    )
    return next((campaign for campaign in live if campaign.is_live(now)), None)


def default_amounts(variant: Variant | None) -> dict[str, int]:
    """Return the amount chosen for the reader at first, per frequency (none: no choice)."""
    return dict(variant.default_amounts or {}) if variant is not None else {}


def preset_amounts(campaign: Campaign | None, variant: Variant | None) -> list[int]:
    """Return the suggested amounts: the variant's, else the campaign's, else a default."""
    if variant is not None and variant.preset_amounts:
        return variant.preset_amounts
    if campaign is not None and campaign.preset_amounts:
        return campaign.preset_amounts
    return DEFAULT_PRESETS


@dataclass(frozen=True)
class VariantResult:
    """How one banner variant did: its funnel, rates with 95% intervals, and its chance of being
    the best at turning impressions into gifts."""

    key: str
    heading: str
    impressions: int
    views: int
    clicks: int
    dismissals: int
    gifts: int
    money_once: int  #: minor units received from one-time gifts, net of refunds
    new_monthly: int  #: MRR of the recurring gifts it started (`Gift.monthly_value`)
    click_rate: float
    click_interval: tuple[float, float]
    gift_rate: float  #: gifts per impression
    gift_interval: tuple[float, float]
    probability_best: float | None  #: None: no impressions yet, nothing to tell


def variant_results(
    campaign: Campaign, since: datetime | None = None, until: datetime | None = None
) -> list[VariantResult]:
    """Return each variant's results, counted with SQL aggregates, in variant order: the banner's
    counters of the days from `since` to before `until`, and the gifts made then (all by default)."""
    # The counters are kept per UTC day: those of the days the window overlaps count.
    days, made = [], []
    if since is not None:
        days.append(BannerStat.day >= since.astimezone(UTC).date())
        made.append(Gift.created_at >= since)
    if until is not None:
        days.append(BannerStat.day <= (until - timedelta(microseconds=1)).astimezone(UTC).date())
        made.append(Gift.created_at < until)
    counters = {
        row.variant_id: row
        for row in db.session.execute(
            sa.select(
                BannerStat.variant_id,
                sa.func.sum(BannerStat.impressions).label("impressions"),
                sa.func.sum(BannerStat.views).label("views"),
                sa.func.sum(BannerStat.clicks).label("clicks"),
                sa.func.sum(BannerStat.dismissals).label("dismissals"),
            )
            .where(BannerStat.campaign_id == campaign.id, *days)
            .group_by(BannerStat.variant_id)
        )
    }
    paid = Gift.status.in_(PAID)
    gifts = {
        row.variant_id: row
        for row in db.session.execute(
            sa.select(
                Gift.variant_id,
                sa.func.count(Gift.id).filter(paid).label("gifts"),
                sa.func.coalesce(sa.func.sum(Gift.monthly_value), 0).label("new_monthly"),
                sa.func.coalesce(
                    sa.func.sum(Gift.received).filter(Gift.frequency == Frequency.ONCE), 0
                ).label("money_once"),
            )
            .where(Gift.campaign_id == campaign.id, Gift.currency == campaign.currency, *made)
            .group_by(Gift.variant_id)
        )
    }
    rows = []
    for variant in campaign.variants:
        counter, gift = counters.get(variant.id), gifts.get(variant.id)
        impressions = int(counter.impressions) if counter else 0
        clicks = int(counter.clicks) if counter else 0
        given = int(gift.gifts) if gift else 0
        rows.append((variant, counter, gift, impressions, clicks, given))
    # Only variants that were shown compete; one never shown has no chance to tell yet.
    shown = [(given, impressions) for *_, impressions, _, given in rows if impressions > 0]
    chances = iter(stats.probability_best(shown))
    best = [next(chances) if impressions > 0 else None for *_, impressions, _, _ in rows]
    return [
        VariantResult(
            key=variant.key,
            heading=variant.heading,
            impressions=impressions,
            views=int(counter.views) if counter else 0,
            clicks=clicks,
            dismissals=int(counter.dismissals) if counter else 0,
            gifts=given,
            money_once=int(gift.money_once) if gift else 0,
            new_monthly=int(gift.new_monthly) if gift else 0,
            click_rate=stats.rate(clicks, impressions),
            click_interval=stats.wilson_interval(clicks, impressions),
            gift_rate=stats.rate(given, impressions),
            gift_interval=stats.wilson_interval(given, impressions),
            probability_best=chance,
        )
        for (variant, counter, gift, impressions, clicks, given), chance in zip(rows, best, strict=True)
    ]
