"""The cost of the worst small anonymous requests (issue: bad input is never slow or a 500).

Run: .venv/bin/python bench/worst_input.py  (in-process, SQLite in a temporary folder)
Prints each request's size, status and the best of 5 timings, then the worst of them.
"""

import json
import tempfile
import time
from pathlib import Path

from banner import create_app
from banner.extensions import db

CASES = [
    ("GET", "/donate/fee?amount=1e10000000&currency=usd", None),
    ("GET", "/donate/fee?amount=1e999990&currency=usd", None),
    ("GET", "/donate/fee?amount=1e150000&currency=usd", None),
    ("GET", "/donate/fee?amount=" + "9" * 24 + "&currency=eur", None),
    ("GET", "/donate/fee?amount=" + "1," * 12 + "1&currency=eur", None),
    ("GET", "/api/banner?ref=http://[::1&path=/", None),
    ("POST", "/api/events", b'{"events":' + b"[" * 30 + b"]" * 30 + b"}"),
    (
        "POST",
        "/api/events",
        json.dumps({"events": [{"type": "\ud800", "campaign": 1, "variant": []}]}).encode(),
    ),
    ("POST", "/stripe/webhook", b'{"id":"evt_1","type":"x","created":1e999}'),
]


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}"})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    worst = 0.0
    for method, url, body in CASES:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            status = client.open(
                url, method=method, data=body, headers={"Content-Type": "application/json"}
            ).status_code
            timings.append(time.perf_counter() - started)
        best = min(timings)
        worst = max(worst, best)
        size = len(url) + len(body or b"")
        print(f"{method:4} {size:4d} bytes  {status}  {best * 1000:6.2f} ms  {url[:60]}")
    print(f"worst: {worst * 1000:.2f} ms")


if __name__ == "__main__":
    main()
