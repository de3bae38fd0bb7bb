"""Publish the banner's static copies again after each staff change, when publishing is configured.

The staff change is committed before the signal is sent, so a failed publication (a full disk, a
bucket that is down) never undoes it: it is logged, and the staff member is warned that readers
of the CDN see the old banner until the next publication.
"""

import logging

from flask import Flask, current_app, flash, has_request_context

from banner.services import publish
from banner.signals import campaigns_changed

log = logging.getLogger(__name__)


def configure(app: Flask) -> None:
    """Republish after every staff change in this app (and in any app that publishes)."""
    campaigns_changed.connect(republish)  # once per process: connecting again changes nothing


def republish(campaign, **extra) -> None:
    """Publish everything again, after a staff change to `campaign` (None: to any)."""
    if not publish.is_configured(current_app.config):
        return
    try:
        report = publish.publish()
    except Exception as error:  # the change is saved: nothing here may turn it into an error page
        log.exception("republishing after a staff change failed")
        if has_request_context():
            flash(
                f"Saved, but the CDN's copy of the banner could not be updated ({error}). "
                "Readers served from it see the previous banner until the next publication.",
                "warning",
            )
        return
    log.info("republished after a staff change: %d files written", len(report.written))
