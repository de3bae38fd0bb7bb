"""GET /healthz: the process answers (liveness). GET /readyz: its dependencies answer (readiness)."""

from flask import Blueprint

from banner.services import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    checks, events = readiness.check()
    ready = all(checks.values())
    # events of another API version: set the webhook endpoint's version (see README); events not
    # applied: their errors are logged and kept in stripe_events.error
    body = {"status": "ok" if ready else "degraded", **checks, **events}
    return body, 200 if ready else 503
