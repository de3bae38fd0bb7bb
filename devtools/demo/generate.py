"""`generate`: add a history, and say what it holds (including what mail each kind of event queued)."""

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from banner.cli import DEMO_CAMPAIGN
from banner.extensions import db
from banner.models import Campaign, Donor, Gift, GiftEvent, Payment, StripeEvent, utcnow
from devtools.demo.choices import MONTHLY_SHARE, YEARLY_SHARE, add_months
from devtools.demo.history import World

CAMPAIGN = DEMO_CAMPAIGN  #: seed-demo's live campaign, whose banner brought a share of the gifts
COUNTED = {
    "donors": Donor,
    "gifts": Gift,
    "payments": Payment,
    "events": GiftEvent,
    "stripe_events": StripeEvent,
}


@dataclass(frozen=True)
class Summary:
    donors: int
    gifts: int
    payments: int
    events: int  #: gift events (status changes, payments, movements, ...)
    banner_stats: int  #: counter rows, one per variant and day
    seconds: float
    stripe_events: int = 0  #: Stripe events applied through the webhook's function
    #: how many of each step were applied: a Stripe event type, or a donate or manage page action
    applied: Counter[str] = field(default_factory=Counter)
    #: (step, mail kind) -> messages the step queued in the outbox
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: renewals failed, and of those: recovered (paid on a retry), lost (Stripe ended the gift),
    #: still retrying
    renewals: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The figures as the CLI prints them: messages per step, then renewals recovered."""
        out = ["Messages queued per lifecycle event (kept in the outbox, marked sent):"]
        for step, count in sorted(self.applied.items()):
            kinds = {kind: n for (label, kind), n in self.messages.items() if label == step}
            queued = ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items())) or "none"
            out.append(
                f"  {step:<34} {count:>7,} applied  {sum(kinds.values()) / count:5.2f} a time  ({queued})"
            )
        failed = self.renewals["failed"]
        recovered, lost = self.renewals["recovered"], self.renewals["lost"]
        share = f" ({recovered / failed:.0%})" if failed else ""
        out.append(
            f"Renewals recovered: {recovered:,} of {failed:,} failed renewals paid later{share}, "
            f"{lost:,} lost, {self.renewals['still retrying']:,} still retrying."
        )
        return out


def donors_exist() -> bool:
    return db.session.scalar(sa.select(Donor.id).limit(1)) is not None


def _counts() -> dict[str, int]:
    return {
        name: db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
        for name, model in COUNTED.items()
    }


@contextmanager
def _unsynced_sqlite() -> Iterator[None]:
    """On SQLite, skip the wait for the disk at each of the history's many commits (a crash
    loses the demo history, nothing else); the pragma holds on the one connection a single
    thread reuses."""
    if db.session.get_bind().dialect.name != "sqlite":
        yield
        return
    level = db.session.execute(sa.text("PRAGMA synchronous")).scalar()
    db.session.commit()
    db.session.execute(sa.text("PRAGMA synchronous=OFF"))
    try:
        yield
    finally:
        db.session.commit()
        db.session.execute(sa.text(f"PRAGMA synchronous={int(level or 2)}"))


def generate(
    donors: int,
    months: int = 12,
    seed: int = 1,
    *,
    monthly_share: float = MONTHLY_SHARE,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary | None:
    """Add `donors` donors with `months` months of history ending at midnight UTC before `now`.

    `monthly_share` of the donors start with a monthly gift (`YEARLY_SHARE` with a yearly one, the
    rest give once). Adds nothing and returns None when there are donors already. Needs the "spring"
    campaign (seed-demo adds it), whose start it moves back to the beginning of the history.
    """
    if donors_exist():
        return None
    started = time.perf_counter()
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.slug == CAMPAIGN))
    if campaign is None or not campaign.variants:
        raise ValueError(f"the {CAMPAIGN!r} campaign and its variants come first (seed-demo adds them)")
    if not 0 <= monthly_share <= 1 - YEARLY_SHARE:
        raise ValueError(f"the monthly share must be between 0 and {1 - YEARLY_SHARE:g}")
    end = (now or utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    start = add_months(end, -months)
    if campaign.starts_at is None or campaign.starts_at > start:
        campaign.starts_at = start
    db.session.commit()
    before = _counts()
    world = World(campaign, start, end, random.Random(seed), monthly_share)
    with _unsynced_sqlite(), world.recorder.running(), world.stripe.answering():
        for _ in range(donors):
            world.add_donor()
            if progress is not None:
                progress(1)
    banner_stats = world.add_banner_stats(campaign.id, donors)
    added = {name: count - before[name] for name, count in _counts().items()}
    return Summary(
        donors=added["donors"],
        gifts=added["gifts"],
        payments=added["payments"],
        events=added["events"],
        banner_stats=banner_stats,
        seconds=time.perf_counter() - started,
        stripe_events=added["stripe_events"],
        applied=world.recorder.applied,
        messages=world.recorder.messages,
        renewals=world.renewals,
    )
