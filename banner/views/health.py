"""GET /healthz: is the database reachable, does Stripe answer, and were Stripe events left unapplied?"""

from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from banner import payments
from banner.extensions import db
from banner.services import lifecycle

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        # events of another API version: set the webhook endpoint's version (see README)
        other_versions = lifecycle.events_of_other_versions()
        database = True
    except SQLAlchemyError:
        db.session.rollback()
        database, other_versions = False, None
    stripe_ok = payments.ping()
    healthy = database and stripe_ok
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "stripe": stripe_ok,
        "stripe_events_of_other_versions": other_versions,
    }
    return body, 200 if healthy else 503
