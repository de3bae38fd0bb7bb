"""The overview report: money received in a period, and the live campaigns."""

from dataclasses import dataclass

import sqlalchemy as sa

from banner.extensions import db
from banner.models import Campaign, CampaignStatus, Frequency, Gift, Payment, utcnow
from banner.services import campaigns
from banner.services.reports.periods import Period


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
