"""Benchmark the banner's public endpoints: gunicorn against nginx serving the same bytes and
against deploy/'s nginx (its proxy_cache in front of deploy/'s gunicorn), and the banner on the
demo article page in Chromium.

    .venv/bin/python bench/run.py            # about 3 minutes; prints a Markdown results table
    .venv/bin/python bench/run.py --keep     # keep the temporary folder (logs, configs) afterwards
    .venv/bin/python bench/run.py --gunicorn="-w 2 -k gthread --threads 8"   # another origin

Loopback only (127.0.0.1:5055 gunicorn, :5056 nginx, :5052 deploy/'s nginx with :5053 its
redirect server and :5054 its gunicorn, :8077 the article page). Every load is
bounded: wrk runs for -d10s (-d2s to warm up), the browser loads the page 1 + 20 times.
Everything it starts is stopped on exit, Ctrl-C included. Under the table it checks the
ratios #15 asks for (gunicorn at least 0.10 of nginx, deploy/'s nginx at least 0.8) and exits 1
when one falls short. See bench/README.md.
"""

import argparse
import gzip
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import date
from math import ceil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import servers  # noqa: E402
from devtools import deploy_stack  # noqa: E402

BIN = Path(sys.executable).parent  # the venv's bin: flask and gunicorn live beside this Python
HOST = "127.0.0.1"
GUNICORN_PORT, NGINX_PORT, SITE_PORT = 5055, 5056, 8077
DEPLOY_PORT, DEPLOY_REDIRECT_PORT, DEPLOY_APP_PORT = 5052, 5053, 5054
GUNICORN = f"http://{HOST}:{GUNICORN_PORT}"
NGINX = f"http://{HOST}:{NGINX_PORT}"
DEPLOY = f"http://{HOST}:{DEPLOY_PORT}"
SERVERS = (
    ("gunicorn", GUNICORN, GUNICORN_PORT),
    ("nginx", NGINX, NGINX_PORT),
    ("deploy", DEPLOY, DEPLOY_PORT),
)
SITE = f"http://{HOST}:{SITE_PORT}/"
BANNER_PATH = "/api/banner?campaign=spring&path=/news/story"
TARGETS = [("/embed.js", "/embed.js"), ("/api/banner?campaign=spring&path=/news/story", BANNER_PATH)]
WRK_ARGS = ["-t2", "-c50", "-d10s", "--latency"]
WRK_RUNS = 3
GUNICORN_OPTIONS = ["-c", "deploy/gunicorn.conf.py"]  #: as shipped unless --gunicorn says otherwise
LOADS = 20
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Installed before any page script runs: sums layout shifts, and notes when the banner's host
# (a div appended to <body>, position:fixed set through CSSOM) enters the document.
INIT_SCRIPT = """
(() => {
  const b = window.__bench = { cls: 0, shifts: [], banner: null, how: null, original: null };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!e.hadRecentInput) { b.cls += e.value; b.shifts.push(e.value); }
    }
  }).observe({ type: "layout-shift", buffered: true });
  // <body>'s children once the HTML is parsed; mutation records for the last of them can arrive
  // after DOMContentLoaded, so "is it one of these" rather than "did it come after the event".
  document.addEventListener("DOMContentLoaded", () => {
    b.original = new Set(document.body.children);
  }, { once: true });
  new MutationObserver((records) => {
    if (b.banner !== null) return;
    const now = performance.now();
    for (const r of records) {
      if (r.target !== document.body) continue;
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        const shadow = n.shadowRoot !== null;  // the banner's host, its shadow root already attached
        if (shadow || (b.original !== null && !b.original.has(n))) {
          b.banner = now;
          b.how = n.tagName.toLowerCase() + (shadow ? " with a shadow root" : " not in the HTML");
          return;
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });
})();
"""

READ_FIGURES = """
() => {
  const b = window.__bench;
  const script = performance.getEntriesByType("resource").find((e) => e.name.includes("/embed.js"));
  const api = performance.getEntriesByType("resource").find((e) => e.name.includes("/api/banner"));
  return {
    cls: b.cls, shifts: b.shifts, banner: b.banner, how: b.how,
    scriptEnd: script ? script.responseEnd : null, apiEnd: api ? api.responseEnd : null,
  };
}
"""


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def interrupted(signum, frame):
    raise KeyboardInterrupt


def say(message: str = "") -> None:
    print(message, flush=True)


