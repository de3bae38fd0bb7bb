"""The calendar of a recurring gift's charges, reckoned the way Stripe bills from its anchor.

Stripe charges a monthly gift on its billing anchor's day of the month, or on the last day of a
month too short for it (anchored on 31 January: 28 or 29 February, 31 March, 30 April), and a
yearly gift on the anchor's day and month (29 February falls on 28 February in other years).
"""

import calendar
from datetime import datetime, timedelta

#: how long after a skipped charge a pause ends: late enough that Stripe has made (and voided)
#: that charge's invoice, long before the next one
PAUSE_MARGIN = timedelta(hours=12)


def _shift(moment: datetime, months: int, anchor_day: int) -> datetime:
    """Return `moment` moved by whole months, on `anchor_day` or the month's last day."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(anchor_day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def charge_dates(
    next_charge: datetime, interval: str, count: int, anchor_day: int | None = None
) -> list[datetime]:
    """Return the next `count` charge dates from `next_charge`, one `interval` apart.

    `anchor_day` is the day of the month of the billing anchor; when `next_charge` fell on a
    month's last day it may be later (the 31st for a charge on 30 April).
    """
    day = max(anchor_day or next_charge.day, next_charge.day)
    months = {"month": 1, "year": 12}[interval]
    return [_shift(next_charge, months * n, day) for n in range(count)]


def pause_end(next_charge: datetime, interval: str, skipped: int, anchor_day: int | None = None) -> datetime:
    """Return when a pause that skips the next `skipped` charges should end: just after the last
    of them."""
    return charge_dates(next_charge, interval, skipped, anchor_day)[-1] + PAUSE_MARGIN


def next_charge_after(
    moment: datetime, next_charge: datetime, interval: str, anchor_day: int | None = None
) -> datetime:
    """Return the first charge date from `next_charge` on that comes after `moment`."""
    count = 1
    while (last := charge_dates(next_charge, interval, count, anchor_day)[-1]) <= moment:
        count += 1
    return last
