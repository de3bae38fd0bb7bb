"""`flask --app wsgi banner publish [DIR] [--every SECONDS]`: static copies of the banner for a CDN."""

import logging
import signal
import threading

import click
from sqlalchemy.exc import SQLAlchemyError

from banner.extensions import db
from banner.services import publish

log = logging.getLogger(__name__)


@click.command("publish")
@click.argument("directory", required=False, type=click.Path(file_okay=False, writable=True))
@click.option(
    "--every",
    type=click.IntRange(1, 86_400),
    default=None,
    help="Publish again every SECONDS (goal progress, schedules) until SIGTERM or Ctrl-C.",
)
@click.option("--force", is_flag=True, help="Write and upload every file, even unchanged ones.")
def publish_command(directory, every, force):
    """Write the banner script and each live campaign's banner answer as static files to DIRECTORY
    (default BANNER_PUBLISH_DIR), and upload them to BANNER_PUBLISH_S3_BUCKET when it is set."""
    if every is None:
        try:
            publish_once(directory, force)
        except publish.PublishError as error:
            raise click.ClickException(str(error)) from None
        return
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"Publishing every {every} s; SIGTERM or Ctrl-C stops.")
    try:
        publish_every(every, lambda: publish_once(directory, force), stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Publisher stopped.")


def publish_once(directory, force: bool = False) -> publish.Report:
    """Publish once, printing each file written and a summary line."""
    report = publish.publish(directory, force=force, progress=click.echo)
    click.echo(
        f"{len(report.written)} written, {len(report.unchanged)} unchanged, {len(report.removed)} removed."
    )
    return report


def publish_every(seconds: int, once, stop: threading.Event) -> None:
    """Call `once` now and then every `seconds` until `stop` is set; a failed pass is logged and
    the next one tries again."""
    while not stop.is_set():
        try:
            once()
        except (publish.PublishError, SQLAlchemyError):
            log.exception("publishing failed; trying again in %d s", seconds)
        finally:
            db.session.remove()  # the next pass reads the database afresh
        stop.wait(seconds)