# --- tools and ports ---------------------------------------------------------------------------


def tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


def ensure_tools() -> tuple[str, str]:
    missing = [name for name in ("nginx", "wrk") if not tool(name)]
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise BenchError(f"{' and '.join(missing)} missing: apt-get install -y nginx wrk")
        say(f"Installing {' '.join(missing)} with apt-get ...")
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise BenchError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    for name in ("gunicorn", "flask"):
        if not (BIN / name).exists():
            raise BenchError(f"{BIN / name} is missing: run this with the project's venv (.venv/bin/python).")
    if not Path(CHROMIUM).exists():
        raise BenchError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise BenchError("Playwright is not installed in this Python: pip install -e '.[dev]'") from None
    return tool("nginx"), tool("wrk")


def ensure_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT from a last run is fine
        try:
            s.bind((HOST, port))
        except OSError:
            raise BenchError(f"{HOST}:{port} is in use; stop whatever listens there and retry.") from None


# --- processes ---------------------------------------------------------------------------------


class Processes:
    """What this run started, stopped in reverse order however the run ends."""

    def __init__(self):
        self.started: list[tuple[str, subprocess.Popen, Path | None]] = []

    def start(self, name: str, command: list[str], log: Path | None, **kwargs) -> subprocess.Popen:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
        # A session of its own: a terminal's Ctrl-C reaches only this script, which stops it.
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        if log:
            out.close()
        self.started.append((name, process, log))
        return process

    def check(self) -> None:
        for name, process, log in self.started:
            if process.poll() is not None:
                raise BenchError(f"{name} stopped (exit {process.returncode}).{tail(log)}")

    def stop(self) -> None:
        for _name, process, _log in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _name, process, _log in reversed(self.started):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only what it started
                process.wait(timeout=5)


def tail(log: Path | None, lines: int = 15) -> str:
    if not log or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log.name} ---\n" + "\n".join(text)


def wait_for(url: str, processes: Processes, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f} s.")


#: extra request headers of every fetch and wrk run (--gzip: a browser's Accept-Encoding)
REQUEST_HEADERS: dict[str, str] = {}


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=REQUEST_HEADERS if headers is None else headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        if response.status != 200:
            raise BenchError(f"{url} answered {response.status}, not 200.")
        return response.read()


def header_bytes(port: int, path: str) -> int:
    """The size of the response's status line and headers, as sent on the wire."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        extra = "".join(f"{name}: {value}\r\n" for name, value in REQUEST_HEADERS.items())
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.find(b"\r\n\r\n") + 4


# --- setup -------------------------------------------------------------------------------------


def app_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANNER_")}
    env.update(
        BANNER_ENV="development",
        BANNER_DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
        BANNER_PUBLIC_URL=GUNICORN,
    )
    return env


def prepare_database(env: dict) -> None:
    for args in (["db", "upgrade"], ["banner", "seed-demo"]):
        command = [str(BIN / "flask"), "--app", "wsgi", *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(command[1:])} failed:\n{(done.stdout + done.stderr)[-2000:]}")


NGINX_CONF = """\
worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    gzip_static on;  # embed.js.gz and banner.json.gz to a client that takes gzip
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {host}:{port};
        # The same bytes gunicorn sent, with its Cache-Control and CORS headers.
        location = /embed.js {{
            default_type text/javascript;
            alias {dir}/www/embed.js;
            add_header Cache-Control "public, max-age=300, stale-while-revalidate=86400";
            add_header Access-Control-Allow-Origin "*";
        }}
        location = /api/banner {{
            default_type application/json;
            alias {dir}/www/banner.json;
            add_header Cache-Control "public, max-age=30, s-maxage=30";
            add_header Access-Control-Allow-Origin "*";
        }}
    }}
}}
"""


def start_nginx(nginx: str, tmp: Path, files: dict[str, bytes], processes: Processes) -> subprocess.Popen:
    """nginx serving `files` (name: bytes) from a folder of its own."""
    folder = tmp / "nginx"
    (folder / "www").mkdir(parents=True)
    for name, data in files.items():
        (folder / "www" / name).write_bytes(data)
    for path in (tmp, folder, folder / "www", *((folder / "www" / name) for name in files)):
        path.chmod(0o755 if path.is_dir() else 0o644)  # nginx's workers run as nobody under root
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, host=HOST, port=NGINX_PORT))
    command = [nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
    test = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    if test.returncode != 0:
        raise BenchError(f"nginx rejected {conf}:\n{test.stderr}")
    return processes.start("nginx", command, folder / "stdout.log")


def start_deploy(nginx: str, tmp: Path, env: dict, processes: Processes) -> list[subprocess.Popen]:
    """deploy/'s gunicorn and, in front of it, deploy/'s nginx site (its main server without TLS)."""
    app = processes.start(
        "deploy/'s gunicorn",
        deploy_stack.gunicorn_command(DEPLOY_APP_PORT),
        tmp / "deploy-gunicorn.log",
        cwd=ROOT,
        env=env,
    )
    folder = tmp / "deploy"
    folder.mkdir()
    try:
        site = deploy_stack.render_site(folder, DEPLOY_APP_PORT, DEPLOY_PORT, DEPLOY_REDIRECT_PORT, tls=False)
        command = deploy_stack.nginx_command(
            nginx, folder, deploy_stack.nginx_conf(folder, site, workers=2, access_log=False)
        )
    except deploy_stack.StackError as error:
        raise BenchError(str(error)) from None
    return [app, processes.start("deploy/'s nginx", command, folder / "stdout.log")]


def memory_lines(leaders: dict[str, list[int]]) -> list[str]:
    """The resident memory of each server's workers, read after the wrk rounds."""
    parts = []
    for label, leader in (
        (f"gunicorn {shlex.join(GUNICORN_OPTIONS)}", leaders["gunicorn"][0]),
        ("deploy/'s gunicorn", leaders["deploy"][0]),
        ("nginx", leaders["nginx"][0]),
        ("deploy/'s nginx (with its cache)", leaders["deploy"][1]),
    ):
        sizes = ", ".join(f"{mb:.1f}" for mb in servers.workers_rss(leader))
        parts.append(f"{label} {sizes} MB")
    return ["Memory per worker (RSS) after the wrk rounds: " + "; ".join(parts) + "."]


