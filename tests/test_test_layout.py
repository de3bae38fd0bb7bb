"""The test suite's own rules: records are built by tests/factories.py, tests wait for events
rather than for fixed times, and a test that does not ask for Stripe or mail starts neither."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TESTS = ROOT / "tests"
#: Records that only tests/factories.py builds.
BUILT_BY_FACTORIES = {"Donor", "Gift", "Payment", "Campaign", "StaffUser"}
#: Modules that may build one by hand, and why (none today: say why when adding one).
BUILT_BY_HAND: dict[str, str] = {}
#: Fixed waits; tests/waiting.py sleeps between looks at what it waits for, and no one else may.
FIXED_WAITS = {"sleep", "wait_for_timeout"}


def modules_of_the_suite() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "fixtures" not in path.parts)


def calls(path: Path, names: set[str]) -> list[str]:
    """Each call of a function or method with one of these names in `path`, as `name:line`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in names:
                found.append(f"{name}:{node.lineno}")
    return found


def test_only_the_factories_build_donors_gifts_payments_campaigns_and_staff():
    by_hand = {
        str(path.relative_to(ROOT)): made
        for path in modules_of_the_suite()
        if path.name != "factories.py" and str(path.relative_to(ROOT)) not in BUILT_BY_HAND
        if (made := calls(path, BUILT_BY_FACTORIES))
    }
    assert by_hand == {}, "build these with tests/factories.py (factories.donor, .gift, .payment, ...)"


def test_the_scan_finds_a_record_built_by_hand(tmp_path):
    module = tmp_path / "test_new.py"
    module.write_text(
        "from banner.models import Gift, models\ngift = Gift(amount=1)\nother = models.Donor()\n"
    )
    assert calls(module, BUILT_BY_FACTORIES) == ["Gift:2", "Donor:3"]


def test_no_test_waits_a_fixed_time():
    waits = {
        str(path.relative_to(ROOT)): found
        for path in modules_of_the_suite()
        if path.name != "waiting.py"
        if (found := calls(path, FIXED_WAITS))
    }
    assert waits == {}, (
        "wait for the event (expect(...), page.wait_for_response, wait_for_function) "
        "or poll for it with tests.waiting.eventually"
    )


def test_the_scan_finds_a_fixed_wait(tmp_path):
    module = tmp_path / "test_new.py"
    module.write_text("import time\ntime.sleep(1)\npage.wait_for_timeout(500)\n")
    assert calls(module, FIXED_WAITS) == ["sleep:2", "wait_for_timeout:3"]


def run_pytest(*arguments: str, basetemp: Path) -> subprocess.CompletedProcess:
    """Run pytest on SQLite alone, in a process of its own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BANNER_TEST_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *arguments,
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(basetemp),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_database_tests_that_call_no_stripe_start_no_emulator(tmp_path):
    run = run_pytest("tests/test_gift_rules.py", "-k", "staff_may_cancel", basetemp=tmp_path)

    assert run.returncode == 0, run.stdout[-3000:]
    assert "Stripe emulator started 0 times; SMTP server started 0 times" in run.stdout


UNASKED = """
from banner import mail, payments
from banner.extensions import db
from banner.models import MailKind
from banner.services import outbox


def test_calls_stripe(app):
    payments.ping()


def test_sends_mail(app):
    mail.send(MailKind.MANAGE_LINK, to="ada@example.org", subject="Hello", body="Your link.")
    db.session.commit()
    outbox.deliver_all_due()
"""


def test_a_test_calling_stripe_or_sending_mail_unasked_fails_at_once_and_says_why(tmp_path):
    module = tmp_path / "test_unasked.py"
    module.write_text(UNASKED)

    run = run_pytest("-p", "tests.conftest", str(module), basetemp=tmp_path / "run")

    assert "2 failed" in run.stdout, run.stdout[-3000:]
    assert "This test called Stripe without the emulator: request the `stripe_base` fixture." in run.stdout
    assert "This test sent mail without an SMTP server: request the `outbox` fixture." in run.stdout
    assert "Stripe emulator started 0 times; SMTP server started 0 times" in run.stdout
