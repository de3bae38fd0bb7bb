"""Yearly statements e-mailed to donors: one row per donor and year, so a second run sends none."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from banner.extensions import Model
from banner.models.base import UTCDateTime, utcnow


class YearlyStatement(Model):
    __tablename__ = "yearly_statements"
    __table_args__ = (
        sa.UniqueConstraint("donor_id", "year"),
        sa.CheckConstraint("year BETWEEN 2000 AND 9999", name="year_plausible"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(sa.ForeignKey("donors.id"), index=True)
    year: Mapped[int]  #: the calendar year in the site's time zone (BANNER_TIMEZONE)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  #: queued in the outbox