def start_site(tmp: Path, processes: Processes) -> None:
    site = tmp / "site"
    shutil.copytree(ROOT / "demo" / "site", site)
    index = site / "index.html"
    html = index.read_text()
    rewritten = html.replace("http://127.0.0.1:5000", GUNICORN)
    if f'src="{GUNICORN}/embed.js"' not in rewritten or f"connect-src {GUNICORN}" not in rewritten:
        raise BenchError("demo/site/index.html no longer has the script tag and CSP this expects.")
    index.write_text(rewritten)
    processes.start(
        "article site",
        [sys.executable, "-m", "http.server", str(SITE_PORT), "--bind", HOST, "--directory", str(site)],
        None,
    )


# --- wrk ---------------------------------------------------------------------------------------


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS_MS[unit]


def wrk(binary: str, url: str, args: list[str] = WRK_ARGS) -> dict:
    done = subprocess.run([binary, *args, url], capture_output=True, text=True, timeout=60)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or not rate:
        raise BenchError(f"wrk {url} failed (exit {done.returncode}):\n{out}{done.stderr}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rate.group(1)),
        "p50": to_ms(latency["50"]) if "50" in latency else float("nan"),
        "p99": to_ms(latency["99"]) if "99" in latency else float("nan"),
        "errors": sum(map(int, errors.groups())) if errors else 0,
        "error_text": errors.group(0) if errors else "",
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "requests": int(requests.group(1)) if requests else 0,
    }


def run_wrk(binary: str, processes: Processes, leaders: dict[str, list[int]]) -> dict:
    """wrk each target in rounds; each run also notes the CPU time its server's processes used
    (`leaders`: the process groups of each server) per request answered."""
    urls = {(name, server): base + path for name, path in TARGETS for server, base, _port in SERVERS}
    say("Warming up (wrk -d2s per target) ...")
    for url in urls.values():
        wrk(binary, url, ["-t2", "-c50", "-d2s", *WRK_ARGS[4:]])  # with --gzip's header too
    results = {key: [] for key in urls}
    for round_ in range(1, WRK_RUNS + 1):  # rounds, so drift over time hits every target alike
        for key, url in urls.items():
            processes.check()
            say(f"  round {round_}/{WRK_RUNS}: wrk {' '.join(WRK_ARGS)} {url}")
            cpu = servers.cpu_seconds(leaders[key[1]])
            result = wrk(binary, url)
            used = servers.cpu_seconds(leaders[key[1]]) - cpu
            result["cpu_us"] = used * 1e6 / result["requests"] if result["requests"] else float("nan")
            results[key].append(result)
            say(
                f"    {result['rps']:>10,.0f} req/s   p50 {result['p50']:.2f} ms   p99 {result['p99']:.2f} ms"
                f"   {result['cpu_us']:.0f} µs CPU/request"
                + (f"   {result['error_text']}" if result["errors"] else "")
                + (f"   non-2xx {result['non2xx']}" if result["non2xx"] else "")
            )
    return results


