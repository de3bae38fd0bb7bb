"""deploy/: Debian's nginx with deploy/nginx/banner.conf in front of gunicorn with
deploy/gunicorn.conf.py (the app's processes, and Stripe's events' own as
systemd/banner-webhooks.service runs them), in production mode, smoke-tested through TLS from
another loopback address (127.0.0.2), so the reader's address the app sees is not nginx's."""

import gzip
import http.client
import importlib.util
import json
import os
import secrets
import shutil
import ssl
import types

import pytest
import sqlalchemy as sa

from banner import create_app
from banner.assets import embed_script
from banner.extensions import db
from banner.models import StripeEvent
from banner.services import banners
from devtools import deploy_stack
from tests import factories
from tests import stripe_events as se
from tests.conftest import STRICT, free_port
from tests.waiting import eventually

READER = "127.0.0.2"
WEBHOOK_SECRET = "whsec_deploy"
HOST_NAME = "donate.example.org"


TEST_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}


def _database(folder) -> str:
    url = f"sqlite:///{folder}/deploy.sqlite3"
    app = create_app({"ENV": "testing", "DATABASE_URL": url, **TEST_KEYS})
    with app.app_context():
        db.create_all()
        factories.campaign(preset_amounts=[500, 1000])
        db.engine.dispose()
    return url


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """nginx (HTTPS and HTTP ports) in front of the app's gunicorn and the webhooks' gunicorn;
    yields the ports and the two gunicorns' logs."""
    nginx = deploy_stack.nginx_binary()
    for name, missing in (("nginx", nginx is None), ("openssl", shutil.which("openssl") is None)):
        if missing:
            if STRICT:
                pytest.fail(f"{name} is missing: apt-get install -y {name}")
            pytest.skip(f"the deployment test needs Debian's {name} (apt-get install -y {name})")
    folder = tmp_path_factory.mktemp("deploy")
    app_port, webhook_port, https_port, http_port = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANNER_")}
    secret = secrets.token_hex(32)
    env.update(
        BANNER_ENV="production",
        BANNER_SECRET_KEY=secret,
        BANNER_DATABASE_URL=_database(folder),
        BANNER_PUBLIC_URL=f"https://{HOST_NAME}",
        BANNER_STRIPE_SECRET_KEY="sk_test_deploy",
        BANNER_STRIPE_PUBLISHABLE_KEY="pk_test_deploy",
        BANNER_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        BANNER_PROXIES="1",
        BANNER_LOG_FORMAT="json",
        WEB_CONCURRENCY="1",
        GUNICORN_KEEPALIVE="1",
    )
    log, webhooks_log = folder / "gunicorn.log", folder / "webhooks.log"
    gunicorn = deploy_stack.start_gunicorn(app_port, env, log)
    webhooks_env = {**env, **deploy_stack.unit_environment("banner-webhooks.service")}
    webhooks = deploy_stack.start_gunicorn(webhook_port, webhooks_env, webhooks_log)
    try:
        deploy_stack.wait_until_up(app_port, gunicorn, log)
        deploy_stack.wait_until_up(webhook_port, webhooks, webhooks_log)
        site = deploy_stack.render_site(folder, app_port, https_port, http_port, webhook_port=webhook_port)
        server = deploy_stack.start_nginx(nginx, folder, deploy_stack.nginx_conf(folder, site))
        try:
            deploy_stack.wait_until_up(http_port, server, folder / "error.log")
            yield {
                "https": https_port,
                "app": app_port,
                "http": http_port,
                "log": log,
                "webhooks_log": webhooks_log,
                "webhooks": webhooks,
                "secret": secret,
                "database": env["BANNER_DATABASE_URL"],
            }
        finally:
            deploy_stack.stop(server)
    finally:
        deploy_stack.stop(webhooks)
        deploy_stack.stop(gunicorn)


