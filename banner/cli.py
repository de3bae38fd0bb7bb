"""`flask --app wsgi banner ...`: demo data, staff accounts, the worker and the local Stripe emulator."""

import logging
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from banner import payments, worker
from banner.assets import embed_script
from banner.cli_publish import publish_command
from banner.extensions import db
from banner.models import Campaign, CampaignStatus, Role, StaffUser, Variant, utcnow
from banner.services import checkout, digest, lifecycle, notices, outbox, receipts, reconcile
from banner.services import staff as staff_accounts

log = logging.getLogger(__name__)

group = AppGroup("banner", help="Reader-revenue commands.")
group.add_command(publish_command)

DEMO_STAFF = "admin@example.org"
MIN_PASSWORD = 12
#: seed-demo's campaign and its donors' monthly and yearly shares (devtools/demo reads them here)
DEMO_CAMPAIGN, DEMO_MONTHLY_SHARE, DEMO_YEARLY_SHARE = "spring", 0.30, 0.05


@group.command("seed-demo")
@click.option(
    "--donors",
    type=click.IntRange(1, 10_000_000),
    default=None,
    help="Also make up this many donors with their gifts, payments and events (not when donors exist).",
)
@click.option(
    "--months",
    type=click.IntRange(1, 120),
    default=12,
    show_default=True,
    help="How far back the history goes.",
)
@click.option(
    "--monthly-share",
    type=click.FloatRange(0, 1 - DEMO_YEARLY_SHARE),
    default=DEMO_MONTHLY_SHARE,
    show_default=True,
    help=f"Share of the made-up donors who start with a monthly gift ({DEMO_YEARLY_SHARE:.0%} give "
    "yearly, the rest once).",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="The same seed, the same day: the same history."
)
def seed_demo(donors, months, monthly_share, seed):
    """Add a live demo campaign and an admin account, unless they exist; with --donors, a made-up
    history of gifts over the last months."""
    if db.session.scalar(sa.select(Campaign).where(Campaign.slug == DEMO_CAMPAIGN)) is None:
        campaign = Campaign(
            slug=DEMO_CAMPAIGN,
            title="Spring fund drive: keep the Ledger free for everyone",
            description="The Ledger has no paywall. Readers like you pay for the reporting.",
            goal_amount=2_500_000,
            currency="usd",
            status=CampaignStatus.LIVE,
            starts_at=utcnow(),
            priority=10,
            preset_amounts=[500, 1000, 2500, 5000],
            variants=[
                Variant(
                    key="a",
                    heading="Local news, paid for by its readers",
                    body="If the Ledger helped you this week, chip in to keep it going.",
                    button_text="Support the Ledger",
                    weight=1,
                ),
                Variant(
                    key="b",
                    heading="No paywall. No billionaire. Just you.",
                    body="Monthly gifts from readers fund two-thirds of our newsroom.",
                    button_text="Give monthly",
                    weight=1,
                ),
            ],
        )
        db.session.add(campaign)
        click.echo("Added the live campaign 'spring'.")
    staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == DEMO_STAFF))
    if staff is None:
        password = secrets.token_urlsafe(12)
        staff = StaffUser(email=DEMO_STAFF, role=Role.ADMIN)
        staff.set_password(password)
        db.session.add(staff)
        click.echo(f"Staff login: {DEMO_STAFF} / {password}")
    else:
        click.echo(f"Staff login: {DEMO_STAFF} (password printed when it was first created)")
    db.session.commit()
    if donors is None:
        return
    demo = demo_module()
    if demo.donors_exist():
        click.echo("There are donors already; no history added.")
        return
    with click.progressbar(length=donors, label="Donors", file=sys.stderr, show_pos=True) as bar:
        summary = demo.generate(donors, months, seed, monthly_share=monthly_share, progress=bar.update)
    click.echo(
        f"Added {summary.donors:,} donors, {summary.gifts:,} gifts, {summary.payments:,} payments and "
        f"{summary.events:,} events ({summary.stripe_events:,} Stripe events applied) over {months} months "
        f"in {summary.seconds:.1f} s."
    )
    for line in summary.lines():
        click.echo(line)


