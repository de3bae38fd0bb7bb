"""Run deploy/'s nginx site in front of gunicorn with deploy/gunicorn.conf.py, on loopback, in a
temporary folder: for tests/test_deploy.py and the benchmarks (bench/load.py, bench/run.py).

The site is the shipped file with only its machine-specific parts swapped (ports, the checkout's
path, the cache folder and the certificate); each swap is checked, so a change to the site that
breaks one fails here instead of testing something else. nginx runs as the current user with
`-p folder -c conf`, `daemon off`, its pid file, logs, temp and cache paths in the folder.
"""

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "banner.conf"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
UNITS = ROOT / "deploy" / "systemd"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class StackError(Exception):
    """The stack could not be started; the message says why."""


def unit_environment(unit: str) -> dict[str, str]:
    """The settings a systemd unit of deploy/systemd adds with Environment= (its
    GUNICORN_BIND left out: the stack picks its own ports)."""
    settings = {}
    for line in (UNITS / unit).read_text().splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            settings[name] = value
    settings.pop("GUNICORN_BIND", None)
    return settings


def nginx_binary() -> str | None:
    """Return Debian's nginx, or None when it is not installed."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if os.path.exists(found) else None


def certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for donate.example.org (and 127.0.0.1) with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise StackError("openssl is missing: apt-get install -y openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=donate.example.org", "-addext", "subjectAltName=DNS:donate.example.org,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def render_site(
    folder: Path,
    app_port: int,
    https_port: int,
    http_port: int,
    tls: bool = True,
    webhook_port: int | None = None,
) -> str:
    """Return deploy/nginx/banner.conf with this machine's ports and paths (`tls=False`: the main
    server listens without TLS, for benchmarks that compare it with plain nginx). Stripe's events
    go to gunicorn on `webhook_port` (banner-webhooks.service), or to the app's when it is None."""
    cert, key = certificate(folder)
    main_listen = f"listen {HOST}:{https_port} ssl http2;" if tls else f"listen {HOST}:{https_port};"
    swaps = [
        ("/var/cache/nginx/banner ", f"{folder / 'cache'} "),
        ("server 127.0.0.1:8080;", f"server {HOST}:{app_port};"),
        ("server 127.0.0.1:8081;", f"server {HOST}:{webhook_port or app_port};"),
        ("server 127.0.0.1:8080 backup;", f"server {HOST}:{app_port} backup;"),
        ("    listen 80;\n", f"    listen {HOST}:{http_port};\n"),
        ("    listen [::]:80;\n", ""),
        ("    listen 443 ssl http2;\n", f"    {main_listen}\n"),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("/etc/letsencrypt/live/donate.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/donate.example.org/privkey.pem", str(key)),
        ("alias /srv/banner/static/;", f"alias {ROOT / 'static'}/;"),
    ]
    text = SITE.read_text()
    for old, new in swaps:
        if text.count(old) != 1:
            raise StackError(f"{SITE} no longer has {old.strip()!r} once; update devtools/deploy_stack.py")
        text = text.replace(old, new)
    return text


def nginx_conf(folder: Path, site: str, workers: int = 1, access_log: bool = True) -> Path:
    """Write nginx.conf around the site: foreground, everything in `folder`; otherwise the http
    settings of Debian's /etc/nginx/nginx.conf, which includes the site in production (sendfile
    and tcp_nopush: a cached answer's headers and body leave in one packet, not two)."""
    (folder / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers as the current user (no nobody)
    mime = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
    log = f"access_log {folder}/access.log;" if access_log else "access_log off;"
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes {workers};\ndaemon off;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n  {mime}\n  default_type application/octet-stream;\n  {log}\n"
        f"  sendfile on;\n  tcp_nopush on;\n  keepalive_timeout 65;\n"
        + "".join(f"  {kind}_temp_path {folder}/{kind};\n" for kind in TEMP_PATHS)
        + f"  include {folder}/site.conf;\n}}\n"
    )  # fmt: skip
    return conf


def nginx_command(nginx: str, folder: Path, conf: Path) -> list[str]:
    """The command that runs nginx with `conf`, once `nginx -t` has accepted it."""
    command = [nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
    test = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    if test.returncode != 0:
        raise StackError(f"nginx rejected {conf}:\n{test.stderr}")
    return command


def start_nginx(nginx: str, folder: Path, conf: Path) -> subprocess.Popen:
    """Check the configuration, then start nginx in the foreground (its own session)."""
    command = nginx_command(nginx, folder, conf)
    with open(folder / "nginx.out", "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def gunicorn_command(port: int, *extra: str) -> list[str]:
    """gunicorn with deploy/gunicorn.conf.py on 127.0.0.1:`port`, run from the checkout."""
    return [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "--bind", f"{HOST}:{port}", *extra]


def start_gunicorn(port: int, env: dict, log: Path, *extra: str) -> subprocess.Popen:
    """Start gunicorn with deploy/gunicorn.conf.py on 127.0.0.1:`port` (its own session)."""
    command = gunicorn_command(port, *extra)
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_up(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Return once 127.0.0.1:`port` answers HTTP at all (any status, redirects not followed);
    raise StackError if the process stops or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise StackError(f"port {port}: the server stopped (exit {process.returncode}):\n{tail(log)}")
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise StackError(f"port {port} did not answer within {timeout:.0f} s:\n{tail(log)}") from None
            time.sleep(0.2)
        finally:
            connection.close()


def tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def stop(process: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, and what it started (SIGTERM to its
    process group, then SIGKILL)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it stopped meanwhile
            os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
