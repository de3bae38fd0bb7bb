"""GET /healthz: the process answers (liveness). GET /readyz: its dependencies answer (readiness)."""

from flask import Blueprint

from banner.services import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    checks, other_versions = readiness.check()
    ready = all(checks.values())
    body = {
        "status": "ok" if ready else "degraded",
        **checks,
        # events of another API version: set the webhook endpoint's version (see README)
        "stripe_events_of_other_versions": other_versions,
    }
    return body, 200 if ready else 503