@group.command("create-staff")
@click.argument("email")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--generate", is_flag=True, help="Generate a password instead of asking for one.")
def create_staff(email, role, generate):
    """Create a staff account: asks for a password (hidden, twice), or generates one when the
    answer is empty or --generate is given and prints it once."""
    if staff_accounts.has_account(email):
        raise click.ClickException(f"{email.strip().lower()} already has an account.")
    password = "" if generate else ask_password()
    try:
        _, password_set = staff_accounts.create_staff(None, email, Role(role), None, password or None)
    except staff_accounts.Taken as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {role} {email.strip().lower()}.")
    if not password:
        click.echo(f"Password (shown once; store it now): {password_set}")


def ask_password() -> str:
    """Ask for a password, hidden, and again to confirm it; empty means "generate one"."""
    password = click.prompt(
        "Password (leave empty to generate one)", hide_input=True, default="", show_default=False
    )
    if not password:
        return ""
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"Use at least {MIN_PASSWORD} characters, or leave it empty.")
    if click.prompt("Repeat the password", hide_input=True, default="", show_default=False) != password:
        raise click.ClickException("The two passwords differ; nothing was created.")
    return password


@group.command("embed-snippet")
@click.option("--campaign", default=None, help="Pin one campaign (data-campaign).")
@click.option("--source", default=None, help="Read the answers `publish` put here (data-source).")
def embed_snippet(campaign, source):
    """Print the tag for article pages, plain and pinned with Subresource Integrity."""
    script = embed_script()
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    pin = (f' data-campaign="{campaign}"' if campaign else "") + (
        f' data-source="{source}"' if source else ""
    )
    click.echo("Follows every change of the banner script (recommended):")
    click.echo(f'<script async src="{base}/embed.js"{pin}></script>')
    click.echo("Pinned to this exact version; update it after each release:")
    click.echo(
        f'<script async src="{base}/{script.hashed_name}" integrity="{script.integrity}" '
        f'crossorigin="anonymous"{pin}></script>'
    )


@group.command("reconcile")
@click.option(
    "--since",
    "since_days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="Look at Stripe events and invoices of this many days.",
)
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
def reconcile_command(since_days, dry_run):
    """Repair gifts from Stripe: missed events, cancellations, renewals and payments."""

    def progress(donors):
        with click.progressbar(donors, label="Donors", file=sys.stderr, show_pos=True) as bar:
            yield from bar

    try:
        report = reconcile.reconcile(since_days, dry_run=dry_run, progress=progress)
    except payments.PaymentError as error:
        raise click.ClickException(f"Stripe: {error}") from None
    for change in report.changes:
        click.echo(("would change: " if dry_run else "changed: ") + change)
    verb = "would change" if dry_run else "changed"
    click.echo(
        f"{len(report.changes)} {verb}; {report.donors} donors and "
        f"{report.events_seen} events of the last {since_days} days checked."
    )


@group.command("statements")
@click.option(
    "--year",
    required=True,
    type=click.IntRange(2000, 9999),
    help="The calendar year, in the site's time zone.",
)
@click.option("--dry-run", is_flag=True, help="List the donors who would get one; send nothing.")
def statements_command(year, dry_run):
    """E-mail each donor who gave in a year their statement, once per donor and year."""
    if dry_run:
        waiting = receipts.donors_to_send(year)
        for donor in waiting:
            click.echo(f"would send: donor {donor.id} <{donor.email}>")
        click.echo(f"{len(waiting)} statements of {year} would be sent.")
        return
    sent = receipts.send_statements(
        year, progress=lambda donor: click.echo(f"sent: donor {donor.id}", err=True)
    )
    click.echo(f"{sent} statements of {year} queued; donors who had theirs were skipped.")


@group.command("notices")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The day to run for, in the site's time zone (today by default).",
)
def notices_command(day):
    """Queue a notice for each gift whose card expires at the end of this month, once per card
    and expiry (run it daily)."""
    queued = notices.send_card_notices(day.date() if day else None)
    click.echo(f"{queued} card expiry notices queued.")


