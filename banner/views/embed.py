"""The banner's public endpoints: the script, the banner to show, and the readers' events."""

from datetime import UTC, datetime
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from flask_limiter.util import get_remote_address
from werkzeug.http import parse_accept_header, parse_etags

from banner.assets import embed_script
from banner.banner_query import BadBannerQuery, read_banner_query
from banner.extensions import csrf, limiter
from banner.forms.embed import BeaconBatch, BeaconError, read_beacons
from banner.services import banners, beacons
from banner.views import json_error

bp = Blueprint("embed", __name__)

MAX_EVENTS_BODY = 16_384  # bytes; a batch of 50 events is about 4 kB


@bp.get("/embed.js")
def embed_js():
    loaded = embed_script()
    return _send(
        loaded.body,
        loaded.gzipped,
        loaded.etag,
        _headers("script", "public, max-age=300, stale-while-revalidate=86400"),
    )


@bp.get("/embed.<digest>.js")
def embed_js_pinned(digest):
    loaded = embed_script()
    if digest != loaded.etag:  # answered here: the hot path's answers skip the error pages' headers
        return _public(Response("There is nothing at this address.\n", mimetype="text/plain"), 404, "banner")
    return _send(
        loaded.body, loaded.gzipped, loaded.etag, _headers("script", "public, max-age=31536000, immutable")
    )


@bp.get("/api/banner")
def banner_choice():
    try:
        query = read_banner_query(request.args)
    except BadBannerQuery as error:
        response, status = json_error("invalid", "Bad banner query.", 400, fields=error.fields)
        return _public(response, status, "banner")
    if query.preview:
        data = banners.choose(query.campaign, query.path, query.ref, query.preview)
        if data is None:
            return _public(Response(status=204), 204, "preview")
        return _public(current_app.json.response(data), 200, "preview")
    answer = banners.answer(query.campaign, query.path, query.ref, query.donor)
    if answer is None:
        return _public(Response(status=204), 204, "banner")
    return _send(answer.body, answer.gzipped, answer.etag, _headers("banner"))


#: what each kind of public answer is: its type and how long anyone may keep it
CONTENT_TYPES = {"script": "text/javascript; charset=utf-8", "banner": "application/json", "preview": None}


def _headers(kind: str, cache_control: str | None = None) -> list[tuple[str, str]]:
    """Return the headers of a public answer, made once per app: its type, caching, CORS and security."""
    cache = current_app.extensions.setdefault("public_headers", {})
    key = (kind, cache_control)
    if key not in cache:
        if cache_control is None:
            seconds = current_app.config["CACHE_SECONDS"]
            cache_control = (
                "no-store" if kind == "preview" else f"public, max-age={seconds}, s-maxage={seconds}"
            )
        content_type = [("Content-Type", CONTENT_TYPES[kind])] if CONTENT_TYPES[kind] else []
        cache[key] = [
            *content_type,
            ("Cache-Control", cache_control),
            ("Access-Control-Allow-Origin", "*"),  # any site's page may read it (and pin the script with SRI)
            *current_app.extensions["hot_headers"],
        ]
    return cache[key]


class PreparedResponse(Response):
    """Bytes built in advance, with headers that need no fixing for the client: sent as they are
    (Werkzeug would copy them, to make relative Location headers absolute, for instance). Nothing
    changes one once made (the hot path skips the after_request hooks), so each is made once and
    answers every request for its bytes (_prepared)."""

    def get_wsgi_headers(self, environ):
        return self.headers


#: prepared answers one process keeps (a few per campaign state: plain and gzip, any reader and
#: a former donor); when there are more, the old ones are let go
PREPARED_MAX = 256


def _send(body: bytes, gzipped: bytes, etag: str, headers: list[tuple[str, str]]) -> Response:
    """Answer prepared bytes, gzipped (compressed once, in advance) to a client that takes gzip,
    or 304 when the client already holds them. A proxy in front then keeps both forms and never
    compresses on a request (deploy/nginx/banner.conf)."""
    gzip = _takes_gzip(request.environ.get("HTTP_ACCEPT_ENCODING"))
    asked = request.environ.get("HTTP_IF_NONE_MATCH")
    if asked and parse_etags(asked).contains(f"{etag}-gz" if gzip else etag):
        return Response(status=304, headers=_answer_headers(etag, gzip, headers))
    return _prepared(gzipped if gzip else body, etag, gzip, headers)


def _prepared(body: bytes, etag: str, gzip: bool, headers: list[tuple[str, str]]) -> Response:
    """The answer of these bytes, made once: building a Response (its headers checked one by
    one) was a fifth of the banner's own CPU per request. `headers` is one of _headers' lists,
    kept for the app's life, and the ETag names the bytes (a hash of them)."""
    prepared = current_app.extensions.setdefault("prepared_answers", {})
    key = (etag, gzip, id(headers))
    response = prepared.get(key)
    if response is None:
        if len(prepared) >= PREPARED_MAX:
            prepared.clear()
        response = prepared[key] = PreparedResponse(body, headers=_answer_headers(etag, gzip, headers))
    return response


def _answer_headers(etag: str, gzip: bool, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    encoding = [("Content-Encoding", "gzip")] if gzip else []
    return [
        *headers,
        *encoding,
        ("Vary", "Accept-Encoding"),
        ("ETag", f'"{etag}-gz"' if gzip else f'"{etag}"'),
    ]


@lru_cache(maxsize=256)
def _takes_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header accepts gzip (not refused with q=0); remembered per
    value, since browsers send a handful of them and parsing one costs more than the rest of
    the answer's own work."""
    if not accept_encoding or "gzip" not in accept_encoding:
        return False
    return parse_accept_header(accept_encoding)["gzip"] > 0


def _public(response: Response, status: int, kind: str) -> Response:
    response.status_code = status
    for name, value in _headers(kind):
        if name != "Content-Type":
            response.headers[name] = value
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
