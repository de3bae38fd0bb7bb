"""`make demo` (demo/run.py): ports from settings, the article page following them, a quiet wait
for the emulator, and a table of what runs where with the staff login last."""

import importlib.util
import socket
import subprocess
import sys
import threading
import time

import click
import pytest

from banner import cli
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("demo_run", ROOT / "demo" / "run.py")
assert spec is not None and spec.loader is not None
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

PORTS = {"BANNER_DEMO_APP_PORT": "5100", "BANNER_DEMO_SITE_PORT": "8100", "BANNER_DEMO_EMULATOR_PORT": "8520"}


def test_the_ports_come_from_the_environment_with_defaults():
    assert run.Ports.from_env({}) == run.Ports(5000, 8000, 8420)
    ports = run.Ports.from_env(PORTS)
    assert ports == run.Ports(5100, 8100, 8520)
    assert ports.environment() == {
        "BANNER_ENV": "development",
        "BANNER_PUBLIC_URL": "http://127.0.0.1:5100",
        "BANNER_SITE_ORIGINS": "http://127.0.0.1:8100",
        "BANNER_SITE_URL": "http://127.0.0.1:8100/",
        "BANNER_STRIPE_API_BASE": "http://127.0.0.1:8520",
    }


@pytest.mark.parametrize(
    "env",
    [
        {"BANNER_DEMO_APP_PORT": "http"},
        {"BANNER_DEMO_SITE_PORT": "0"},
        {"BANNER_DEMO_EMULATOR_PORT": "70000"},
        {"BANNER_DEMO_SITE_PORT": "5000"},  # the app's
        {"BANNER_DEMO_APP_PORT": "8421"},  # localstripe's, behind the emulator
    ],
)
def test_bad_ports_stop_the_demo_with_one_line(env):
    with pytest.raises(SystemExit, match=r"^demo: ") as stopped:
        run.Ports.from_env(env)
    assert "\n" not in str(stopped.value)


def test_the_article_page_follows_the_ports():
    html = (ROOT / "demo" / "site" / "index.html").read_text()
    page = run.article_page(html, run.Ports.from_env(PORTS))
    assert 'src="http://127.0.0.1:5100/embed.js"' in page
    assert "script-src 'self' http://127.0.0.1:5100;" in page and "connect-src http://127.0.0.1:5100;" in page
    assert 'href="http://127.0.0.1:5100/donate?' in page and "from=http%3A%2F%2F127.0.0.1%3A8100%2F" in page
    assert "127.0.0.1:5000" not in page and "127.0.0.1:8000" not in page and "%3A8000" not in page


def test_an_article_page_without_the_script_tag_stops_the_demo():
    with pytest.raises(SystemExit, match="script tag and CSP"):
        run.article_page("<html></html>", run.Ports())


def test_the_table_says_what_runs_where_with_the_staff_login_last():
    lines = (
        run.table(run.Ports.from_env(PORTS), "Staff login: admin@example.org / s3cret").strip().splitlines()
    )
    assert lines[0] == "Ready. Ctrl-C stops everything."
    assert lines[1].split() == ["Article", "page", "(another", "origin)", "http://127.0.0.1:8100/"]
    assert any("http://127.0.0.1:5100/donate" in line for line in lines)
    assert any("http://127.0.0.1:8520" in line for line in lines)
    assert lines[-1].split() == ["Staff", "login", "admin@example.org", "/", "s3cret"]


def listen_later(seconds: float) -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    threading.Timer(seconds, server.listen).start()
    return server, server.getsockname()[1]


def test_the_demo_waits_for_the_emulator_without_a_word(capfd):
    server, port = listen_later(0.5)
    with server:
        started = time.monotonic()
        run.wait_quietly(lambda: run.port_open(port), [], "the emulator", timeout=10)
    assert time.monotonic() - started >= 0.4
    assert capfd.readouterr() == ("", "")


def test_the_demo_stops_when_a_process_stops_while_waiting():
    stopped = subprocess.Popen([sys.executable, "-c", "pass"])
    stopped.wait()
    with pytest.raises(SystemExit, match="a process stopped while the emulator was starting"):
        run.wait_quietly(lambda: False, [stopped], "the emulator", timeout=10)


def test_the_emulator_command_waits_for_localstripe_quietly(capfd):
    server, port = listen_later(0.5)
    waiting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with server:
            cli.wait_for_port(port, waiting, timeout=10)
        assert capfd.readouterr() == ("", "")
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        with pytest.raises(click.ClickException, match="localstripe stopped"):
            cli.wait_for_port(free_port(), gone, timeout=10)
    finally:
        waiting.kill()
        waiting.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
