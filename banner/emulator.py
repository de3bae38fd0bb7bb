"""The local Stripe emulator for development and tests: localstripe, behind a small shim.

localstripe (a separate process; GPL, never copied here) lacks a few parameters that real Stripe
has and that this service sends: `pause_collection`, `proration_behavior` and
`cancellation_details` on a subscription update. The shim forwards every request to localstripe
and handles just those: it drops `proration_behavior` (localstripe never prorates, which is what
"none" asks for) and keeps `pause_collection` and `cancellation_details` per subscription itself,
adding them to every subscription it passes back. The service's own code path stays the one it
uses with real Stripe. What the shim cannot do: put pauses into localstripe's webhook events,
or skip invoices while paused (localstripe never renews anyway).
"""

import http.server
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

SUBSCRIPTION_UPDATE = re.compile(r"^/v1/subscriptions/(sub_\w+)$")
KEPT = ("pause_collection", "cancellation_details")


class Shim(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: str):
        self.upstream = upstream.rstrip("/")
        self.kept: dict[str, dict] = {}  # subscription id -> {"pause_collection": ..., ...}
        self.lock = threading.Lock()
        super().__init__(address, Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    server: Shim

    def do_GET(self):
        self._forward()

    def do_DELETE(self):
        if self.path == "/_config/data":
            with self.server.lock:
                self.server.kept.clear()
        self._forward()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        match = SUBSCRIPTION_UPDATE.match(path)
        if match and "form-urlencoded" in self.headers.get("Content-Type", ""):
            body = self._take_over(match.group(1), body)
            if body is None:  # nothing left for localstripe to do: answer with the subscription
                self._forward(method="GET", body=b"")
                return
        self._forward(body=body)

    def _take_over(self, subscription_id: str, body: bytes) -> bytes | None:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
        rest, kept = [], self.server.kept.setdefault(subscription_id, {})
        for key, value in pairs:
            name = key.split("[", 1)[0]
            if name == "proration_behavior":
                continue
            if name in KEPT:
                with self.server.lock:
                    if key == name and value == "":
                        kept[name] = None  # "pause_collection=" resumes collection
                    else:
                        inner = key[len(name) :].strip("[]")
                        section = kept.get(name) or {}
                        section[inner] = int(value) if value.isdigit() else value
                        kept[name] = section
                continue
            rest.append((key, value))
        if not rest and pairs:
            return None
        return urllib.parse.urlencode(rest).encode()

    def _forward(self, method: str | None = None, body: bytes | None = None):
        method = method or self.command
        if body is None and method != "GET":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            key: value
            for key, value in self.headers.items()
            if key.lower() not in ("host", "content-length", "connection")
        }
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body or None, headers=headers, method=method
        )
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        except OSError:
            self.send_error(502, "localstripe did not answer")
            return
        payload = response.read()
        content_type = response.headers.get("Content-Type", "application/json")
        if content_type.startswith("application/json") and payload:
            payload = self._decorate(payload)
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key in ("Access-Control-Allow-Origin", "Access-Control-Allow-Headers"):
            if response.headers.get(key):
                self.send_header(key, response.headers[key])
        self.end_headers()
        self.wfile.write(payload)

    def _decorate(self, payload: bytes) -> bytes:
        try:
            data = json.loads(payload)
        except ValueError:
            return payload
        objects = data.get("data", []) if data.get("object") == "list" else [data]
        changed = False
        for obj in objects:
            if isinstance(obj, dict) and obj.get("object") == "subscription":
                with self.server.lock:
                    kept = dict(self.server.kept.get(obj["id"], {}))
                obj.setdefault("pause_collection", None)
                obj.update(kept)
                changed = True
        return json.dumps(data).encode() if changed else payload

    def do_OPTIONS(self):
        self._forward(body=b"")

    def log_message(self, *args):
        pass


def serve(port: int, upstream: str) -> Shim:
    """Start the shim on 127.0.0.1:`port` in a thread, in front of localstripe at `upstream`."""
    shim = Shim(("127.0.0.1", port), upstream)
    threading.Thread(target=shim.serve_forever, daemon=True).start()
    return shim
