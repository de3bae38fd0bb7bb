"""Campaigns as donors and the banner see them."""

from dataclasses import dataclass

import sqlalchemy as sa

from banner.extensions import db
from banner.models import (
    Campaign,
    CampaignStatus,
    Frequency,
    Gift,
    GiftStatus,
    GoalMode,
    Payment,
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
    """Return the campaign's progress towards its goal, in its own currency.

    "raised": money received, net of refunds. "committed": the same, except that each active
    monthly or yearly gift counts for a year of its amount (12 months, or one year) instead of
    what it has paid so far; a cancelled gift keeps only what it paid.
    """
    net = Payment.amount - Payment.amount_refunded
    paid = (
        sa.select(Gift.status, Gift.frequency, sa.func.coalesce(sa.func.sum(net), 0))
        .join(Payment, Payment.gift_id == Gift.id)
        .where(Gift.campaign_id == campaign.id, Payment.currency == campaign.currency)
        .group_by(Gift.status, Gift.frequency)
    )
    raised = 0
    for status, frequency, amount in db.session.execute(paid):
        if campaign.goal_mode is GoalMode.COMMITTED and _commits(status, frequency):
            continue
        raised += int(amount)
    if campaign.goal_mode is GoalMode.COMMITTED:
        yearly = sa.case((Gift.frequency == Frequency.MONTH, Gift.amount * 12), else_=Gift.amount)
        raised += db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(yearly), 0)).where(
                Gift.campaign_id == campaign.id,
                Gift.currency == campaign.currency,
                Gift.status == GiftStatus.ACTIVE,
                Gift.frequency != Frequency.ONCE,
            )
        )
    return Progress(raised=int(raised), goal=campaign.goal_amount, currency=campaign.currency)


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


def preset_amounts(campaign: Campaign | None, variant: Variant | None) -> list[int]:
    """Return the suggested amounts: the variant's, else the campaign's, else a default."""
    if variant is not None and variant.preset_amounts:
        return variant.preset_amounts
    if campaign is not None and campaign.preset_amounts:
        return campaign.preset_amounts
    return DEFAULT_PRESETS
