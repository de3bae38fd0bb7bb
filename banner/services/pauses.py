"""The pauses a donor may take: which charges they skip and when giving resumes."""

from dataclasses import dataclass
from datetime import datetime

from banner import billing
from banner.models import Frequency, Gift
from banner.services.reports.periods import day_month


@dataclass(frozen=True)
class PauseOption:
    """A pause as the donor is offered it: the charges it skips and the one giving resumes with."""

    skipped: list[datetime]
    resumes_on: datetime

    @property
    def count(self) -> int:
        return len(self.skipped)

    def describe(self) -> str:
        dates = ", ".join(day_month(d) for d in self.skipped)
        resumes = day_month(self.resumes_on)
        if self.count == 1:
            return f"Your next charge ({dates}) is skipped; giving resumes on {resumes}."
        return f"Your next {self.count} charges ({dates}) are skipped; giving resumes on {resumes}."


#: how many charges a donor may skip, by how often they give: a yearly gift skips one or none
PAUSE_LENGTHS = {Frequency.MONTH: (1, 2, 3), Frequency.YEAR: (1,)}


def pause_option(
    gift: Gift, skipped: int, next_charge: datetime | None = None, anchor_day: int | None = None
) -> PauseOption | None:
    """Return what skipping the next `skipped` charges means for this gift, or None when it cannot
    pause that long (or its next charge is unknown)."""
    next_charge = next_charge or gift.current_period_end
    if next_charge is None or skipped not in PAUSE_LENGTHS.get(gift.frequency, ()):
        return None
    interval = gift.frequency.value
    dates = billing.charge_dates(next_charge, interval, skipped + 1, anchor_day)
    return PauseOption(skipped=dates[:-1], resumes_on=dates[-1])


def pause_options(gift: Gift) -> list[PauseOption]:
    """Return the pauses this gift may take, shortest first, from what this service knows."""
    options = (pause_option(gift, skipped) for skipped in PAUSE_LENGTHS.get(gift.frequency, ()))
    return [option for option in options if option is not None]
