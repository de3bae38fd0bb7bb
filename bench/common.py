"""What the benchmark scripts share: a fresh PostgreSQL schema, and waiting for a server."""

import time
import urllib.request

import sqlalchemy as sa


def in_schema(url: str, schema: str) -> str:
    """Return `url` with `schema` first on the search path."""
    return url + f"?options=-csearch_path%3D{schema}"


def fresh_schema(url: str, schema: str) -> str:
    """Empty `schema` (beside whatever else the database holds); return `url` pointed at it."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return in_schema(url, schema)


def wait(url: str, timeout: float = 60) -> None:
    """Return once `url` answers; give up with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer") from None
            time.sleep(0.2)
