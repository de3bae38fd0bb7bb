"""Run the whole service locally: database, demo data, Stripe emulator, app, mail worker and a
demo article.

`make demo` calls this. Ctrl-C stops everything it started.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "http://127.0.0.1:5000"
ARTICLE = "http://127.0.0.1:8000/"


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def wait_for(url: str, processes: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise SystemExit("demo: a process stopped while starting; see its output above.")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"demo: {url} did not answer within {timeout:.0f} s.")


def main() -> int:
    os.environ.setdefault("BANNER_ENV", "development")
    os.environ.setdefault("BANNER_PUBLIC_URL", APP)
    os.environ.setdefault("BANNER_SITE_ORIGINS", ARTICLE.rstrip("/"))
    os.chdir(ROOT)
    subprocess.run(flask("db", "upgrade"), check=True, capture_output=True)
    subprocess.run(flask("banner", "seed-demo", "--donors", "300", "--months", "12"), check=True)
    processes = [
        subprocess.Popen(flask("banner", "stripe-emulator")),
        subprocess.Popen(flask("run", "--host", "127.0.0.1", "--port", "5000")),
        subprocess.Popen(flask("banner", "worker")),  # delivers the mail the app queues
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                "8000",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(ROOT / "demo" / "site"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_for(f"{APP}/readyz", processes)
        print(
            f"\nReady.\n  Article page (another origin): {ARTICLE}\n"
            f"  Donate page:                   {APP}/donate\n"
            "  Test card 4242 4242 4242 4242, any future date, any CVC.\n"
            "  The mail worker writes receipts to instance/outbox/.  Ctrl-C stops everything.\n",
            flush=True,
        )
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


if __name__ == "__main__":
    sys.exit(main())
