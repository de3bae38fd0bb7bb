"""Staff report pages on a large made-up history: generation time, page time and SQL time.

    .venv/bin/python bench/reports.py [--donors 100000] [--months 60] [--monthly-share 0.5] [--repeat 5]
                                      [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--reuse]

Empties the PostgreSQL schema "bench_reports" (beside whatever the database holds), runs
`flask db upgrade` and `flask banner seed-demo --donors N --months M --monthly-share S` against it
(timed), then VACUUM ANALYZE, as autovacuum would after a bulk load. It serves the app under
gunicorn (2 sync workers, 127.0.0.1:5058), logs in as the seeded admin and loads each page of
PAGES `--repeat` times: the median is the page time.
Then, in this process, it loads each page as often again through Flask's test client against
the same database, timing every SQL statement with before/after_cursor_execute: the statements
a page runs, their time alone, and their share of the page's time. A page that answers 404 is
reported as missing. `--reuse` keeps a schema already generated. Only loopback addresses are used.
"""

import argparse
import http.cookiejar
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from banner import create_app  # noqa: E402
from banner.extensions import db  # noqa: E402
from bench.common import fresh_schema, in_schema, wait  # noqa: E402

PAGES = (
    "/staff/reports/overview",
    "/staff/reports/recurring",
    "/staff/reports/cancellations",
    "/staff/reports/retention",
    "/staff/reports/banners",
    "/staff/reports/articles",
    "/staff/donors",
    "/staff/donors?q=smith",
    "/staff/donors?filter=monthly",
    "/staff/donors?filter=lapsed",
    "/staff/donors?sort=total",
    "/staff/donors?sort=last_gift",
)
SCHEMA = "bench_reports"
PORT = 5058
TABLES = ("donors", "gifts", "payments", "gift_events", "banner_stats")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def environment(database_url: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    return {**env, "BANNER_ENV": "development", "BANNER_DATABASE_URL": database_url}


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def generate(env: dict, donors: int, months: int, monthly_share: float) -> tuple[float, str, str]:
    """Run seed-demo with a history; return its wall time, summary line and the admin's password."""
    subprocess.run(flask("db", "upgrade"), cwd=ROOT, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(
        flask(
            "banner",
            "seed-demo",
            *("--donors", str(donors), "--months", str(months), "--monthly-share", str(monthly_share)),
        ),
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    password = re.search(r"Staff login: \S+ / (\S+)", done.stdout)
    summary = re.search(r"^Added [\d,]+ donors.*$", done.stdout, re.MULTILINE)
    if password is None:
        raise SystemExit("seed-demo printed no admin password; is the schema fresh?")
    return seconds, summary.group(0) if summary else "", password.group(1)


def table_figures(url: str) -> dict[str, tuple[int, str]]:
    """VACUUM ANALYZE the tables (the visibility map lets index-only scans skip the heap, as
    autovacuum would have it after a bulk load); return each one's rows and size on disk
    (indexes included)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    figures = {}
    with engine.connect() as connection:
        for table in TABLES:
            connection.execute(sa.text(f"VACUUM ANALYZE {table}"))
            rows = connection.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            size = connection.scalar(sa.text(f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))"))
            figures[table] = (rows, size)
    engine.dispose()
    return figures


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    if match is None:
        raise SystemExit("no csrf_token on the login page")
    return match.group(1)


def http_timings(env: dict, email: str, password: str, repeat: int) -> dict[str, list | int]:
    """Serve the app under gunicorn; return each page's load times in ms, or its error status."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [gunicorn, "-w", "2", "-b", f"127.0.0.1:{PORT}", "--timeout", "600", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            return load_pages(f"http://127.0.0.1:{PORT}", email, password, repeat)
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-3000:].decode(errors="replace"))
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)


def load_pages(base: str, email: str, password: str, repeat: int) -> dict[str, list | int]:
    wait(f"{base}/staff/login")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/staff/login") as response:
        token = csrf_token(response.read().decode())
    body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    with opener.open(f"{base}/staff/login", data=body) as response:
        if "/staff/login" in response.url:
            raise SystemExit("could not log in as the seeded admin")
    results = {}
    for page in PAGES:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            try:
                with opener.open(base + page, timeout=600) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                times = error.code
                break
            times.append((time.perf_counter() - started) * 1000)
        results[page] = times
        print(f"  {page}: {describe(times)}", file=sys.stderr)
    return results


