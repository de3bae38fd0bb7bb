"""GET /healthz: is the database reachable, and does Stripe answer?"""

import sqlalchemy as sa
from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from banner import payments
from banner.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
        database = True
    except SQLAlchemyError:
        db.session.rollback()
        database = False
    stripe_ok = payments.ping()
    healthy = database and stripe_ok
    return {"status": "ok" if healthy else "degraded", "database": database, "stripe": stripe_ok}, (
        200 if healthy else 503
    )
