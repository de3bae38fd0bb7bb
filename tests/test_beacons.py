"""Banner events count only what could be true: live campaigns, within limits, clicks after impressions."""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import BannerStat, CampaignStatus, utcnow

READER = "reader-0123456789"


def beacon(client, *events, reader=None, address="192.0.2.1"):
    body = {"events": [{"type": kind, "campaign": "spring", "variant": "a"} for kind in events]}
    if reader:
        body["reader"] = reader
    return client.post(
        "/api/events",
        data=json.dumps(body),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
        environ_base={"REMOTE_ADDR": address},
    )


def counted():
    db.session.expire_all()
    rows = db.session.scalars(sa.select(BannerStat)).all()
    return {
        "impressions": sum(row.impressions for row in rows),
        "clicks": sum(row.clicks for row in rows),
        "views": sum(row.views for row in rows),
    }


@pytest.mark.parametrize(
    "campaign",
    [
        {"status": CampaignStatus.DRAFT},
        {"status": CampaignStatus.PAUSED},
        {"status": CampaignStatus.ENDED},
        {"starts_at": utcnow() + timedelta(days=1)},
        {"ends_at": utcnow() - timedelta(minutes=1), "starts_at": utcnow() - timedelta(days=1)},
    ],
    ids=["draft", "paused", "ended", "not-started", "past-its-end"],
)
def test_events_of_campaigns_not_live_are_answered_204_and_not_counted(client, make_campaign, campaign):
    make_campaign(**campaign)
    assert beacon(client, "impression", "view", "click").status_code == 204
    assert counted() == {"impressions": 0, "clicks": 0, "views": 0}


def test_a_reader_s_clicks_are_never_counted_above_their_impressions(client, make_campaign):
    make_campaign()
    beacon(client, "impression", reader=READER)
    for _ in range(5):
        assert beacon(client, "click", reader=READER).status_code == 204
    beacon(client, "impression", reader="another-reader-id")  # lets another reader click, not this one
    beacon(client, "click", reader=READER)
    assert counted()["clicks"] == 1
    assert counted()["impressions"] == 2


def test_without_a_reader_id_clicks_are_capped_per_address(client, make_campaign):
    make_campaign()
    beacon(client, "click", "click", address="192.0.2.7")
    beacon(client, "impression", "click", "click", address="192.0.2.8")
    assert counted() == {"impressions": 1, "clicks": 1, "views": 0}


def test_one_address_cannot_send_more_events_than_its_limit(client, make_campaign, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTS_PER_IP", "10 per minute")
    make_campaign()
    statuses = [beacon(client, "impression", "view").status_code for _ in range(8)]
    assert statuses == [204] * 5 + [429] * 3
    assert counted()["impressions"] == 5
    assert beacon(client, "impression", address="192.0.2.99").status_code == 204  # others still can


def test_one_reader_cannot_send_more_events_than_its_limit_from_any_address(
    client, make_campaign, app, monkeypatch
):
    monkeypatch.setitem(app.config, "EVENTS_PER_READER", "4 per minute")
    make_campaign()
    statuses = [
        beacon(client, "impression", reader=READER, address=f"192.0.2.{n}").status_code for n in range(6)
    ]
    assert statuses == [204] * 4 + [429] * 2
    assert beacon(client, "impression", reader="another-reader-id").status_code == 204


def test_a_batch_counts_every_event_against_the_limit(client, make_campaign, app, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTS_PER_IP", "50 per minute")
    make_campaign()
    assert beacon(client, *["view"] * 50).status_code == 204
    assert beacon(client, "view").status_code == 429
    assert counted()["views"] == 50


def test_the_days_counters_are_locked_only_while_their_statement_runs(client, make_campaign, database_url):
    """Every beacon adds to the same few rows. Kept locked until the request's commit, a row made
    beacons wait on each other for however long each took to get there (bench/load.py: 94 ms at
    the median with a few requests at once per process); committed with its statement, never."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite locks the whole database, for each write alike")
    make_campaign()
    assert beacon(client, "impression").status_code == 204  # the row exists from here on
    other = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    seen: list[str] = []

    def try_the_row(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO BANNER_STATS"):
            with other.connect() as connection:
                try:
                    connection.execute(sa.text("SELECT 1 FROM banner_stats FOR UPDATE NOWAIT"))
                    seen.append("free")
                except sa.exc.OperationalError:
                    seen.append("locked")

    sa.event.listen(db.engine, "after_cursor_execute", try_the_row)
    try:
        assert beacon(client, "impression", "view").status_code == 204
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", try_the_row)
        other.dispose()
    assert seen == ["free"]
    assert counted() == {"impressions": 2, "clicks": 0, "views": 1}
