"""What the banner script remembers of a reader who gave: until when they are a current donor.

Links back to the article from the thank-you and cancellation pages end in `#banner-gave-<days>`:
a current donor for that many days, a former one after (`#banner-gave-0`: a former donor now).
The script keeps the end in `localStorage`; while it lies ahead the reader is shown nothing and
nothing is asked, after it the script tells /api/banner `donor=former` (the campaign's variants
for former donors, when it has some). /api/banner also answers `donor=current` with nothing.
"""

from math import ceil

from banner.models import Frequency, Gift, utcnow

#: a monthly or yearly gift: current until the cancellation page says otherwise (a gift that
#: lapses without it, after failed payments, counts as current this long)
RECURRING_DAYS = 3650
#: a one-time gift with no campaign: a current donor as long as the campaigns' default says
ONCE_DAYS = 365


def gave_marker(gift: Gift) -> str:
    """Return the marker of the link back to the article after this gift was made."""
    if gift.frequency is not Frequency.ONCE:
        return f"banner-gave-{RECURRING_DAYS}"
    return f"banner-gave-{gift.campaign.gave_hide_days if gift.campaign else ONCE_DAYS}"


def cancelled_marker(gift: Gift) -> str:
    """Return the marker of the link back to the article after this gift was cancelled: a former
    donor once the period they paid for ends."""
    end = gift.current_period_end
    days_left = (end - utcnow()).total_seconds() / 86400 if end is not None else 0
    return f"banner-gave-{ceil(days_left)}" if days_left > 0 else "banner-gave-0"
