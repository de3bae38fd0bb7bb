"""`flask db upgrade` builds the schema the models describe; `flask db downgrade base` removes it."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from banner.extensions import db
from tests.conftest import ROOT

SCHEMA = "migration_check"


@pytest.fixture
def empty_database(database_url, tmp_path):
    """A database URL with nothing in it: a new SQLite file, or a fresh PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield "sqlite:///" + str(tmp_path / "migrations.sqlite3")
        return
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    yield f"{database_url}?options=-csearch_path%3D{SCHEMA}"
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def flask_db(url: str, *args: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    env.update(BANNER_ENV="testing", BANNER_DATABASE_URL=url)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_what_the_models_describe_and_downgrade_removes_it(empty_database):
    flask_db(empty_database, "upgrade")

    engine = sa.create_engine(empty_database)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    engine.dispose()
    assert differences == []
    assert {
        "campaigns",
        "variants",
        "donors",
        "gifts",
        "payments",
        "gift_events",
        "stripe_events",
        "staff_users",
        "audit_entries",
    } <= table_names(empty_database)

    flask_db(empty_database, "downgrade", "base")
    assert table_names(empty_database) <= {"alembic_version"}
