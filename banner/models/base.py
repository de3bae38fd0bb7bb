"""Column types and helpers shared by every model."""

import enum
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

#: ISO 4217 codes the service accepts, with the number of minor-unit digits of each.
CURRENCIES = {"usd": 2, "eur": 2, "gbp": 2, "cad": 2, "aud": 2, "nzd": 2, "chf": 2, "jpy": 0}
CURRENCY_CHECK = "currency IN ({})".format(", ".join(f"'{code}'" for code in CURRENCIES))


def insert_on_conflict(bind: sa.Connection | sa.Engine, model):
    """Return an INSERT into `model`'s table in the dialect of `bind` (PostgreSQL, or SQLite
    in development), which has ON CONFLICT DO NOTHING / DO UPDATE."""
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_reference() -> str:
    """Return an unguessable public identifier for URLs."""
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on SQLite (naive storage) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use banner.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def enum_column(enum_class: type[enum.Enum], name: str | None = None) -> sa.Enum:
    """Store an enum by value as a plain string checked by a constraint named `name`."""
    return sa.Enum(
        enum_class,
        name=name or enum_class.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
