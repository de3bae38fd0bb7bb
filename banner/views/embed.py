"""The banner's public endpoints: the script, the banner to show, and the readers' events."""

from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, request
from flask_limiter.util import get_remote_address

from banner.assets import embed_script
from banner.extensions import csrf, limiter
from banner.forms.embed import BannerQueryForm, BeaconBatch, BeaconError, read_beacons
from banner.services import banners, beacons
from banner.views import json_error

bp = Blueprint("embed", __name__)

MAX_EVENTS_BODY = 16_384  # bytes; a batch of 50 events is about 4 kB


@bp.get("/embed.js")
def embed_js():
    loaded = embed_script()
    return _script_response(loaded, "public, max-age=300, stale-while-revalidate=86400")


@bp.get("/embed.<digest>.js")
def embed_js_pinned(digest):
    loaded = embed_script()
    if digest != loaded.etag:
        abort(404)
    return _script_response(loaded, "public, max-age=31536000, immutable")


def _script_response(loaded, cache_control: str) -> Response:
    response = Response(loaded.body, mimetype="text/javascript")
    response.set_etag(loaded.etag)
    response.headers["Cache-Control"] = cache_control
    response.headers["Access-Control-Allow-Origin"] = "*"  # lets hosts pin it with SRI
    response.make_conditional(request)
    return response


@bp.get("/api/banner")
def banner_choice():
    form = BannerQueryForm(request.args)
    if not form.validate():
        return _public(json_error("invalid", "Bad banner query.", 400, fields=form.errors)[0], 400)
    chosen = banners.choose(form.campaign.data, form.path.data, form.ref.data, form.preview.data)
    if chosen is None:
        return _public(Response(status=204), 204)
    return _public(current_app.json.response(chosen), 200, preview=bool(form.preview.data))


def _public(response, status: int, preview: bool = False) -> Response:
    response.status_code = status
    response.headers["Access-Control-Allow-Origin"] = "*"
    seconds = current_app.config["CACHE_SECONDS"]
    response.headers["Cache-Control"] = (
        "no-store" if preview else f"public, max-age={seconds}, s-maxage={seconds}"
    )
    return response


def _beacons() -> BeaconBatch | BeaconError:
    """The request's batch of events, read once: the rate limits count them before the view runs."""
    environ = request.environ  # one per request (`g` is shared by a test's requests)
    if "banner.beacons" not in environ:
        if (request.content_length or 0) > MAX_EVENTS_BODY:
            environ["banner.beacons"] = BeaconError("The batch is too large.")
        else:
            try:
                environ["banner.beacons"] = read_beacons(request.get_data(cache=False)[: MAX_EVENTS_BODY + 1])
            except BeaconError as error:
                environ["banner.beacons"] = error
    return environ["banner.beacons"]


def _event_count() -> int:
    batch = _beacons()
    return len(batch.events) if isinstance(batch, BeaconBatch) else 1


def _reader() -> str | None:
    batch = _beacons()
    return batch.reader if isinstance(batch, BeaconBatch) else None


@bp.post("/api/events")
@csrf.exempt  # cookieless beacons from other sites' pages; they act for no one
@limiter.limit(lambda: current_app.config["EVENTS_PER_IP"], cost=_event_count)
@limiter.limit(
    lambda: current_app.config["EVENTS_PER_READER"],
    key_func=lambda: f"reader:{_reader()}",
    exempt_when=lambda: _reader() is None,
    cost=_event_count,
)
def banner_events():
    batch = _beacons()
    if isinstance(batch, BeaconError):
        return _events_error(str(batch))
    beacons.record(batch.events, datetime.now(UTC).date(), batch.reader or get_remote_address())
    response = Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _events_error(message: str, status: int = 400):
    response, status = json_error("invalid", message, status)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response, status
