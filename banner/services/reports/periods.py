"""The newsroom's days and months (BANNER_TIMEZONE), as the reports count them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from banner.extensions import db
from banner.models import Gift, utcnow


def site_zone() -> tzinfo:
    """Return the newsroom's time zone (BANNER_TIMEZONE)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def local_date(moment: datetime) -> date:
    """Return the day a moment falls on in the newsroom's time zone."""
    return moment.astimezone(site_zone()).date()


def newsroom_date(moment: datetime) -> str:
    """Return a moment's day as a donor's page or mail says it, in the newsroom's time zone
    (BANNER_TIMEZONE), as on the receipts: "01 January 2027"."""
    return f"{local_date(moment):%d %B %Y}"


def day_month(moment: datetime) -> str:
    """The same without the leading zero, as a sentence says it: "1 January 2027"."""
    day = local_date(moment)
    return f"{day.day} {day:%B %Y}"


def local_midnight(day: date) -> datetime:
    """Return the UTC moment the newsroom's `day` begins."""
    return datetime(day.year, day.month, day.day, tzinfo=site_zone()).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """Days of the newsroom's calendar, from `start` to `end` inclusive."""

    start: date
    end: date  #: inclusive

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        return local_midnight(date.fromordinal(self.end.toordinal() + 1))

    @property
    def months(self) -> list[str]:
        """Return the months the period touches as "YYYY-MM", oldest first."""
        first, last = self.start.year * 12 + self.start.month - 1, self.end.year * 12 + self.end.month - 1
        return [f"{index // 12:04d}-{index % 12 + 1:02d}" for index in range(first, max(first, last) + 1)]


def today() -> date:
    """Return the newsroom's date now."""
    return local_date(utcnow())


def currencies() -> list[str]:
    """Return the currencies gifts were made in, the site's default first."""
    default = current_app.config["DEFAULT_CURRENCY"]
    used = db.session.scalars(sa.select(Gift.currency).distinct()).all()
    return [default, *sorted(c for c in used if c != default)]


#: the month key of moments before, and after, the months asked about
BEFORE, AFTER = "0000-00", "9999-99"


def month_key(column, keys: Sequence[str]):
    """SQL for the newsroom's month ("YYYY-MM", one of `keys`) of a UTC timestamp column; BEFORE
    or AFTER outside them."""
    bounds = [month_start(key) for key in keys] + [month_start(next_month(keys[-1]))]
    return sa.case(
        (column < bounds[0], BEFORE),
        *((column < bound, key) for key, bound in zip(keys, bounds[1:], strict=True)),
        else_=AFTER,
    )


def next_month(key: str) -> str:
    year, month = (int(part) for part in key.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def months_back(count: int, day: date | None = None) -> list[str]:
    """Return the last `count` months as "YYYY-MM", oldest first, ending with `day`'s (today's)."""
    day = day or today()
    keys, year, month = [], day.year, day.month
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return keys[::-1]


def month_start(key: str) -> datetime:
    """Return the UTC moment the newsroom's month `key` begins."""
    year, month = (int(part) for part in key.split("-"))
    return local_midnight(date(year, month, 1))
