"""Flask extensions, created unbound; banner.create_app binds them."""

from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import request
from flask.sessions import SecureCookieSessionInterface
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


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, left out of the public banner endpoints: their answers
    are the same for everyone, so they set no cookie and do not vary by one."""

    PUBLIC_BLUEPRINTS = frozenset({"embed"})

    def save_session(self, app, session, response):
        if request.blueprint in self.PUBLIC_BLUEPRINTS:
            return
        super().save_session(app, session, response)
