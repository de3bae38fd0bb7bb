"""A realistic load through deploy/'s nginx: readers, a few donors' pages and Stripe's events.

    .venv/bin/python bench/load.py                   # two minutes
    .venv/bin/python bench/load.py --seconds 30 --clients 6

deploy/nginx/banner.conf (its main server without TLS here, so that the client's encryption
does not compete with the servers for the cores; otherwise as shipped, cache included) in front
of gunicorn with deploy/gunicorn.conf.py, and of the webhooks' own gunicorn as
systemd/banner-webhooks.service runs it (one process, storing events for the worker to apply),
with `banner worker` as banner-worker.service runs it, on PostgreSQL (--postgres, schema
bench_load), the Stripe emulator beside them. --clients processes each keep one connection to
nginx open and send requests back to back, picked at random: 95% the banner's (GET /api/banner,
GET /embed.js and POST /api/events with an impression and a view), 4% GET /donate, 1% POST
/stripe/webhook with
an event signed as Stripe signs it (invoice.paid or customer.subscription.updated of a seeded
monthly gift, each with a new id). Checks: no error, every counted beacon stored (banner_stats
against what was sent), every webhook stored and applied (stripe_events), webhook acknowledgement p99
under 100 ms. Prints a table; exits 1 when a check fails. Loopback only; bounded by --seconds.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_schema  # noqa: E402
from devtools import deploy_stack  # noqa: E402
from tests import stripe_events as se  # noqa: E402  (the signed-event builders of the tests)

HOST = "127.0.0.1"
APP_PORT, NGINX_PORT, NGINX_HTTP_PORT, EMULATOR_PORT = 5071, 5072, 5073, 5074  # localstripe: 5075
WEBHOOK_PORT = 5076  #: the webhooks' own gunicorn (systemd/banner-webhooks.service)
#: the settings systemd/banner-webhooks.service adds to /etc/banner/env
WEBHOOKS_SERVICE = deploy_stack.unit_environment("banner-webhooks.service")
GIFTS = 200  #: seeded monthly gifts the webhooks are about
#: (kind, share of requests)
MIX = [("banner", 0.55), ("embed", 0.20), ("events", 0.20), ("donate", 0.04), ("webhook", 0.01)]
WEBHOOK_P99_MS = 100


def client(number: int, seconds: float, results) -> None:
    """Send the mix for `seconds` on one kept-alive connection; put what happened on `results`."""
    rng = random.Random(number)
    kinds, weights = zip(*MIX, strict=True)
    times: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    error_text: list[str] = []
    beacons: Counter = Counter()
    webhooks: list[str] = []
    connection = None
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        sent += 1
        method, path, body, headers, expected = request_for(kind, number, sent, rng)
        if connection is None:
            connection = http.client.HTTPConnection(HOST, NGINX_PORT, timeout=30)
        began = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers={"Host": "donate.example.org", **headers})
            answer = connection.getresponse()
            answer.read()
            status = answer.status
            if answer.will_close:
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as error:
            status, connection = 0, None
            error_text.append(f"{kind}: {type(error).__name__}: {error}")
        times[kind].append((time.perf_counter() - began) * 1000)
        if status != expected:
            errors[kind] += 1
            if status:
                error_text.append(f"{kind}: HTTP {status}")
        elif kind == "events":
            beacons[body_variant(body)] += 1
        elif kind == "webhook":
            webhooks.append(json.loads(body)["id"])
    results.put((dict(times), errors, error_text[:20], beacons, webhooks))


def request_for(kind: str, number: int, sent: int, rng: random.Random):
    """(method, path, body, headers, expected status) of one request of this kind."""
    if kind == "banner":
        return "GET", f"/api/banner?campaign=spring&path=/news/story-{rng.randrange(20)}", None, {}, 200
    if kind == "embed":
        return "GET", "/embed.js", None, {}, 200
    if kind == "donate":
        return "GET", "/donate?campaign=spring&amount=10", None, {}, 200
    if kind == "events":
        variant = rng.choice("ab")
        events = [{"type": t, "campaign": "spring", "variant": variant} for t in ("impression", "view")]
        payload = json.dumps({"events": events, "reader": f"r{number}x{sent}"}).encode()
        return "POST", "/api/events", payload, {"Content-Type": "text/plain"}, 204
    gift = rng.randrange(GIFTS)
    event_id = f"evt_load_{number}_{sent}"
    if sent % 2:
        invoice = se.invoice(f"in_load_{number}_{sent}", f"sub_load{gift}", customer=f"cus_load{gift}")
        event = se.event("invoice.paid", invoice, event_id=event_id)
    else:
        subscription = se.subscription(f"sub_load{gift}", customer=f"cus_load{gift}", amount=1000)
        event = se.event("customer.subscription.updated", subscription, event_id=event_id)
    payload = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": se.sign(payload)}
    return "POST", "/stripe/webhook", payload, headers, 200


def body_variant(body: bytes) -> str:
    return json.loads(body)["events"][0]["variant"]


def seed(env: dict) -> None:
    """The demo campaign (seed-demo) and GIFTS monthly gifts the webhooks name."""
    flask = [str(deploy_stack.BIN / "flask"), "--app", "wsgi"]
    for args in (["db", "upgrade"], ["banner", "seed-demo"]):
        subprocess.run([*flask, *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    script = (
        "from banner import create_app\nfrom banner.extensions import db\n"
        "from banner.models import Donor, Gift, Frequency, GiftStatus\n"
        "with create_app().app_context():\n"
        f"    for n in range({GIFTS}):\n"
        "        d = Donor(email=f'load{n}@example.org', name='L', stripe_customer_id=f'cus_load{n}')\n"
        "        db.session.add(Gift(donor=d, frequency=Frequency.MONTH, status=GiftStatus.ACTIVE,"
        " amount=1000, currency='usd', stripe_subscription_id=f'sub_load{n}', stripe_status='active'))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=300)


@dataclass
class Events:
    """The webhooks' events as the database has them after the run."""

    stored: int
    applied: int
    noted: int  #: applied with a note (e.g. an invoice of a gift not found)
    lag_p50_ms: float  #: from stored (the answer follows) to applied
    lag_p99_ms: float


