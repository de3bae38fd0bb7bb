"""Logs: a request id on every answer, and JSON lines (BANNER_LOG_FORMAT=json) that carry it."""

import json
import logging
import re

import pytest

from banner import ConfigError, create_app, logs

SETTINGS = {
    "ENV": "testing",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}


@pytest.fixture
def make_app(tmp_path):
    def make(**overrides):
        return create_app({**SETTINGS, "DATABASE_URL": f"sqlite:///{tmp_path}/logs.sqlite3", **overrides})

    return make


class Lines(logging.Handler):
    """The JSON lines written while it is attached, parsed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logs.JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def json_lines():
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    level = logs.requests_log.level
    logs.requests_log.setLevel(logging.INFO)
    yield handler.lines
    logs.requests_log.setLevel(level)
    root.removeHandler(handler)


def test_every_answer_carries_a_new_request_id(make_app):
    client = make_app().test_client()
    first, second = client.get("/healthz"), client.get("/nowhere")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert second.status_code == 404 and re.fullmatch(r"[0-9a-f]{32}", second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_the_proxys_request_id_is_kept(make_app):
    answer = make_app().test_client().get("/healthz", headers={"X-Request-ID": "4f2a9c0d1e"})
    assert answer.headers["X-Request-ID"] == "4f2a9c0d1e"


@pytest.mark.parametrize("sent", ["", "two words", "a" * 129, "id\u00e9", "<script>"])
def test_an_unusable_request_id_is_replaced(make_app, sent):
    answer = make_app().test_client().get("/healthz", headers={"X-Request-ID": sent})
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"])


def test_json_logs_write_one_line_per_request_with_its_id(make_app, json_lines):
    client = make_app(LOG_FORMAT="json").test_client()
    answer = client.get("/healthz?probe=1", headers={"X-Request-ID": "req-1"})
    [line] = [line for line in json_lines if line["logger"] == "banner.request"]
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "banner.request",
        "message": "GET /healthz 200",
        "request_id": "req-1",
        "method": "GET",
        "path": "/healthz",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "remote_addr": "127.0.0.1",
    }
    assert answer.headers["X-Request-ID"] == "req-1"
    assert 0 <= line["duration_ms"] < 5000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


def test_lines_logged_while_answering_carry_the_request_id(make_app, json_lines):
    app = make_app(LOG_FORMAT="json")

    def noisy():
        logging.getLogger("banner.payments").warning("Stripe is slow")
        raise RuntimeError("boom")

    app.add_url_rule("/noisy", view_func=noisy)
    answer = app.test_client().get("/noisy")
    rid = answer.headers["X-Request-ID"]
    warning = next(line for line in json_lines if line["message"] == "Stripe is slow")
    error = next(line for line in json_lines if line["level"] == "ERROR")
    request_line = next(line for line in json_lines if line["logger"] == "banner.request")
    assert warning["request_id"] == error["request_id"] == request_line["request_id"] == rid
    assert "RuntimeError: boom" in error["exception"]
    assert request_line["status"] == 500


def test_json_logs_name_the_readers_address_behind_the_proxy(make_app, json_lines):
    client = make_app(LOG_FORMAT="json", PROXIES=1).test_client()
    client.get(
        "/healthz",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    [line] = [line for line in json_lines if line["logger"] == "banner.request"]
    assert line["remote_addr"] == "203.0.113.7"  # the entry the proxy added, not the reader's own


def test_plain_logs_write_no_request_lines(make_app, json_lines):
    make_app().test_client().get("/healthz")
    assert not [line for line in json_lines if line["logger"] == "banner.request"]


def test_an_unknown_log_format_is_refused(make_app):
    with pytest.raises(ConfigError, match="BANNER_LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")
