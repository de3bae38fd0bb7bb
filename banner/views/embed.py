"""The banner's public endpoints: the script, the banner to show, and the readers' events."""

import json
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, request

from banner.assets import embed_script
from banner.extensions import csrf
from banner.forms import BannerEventsForm, BannerQueryForm
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


@bp.post("/api/events")
@csrf.exempt  # cookieless beacons from other sites' pages; they act for no one
def banner_events():
    if (request.content_length or 0) > MAX_EVENTS_BODY:
        return _events_error("The batch is too large.")
    try:
        data = json.loads(request.get_data(cache=False)[: MAX_EVENTS_BODY + 1] or b"null")
    except (ValueError, UnicodeDecodeError):
        return _events_error("The body is not JSON.")
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return _events_error('Send {"events": [...]}.')
    if not all(isinstance(event, dict) for event in data["events"]):
        return _events_error("Each event is an object.")
    if len(data["events"]) > BannerEventsForm.MAX_EVENTS:
        return _events_error("Too many events in one batch.")
    form = BannerEventsForm(formdata=None, data=data)
    if not form.validate():
        return _events_error("Bad events.")
    events = [(e["type"], e["campaign"], e["variant"]) for e in form.events.data]
    beacons.record(events, datetime.now(UTC).date())
    response = Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _events_error(message: str, status: int = 400):
    response, status = json_error("invalid", message, status)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response, status
