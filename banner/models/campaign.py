"""Campaigns and their banner variants."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from banner.extensions import Model
from banner.models.base import CURRENCY_CHECK, UTCDateTime, enum_column, utcnow


class CampaignStatus(enum.Enum):
    DRAFT = "draft"
    LIVE = "live"
    PAUSED = "paused"
    ENDED = "ended"


class GoalMode(enum.Enum):
    RAISED = "raised"  #: money received so far
    COMMITTED = "committed"  #: one-time gifts plus a year of each active recurring gift


class Placement(enum.Enum):
    TOP = "top"
    BOTTOM = "bottom"
    SLOT = "slot"  #: the host page's reserved <div data-donation-banner>


class Campaign(Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        sa.CheckConstraint("goal_amount > 0", name="goal_positive"),
        sa.CheckConstraint(CURRENCY_CHECK, name="currency_valid"),
        sa.CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="dates_ordered"
        ),
        sa.CheckConstraint("dismiss_days >= 0 AND gave_hide_days >= 0", name="hide_days_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    goal_amount: Mapped[int]  #: minor units of `currency`
    currency: Mapped[str] = mapped_column(sa.String(3), default="usd")
    goal_mode: Mapped[GoalMode] = mapped_column(enum_column(GoalMode), default=GoalMode.RAISED)
    status: Mapped[CampaignStatus] = mapped_column(enum_column(CampaignStatus), default=CampaignStatus.DRAFT)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[int] = mapped_column(default=0)  #: the highest live match wins
    #: suggested gifts in minor units, e.g. [500, 1000, 2500]
    preset_amounts: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    #: targeting: article path prefixes to include / exclude, referrer domains
    path_include: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    path_exclude: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    referrer_domains: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    placement: Mapped[Placement] = mapped_column(enum_column(Placement), default=Placement.BOTTOM)
    dismiss_days: Mapped[int] = mapped_column(default=14)  #: hide after a reader closes it
    #: a gift once from this campaign hides every banner this long, then the reader is a former donor
    gave_hide_days: Mapped[int] = mapped_column(default=365)
    daily_cap: Mapped[int | None]  #: impressions per reader per day; None is no cap
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    variants: Mapped[list["Variant"]] = relationship(
        back_populates="campaign", order_by="Variant.id", cascade="all, delete-orphan"
    )

    def is_live(self, now: datetime) -> bool:
        return (
            self.status is CampaignStatus.LIVE
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )


class Variant(Model):
    """One version of a campaign's banner copy, shown to a share of readers by weight."""

    __tablename__ = "variants"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "key", name="uq_variants_campaign_key"),
        sa.CheckConstraint("weight >= 0", name="weight_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(40))  #: short name used in URLs, e.g. "a"
    heading: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")  #: plain text, never HTML
    button_text: Mapped[str] = mapped_column(sa.String(60), default="Give now")
    preset_amounts: Mapped[list[int] | None] = mapped_column(sa.JSON)  #: None: the campaign's
    #: the amount chosen for the reader at first, per frequency: {"once": 2500, "month": 1000}
    default_amounts: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict, server_default="{}")
    #: call the chosen amount "Most popular" on the donate page
    popular_label: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    theme: Mapped[str] = mapped_column(sa.String(20), default="light")
    weight: Mapped[int] = mapped_column(default=1)
    #: who sees it: "all" readers or "former" donors (a welcome-back message)
    audience: Mapped[str] = mapped_column(sa.String(20), default="all")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="variants")


class CampaignsVersion(Model):
    """One row whose number grows with every staff change to campaigns: each instance compares
    it with the number its cached banners were built at (when no Redis holds that number)."""

    __tablename__ = "campaigns_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
