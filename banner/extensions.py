"""Flask extensions, created unbound; banner.create_app binds them."""

from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Stable constraint names, so Alembic migrations match on SQLite and PostgreSQL.
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
if TYPE_CHECKING:
    # db.Model is made from Base at run time, where type checkers cannot see it.
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
csrf = CSRFProtect()
login = LoginManager()
talisman = Talisman()
#: limits are set per route; storage is BANNER_REDIS_URL when set, else this process's memory
limiter = Limiter(key_func=get_remote_address, default_limits=[])
