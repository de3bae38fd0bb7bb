"""The campaigns version: one number that tells every instance its cached banners are stale.

Each staff change to a campaign or its variants bumps it (through the `campaigns_changed`
signal); the banner's hot path reads it at most every CHECK_SECONDS per process and rebuilds
its copy of the live campaigns when it moved. It lives in Redis (one key, a `GET` to read) when
BANNER_REDIS_URL is set, else in the one row of the `campaigns_version` table.
"""

import logging

import redis
import sqlalchemy as sa
from flask import current_app

from banner.extensions import db
from banner.models import CampaignsVersion

CHECK_SECONDS = 0.5  #: how often one process looks whether staff changed something
KEY = "banner:campaigns-version"

log = logging.getLogger(__name__)
ROW = sa.select(CampaignsVersion).where(CampaignsVersion.id == 1)


def read() -> int | None:
    """Return the current version, or None when it cannot be read (the cache then ages out)."""
    client = _redis()
    try:
        if client is not None:
            return int(client.get(KEY) or 0)
        with db.engine.connect() as connection:  # apart from the session: a request's own work stays its own
            return connection.scalar(ROW.with_only_columns(CampaignsVersion.version)) or 0
    except (redis.RedisError, sa.exc.SQLAlchemyError) as error:
        log.warning("cannot read the campaigns version: %s", error)
        return None


def bump() -> None:
    """Move the version on, so that every instance rebuilds its banners within CHECK_SECONDS."""
    client = _redis()
    try:
        if client is not None:
            client.incr(KEY)
            return
        with db.engine.begin() as connection:
            moved = connection.execute(
                sa.update(CampaignsVersion)
                .where(CampaignsVersion.id == 1)
                .values(version=CampaignsVersion.version + 1)
            )
            if not moved.rowcount:  # a database made by create_all (tests) has no row yet
                connection.execute(sa.insert(CampaignsVersion).values(id=1, version=1))
    except (redis.RedisError, sa.exc.SQLAlchemyError) as error:
        log.warning(
            "cannot bump the campaigns version (others see the change within their cache time): %s", error
        )


def _redis() -> redis.Redis | None:
    url = current_app.config["REDIS_URL"]
    if not url:
        return None
    client = current_app.extensions.get("campaigns_version_redis")
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        current_app.extensions["campaigns_version_redis"] = client
    return client
