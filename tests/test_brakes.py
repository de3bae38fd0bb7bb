"""The card-testing brake: readers declined too often start no new payment, before any call to
Stripe; a burst of declines site-wide asks for the challenge."""

import http.server
import json
import threading
import urllib.parse
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe

from banner import payments
from banner.extensions import db
from banner.models import Gift, GiftStatus
from banner.services import brakes
from tests.stripe_helpers import DECLINED, VISA, confirm_payment

JSON = {"Accept": "application/json"}


def form(email="tester@example.org", **overrides):
    return {
        "amount": "5",
        "frequency": "once",
        "currency": "usd",
        "name": "Card Tester",
        "email": email,
        "checkout_key": uuid.uuid4().hex,
        **overrides,
    }


def attempt(client, stripe_base, card=DECLINED, ip="203.0.113.7", **fields):
    """One try as the page makes it: start, confirm with a card, tell the server."""
    environ = {"REMOTE_ADDR": ip}
    started = client.post("/donate", data=form(**fields), headers=JSON, environ_base=environ)
    if started.status_code != 200:
        return started
    confirm_payment(stripe_base, started.json["client_secret"], card)
    return client.post(started.json["confirm_url"], data={}, headers=JSON, environ_base=environ)


def intents_at_stripe(stripe_base) -> int:
    client = stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base})
    return len(client.v1.payment_intents.list(params={"limit": 100}).data)


def test_a_browser_declined_three_times_starts_no_fourth_payment(client, app, stripe_base):
    for n in range(3):
        assert attempt(client, stripe_base, email=f"t{n}@example.org").json["status"] == "failed"
    before = intents_at_stripe(stripe_base)

    refused = attempt(client, stripe_base, card=VISA, email="fresh@example.org")

    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_declines"
    assert intents_at_stripe(stripe_base) == before  # refused before any call to Stripe
    assert attempt(app.test_client(), stripe_base, card=VISA, ip="198.51.100.1").json["status"] == "succeeded"


def test_an_email_declined_five_times_is_refused_from_any_browser(app, stripe_base):
    for n in range(5):
        attempt(app.test_client(), stripe_base, ip=f"198.51.100.{n}")

    refused = attempt(app.test_client(), stripe_base, card=VISA, ip="198.51.100.99")

    assert refused.status_code == 429


def test_an_address_declined_ten_times_is_refused_whatever_the_browser_or_email(app, stripe_base):
    for n in range(10):
        attempt(app.test_client(), stripe_base, email=f"t{n}@example.org")

    refused = attempt(app.test_client(), stripe_base, card=VISA, email="new@example.org")

    assert refused.status_code == 429
    ok = attempt(app.test_client(), stripe_base, card=VISA, email="new@example.org", ip="192.0.2.1")
    assert ok.json["status"] == "succeeded"


def test_a_declined_payment_cannot_be_tried_with_another_card(client, stripe_base):
    environ = {"REMOTE_ADDR": "203.0.113.7"}
    started = client.post("/donate", data=form(), headers=JSON, environ_base=environ).json
    confirm_payment(stripe_base, started["client_secret"], DECLINED)
    client.post(started["confirm_url"], data={}, headers=JSON, environ_base=environ)

    again = confirm_payment(stripe_base, started["client_secret"], VISA)

    assert "error" in again or again.get("status") != "succeeded"
    gift = db.session.scalar(sa.select(Gift))
    assert gift.status is GiftStatus.FAILED
    assert payments.get_charge(gift.stripe_payment_intent_id).status == "canceled"


