"""Readers never wait for donors: the banner's latency while donors wait on a slow Stripe.

    .venv/bin/python bench/slow_stripe.py    # no donors, sync workers, then deploy/'s gunicorn
    .venv/bin/python bench/slow_stripe.py --seconds 60 --delay 0.4 --donors 8

gunicorn runs with deploy/gunicorn.conf.py (and, for the "before" row, the same file with
`--worker-class sync --workers 2`, the README's earlier command) against the Stripe emulator
behind a proxy that holds every Stripe call for --delay seconds. --donors donors start gifts at
once and again as soon as one is done, through the real flow (GET /donate for the CSRF token,
POST /donate, which asks Stripe for the PaymentIntent; the card confirmed at the emulator as
Stripe.js does; POST /donate/<ref>/confirm, which asks Stripe again), while readers ask
GET /api/banner at a steady pace, each on a new connection as a proxy on a cache miss would.
Prints p50, p99 and max of the banner's latency per configuration, then checks the shipped one:
p99 under 250 ms, every answer under 2 s, none failed (exit 1 otherwise). Loopback only; bounded by
--seconds per configuration. PostgreSQL (--postgres) in its own schema, bench_slow_stripe.
"""

import argparse
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_schema  # noqa: E402
from devtools import deploy_stack  # noqa: E402
from tests.stripe_helpers import VISA, confirm_payment  # noqa: E402

HOST = "127.0.0.1"
APP_PORT, EMULATOR_PORT, PROXY_PORT = 5061, 5062, 5064  # the emulator's localstripe takes 5063
BANNER = "/api/banner?campaign=spring&path=/news/story"
#: name -> (label, gunicorn's extra arguments, whether donors give meanwhile)
CONFIGS = {
    "alone": ("deploy/gunicorn.conf.py, readers alone (no donors): the machine's own floor", [], False),
    "sync": ("deploy/gunicorn.conf.py --worker-class sync --workers 2 --threads 1 (before)",
             ["--worker-class", "sync", "--workers", "2", "--threads", "1"], True),
    "gthread": ("deploy/gunicorn.conf.py --worker-class gthread --threads 12 (the last shipped)",
                ["--worker-class", "gthread", "--threads", "12"], True),
    "shipped": ("deploy/gunicorn.conf.py as shipped (gevent, pywsgi)", [], True),
}  # fmt: skip
GIVE_UP = 10.0  # seconds a reader waits; the embed script itself gives up after 2


# --- the delaying proxy (run as its own process: `slow_stripe.py --proxy PORT UPSTREAM DELAY`) ---


def serve_proxy(port: int, upstream: str, delay: float) -> None:
    """Forward every request to `upstream` after `delay` seconds, one thread per connection."""
    target = urllib.parse.urlsplit(upstream)

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = do_DELETE = forward

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((HOST, port), Slow)
    server.daemon_threads = True
    server.serve_forever()


# --- load ------------------------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.banner: list[float] = []
        self.banner_errors = 0
        self.started = self.completed = self.donor_errors = 0
        self.error_text: list[str] = []
        self.steps: dict[str, list[float]] = {"page": [], "start": [], "card": [], "confirm": []}

    def step(self, name: str, began: float) -> float:
        now = time.perf_counter()
        with self.lock:
            self.steps[name].append(now - began)
        return now

    def add(self, name: str, value=1):
        with self.lock:
            setattr(self, name, getattr(self, name) + value)


def reader(stop: threading.Event, tally: Tally, interval: float) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        connection = http.client.HTTPConnection(HOST, APP_PORT, timeout=GIVE_UP)
        try:
            connection.request("GET", BANNER)
            answer = connection.getresponse()
            answer.read()
            ok = answer.status == 200
        except OSError:
            ok = False
        finally:
            connection.close()
        took = time.perf_counter() - began
        with tally.lock:
            tally.banner.append(took if ok else max(took, GIVE_UP))
            tally.banner_errors += not ok
        stop.wait(max(0.0, interval - took))


def donor(number: int, stop: threading.Event, tally: Tally) -> None:
    app = f"http://{HOST}:{APP_PORT}"
    gift = 0
    while not stop.is_set():
        gift += 1
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        try:
            began = time.perf_counter()
            page = opener.open(f"{app}/donate?campaign=spring", timeout=60).read().decode()
            began = tally.step("page", began)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            form = {
                "csrf_token": token, "amount": "25", "frequency": "once", "currency": "usd",
                "name": f"Donor {number}", "email": f"donor{number}.{gift}@example.org",
                "checkout_key": os.urandom(16).hex(), "campaign": "spring",
            }  # fmt: skip
            started = post_json(opener, f"{app}/donate", form)
            began = tally.step("start", began)
            tally.add("started")
            confirm_payment(f"http://{HOST}:{EMULATOR_PORT}", started["client_secret"], VISA)
            began = tally.step("card", began)
            done = post_json(opener, app + started["confirm_url"], {"csrf_token": token})
            tally.step("confirm", began)
            if done["status"] != "succeeded":
                raise RuntimeError(f"gift ended {done['status']}")
            tally.add("completed")
        except Exception as error:  # a donor's failure is counted and shown, the run goes on
            tally.add("donor_errors")
            with tally.lock:
                tally.error_text.append(f"{type(error).__name__}: {error}"[:200])
            stop.wait(0.5)


def post_json(opener, url: str, form: dict) -> dict:
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(form).encode(), headers={"Accept": "application/json"}
    )
    with opener.open(request, timeout=60) as answer:
        return json.load(answer)


