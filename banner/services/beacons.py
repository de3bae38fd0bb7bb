"""Banner events from readers' browsers, added to per-day counters (one row per variant and day)."""

from collections import Counter
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from banner.extensions import db
from banner.models import EVENT_COLUMNS, BannerStat, Campaign, Variant


def record(events: list[tuple[str, str, str]], day: date) -> int:
    """Count (kind, campaign slug, variant key) events for `day`; unknown campaigns or variants
    are ignored. Return how many were counted."""
    slugs = {campaign for _, campaign, _ in events}
    known = {
        (slug, key): (campaign_id, variant_id)
        for campaign_id, slug, variant_id, key in db.session.execute(
            sa.select(Campaign.id, Campaign.slug, Variant.id, Variant.key)
            .join(Variant, Variant.campaign_id == Campaign.id)
            .where(Campaign.slug.in_(slugs))
        )
    }
    counts: dict[tuple[int, int], Counter] = {}
    for kind, slug, key in events:
        ids = known.get((slug, key))
        if ids is not None:
            counts.setdefault(ids, Counter())[EVENT_COLUMNS[kind]] += 1
    for (campaign_id, variant_id), columns in counts.items():
        _add(campaign_id, variant_id, day, columns)
    db.session.commit()
    return sum(sum(columns.values()) for columns in counts.values())


def _add(campaign_id: int, variant_id: int, day: date, columns: Counter) -> None:
    """Add to the day's counters in one atomic upsert, safe under concurrent requests."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    values = {"campaign_id": campaign_id, "variant_id": variant_id, "day": day}
    values.update({column: columns.get(column, 0) for column in EVENT_COLUMNS.values()})
    insert = dialect.insert(BannerStat).values(values)
    table = BannerStat.__table__
    db.session.execute(
        insert.on_conflict_do_update(
            index_elements=["campaign_id", "variant_id", "day"],
            set_={column: table.c[column] + insert.excluded[column] for column in columns},
        )
    )
