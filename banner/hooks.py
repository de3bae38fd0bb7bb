"""Posting to a Slack-compatible incoming webhook (BANNER_DIGEST_WEBHOOK_URL): done by the outbox
worker, never in a web request, with the worker's retries."""

import urllib.request

from flask import current_app

from banner.models import OutboxMessage

TIMEOUT_SECONDS = 10


def post(stored: OutboxMessage) -> None:
    """POST a stored message's JSON body to the webhook; raise OSError (or ValueError when no
    webhook is set) when it fails, so that the worker tries again later."""
    url = current_app.config["DIGEST_WEBHOOK_URL"]
    if not url:
        raise ValueError("BANNER_DIGEST_WEBHOOK_URL is not set")
    request = urllib.request.Request(
        url,
        data=stored.text_body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "banner-digest"},
    )
    # urlopen raises HTTPError (an OSError) for a 4xx or 5xx answer, URLError when unreachable
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        response.read()