def stored(database_url: str) -> tuple[Counter, Events]:
    """Beacons stored per variant (impressions, which equal views here), and webhook events:
    stored, applied (once those still being applied are, within 30 s), with a note, and how long
    after it was stored each was applied."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    pending = sa.text("SELECT count(*) FROM stripe_events WHERE next_attempt_at IS NOT NULL AND attempts = 0")
    deadline = time.monotonic() + 30
    with engine.connect() as connection:
        while connection.scalar(pending) and time.monotonic() < deadline:
            connection.rollback()
            time.sleep(0.2)
        rows = connection.execute(
            sa.text(
                "SELECT v.key, sum(s.impressions), sum(s.views) FROM banner_stats s "
                "JOIN variants v ON v.id = s.variant_id GROUP BY v.key"
            )
        ).all()
        events = connection.execute(
            sa.text(
                "SELECT count(*), count(processed_at), count(error), "
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM lag)), "
                "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM lag)) "
                "FROM (SELECT *, processed_at - received_at AS lag FROM stripe_events) e "
                "WHERE event_id LIKE 'evt_load_%'"
            )
        ).one()
    engine.dispose()
    beacons = Counter()
    for key, impressions, views in rows:
        if impressions != views:
            raise SystemExit(f"variant {key}: {impressions} impressions but {views} views stored")
        beacons[key] = int(impressions)
    lag = [1000 * float(value) if value is not None else float("nan") for value in events[3:]]
    return beacons, Events(int(events[0]), int(events[1]), int(events[2]), lag[0], lag[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=6, help="client processes, one connection each")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, nginx.conf)")
    options = parser.parse_args()
    nginx = deploy_stack.nginx_binary()
    if nginx is None:
        raise SystemExit("nginx is missing: apt-get install -y nginx")
    tmp = Path(tempfile.mkdtemp(prefix="banner-load-"))
    database = fresh_schema(options.postgres, "bench_load")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANNER_")}
    env.update(
        BANNER_ENV="development",
        BANNER_DATABASE_URL=database,
        BANNER_PUBLIC_URL="http://donate.example.org",
        BANNER_STRIPE_API_BASE=f"http://{HOST}:{EMULATOR_PORT}",
        BANNER_STRIPE_SECRET_KEY="sk_test_load",
        BANNER_STRIPE_PUBLISHABLE_KEY="pk_test_load",
        BANNER_STRIPE_WEBHOOK_SECRET=se.SECRET,
        BANNER_MAIL_URL=f"file://{tmp}/outbox",
        BANNER_PROXIES="1",
        # every reader here comes from 127.0.0.1; the limits are not what is measured
        BANNER_EVENTS_PER_IP="10000000 per minute",
        BANNER_EVENTS_PER_READER="10000 per minute",
    )
    print(f"Seeding {database} ...", flush=True)
    seed(env)
    started: list[subprocess.Popen] = []
    try:
        log = tmp / "emulator.log"
        with open(log, "wb") as out:
            flask = [str(deploy_stack.BIN / "flask"), "--app", "wsgi"]
            emulator = [*flask, "banner", "stripe-emulator", "--port", str(EMULATOR_PORT)]
            started.append(
                subprocess.Popen(emulator, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
            )
        deploy_stack.wait_until_up(EMULATOR_PORT, started[-1], log)
        for port, log in ((APP_PORT, tmp / "gunicorn.log"), (WEBHOOK_PORT, tmp / "webhooks.log")):
            # the app's processes and, as banner-webhooks.service runs it, Stripe's events' own one
            extra = WEBHOOKS_SERVICE if port == WEBHOOK_PORT else {}
            started.append(deploy_stack.start_gunicorn(port, {**env, **extra}, log))
            deploy_stack.wait_until_up(port, started[-1], log)
        with open(tmp / "worker.log", "wb") as out:  # as banner-worker.service runs it
            started.append(
                subprocess.Popen([*flask, "banner", "worker"], cwd=ROOT, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            )  # fmt: skip
        site = deploy_stack.render_site(
            tmp, APP_PORT, NGINX_PORT, NGINX_HTTP_PORT, tls=False, webhook_port=WEBHOOK_PORT
        )
        conf = deploy_stack.nginx_conf(tmp, site, workers=2, access_log=False)
        started.append(deploy_stack.start_nginx(nginx, tmp, conf))
        deploy_stack.wait_until_up(NGINX_PORT, started[-1], tmp / "error.log")

        print(f"{options.clients} clients for {options.seconds:.0f} s through nginx ...", flush=True)
        results: multiprocessing.Queue = multiprocessing.Queue()
        processes = [
            multiprocessing.Process(target=client, args=(n, options.seconds, results))
            for n in range(options.clients)
        ]
        for process in processes:
            process.start()
        collected = [results.get(timeout=options.seconds + 120) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        beacons_stored, events = stored(database)
    finally:
        for process in reversed(started):
            deploy_stack.stop(process)
        app_errors = [  # the app's own account of a 5xx, shown under the checks
            line
            for app_log in (tmp / "gunicorn.log", tmp / "webhooks.log", tmp / "worker.log")
            for line in (app_log.read_text(errors="replace").splitlines() if app_log.exists() else [])
            if " ERROR " in line or line.startswith(("Traceback", "sqlalchemy.", "psycopg."))
        ]
        if options.keep:
            print(f"Kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    times: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    beacons_sent: Counter = Counter()
    webhooks_sent: list[str] = []
    texts: list[str] = []
    for part_times, part_errors, part_text, part_beacons, part_webhooks in collected:
        for kind, values in part_times.items():
            times[kind] += values
        errors += part_errors
        texts += part_text
        beacons_sent += part_beacons
        webhooks_sent += part_webhooks
    texts += app_errors[:10]
    return report(options, times, errors, texts, beacons_sent, beacons_stored, webhooks_sent, events)


def report(options, times, errors, texts, beacons_sent, beacons_stored, webhooks_sent, events: Events) -> int:
    total = sum(len(v) for v in times.values())
    print(
        f"\n{options.clients} clients, {options.seconds:.0f} s, {total:,} requests "
        f"({total / options.seconds:,.0f}/s) through deploy/'s nginx; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end.\n"
    )
    print("| request | share | count | errors | p50 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = {
        "banner": "GET /api/banner", "embed": "GET /embed.js", "events": "POST /api/events",
        "donate": "GET /donate", "webhook": "POST /stripe/webhook",
    }  # fmt: skip
    for kind, _share in MIX:
        values = times.get(kind, [])
        if not values:
            continue
        print(
            f"| {names[kind]} | {len(values) / total:.1%} | {len(values):,} | {errors[kind]} | "
            f"{statistics.median(values):.1f} ms | {percentile(values, 0.99):.1f} ms | {max(values):.1f} ms |"
        )
    webhook_p99 = percentile(times["webhook"], 0.99) if times.get("webhook") else float("nan")
    sent, kept = sum(beacons_sent.values()), sum(beacons_stored.values())
    stored_text = f"{events.stored}, applied: {events.applied} ({events.noted} with a note)"
    checks = [
        (f"errors: {sum(errors.values())}", sum(errors.values()) == 0),
        (f"beacons (impression + view) answered 204: {sent:,}, stored: {kept:,}",
         beacons_sent == beacons_stored),
        (f"webhooks acknowledged: {len(webhooks_sent)}, stored: {stored_text}",
         len(webhooks_sent) == events.stored == events.applied and len(webhooks_sent) > 0),
        (f"webhook acknowledgement p99: {webhook_p99:.1f} ms (under {WEBHOOK_P99_MS} ms)",
         webhook_p99 < WEBHOOK_P99_MS),
    ]  # fmt: skip
    print(f"\nEvents applied after they were stored (and answered; by the worker): p50 "
          f"{events.lag_p50_ms:.1f} ms, p99 {events.lag_p99_ms:.1f} ms.")  # fmt: skip
    print()
    for text, ok in checks:
        print(f"- {'ok' if ok else 'FAILED'}: {text}")
    for text in sorted(set(texts))[:10]:
        print(f"  - {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
