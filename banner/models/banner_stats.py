"""Banner counters: impressions, views, clicks and dismissals per campaign, variant and day."""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from banner.extensions import Model

#: what the banner script reports, and the counter column each one adds to
EVENT_COLUMNS = {
    "impression": "impressions",  # rendered
    "view": "views",  # at least half visible for a second
    "click": "clicks",
    "dismiss": "dismissals",
}


class BannerStat(Model):
    __tablename__ = "banner_stats"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "variant_id", "day", name="uq_banner_stats_variant_day"),
        sa.CheckConstraint(
            "impressions >= 0 AND views >= 0 AND clicks >= 0 AND dismissals >= 0",
            name="counts_not_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(sa.ForeignKey("variants.id", ondelete="CASCADE"))
    day: Mapped[date]
    impressions: Mapped[int] = mapped_column(default=0)
    views: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    dismissals: Mapped[int] = mapped_column(default=0)
