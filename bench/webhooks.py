"""Webhook acknowledgement time and events applied per second, on SQLite and PostgreSQL.

    .venv/bin/python bench/webhooks.py [--events 500] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Starts the Stripe emulator and the app under gunicorn (2 workers) against a fresh database,
creates monthly gifts, then posts signed Stripe events one after another (renewals paid,
failed, subscription updates, duplicates) and reports p50/p99 of the time to the 2xx answer
and the events applied per second. Only loopback addresses are used.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_schema, wait  # noqa: E402
from tests import stripe_events as se  # noqa: E402  (the signed-event builders of the tests)

PORT = 5057
EMULATOR = 8457


def run(database_url: str, count: int, label: str) -> dict:
    env = {
        **os.environ,
        "BANNER_ENV": "development",
        "BANNER_DATABASE_URL": database_url,
        "BANNER_STRIPE_API_BASE": f"http://127.0.0.1:{EMULATOR}",
        "BANNER_STRIPE_SECRET_KEY": "sk_test_bench",
        "BANNER_STRIPE_PUBLISHABLE_KEY": "pk_test_bench",
        "BANNER_STRIPE_WEBHOOK_SECRET": se.SECRET,
    }
    python = str(Path(sys.executable))
    flask = [python, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "downgrade", "base"], cwd=ROOT, env=env, capture_output=True)
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    seed = (
        "from banner import create_app\nfrom banner.extensions import db\n"
        "from banner.models import Donor, Gift, Frequency, GiftStatus\n"
        "app = create_app()\nwith app.app_context():\n"
        f"    for n in range({count}):\n"
        "        d = Donor(email=f'bench{n}@example.org', name='B', stripe_customer_id=f'cus_b{n}')\n"
        "        db.session.add(Gift(donor=d, frequency=Frequency.MONTH, status=GiftStatus.ACTIVE,"
        " amount=1000, currency='usd', stripe_subscription_id=f'sub_b{n}', stripe_status='active'))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([python, "-c", seed], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [str(Path(python).with_name("gunicorn")), "-w", "2", "-b", f"127.0.0.1:{PORT}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait(f"http://127.0.0.1:{PORT}/embed.js")
        base = int(time.time()) - 3000
        events = []
        for n in range(count):
            kind = n % 5
            sub = f"sub_b{n}"
            if kind in (0, 1):
                events.append(se.event("invoice.paid", se.invoice(f"in_b{n}", sub), created=base + n))
            elif kind == 2:
                events.append(
                    se.event(
                        "invoice.payment_failed",
                        se.invoice(f"in_f{n}", sub, status="open", amount_paid=0),
                        created=base + n,
                    )
                )
            elif kind == 3:
                events.append(
                    se.event(
                        "customer.subscription.updated", se.subscription(sub, amount=1500), created=base + n
                    )
                )
            else:
                events.append(events[-1])  # a duplicate delivery
        times = []
        started = time.perf_counter()
        for event in events:
            payload = json.dumps(event).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{PORT}/stripe/webhook",
                data=payload,
                method="POST",
                headers={"Content-Type": "application/json", "Stripe-Signature": se.sign(payload)},
            )
            begin = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200, response.status
            times.append((time.perf_counter() - begin) * 1000)
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=20)
    times.sort()
    return {
        "database": label,
        "events": count,
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 1),
        "events_per_s": round(count / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    emulator = subprocess.Popen(
        [str(Path(sys.executable).with_name("localstripe")), "--port", str(EMULATOR), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait(f"http://127.0.0.1:{EMULATOR}/js.stripe.com/v3/")
        with tempfile.TemporaryDirectory() as folder:
            rows = [run(f"sqlite:///{folder}/bench.sqlite3", args.events, "SQLite")]
        rows.append(run(fresh_schema(args.postgres, "bench"), args.events, "PostgreSQL"))
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    print("| database | events | ack p50 (ms) | ack p99 (ms) | events applied / s |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        cells = [row[key] for key in ("database", "events", "p50_ms", "p99_ms", "events_per_s")]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


if __name__ == "__main__":
    main()