# --- browser -----------------------------------------------------------------------------------


def run_browser(processes: Processes) -> list[dict]:
    from playwright.sync_api import sync_playwright

    loads = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for number in range(LOADS + 1):  # the first warms Chromium up and is not counted
                processes.check()
                context = browser.new_context()  # empty localStorage and HTTP cache each time
                try:
                    page = context.new_page()
                    errors = []
                    page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                    page.on(
                        "console",
                        lambda m, errors=errors: m.type == "error" and errors.append(m.text),
                    )
                    page.add_init_script(INIT_SCRIPT)
                    page.goto(SITE, wait_until="load", timeout=15_000)
                    page.wait_for_timeout(2000)
                    figures = page.evaluate(READ_FIGURES)
                    figures["errors"] = errors
                finally:
                    context.close()
                if number:
                    loads.append(figures)
        finally:
            browser.close()
    return loads


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[ceil(0.9 * len(ordered)) - 1]  # nearest rank


# --- report ------------------------------------------------------------------------------------


def versions(nginx: str, wrk_binary: str, load: float) -> str:
    def first_line(command):
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
        return (done.stdout + done.stderr).strip().splitlines()[0]

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    gunicorn = first_line([str(BIN / "gunicorn"), "--version"])
    return (
        f"{os.cpu_count()} CPUs ({cpu}), 1-min load average {load:.2f} before the run; "
        f"{first_line([nginx, '-v']).replace('nginx version: ', '')}; "
        f"{first_line([wrk_binary, '-v']).split(' Copyright')[0]}; {gunicorn}; "
        f"Python {platform.python_version()}"
    )


def rates(runs: list[dict]) -> str:
    return ", ".join(f"{r['rps']:,.0f}" for r in runs)


#: the ratios to nginx serving the same bytes that #15 asks of the origin and of deploy/'s nginx
ORIGIN_RATIO, DEPLOY_RATIO = 0.10, 0.8


def check(results: dict) -> int:
    """Print whether each endpoint reached ORIGIN_RATIO at the origin and DEPLOY_RATIO through
    deploy/'s nginx in this run (medians, side by side); 1 when one did not."""
    checks = []
    for name, _path in TARGETS:
        rps = {server: statistics.median(r["rps"] for r in results[(name, server)]) for server, *_ in SERVERS}
        for server, floor in (("gunicorn", ORIGIN_RATIO), ("deploy", DEPLOY_RATIO)):
            ratio = rps[server] / rps["nginx"]
            checks.append((f"{name}: {server} / nginx {ratio:.3f} (at least {floor:.2f})", ratio >= floor))
    say("")
    for text, ok in checks:
        say(f"- {'ok' if ok else 'FAILED'}: {text}")
    return 0 if all(ok for _, ok in checks) else 1