@group.command("digest")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The day to summarise, in the site's time zone (yesterday by default).",
)
def digest_command(day):
    """Send staff the day's new monthly donors, cancellations and failed renewals, once per day
    (BANNER_DIGEST_TO, and BANNER_DIGEST_WEBHOOK_URL when set)."""
    click.echo(digest.send_digest(day.date() if day else None))


@group.command("forget-attempts")
def forget_attempts_command():
    """End checkout attempts left unpaid for BANNER_ATTEMPT_HOURS and forget who typed them."""
    click.echo(f"{checkout.forget_attempts()} unpaid attempts ended and forgotten.")


@group.command("stripe-emulator")
@click.option(
    "--port",
    default=8420,
    show_default=True,
    help="The emulator's port; localstripe itself runs on the next one.",
)
def stripe_emulator(port):
    """Run the local Stripe emulator (localstripe behind the shim in devtools/stripe_emulator, which
    speaks Stripe's current API) with this app's webhook registered."""
    emulator = emulator_module()
    executable = emulator_executable()
    process = subprocess.Popen([executable, "--port", str(port + 1), "--from-scratch"])
    shim = None
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port + 1, process)  # quietly: the shim would print a traceback per refused call
        shim = emulator.serve(port, f"http://127.0.0.1:{port + 1}")
        register_webhook(
            base,
            current_app.config["PUBLIC_URL"] + "/stripe/webhook",
            current_app.config["STRIPE_WEBHOOK_SECRET"],
        )
        click.echo(
            f"Stripe emulator on {base}; webhooks go to {current_app.config['PUBLIC_URL']}/stripe/webhook"
        )
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if shim is not None:
            shim.shutdown()
        process.terminate()
        process.wait(timeout=10)


def _checkout_on_path() -> None:
    """Let development tools (devtools/, beside banner/ in a checkout) be imported."""
    root = str(Path(current_app.root_path).parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def demo_module():
    """Import the demo history from the checkout: a development tool, never installed with the app."""
    _checkout_on_path()
    try:
        from devtools import demo
    except ImportError:
        raise click.ClickException(
            "The demo history is made from a checkout (devtools/ is missing)."
        ) from None
    return demo


def emulator_module():
    """Import the emulator from the checkout: a development tool, never installed with the app."""
    _checkout_on_path()
    try:
        from devtools import stripe_emulator
    except ImportError:
        raise click.ClickException(
            "The Stripe emulator runs from a checkout (devtools/ is missing)."
        ) from None
    return stripe_emulator


def emulator_executable() -> str:
    """Return the localstripe beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("localstripe")
    found = str(beside) if beside.exists() else shutil.which("localstripe")
    if not found:
        raise click.ClickException("localstripe is not installed: pip install -e '.[dev]'")
    return found


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    """Wait, printing nothing, until `process` listens on `port` on the loopback."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise click.ClickException(f"localstripe stopped before it listened on port {port}.")
        if time.monotonic() > deadline:
            raise click.ClickException(f"localstripe did not listen on port {port} within {timeout:.0f} s.")
        time.sleep(0.2)


def register_webhook(base: str, url: str, secret: str, timeout: float = 20) -> None:
    """Wait for the emulator at `base` to answer, then point its webhooks at `url`."""
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base}/_config/webhooks/banner", data=body, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise click.ClickException(f"The Stripe emulator at {base} did not start.") from None
            time.sleep(0.2)


@group.command("worker")
@click.option("--once", is_flag=True, help="Do what is due, then exit (tests, cron).")
def worker_command(once):
    """Apply Stripe's stored events (all of them with BANNER_EVENTS_APPLIED_BY=worker, else those
    their request did not) and deliver queued mail, retrying failures later
    (BANNER_MAIL_RETRY_MINUTES), until SIGTERM or Ctrl-C (banner/worker.py); several workers may
    run on PostgreSQL, one on SQLite."""
    if once:
        applied, done = lifecycle.apply_due(), outbox.deliver_all_due()
        mail = f"{done.sent} sent, {done.retrying} to retry, {done.failed} given up."
        click.echo(f"{applied} Stripe events applied. {mail}")
        return
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo("Applying Stripe's events, delivering mail; SIGTERM or Ctrl-C stops after the one in hand.")
    try:
        worker.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.session.remove()
    click.echo("Worker stopped.")
