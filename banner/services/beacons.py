"""Banner events from readers' browsers, added to per-day counters (one row per variant and day).

Anyone can post events, so only those that could be true are counted: events of campaigns live
now, and no more clicks than impressions from one reader (the banner's anonymous id, else the
address) for a campaign in a day. That tally is kept for two days beside the rate limits (Redis
when BANNER_REDIS_URL is set), never in the database.
"""

import logging
from collections import Counter
from datetime import date

import sqlalchemy as sa

from banner.extensions import db, limiter
from banner.models import (
    EVENT_COLUMNS,
    BannerStat,
    Campaign,
    CampaignStatus,
    Variant,
    insert_on_conflict,
    utcnow,
)

log = logging.getLogger(__name__)
TALLY_SECONDS = 2 * 86_400


def record(events: list[tuple[str, str, str]], day: date, reader: str) -> int:
    """Count (kind, campaign slug, variant key) events of `reader` for `day`; events of unknown or
    not live campaigns, and clicks beyond the reader's impressions, are ignored. Return how many
    were counted.

    One connection in autocommit, outside the request's session: a read, then at most one write
    that commits itself (see _add), and no transaction to begin or end around them."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        known = _live_variants(connection, {campaign for _, campaign, _ in events})
        counts: dict[tuple[int, int], Counter] = {}
        # impressions first: a batch may carry the impression and its click together
        for kind, slug, key in sorted(events, key=lambda event: event[0] != "impression"):
            ids = known.get((slug, key))
            if ids is not None and _plausible(kind, slug, reader, day):
                counts.setdefault(ids, Counter())[EVENT_COLUMNS[kind]] += 1
        if counts:
            _add(connection, day, counts)
    return sum(sum(columns.values()) for columns in counts.values())


def _live_variants(connection: sa.Connection, slugs: set[str]) -> dict[tuple[str, str], tuple[int, int]]:
    now = utcnow()
    return {
        (slug, key): (campaign_id, variant_id)
        for campaign_id, slug, variant_id, key in connection.execute(
            sa.select(Campaign.id, Campaign.slug, Variant.id, Variant.key)
            .join(Variant, Variant.campaign_id == Campaign.id)
            .where(
                Campaign.slug.in_(slugs),
                Campaign.status == CampaignStatus.LIVE,
                sa.or_(Campaign.starts_at.is_(None), Campaign.starts_at <= now),
                sa.or_(Campaign.ends_at.is_(None), Campaign.ends_at > now),
            )
        )
    }


def _plausible(kind: str, slug: str, reader: str, day: date) -> bool:
    """Tally the reader's impressions and clicks; return False for a click with no impression left."""
    if kind not in ("impression", "click"):
        return True
    key = f"beacons:{day.isoformat()}:{slug}:{reader}"
    try:
        if kind == "impression":
            limiter.storage.incr(key + ":impressions", TALLY_SECONDS)
            return True
        clicks = limiter.storage.incr(key + ":clicks", TALLY_SECONDS)
        return clicks <= limiter.storage.get(key + ":impressions")
    except Exception:  # whatever the store (memory, Redis) raises when down: count, do not fail
        log.warning("beacon tally unavailable", exc_info=True)
        return True


def _add(connection: sa.Connection, day: date, counts: dict[tuple[int, int], Counter]) -> None:
    """Add to the day's counters of each (campaign, variant) in one upsert, committed on its own.

    Every beacon adds to the same few rows: in a transaction, a row would stay locked until the
    request's commit and concurrent beacons would wait for each other that long; committed with
    its statement (autocommit), a row is locked only while the statement runs. The rows are
    written in one order, so two batches never wait on each other's rows crosswise."""
    rows = [
        {"campaign_id": campaign_id, "variant_id": variant_id, "day": day}
        | {column: counts[(campaign_id, variant_id)].get(column, 0) for column in EVENT_COLUMNS.values()}
        for campaign_id, variant_id in sorted(counts)
    ]
    insert = insert_on_conflict(connection, BannerStat).values(rows)
    table = BannerStat.__table__
    statement = insert.on_conflict_do_update(  # every column, so that the statement compiles once
        index_elements=["campaign_id", "variant_id", "day"],
        set_={column: table.c[column] + insert.excluded[column] for column in EVENT_COLUMNS.values()},
    )
    connection.execute(statement)
