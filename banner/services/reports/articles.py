"""Which articles bring money and new monthly donors, and the campaigns for the banners report."""

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from banner.extensions import db
from banner.models import Campaign, Gift, GiftEvent, Payment
from banner.services.reports.periods import Period


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