def fetch(port, path, method="GET", body=None, headers=None, tls=True):
    """One request from the reader's address; return (status, headers, body)."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, timeout=20, source_address=(READER, 0)
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(READER, 0))
    try:
        connection.request(method, path, body=body, headers={"Host": HOST_NAME, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def logged(stack, request_id, log="log"):
    """The app's JSON line about the request with this id in a gunicorn's log so far (the app's,
    or with log="webhooks_log" the webhooks'), or None."""
    for line in stack[log].read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("request_id") == request_id and entry["logger"] == "banner.request":
                return entry
    return None


def app_log_line(stack, request_id, log="log"):
    """The app's JSON line about the request with this id, once it is written."""
    return eventually(lambda: logged(stack, request_id, log), 5)


def app_never_saw(stack, request_id) -> bool:
    """Whether the app never logged that request: a later request through nginx is logged first,
    so a line about the earlier one, had the app seen it, would be there by then."""
    _, headers, _ = fetch(stack["https"], "/healthz")
    app_log_line(stack, headers["X-Request-ID"])
    return logged(stack, request_id) is None and logged(stack, request_id, "webhooks_log") is None


def test_plain_http_is_sent_to_https(stack):
    status, headers, _ = fetch(stack["http"], "/donate?amount=10", tls=False)
    assert status == 301
    assert headers["Location"] == f"https://{HOST_NAME}/donate?amount=10"


def test_healthz_answers_through_nginx(stack):
    status, headers, body = fetch(stack["https"], "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert app_log_line(stack, headers["X-Request-ID"])["path"] == "/healthz"


def test_the_banner_script_is_cached_by_nginx(stack):
    first = fetch(stack["https"], "/embed.js")
    second = fetch(stack["https"], "/embed.js")
    assert first[0] == second[0] == 200
    assert first[1]["X-Cache-Status"] in ("MISS", "EXPIRED", "HIT")
    assert second[1]["X-Cache-Status"] == "HIT"
    assert second[2] == first[2] and b"function" in first[2]
    # a cached answer carries this request's id, not the one that filled the cache
    assert first[1]["X-Request-ID"] != second[1]["X-Request-ID"]
    assert app_never_saw(stack, second[1]["X-Request-ID"])


def test_the_cache_keeps_a_gzipped_and_a_plain_copy_and_never_compresses_a_hit(stack):
    """Every browser takes gzip: the app compresses each answer once, nginx keeps that copy apart
    from the plain one, and a hit is sent as kept (compressing each hit cost 3 times the CPU)."""
    path = "/api/banner?campaign=spring&path=/gzip"
    forms = {
        "gzip, deflate, br": "gzip",
        "": None,
        "gzip;q=0, deflate": None,  # refused
    }
    plain = None
    for accept, encoding in forms.items():
        headers = {"Accept-Encoding": accept} if accept else {}
        fetch(stack["https"], path, headers=headers)
        status, answer, body = fetch(stack["https"], path, headers=headers)
        assert (status, answer["X-Cache-Status"], answer.get("Content-Encoding")) == (200, "HIT", encoding), (
            accept
        )
        # a kept copy goes out with its length; nginx compressing on the fly would send it chunked
        assert answer["Content-Length"] == str(len(body)) and "Transfer-Encoding" not in answer
        if encoding:
            body = gzip.decompress(body)
        plain = plain or body
        assert body == plain and json.loads(body)["campaign"] == "spring"


def test_the_pinned_script_is_cached_and_a_wrong_hash_is_not_found(stack):
    with create_app_context():
        name = embed_script().hashed_name
    fetch(stack["https"], f"/{name}")
    status, headers, _ = fetch(stack["https"], f"/{name}")
    assert (status, headers["X-Cache-Status"]) == (200, "HIT")
    assert "immutable" in headers["Cache-Control"]
    assert fetch(stack["https"], "/embed.0123456789abcdef.js")[0] == 404


def test_the_banner_answer_is_cached_for_its_max_age(stack):
    path = "/api/banner?campaign=spring&path=/news/story"
    first, second = fetch(stack["https"], path), fetch(stack["https"], path)
    assert first[0] == 200 and json.loads(first[2])["campaign"] == "spring"
    assert second[1]["X-Cache-Status"] == "HIT" and second[2] == first[2]
    assert "max-age=30" in second[1]["Cache-Control"]


def test_a_staff_preview_is_never_cached(stack):
    with create_app_context(stack["secret"]):
        token = banners.preview_token("spring", "a")
    path = f"/api/banner?campaign=spring&path=/&preview={token}"
    for _ in range(2):
        status, headers, body = fetch(stack["https"], path)
        assert status == 200 and json.loads(body)["preview"] is True
        assert (headers["Cache-Control"], headers["X-Cache-Status"]) == ("no-store", "BYPASS")


def test_the_donate_page_is_served_by_the_app_with_its_headers(stack):
    status, headers, body = fetch(stack["https"], "/donate?campaign=spring&amount=10")
    assert status == 200 and b"<form" in body
    assert "Content-Security-Policy" in headers and "Strict-Transport-Security" in headers
    assert "X-Cache-Status" not in headers


def test_static_files_are_served_by_nginx_from_the_checkout(stack):
    status, headers, body = fetch(stack["https"], "/static/site.css")
    assert status == 200
    assert body == (deploy_stack.ROOT / "static" / "site.css").read_bytes()
    assert "Content-Security-Policy" not in headers  # the app adds one to everything it answers
    assert "max-age=3600" in headers["Cache-Control"]


@pytest.mark.parametrize(
    ("path", "size", "reaches_app"),
    [
        ("/donate", 65 * 1024, False),
        ("/api/events", 65 * 1024, False),
        ("/stripe/webhook", 1024 * 1024 + 1, False),
        ("/stripe/webhook", 100 * 1024, True),  # too big for a form, fine for Stripe's events
    ],
)
def test_bodies_over_the_apps_limits_are_refused_by_nginx(stack, path, size, reaches_app):
    status, headers, _ = fetch(
        stack["https"], path, "POST", b"x" * size, {"Content-Type": "application/json"}
    )
    if reaches_app:
        assert status == 400  # the app's answer: no valid Stripe signature
        log = "webhooks_log" if path == "/stripe/webhook" else "log"
        assert app_log_line(stack, headers["X-Request-ID"], log)["status"] == 400
    else:
        assert status == 413
        assert app_never_saw(stack, headers["X-Request-ID"])


def test_the_app_sees_the_readers_address_not_a_forged_one(stack):
    status, headers, _ = fetch(
        stack["https"], "/healthz", headers={"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "forged"}
    )
    assert status == 200 and headers["X-Request-ID"] != "forged"  # nginx's own id
    line = app_log_line(stack, headers["X-Request-ID"])
    assert line["remote_addr"] == READER
    assert line["method"] == "GET" and line["status"] == 200


def create_app_context(secret=None):
    app = create_app({"ENV": "testing", "DATABASE_URL": "sqlite://", "SECRET_KEY": secret, **TEST_KEYS})
    return app.app_context()


def _signed_event(number: int) -> tuple[bytes, dict]:
    customer = se.customer(f"cus_deploy{number}", email="a@example.org", name="A")
    evt = se.event("customer.updated", customer, event_id=f"evt_deploy_{number}")
    payload = json.dumps(evt).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": se.sign(payload, WEBHOOK_SECRET)}
    return payload, headers


def _event_applied(stack, event_id: str) -> bool | None:
    """Whether the stack's database has the event applied (None: not stored)."""
    engine = sa.create_engine(stack["database"])
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.select(StripeEvent.processed_at).where(StripeEvent.event_id == event_id)
            ).first()
    finally:
        engine.dispose()
    return None if row is None else row.processed_at is not None


def test_stripes_events_go_to_their_own_processes_and_to_the_apps_while_those_are_down(stack):
    """The last test of the module to use the stack: it stops the webhooks' gunicorn. Those
    processes only store an event, for banner-worker (BANNER_EVENTS_APPLIED_BY in their unit); the
    app's apply it themselves after the answer."""
    status, headers, body = fetch(stack["https"], "/stripe/webhook", "POST", *_signed_event(1))
    assert (status, json.loads(body)["received"]) == (200, True)
    assert app_log_line(stack, headers["X-Request-ID"], "webhooks_log")["status"] == 200
    assert logged(stack, headers["X-Request-ID"]) is None
    assert _event_applied(stack, "evt_deploy_1") is False  # stored, for the worker

    deploy_stack.stop(stack["webhooks"])
    status, headers, body = fetch(stack["https"], "/stripe/webhook", "POST", *_signed_event(2))
    assert (status, json.loads(body)["received"]) == (200, True)
    assert app_log_line(stack, headers["X-Request-ID"])["status"] == 200
    eventually(lambda: _event_applied(stack, "evt_deploy_2"), what="the app's process applying its event")


def test_the_app_server_closes_a_kept_alive_connection_left_idle(stack):
    """gevent's WSGI server keeps a connection open as long as its client does: deploy/'s
    handler closes one idle for GUNICORN_KEEPALIVE seconds (1 here), as gunicorn's own does."""
    connection = http.client.HTTPConnection("127.0.0.1", stack["app"], timeout=20)
    try:
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.read() and answer.status == 200 and not answer.will_close
        assert connection.sock.recv(1) == b""  # closed by the server (a timeout here: never)
    finally:
        connection.close()


def test_a_new_gunicorn_process_builds_the_banner_script_before_its_first_request():
    """Minifying the script takes a second or more: done on a request, it would hold every request
    a freshly started process had accepted (gunicorn replaces each process after max_requests)."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", deploy_stack.GUNICORN_CONF)
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    app = create_app({"ENV": "testing", "DATABASE_URL": "sqlite://", **TEST_KEYS})
    assert "embed_script" not in app.extensions
    conf.post_worker_init(types.SimpleNamespace(wsgi=app))
    assert app.extensions["embed_script"].body