def run_load(seconds: float, donors: int, readers: int, interval: float) -> Tally:
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=reader, args=(stop, tally, interval)) for _ in range(readers)]
    threads += [threading.Thread(target=donor, args=(n, stop, tally)) for n in range(donors)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    return tally


def say(text: str) -> None:
    print(text, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="load per configuration")
    parser.add_argument("--donors", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.4, help="seconds added to every Stripe call")
    parser.add_argument("--readers", type=int, default=4, help="readers asking for the banner")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between a reader's requests")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--proxy", nargs=3, metavar=("PORT", "UPSTREAM", "DELAY"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.proxy:
        serve_proxy(int(options.proxy[0]), options.proxy[1], float(options.proxy[2]))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="banner-slow-stripe-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANNER_")}
    env.update(
        BANNER_ENV="development",
        BANNER_DATABASE_URL=fresh_schema(options.postgres, "bench_slow_stripe"),
        BANNER_PUBLIC_URL=f"http://{HOST}:{APP_PORT}",
        BANNER_STRIPE_API_BASE=f"http://{HOST}:{PROXY_PORT}",  # the app's calls go through the delay
        BANNER_STARTS_PER_IP="1000000 per hour",  # every donor comes from 127.0.0.1 here
        BANNER_MAIL_URL=f"file://{tmp}/outbox",
    )
    flask = [str(deploy_stack.BIN / "flask"), "--app", "wsgi"]
    for args in (["db", "upgrade"], ["banner", "seed-demo"]):
        subprocess.run([*flask, *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    started: list[subprocess.Popen] = []
    rows = []
    try:
        emulator_log = tmp / "emulator.log"
        with open(emulator_log, "wb") as out:
            started.append(subprocess.Popen(
                [*flask, "banner", "stripe-emulator", "--port", str(EMULATOR_PORT)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip
        upstream = f"http://{HOST}:{EMULATOR_PORT}"
        proxy = [sys.executable, __file__, "--proxy", str(PROXY_PORT), upstream, str(options.delay)]
        started.append(subprocess.Popen(proxy, start_new_session=True))
        deploy_stack.wait_until_up(EMULATOR_PORT, started[0], emulator_log)
        deploy_stack.wait_until_up(PROXY_PORT, started[1], emulator_log)
        for name in options.configs.split(","):
            label, extra, with_donors = CONFIGS[name]
            donors = options.donors if with_donors else 0
            log = tmp / f"gunicorn-{name}.log"
            gunicorn = deploy_stack.start_gunicorn(APP_PORT, env, log, *extra)
            try:
                deploy_stack.wait_until_up(APP_PORT, gunicorn, log)
                for _ in range(20):
                    urllib.request.urlopen(f"http://{HOST}:{APP_PORT}{BANNER}", timeout=10).read()
                say(f"{label}: {donors} donors and {options.readers} readers for {options.seconds:.0f} s ...")
                tally = run_load(options.seconds, donors, options.readers, options.interval)
            finally:
                deploy_stack.stop(gunicorn)
            rows.append((label, tally))
            steps = [f"{step} {statistics.median(t) * 1000:.0f} ms" for step, t in tally.steps.items() if t]
            say("  donor steps, median: " + ", ".join(steps))  # where a donor's time goes
            for text in sorted(set(tally.error_text))[:5]:
                print(f"  donor error: {text}")
    finally:
        for process in reversed(started):
            deploy_stack.stop(process)
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nStripe calls delayed {options.delay * 1000:.0f} ms; {options.donors} donors giving again and "
        f"again; {options.readers} readers, one GET {BANNER} every {options.interval * 1000:.0f} ms each; "
        f"{options.seconds:.0f} s per row; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end.\n"
    )
    print(
        "| gunicorn | banner requests | p50 | p99 | max | over 2 s | failed "
        "| gifts started / completed | donor errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, tally in rows:
        times = tally.banner
        print(
            f"| {label} | {len(times)} | {statistics.median(times) * 1000:.0f} ms | "
            f"{percentile(times, 0.99) * 1000:.0f} ms | {max(times) * 1000:.0f} ms | "
            f"{sum(t > 2 for t in times)} | {tally.banner_errors} | {tally.started} / {tally.completed} | "
            f"{tally.donor_errors} |"
        )
    return check(dict(rows).get(CONFIGS["shipped"][0]))


#: what #15 asks of the shipped configuration while donors wait on a slow Stripe
P99_LIMIT, MAX_LIMIT = 0.250, 2.0


def check(shipped) -> int:
    """Print whether the shipped configuration kept the banner's p99 under P99_LIMIT and every
    answer under MAX_LIMIT, with no failed request; 1 when it did not (0 when it did not run)."""
    if shipped is None:
        return 0
    times = shipped.banner
    checks = [
        (f"the banner's p99 with donors waiting: {percentile(times, 0.99) * 1000:.0f} ms "
         f"(under {P99_LIMIT * 1000:.0f} ms)", percentile(times, 0.99) < P99_LIMIT),
        (f"the banner's slowest answer: {max(times) * 1000:.0f} ms (under {MAX_LIMIT:.0f} s)",
         max(times) < MAX_LIMIT),
        (f"banner requests failed: {shipped.banner_errors}", shipped.banner_errors == 0),
    ]  # fmt: skip
    print()
    for text, ok in checks:
        print(f"- {'ok' if ok else 'FAILED'}: {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
