"""`flask db upgrade` builds the schema the models describe; `flask db downgrade base` removes it."""

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

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


#: `flask --app wsgi db upgrade`, the schema it built, then `flask --app wsgi db downgrade base`:
#: the real commands, run one after the other in one process of their own (Alembic's env.py sets
#: up logging for its process), since starting a process that imports the app takes seconds.
UP_AND_DOWN = """
import json
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.cli import cli


def flask_db(*args):
    cli.main(["--app", "wsgi", "db", *args], prog_name="flask", standalone_mode=False)


def table_names(url):
    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


url = sys.argv[1]
flask_db("upgrade")
from banner.extensions import db

engine = sa.create_engine(url)
with engine.connect() as connection:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences = [repr(difference) for difference in compare_metadata(context, db.metadata)]
engine.dispose()
upgraded = table_names(url)
flask_db("downgrade", "base")
print(json.dumps({"differences": differences, "upgraded": upgraded, "downgraded": table_names(url)}))
"""


def upgrade_then_downgrade(url: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    env.update(BANNER_ENV="testing", BANNER_DATABASE_URL=url)
    result = subprocess.run(
        [sys.executable, "-c", UP_AND_DOWN, url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_upgrade_builds_what_the_models_describe_and_downgrade_removes_it(empty_database):
    schema = upgrade_then_downgrade(empty_database)

    assert schema["differences"] == []
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
    } <= set(schema["upgraded"])
    assert set(schema["downgraded"]) <= {"alembic_version"}