def test_behind_a_proxy_the_forwarded_address_is_the_readers(app, stripe_base, monkeypatch):
    from banner import create_app

    proxied = create_app({**_settings(app), "PROXIES": 1})
    with proxied.app_context():
        seen = []
        monkeypatch.setattr(
            brakes, "client", lambda ip, browser, email: seen.append(ip) or brakes.Client("a", "b", email)
        )
        proxied.test_client().post(
            "/donate",
            data=form(),
            headers={**JSON, "X-Forwarded-For": "203.0.113.50"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        db.session.remove()
        db.engine.dispose()  # its own pool: no connection left open
    assert seen == ["203.0.113.50"]


def _settings(app) -> dict:
    keys = (
        "ENV",
        "TESTING",
        "DATABASE_URL",
        "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "MAIL_URL",
        "PUBLIC_URL",
    )
    return {key: app.config[key] for key in keys} | {"WTF_CSRF_ENABLED": False}


class Verifier(http.server.ThreadingHTTPServer):
    """Cloudflare's siteverify, as far as the tests need it: each good token passes once."""

    def __init__(self):
        self.good = {"good-token"}
        self.asked: list[dict] = []
        super().__init__(("127.0.0.1", 0), VerifierHandler)


class VerifierHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        fields = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        self.server.asked.append(fields)
        success = fields.get("secret") == "challenge-secret" and fields.get("response") in self.server.good
        self.server.good.discard(fields.get("response"))
        body = json.dumps({"success": success}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def verifier(app):
    server = Verifier()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config.update(
        CHALLENGE_SITE_KEY="site-key",
        CHALLENGE_SECRET_KEY="challenge-secret",
        CHALLENGE_VERIFY_URL=f"http://127.0.0.1:{server.server_address[1]}/siteverify",
    )
    yield server
    server.shutdown()
    server.server_close()
    app.config.update(CHALLENGE_SITE_KEY=None, CHALLENGE_SECRET_KEY=None, CHALLENGE_ALWAYS=False)


def test_the_challenge_is_verified_on_the_server_and_each_token_passes_once(
    app, client, stripe_base, verifier
):
    app.config["CHALLENGE_ALWAYS"] = True
    assert 'class="cf-turnstile' in client.get("/donate").text

    missing = client.post("/donate", data=form(), headers=JSON)
    passed = client.post("/donate", data=form(**{"cf-turnstile-response": "good-token"}), headers=JSON)
    replayed = client.post("/donate", data=form(**{"cf-turnstile-response": "good-token"}), headers=JSON)

    assert missing.status_code == 403 and missing.json["error"]["code"] == "challenge_required"
    assert passed.status_code == 200 and passed.json["status"] == "confirm_payment"
    assert replayed.status_code == 403
    assert verifier.asked[0]["remoteip"] == "127.0.0.1"


def test_a_burst_of_declines_site_wide_asks_for_the_challenge(app, stripe_base, verifier):
    app.config["BURST_DECLINES"] = 4
    try:
        for n in range(4):
            attempt(app.test_client(), stripe_base, email=f"t{n}@example.org", ip=f"198.51.100.{n}")
        fresh = app.test_client()
        assert 'class="cf-turnstile' in fresh.get("/donate").text
        refused = attempt(fresh, stripe_base, card=VISA, email="real@example.org", ip="192.0.2.9")
        assert refused.status_code == 403
    finally:
        app.config["BURST_DECLINES"] = 30


#: Tries of each run of the simulation below: five times the largest brake it meets (30 declines
#: site-wide in an hour, 10 from one address), so each brake is shown to hold long after it closed.
#: Each try is a request or two (~25 ms), so 500 tries a run cost some 15 s more and showed no more.
TRIES = 150


def test_card_testing_simulation_counts_what_reaches_stripe(app, monkeypatch):
    """TRIES tries from one address and TRIES from 50 addresses, fresh e-mails and browsers each,
    every card declined: how many reach Stripe (printed for `pytest -s`)."""
    reached = []

    def start_payment(amount, currency, key, metadata):
        reached.append(key)
        return payments.ChargeResult(
            f"pi_{len(reached)}", "requires_payment_method", "secret", amount, currency, 0, None
        )

    def declined(intent_id):
        return payments.ChargeResult(
            intent_id, "requires_payment_method", None, 500, "usd", 0, "Your card was declined."
        )

    monkeypatch.setattr(payments, "start_payment", start_payment)
    monkeypatch.setattr(payments, "get_charge", declined)
    monkeypatch.setattr(payments, "cancel_payment", lambda intent_id, key: None)
    app.config["STARTS_PER_IP"] = "1000 per hour"  # the decline counts alone, not the rate limit

    def run(addresses) -> int:
        before = len(reached)
        for n in range(TRIES):
            tester, environ = app.test_client(), {"REMOTE_ADDR": addresses[n % len(addresses)]}
            started = tester.post(
                "/donate",
                data=form(email=f"x{n}-{uuid.uuid4().hex[:6]}@example.org"),
                headers=JSON,
                environ_base=environ,
            )
            if started.status_code == 200:
                tester.post(started.json["confirm_url"], data={}, headers=JSON, environ_base=environ)
        return len(reached) - before

    one = run(["203.0.113.7"])
    for gift in db.session.scalars(sa.select(Gift)):  # an hour on: the first burst is over
        gift.created_at -= brakes.BURST + timedelta(seconds=1)
    db.session.commit()
    spread = run([f"198.51.100.{n}" for n in range(50)])
    print(
        f"\ncard testing: {TRIES} tries from 1 address reached Stripe {one} times; {TRIES} from 50 addresses, {spread}"
    )
    largest_brake = max(app.config["DECLINES_PER_IP"], app.config["BURST_DECLINES"])
    assert largest_brake * 5 <= TRIES
    assert one == app.config["DECLINES_PER_IP"]
    assert spread == app.config["BURST_DECLINES"]
