"""A tiny local HTTP server answering Stripe-shaped JSON, for calls the emulator lacks.

Real Stripe cannot be reached from the test machines and the emulator speaks an older API; a
test that needs a current-API answer (`invoices.create_preview`, Prices given inline, a
`resource_missing` error, ...) routes the app's Stripe client here, states the answers it wants
and reads back the requests the app sent, as form fields the way Stripe receives them.
"""

import http.server
import json
import threading
import urllib.parse
from dataclasses import dataclass

import pytest


@dataclass
class Sent:
    method: str
    path: str
    form: dict[str, str]  #: the request's fields, flattened as Stripe receives them
    idempotency_key: str | None


class FakeStripe(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.answers: dict[tuple[str, str], tuple[int, dict]] = {}
        self.sent: list[Sent] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def answer(self, method: str, path: str, body: dict, status: int = 200) -> None:
        """Answer `method path` with `body` from now on."""
        self.answers[(method, path)] = (status, body)

    def requests(self, method: str, path: str) -> list[Sent]:
        return [sent for sent in self.sent if (sent.method, sent.path) == (method, path)]


def error(code: str, message: str, kind: str = "invalid_request_error") -> dict:
    """Return a Stripe error body."""
    return {"error": {"type": kind, "code": code, "message": message, "request_log_url": None}}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeStripe

    def _reply(self):
        split = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        fields = urllib.parse.parse_qsl(body or split.query, keep_blank_values=True)
        self.server.sent.append(
            Sent(self.command, split.path, dict(fields), self.headers.get("Idempotency-Key"))
        )
        answer = self.server.answers.get((self.command, split.path))
        if answer:
            status, payload = answer
        else:
            status, payload = (
                400,
                error("parameter_unknown", f"The test gave no answer for {self.command} {split.path}"),
            )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_fake_{len(self.server.sent)}")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_stripe(app, stripe_base):
    """Route the app's Stripe calls to a FakeStripe for the rest of the test."""
    server = FakeStripe()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{server.server_address[1]}"
    app.extensions.pop("stripe_client", None)
    yield server
    server.shutdown()
    server.server_close()
    app.config["STRIPE_API_BASE"] = stripe_base
    app.extensions.pop("stripe_client", None)
