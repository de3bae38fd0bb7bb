"""Donor reports for staff: money raised, monthly revenue, churn and its reasons, retention,
and which banners and articles bring money.

Everything is counted by SQL aggregates, one currency at a time; Python only arranges the few
aggregated rows. Monthly recurring revenue (MRR) comes from the "mrr" GiftEvents (see
banner/models/donor.py): each change of a gift's monthly value is a movement (new,
reactivation, expansion, contraction, voluntary or involuntary churn) with its delta, so MRR at
any date is the sum of the deltas before it, and a month's waterfall is the sum of its deltas
by movement. A donor is active while the sum over their gifts is above zero. A gift's monthly
value is `Gift.monthly_value`, the one rule shared by Python and SQL.

Days and months are the newsroom's, in BANNER_TIMEZONE: a month's boundaries are worked out in
Python and compared with the UTC timestamps, so SQLite and PostgreSQL group alike.

One module per report (overview, recurring, cancellations, retention, articles), and periods.py
for the newsroom's days and months; everything is importable from here.
"""

from datetime import UTC

from banner.services.reports.articles import (
    Article,
    campaign_list,
    top_articles,
)
from banner.services.reports.cancellations import (
    CancellationComment,
    Cancellations,
    cancellations,
    reason_words,
)
from banner.services.reports.overview import (
    Overview,
    overview,
)
from banner.services.reports.periods import (
    AFTER,
    BEFORE,
    Period,
    currencies,
    day_month,
    local_date,
    local_midnight,
    month_key,
    month_start,
    months_back,
    newsroom_date,
    next_month,
    site_zone,
    today,
)
from banner.services.reports.recurring import (
    CHURN,
    MOVEMENTS,
    Month,
    Rate,
    Recurring,
    Renewals,
    recurring,
    renewals,
)
from banner.services.reports.retention import (
    Cohort,
    Retention,
    retention,
)

__all__ = [
    "AFTER",
    "BEFORE",
    "CHURN",
    "MOVEMENTS",
    "UTC",
    "Article",
    "CancellationComment",
    "Cancellations",
    "Cohort",
    "Month",
    "Overview",
    "Period",
    "Rate",
    "Recurring",
    "Renewals",
    "Retention",
    "campaign_list",
    "cancellations",
    "currencies",
    "day_month",
    "local_date",
    "local_midnight",
    "month_key",
    "month_start",
    "months_back",
    "newsroom_date",
    "next_month",
    "overview",
    "reason_words",
    "recurring",
    "renewals",
    "retention",
    "site_zone",
    "today",
    "top_articles",
]
