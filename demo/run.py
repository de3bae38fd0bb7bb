"""Run the whole service locally: database, demo data, Stripe emulator, app, mail worker and a
demo article.

`make demo` calls this. Ports come from BANNER_DEMO_APP_PORT (5000), BANNER_DEMO_SITE_PORT (8000)
and BANNER_DEMO_EMULATOR_PORT (8420; localstripe itself takes the next one); the article page's
script tag, Content-Security-Policy and links follow them. Ctrl-C stops everything it started.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
#: the origins written in demo/site/index.html, which the page served is rewritten from
PAGE_APP, PAGE_SITE = "http://127.0.0.1:5000", "http://127.0.0.1:8000"
LOGIN = "Staff login: "  #: how seed-demo's line with the staff login begins


@dataclass(frozen=True)
class Ports:
    app: int = 5000
    site: int = 8000  #: the demo article page, on another origin than the app
    emulator: int = 8420

    @classmethod
    def from_env(cls, env=os.environ) -> "Ports":
        """Read the ports from BANNER_DEMO_*_PORT, each a number from 1 to 65535."""
        values = {}
        for name, default in (("app", cls.app), ("site", cls.site), ("emulator", cls.emulator)):
            variable = f"BANNER_DEMO_{name.upper()}_PORT"
            text = env.get(variable, str(default))
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise SystemExit(f"demo: {variable} is a port number from 1 to 65535, not {text!r}.")
            values[name] = int(text)
        if len(set(values.values())) < 3 or values["emulator"] + 1 in values.values():
            raise SystemExit("demo: the app, the article site and the emulator (and the next port) differ.")
        return cls(**values)

    @property
    def app_url(self) -> str:
        return f"http://{HOST}:{self.app}"

    @property
    def site_url(self) -> str:
        return f"http://{HOST}:{self.site}"

    @property
    def emulator_url(self) -> str:
        return f"http://{HOST}:{self.emulator}"

    def environment(self) -> dict[str, str]:
        """The settings the app, the emulator and the worker run with."""
        return {
            "BANNER_ENV": "development",
            "BANNER_PUBLIC_URL": self.app_url,
            "BANNER_SITE_ORIGINS": self.site_url,
            "BANNER_SITE_URL": self.site_url + "/",
            "BANNER_STRIPE_API_BASE": self.emulator_url,
        }


def article_page(html: str, ports: Ports) -> str:
    """Return the demo article with its script tag, CSP and links pointing at these ports."""
    page = html.replace(PAGE_APP, ports.app_url).replace(PAGE_SITE, ports.site_url)
    page = page.replace("http%3A%2F%2F127.0.0.1%3A8000", f"http%3A%2F%2F{HOST}%3A{ports.site}")
    if f'src="{ports.app_url}/embed.js"' not in page or f"connect-src {ports.app_url}" not in page:
        raise SystemExit("demo: demo/site/index.html no longer has the script tag and CSP this rewrites.")
    return page


def table(ports: Ports, login: str) -> str:
    """What runs where, the staff login last."""
    rows = [
        ("Article page (another origin)", f"{ports.site_url}/"),
        ("Donate page", f"{ports.app_url}/donate"),
        ("A donor's gifts", f"{ports.app_url}/manage (the link is in each receipt in instance/outbox/)"),
        ("Staff area", f"{ports.app_url}/staff/"),
        ("Stripe emulator", f"{ports.emulator_url} (webhooks to {ports.app_url}/stripe/webhook)"),
        ("Mail worker", "writes each message to instance/outbox/"),
        ("Test card", "4242 4242 4242 4242, any future date, any CVC"),
        ("Staff login", login.removeprefix(LOGIN) or "see seed-demo's output above"),
    ]
    width = max(len(what) for what, _ in rows)
    lines = [f"  {what:<{width}}  {where}" for what, where in rows]
    return "\n".join(["", "Ready. Ctrl-C stops everything.", *lines, ""])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def wait_quietly(ready, processes: list[subprocess.Popen], what: str, timeout: float = 60) -> None:
    """Wait until `ready()` is true, printing nothing unless it never is or a process stops."""
    deadline = time.monotonic() + timeout
    while not ready():
        if any(process.poll() is not None for process in processes):
            raise SystemExit(f"demo: a process stopped while {what} was starting; see its output above.")
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: {what} did not answer within {timeout:.0f} s.")
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except OSError:
        return False
    return True


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def seed() -> str:
    """Add the demo campaign, staff and history; return seed-demo's staff login line."""
    subprocess.run(flask("db", "upgrade"), check=True, capture_output=True)
    done = subprocess.run(
        flask("banner", "seed-demo", "--donors", "150", "--months", "12"),
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = done.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith(LOGIN)), flush=True)
    return next((line for line in lines if line.startswith(LOGIN)), "")


def main() -> int:
    ports = Ports.from_env()
    busy = [port for port in (ports.app, ports.site, ports.emulator, ports.emulator + 1) if port_open(port)]
    if busy:
        raise SystemExit(f"demo: port {busy[0]} is taken; set BANNER_DEMO_*_PORT (see demo/run.py).")
    os.environ.update({name: value for name, value in ports.environment().items() if name not in os.environ})
    os.chdir(ROOT)
    login = seed()
    site = Path(tempfile.mkdtemp(prefix="banner-demo-site-"))
    shutil.copytree(ROOT / "demo" / "site", site, dirs_exist_ok=True)
    (site / "index.html").write_text(article_page((site / "index.html").read_text(), ports))
    processes = [subprocess.Popen(flask("banner", "stripe-emulator", "--port", str(ports.emulator)))]
    try:
        # The app and the worker start once Stripe answers, so nothing logs it as unreachable.
        wait_quietly(
            lambda: port_open(ports.emulator) and port_open(ports.emulator + 1), processes, "the emulator"
        )
        processes += [
            subprocess.Popen(flask("run", "--host", HOST, "--port", str(ports.app))),
            subprocess.Popen(flask("banner", "worker")),  # delivers the mail the app queues
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    str(ports.site),
                    "--bind",
                    HOST,
                    "--directory",
                    str(site),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        wait_quietly(lambda: answers(f"{ports.app_url}/readyz"), processes, "the app")
        print(table(ports, login), flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        time.sleep(0.5)  # Ctrl-C reaches the children too; give ours the moment to arrive
        print("demo: a process stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(site, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