def sql_timings(database_url: str, email: str, password: str, repeat: int) -> dict[str, dict]:
    """Load each page through the test client in this process, timing its SQL statements."""
    app = create_app({"ENV": "development", "DATABASE_URL": database_url})
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, (time.perf_counter() - conn.info["started"].pop()) * 1000))

    results = {}
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", before)
        sa.event.listen(db.engine, "after_cursor_execute", after)
        client = app.test_client()
        token = csrf_token(client.get("/staff/login").get_data(as_text=True))
        login = {"email": email, "password": password, "csrf_token": token}
        if client.post("/staff/login", data=login).status_code != 302:
            raise SystemExit("could not log in as the seeded admin in-process")
        for page in PAGES:
            runs = []
            for _ in range(repeat):
                statements.clear()
                started = time.perf_counter()
                status = client.get(page).status_code
                page_ms = (time.perf_counter() - started) * 1000
                if status != 200:
                    runs = status
                    break
                runs.append((page_ms, list(statements)))
            results[page] = runs
    return results


def describe(times) -> str:
    if isinstance(times, int):
        return "missing (404)" if times == 404 else f"HTTP {times}"
    return f"median {statistics.median(times):,.0f} ms of {len(times)}"


def report(args, generation, figures, http: dict, sql: dict) -> None:
    seconds, summary, _ = generation
    print(f"### Report pages on {args.donors:,} donors over {args.months} months (PostgreSQL)\n")
    if summary:
        command = (
            f"seed-demo --donors {args.donors} --months {args.months} --monthly-share {args.monthly_share}"
        )
        print(f"`{command}`: {seconds:,.0f} s wall. {summary}\n")
    print("| table | rows | size |")
    print("| --- | ---: | ---: |")
    for table, (rows, size) in figures.items():
        print(f"| {table} | {rows:,} | {size} |")
    print(f"\nMedian of {args.repeat} loads each; SQL timed in-process (test client, same database).\n")
    print("| page | gunicorn median | in-process median | statements | SQL median | SQL share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    slowest = {}
    for page in PAGES:
        times, runs = http[page], sql[page]
        if isinstance(times, int) or isinstance(runs, int):
            status = times if isinstance(times, int) else runs
            print(f"| `{page}` | {describe(status)} | | | | |")
            continue
        page_ms = statistics.median(ms for ms, _ in runs)
        sql_ms = statistics.median(sum(t for _, t in statements) for _, statements in runs)
        count = len(runs[-1][1])
        print(
            f"| `{page}` | {statistics.median(times):,.0f} ms | {page_ms:,.0f} ms | {count} "
            f"| {sql_ms:,.0f} ms | {sql_ms / page_ms:.0%} |"
        )
        per_statement = defaultdict(float)
        for statement, ms in runs[-1][1]:
            per_statement[" ".join(statement.split())] += ms
        slowest[page] = sorted(per_statement.items(), key=lambda item: -item[1])[:3]
    print("\nSlowest statements of each page (last load):\n")
    for page, statements in slowest.items():
        print(f"- `{page}`")
        for statement, ms in statements:
            print(f"  - {ms:,.0f} ms: `{statement[:160]}{'...' if len(statement) > 160 else ''}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--donors", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--monthly-share", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--reuse", action="store_true", help="Keep the schema and history of an earlier run.")
    parser.add_argument("--password", help="The admin's password, with --reuse.")
    args = parser.parse_args()
    if args.reuse:
        if not args.password:
            parser.error("--reuse needs the admin's --password (printed by the earlier run)")
        url = in_schema(args.postgres, SCHEMA)
        generation = (0.0, "", args.password)
    else:
        url = fresh_schema(args.postgres, SCHEMA)
        print(f"Generating {args.donors:,} donors over {args.months} months...", file=sys.stderr)
        generation = generate(environment(url), args.donors, args.months, args.monthly_share)
        print(
            f"  {generation[1]} ({generation[0]:,.0f} s wall); admin password {generation[2]}",
            file=sys.stderr,
        )
    figures = table_figures(url)
    print("Loading the pages under gunicorn...", file=sys.stderr)
    http = http_timings(environment(url), "admin@example.org", generation[2], args.repeat)
    print("Timing their SQL in-process...", file=sys.stderr)
    sql = sql_timings(url, "admin@example.org", generation[2], args.repeat)
    report(args, generation, figures, http, sql)


if __name__ == "__main__":
    main()