def report(
    results: dict,
    loads: list[dict],
    headers: dict,
    source: bytes,
    served: bytes,
    machine: str,
    memory: list[str],
) -> str:
    lines = [
        f"### Results ({date.today().isoformat()}, this {os.cpu_count()}-core machine)",
        "",
        machine,
        "",
        f"wrk {' '.join(WRK_ARGS)}, median of {WRK_RUNS} runs; gunicorn {shlex.join(GUNICORN_OPTIONS)}, "
        "nginx worker_processes 2; both serve identical bodies. deploy/: deploy/nginx/banner.conf "
        "(without TLS, worker_processes 2, its proxy_cache) in front of gunicorn -c "
        "deploy/gunicorn.conf.py; the same bodies. CPU: user + system time of the server's "
        "processes (deploy/: nginx and its gunicorn) during the run, per request answered.",
        "",
        "| endpoint | gunicorn req/s | nginx req/s | gunicorn/nginx | gunicorn p50 | gunicorn p99 "
        "| deploy/ req/s | deploy//nginx | deploy/ p50 | deploy/ p99 "
        "| CPU µs/req gunicorn | CPU µs/req nginx | CPU µs/req deploy/ |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for name, _path in TARGETS:
        g, n, d = results[(name, "gunicorn")], results[(name, "nginx")], results[(name, "deploy")]
        g_rps, n_rps = statistics.median(r["rps"] for r in g), statistics.median(r["rps"] for r in n)
        g50, g99 = statistics.median(r["p50"] for r in g), statistics.median(r["p99"] for r in g)
        d_rps = statistics.median(r["rps"] for r in d)
        d50, d99 = statistics.median(r["p50"] for r in d), statistics.median(r["p99"] for r in d)
        cpu = [statistics.median(r["cpu_us"] for r in runs) for runs in (g, n, d)]
        lines.append(
            f"| `{name}` | {g_rps:,.0f} | {n_rps:,.0f} | {g_rps / n_rps:.3f} | {g50:.2f} ms | {g99:.2f} ms "
            f"| {d_rps:,.0f} | {d_rps / n_rps:.3f} | {d50:.2f} ms | {d99:.2f} ms "
            f"| {cpu[0]:,.0f} | {cpu[1]:,.0f} | {cpu[2]:,.0f} |"
        )
        n50, n99 = statistics.median(r["p50"] for r in n), statistics.median(r["p99"] for r in n)
        notes.append(
            f"- `{name}`: runs gunicorn {rates(g)} req/s, nginx {rates(n)} req/s; "
            f"nginx p50 {n50:.2f} ms, p99 {n99:.2f} ms; response headers "
            f"{headers[(name, 'gunicorn')]} B (gunicorn) vs {headers[(name, 'nginx')]} B (nginx)"
            f"; deploy/ runs {rates(d)} req/s, response headers {headers[(name, 'deploy')]} B"
        )
        for server, runs in (("gunicorn", g), ("nginx", n), ("deploy/", d)):
            bad = sum(r["errors"] for r in runs), sum(r["non2xx"] for r in runs)
            if any(bad):
                notes.append(
                    f"  - {server}: socket errors {bad[0]}, non-2xx responses {bad[1]} over {WRK_RUNS} runs"
                )
    lines += ["", *notes, "", *memory, ""]

    shown = [load for load in loads if load["banner"] is not None and load["scriptEnd"] is not None]
    delays = [load["banner"] - load["scriptEnd"] for load in shown]
    cls = [load["cls"] for load in loads]
    errors = sum(len(load["errors"]) for load in loads)
    lines += [
        f"Demo article page, Chromium headless, {LOADS} loads "
        "(a fresh context each, after 1 uncounted warm-up):",
        "",
        "| browser figure | value |",
        "| --- | ---: |",
        f"| loads where the banner appeared | {len(shown)}/{LOADS} |",
    ]
    if delays:
        appeared = statistics.median(load["banner"] for load in shown)
        lines += [
            f"| embed.js responseEnd → banner in DOM, median | {statistics.median(delays):.1f} ms |",
            f"| embed.js responseEnd → banner in DOM, p90 | {p90(delays):.1f} ms |",
            f"| navigation start → banner in DOM, median | {appeared:.1f} ms |",
        ]
    lines += [
        f"| CLS, median | {statistics.median(cls):.4f} |",
        f"| CLS, max | {max(cls):.4f} |",
        f"| console errors / page errors | {errors} |",
        "",
        "Banner host detected as: "
        + ", ".join(
            f"{how} ({count})"
            for how, count in sorted(
                Counter(load["how"] for load in loads).items(), key=lambda item: str(item[0])
            )
        ),
        "",
        "| script size | bytes |",
        "| --- | ---: |",
        f"| `static/embed/banner.js`, the readable source | {len(source):,} |",
        f"| `/embed.js` as served (minified) | {len(served):,} |",
        f"| `/embed.js` as served, gzip -9 (budget 3,072) | {gzip9(served):,} |",
    ]
    return "\n".join(lines)


def gzip9(data: bytes) -> int:
    binary = shutil.which("gzip")
    if binary:
        command = [binary, "-9", "-n", "-c"]
        done = subprocess.run(command, input=data, capture_output=True, timeout=30, check=True)
        return len(done.stdout)
    return len(gzip.compress(data, compresslevel=9, mtime=0))


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--gunicorn",
        default="-c deploy/gunicorn.conf.py",
        help="the origin's gunicorn options (default: -c deploy/gunicorn.conf.py, as shipped)",
    )
    parser.add_argument(
        "--gzip", action="store_true", help="ask as browsers do, with Accept-Encoding: gzip (gzipped bodies)"
    )
    options = parser.parse_args()
    if options.gzip:
        REQUEST_HEADERS["Accept-Encoding"] = "gzip"
        WRK_ARGS.extend(["-H", "Accept-Encoding: gzip"])
    GUNICORN_OPTIONS[:] = shlex.split(options.gunicorn)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, interrupted)
    processes = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="banner-bench-"))
    failed = True  # print gunicorn's log tail unless the run succeeded or was interrupted
    try:
        nginx, wrk_binary = ensure_tools()
        ports = (GUNICORN_PORT, NGINX_PORT, SITE_PORT, DEPLOY_PORT, DEPLOY_REDIRECT_PORT, DEPLOY_APP_PORT)
        for port in ports:
            ensure_free(port)
        started, load = time.monotonic(), os.getloadavg()[0]
        env = app_env(tmp)
        say(f"Temporary folder {tmp}; database {env['BANNER_DATABASE_URL']}")
        prepare_database(env)
        gunicorn = processes.start(
            "gunicorn",
            [str(BIN / "gunicorn"), *GUNICORN_OPTIONS, "-b", f"{HOST}:{GUNICORN_PORT}", "wsgi:app"],
            tmp / "gunicorn.log",
            cwd=ROOT,
            env=env,
        )
        wait_for(GUNICORN + "/embed.js", processes)
        script, banner = fetch(GUNICORN + "/embed.js", {}), fetch(GUNICORN + BANNER_PATH, {})
        if not banner.startswith(b"{"):
            raise BenchError(f"{BANNER_PATH} did not answer the spring campaign's JSON: {banner[:200]!r}")
        gzipped = {"Accept-Encoding": "gzip"}
        files = {
            "embed.js": script,
            "banner.json": banner,
            "embed.js.gz": fetch(GUNICORN + "/embed.js", gzipped),
            "banner.json.gz": fetch(GUNICORN + BANNER_PATH, gzipped),
        }
        plain = start_nginx(nginx, tmp, files, processes)
        deploy = start_deploy(nginx, tmp, env, processes)
        wait_for(NGINX + "/embed.js", processes)
        wait_for(DEPLOY + "/embed.js", processes)
        for name, path in TARGETS:
            if not fetch(NGINX + path) == fetch(DEPLOY + path) == fetch(GUNICORN + path):
                raise BenchError(f"nginx, deploy/'s nginx and gunicorn answer different bytes for {name}.")
        headers = {
            (name, server): header_bytes(port, path)
            for name, path in TARGETS
            for server, _base, port in SERVERS
        }
        say(f"All serve identical bodies: embed.js {len(script):,} B, banner JSON {len(banner):,} B.")

        leaders = {
            "gunicorn": [gunicorn.pid],
            "nginx": [plain.pid],
            "deploy": [process.pid for process in deploy],
        }
        results = run_wrk(wrk_binary, processes, leaders)
        memory = memory_lines(leaders)

        start_site(tmp, processes)
        wait_for(SITE, processes)
        say(f"Loading {SITE} {LOADS} times (+1 warm-up) in Chromium ...")
        loads = run_browser(processes)
        if not any(load["banner"] is not None for load in loads):
            errors = sorted({e for load in loads for e in load["errors"]})
            raise BenchError(
                "the banner never appeared on the article page; page errors: " + "; ".join(errors)
            )

        text = report(
            results,
            loads,
            headers,
            (ROOT / "static" / "embed" / "banner.js").read_bytes(),
            script,
            versions(nginx, wrk_binary, load),
            memory,
        )
        say("\n" + text + "\n")
        say(f"Command: .venv/bin/python bench/run.py   (took {time.monotonic() - started:.0f} s)")
        failed = False
        return check(results)
    except BenchError as error:
        say(f"\nbench: failed: {error}")
        return 1
    except KeyboardInterrupt:
        say("\nbench: interrupted; stopping what it started.")
        failed = False
        return 130
    finally:
        processes.stop()
        if failed:
            for name, _process, log in processes.started:
                if log and name == "gunicorn":
                    say(tail(log))
        if options.keep:
            say(f"Kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
