"""The card-testing brake: who keeps getting declined starts no new payment.

A card tester tries many cards, from one browser, one e-mail or one address. Every checkout
attempt records a keyed digest of the reader's IP address and their browser's session id; an
attempt that ends declined (told by the page or by Stripe's webhook, whichever comes) then counts
against all three for 24 hours. Past BANNER_DECLINES_PER_BROWSER, _PER_EMAIL or _PER_IP, a new
attempt is refused before any call to Stripe. The counts live in the database, so every worker
and instance shares them.

A tester spread over many addresses shows as a burst of declines site-wide: past
BANNER_BURST_DECLINES in an hour, every new attempt must pass the challenge (Cloudflare
Turnstile, verified here, each token once), or, with none configured, waits for the burst to pass.
BANNER_CHALLENGE_ALWAYS asks for the challenge all the time.
"""

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from banner.errors import ServiceError
from banner.extensions import db
from banner.models import Gift, GiftStatus, normalise_email, utcnow

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
BURST = timedelta(hours=1)


class TooManyDeclines(ServiceError):
    """Too many declined attempts; the message is fit to show the reader."""

    code = "too_many_declines"
    http_status = 429
    title = "Please wait"


class ChallengeRequired(TooManyDeclines):
    """The reader must pass the challenge (again) before a payment starts."""

    code = "challenge_required"
    http_status = 403
    title = "Please confirm"


@dataclass(frozen=True)
class Client:
    """Who is giving, as far as the brake can tell."""

    address: str  #: keyed digest of the IP address
    browser: str  #: the browser's session id
    email: str  #: normalised


def client(ip: str | None, browser: str, email: str) -> Client:
    """Return the brake's view of a reader: their IP is kept only as a keyed digest."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, (ip or "").encode(), hashlib.sha256).hexdigest()[:32]
    return Client(address=digest, browser=browser[:32], email=normalise_email(email))


def check(who: Client, challenge: str | None = None, ip: str | None = None) -> None:
    """Raise TooManyDeclines when this browser, e-mail or address was declined too often, and
    ChallengeRequired when a challenge is due and `challenge` does not pass it."""
    _check_declines(who)
    if not challenge_needed():
        return
    if not current_app.config["CHALLENGE_SECRET_KEY"]:
        raise TooManyDeclines(
            "We are taking no new card payments for a short while. Please try again in an hour."
        )
    if not challenge or not _passes(challenge, ip):
        raise ChallengeRequired("Please confirm that you are not a robot, then give again.")


def challenge_needed() -> bool:
    """Return whether a new attempt must pass the challenge: always (a setting), or in a burst."""
    config = current_app.config
    if config["CHALLENGE_ALWAYS"]:
        return True
    declined = db.session.scalars(
        sa.select(sa.func.count(Gift.id)).where(
            Gift.status == GiftStatus.FAILED,
            Gift.checkout_client.is_not(None),
            Gift.created_at >= utcnow() - BURST,
        )
    ).one()
    return declined >= config["BURST_DECLINES"]


def _passes(token: str, ip: str | None) -> bool:
    """Ask the challenge's service whether this token is good; it accepts each token once."""
    config = current_app.config
    body = urllib.parse.urlencode(
        {"secret": config["CHALLENGE_SECRET_KEY"], "response": token[:2048], "remoteip": ip or ""}
    ).encode()
    try:
        with urllib.request.urlopen(config["CHALLENGE_VERIFY_URL"], data=body, timeout=5) as answer:
            return json.load(answer).get("success") is True
    except (OSError, ValueError) as error:
        log.warning("challenge verification failed: %s", error)
        return False


def _check_declines(who: Client) -> None:
    config = current_app.config
    since = utcnow() - WINDOW
    for column, value, limit in (
        (Gift.checkout_browser, who.browser, config["DECLINES_PER_BROWSER"]),
        (Gift.checkout_email, who.email, config["DECLINES_PER_EMAIL"]),
        (Gift.checkout_client, who.address, config["DECLINES_PER_IP"]),
    ):
        declined = db.session.scalars(
            sa.select(sa.func.count(Gift.id)).where(
                column == value, Gift.status == GiftStatus.FAILED, Gift.created_at >= since
            )
        ).one()
        if declined >= limit:
            raise TooManyDeclines(
                "Too many cards were declined here today, so we cannot take another try now. "
                "Please try again tomorrow, or write to us."
            )
