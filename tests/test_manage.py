"""A donor manages their gifts from the signed link in their receipt, against the emulator."""

import re
import time
import uuid

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from banner.extensions import db
from banner.models import Frequency, Gift, GiftEvent, GiftStatus
from banner.services import links
from tests import stripe_events as se
from tests.stripe_helpers import VISA, confirm_setup, give


@pytest.fixture
def gift(app, stripe_base, outbox):
    """A monthly gift of $10 paid through checkout; its receipt is in the outbox."""

    def make(amount=1000, frequency=Frequency.MONTH, email="ada@example.org"):
        return give(
            stripe_base,
            email=email,
            amount=amount,
            frequency=frequency,
            article_url="https://news.example/story",
        )

    return make


def link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/manage/\S+)", message.get_content()).group(1)


def events(gift, kind=None):
    db.session.expire_all()
    query = sa.select(GiftEvent).where(GiftEvent.gift_id == gift.id).order_by(GiftEvent.id)
    return [e for e in db.session.scalars(query) if kind is None or e.kind == kind]


def reload(gift):
    db.session.expire_all()
    return db.session.get(Gift, gift.id)


def test_the_receipt_link_opens_the_donors_gifts(client, gift, outbox):
    monthly = gift()
    page = client.get(link_in(outbox[0]))
    assert page.status_code == 200
    assert "$10 every month" in page.text and "Next charge on" in page.text
    assert "Visa ending in 4242" in page.text
    assert monthly.reference in page.text


def test_a_tampered_link_offers_a_new_one(client, gift, outbox):
    gift()
    link = link_in(outbox[0])
    page = client.get(link[:-3] + "abc")
    assert page.status_code == 403 and "E-mail me a new link" in page.text


def test_an_expired_link_offers_a_new_one(client, gift, outbox, app, monkeypatch):
    gift()
    link = link_in(outbox[0])
    app.config["MANAGE_LINK_DAYS"] = 30
    later = time.time() + 31 * 86400
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    page = client.get(link)
    assert page.status_code == 403 and "expired" in page.text


def test_a_link_stops_working_when_the_email_changes(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    monthly.donor.email = "new@example.org"
    db.session.commit()
    assert client.get(link).status_code == 403


def test_a_token_for_another_purpose_is_refused(client, gift, app):
    monthly = gift()
    other = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="something-else")
    token = other.dumps({"donor": monthly.donor_id, "email": links.email_tag(monthly.donor.email)})
    assert client.get(f"/manage/{token}").status_code == 403


def test_asking_for_a_link_answers_the_same_for_known_and_unknown_addresses(client, gift, outbox):
    gift()
    outbox.clear()
    known = client.post("/manage", data={"email": "ADA@example.org"})
    unknown = client.post("/manage", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ADA@example.org", "X") == unknown.text.replace("nobody@example.org", "X")
    [sent] = outbox
    assert sent["To"] == "ada@example.org" and "/manage/" in sent.get_content()


def test_asking_for_links_is_rate_limited_per_address(client, app):
    for _ in range(5):
        assert client.post("/manage", data={"email": "limit@example.org"}).status_code == 200
    assert client.post("/manage", data={"email": "limit@example.org"}).status_code == 429
    assert client.post("/manage", data={"email": "other@example.org"}).status_code == 200


def test_asking_for_links_is_rate_limited_per_ip(client):
    statuses = [
        client.post("/manage", data={"email": f"reader{n}@example.org"}).status_code for n in range(21)
    ]
    assert statuses == [200] * 20 + [429]


def test_changing_the_amount_is_one_change_from_the_next_charge(client, gift, outbox, stripe_base):
    monthly = gift()
    link = link_in(outbox[0])
    key = uuid.uuid4().hex
    url = f"{link}/gifts/{monthly.reference}/amount"
    response = client.post(
        url, data={"amount": "15", "frequency": "month", "action_key": key}, follow_redirects=True
    )
    assert "you now give $15 every month" in response.text
    client.post(url, data={"amount": "15", "frequency": "month", "action_key": key})  # double submit

    monthly = reload(monthly)
    assert (monthly.amount, monthly.frequency, monthly.status) == (1500, Frequency.MONTH, GiftStatus.ACTIVE)
    [change] = events(monthly, "amount")
    assert change.data == {
        "old": {"amount": 1000, "frequency": "month"},
        "new": {"amount": 1500, "frequency": "month"},
    }
    assert change.actor.value == "donor"
    subscription = se_client(stripe_base).v1.subscriptions.retrieve(monthly.stripe_subscription_id)
    assert subscription["items"].data[0].plan.id == "gift-month-usd-1500"


def se_client(stripe_base):
    import stripe

    return stripe.StripeClient("sk_test_suite", base_addresses={"api": stripe_base})


@pytest.mark.parametrize("amount", ["0.5", "abc", "20000"])
def test_a_bad_new_amount_changes_nothing(client, gift, outbox, amount):
    monthly = gift()
    response = client.post(
        f"{link_in(outbox[0])}/gifts/{monthly.reference}/amount",
        data={"amount": amount, "frequency": "month", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert 'class="message error"' in response.text
    assert reload(monthly).amount == 1000 and events(monthly, "amount") == []


def test_pausing_and_resuming(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    page = client.post(
        f"{link}/gifts/{monthly.reference}/pause",
        data={"months": "2", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.PAUSED
    assert "Paused until " + monthly.paused_until.strftime("%d %B %Y") in page.text
    assert 55 <= (monthly.paused_until - monthly.created_at).days <= 61

    client.post(f"{link}/gifts/{monthly.reference}/resume", data={"action_key": uuid.uuid4().hex})
    assert reload(monthly).status is GiftStatus.ACTIVE
    assert [e.to_status for e in events(monthly, "status")][-2:] == [GiftStatus.PAUSED, GiftStatus.ACTIVE]


def test_cancelling_records_the_reason_and_the_channel_and_confirms_by_email(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    outbox.clear()
    form = client.get(f"{link}/gifts/{monthly.reference}/cancel").text
    assert "Pause for 3 months instead" in form and "Cancel my gift" in form

    page = client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={
            "reason": "community",
            "comment": "I am seriously thinking of halting my monthly donations.",
            "action_key": uuid.uuid4().hex,
        },
    )
    assert page.status_code == 200 and "Your gift is cancelled" in page.text
    assert 'href="https://news.example/story#banner-former"' in page.text
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.CANCELLING  # the paid month runs out first
    assert (monthly.cancellation_reason, monthly.cancellation_channel) == ("community", "donor")
    assert monthly.cancellation_comment.startswith("I am seriously")
    [request] = events(monthly, "cancel_request")
    assert request.data["offered"] == ["pause", "lower", "yearly"] and request.data["taken"] is None
    [confirmation] = outbox
    assert "is cancelled" in confirmation["Subject"]

    again = client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={"reason": "community", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "already cancelled" in again.text
    assert len(events(monthly, "cancel_request")) == 1


def test_the_end_of_the_period_keeps_the_donors_reason(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    client.post(
        f"{link}/gifts/{monthly.reference}/cancel",
        data={"reason": "too_expensive", "action_key": uuid.uuid4().hex},
    )
    ended = se.subscription(
        monthly.stripe_subscription_id,
        status="canceled",
        canceled_at=int(time.time()) + 5,
        cancellation={"reason": "cancellation_requested", "feedback": "too_expensive", "comment": None},
    )
    se.deliver(client, se.event("customer.subscription.deleted", ended, created=int(time.time()) + 5))
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.CANCELLED
    assert (monthly.cancellation_reason, monthly.cancellation_channel) == ("too_expensive", "donor")


def test_immediate_cancellation_when_the_newsroom_wants_it(client, gift, outbox, app):
    app.config["CANCEL_AT_PERIOD_END"] = False
    try:
        monthly = gift()
        client.post(
            f"{link_in(outbox[0])}/gifts/{monthly.reference}/cancel",
            data={"reason": "other", "action_key": uuid.uuid4().hex},
        )
    finally:
        app.config["CANCEL_AT_PERIOD_END"] = True
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.CANCELLED and monthly.cancelled_at is not None


def test_taking_a_save_offer_is_recorded(client, gift, outbox):
    monthly = gift()
    link = link_in(outbox[0])
    client.post(
        f"{link}/gifts/{monthly.reference}/pause",
        data={"months": "3", "offer": "pause", "action_key": uuid.uuid4().hex},
    )
    [saved] = events(monthly, "save_offer")
    assert saved.data == {"offered": ["pause", "lower", "yearly"], "taken": "pause"}
    assert reload(monthly).status is GiftStatus.PAUSED


def test_a_cancellation_needs_a_reason(client, gift, outbox):
    monthly = gift()
    response = client.post(
        f"{link_in(outbox[0])}/gifts/{monthly.reference}/cancel", data={"action_key": uuid.uuid4().hex}
    )
    assert response.status_code == 400 and "Tell us why" in response.text
    assert reload(monthly).status is GiftStatus.ACTIVE


def test_a_stripe_failure_says_try_again_and_changes_nothing(client, gift, outbox, app):
    monthly = gift()
    link = link_in(outbox[0])
    base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    app.extensions.pop("stripe_client", None)
    try:
        response = client.post(
            f"{link}/gifts/{monthly.reference}/cancel",
            data={"reason": "other", "action_key": uuid.uuid4().hex},
            follow_redirects=True,
        )
    finally:
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)
    assert "nothing was changed" in response.text
    monthly = reload(monthly)
    assert monthly.status is GiftStatus.ACTIVE and monthly.cancellation_reason is None


def test_another_donors_gift_is_out_of_reach(client, gift, outbox):
    gift(email="ada@example.org")
    other = gift(email="bob@example.org")
    link = link_in(outbox[0])
    response = client.post(
        f"{link}/gifts/{other.reference}/cancel",
        data={"reason": "other", "action_key": uuid.uuid4().hex},
        follow_redirects=True,
    )
    assert "could not find this gift" in response.text
    assert reload(other).status is GiftStatus.ACTIVE


def test_updating_the_card_makes_it_the_default(client, gift, outbox, stripe_base):
    monthly = gift()
    link = link_in(outbox[0])
    key = uuid.uuid4().hex
    started = client.post(
        f"{link}/gifts/{monthly.reference}/card/start",
        data={"action_key": key},
        headers={"Accept": "application/json"},
    ).json
    setup = confirm_setup(stripe_base, started["client_secret"], "4000056655665556")
    saved = client.post(
        f"{link}/gifts/{monthly.reference}/card",
        data={"setup_intent": setup["id"], "action_key": key},
        headers={"Accept": "application/json"},
    )
    assert saved.status_code == 200
    monthly = reload(monthly)
    assert (monthly.card_brand, monthly.card_last4) == ("visa", "5556")
    customer = se_client(stripe_base).v1.customers.retrieve(monthly.donor.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == setup["payment_method"]
    assert [e.data for e in events(monthly, "card")] == [{"brand": "visa", "last4": "5556"}]


def test_manage_forms_need_csrf(client, gift, outbox, app):
    monthly = gift()
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(
        f"{link_in(outbox[0])}/gifts/{monthly.reference}/pause",
        data={"months": "1", "action_key": uuid.uuid4().hex},
    )
    assert response.status_code == 400
    assert reload(monthly).status is GiftStatus.ACTIVE


def test_a_new_card_brings_a_past_due_gift_up_to_date(client, gift, outbox, stripe_base):
    monthly = gift()
    monthly.status, monthly.stripe_status, monthly.failed_attempts = GiftStatus.PAST_DUE, "past_due", 2
    db.session.commit()
    link = link_in(outbox[0])
    key = uuid.uuid4().hex
    started = client.post(f"{link}/gifts/{monthly.reference}/card/start", data={"action_key": key}).json
    setup = confirm_setup(stripe_base, started["client_secret"], VISA)
    client.post(
        f"{link}/gifts/{monthly.reference}/card", data={"setup_intent": setup["id"], "action_key": key}
    )

    monthly = reload(monthly)
    assert monthly.status is GiftStatus.ACTIVE and monthly.failed_attempts == 0


def test_rate_limits_live_in_redis_when_configured(app, app_settings):
    """With BANNER_REDIS_URL every worker shares the limits; CI runs this against Redis. It runs
    in its own process: the limiter keeps one storage per process."""
    import json
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT, STRICT

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if STRICT:
            pytest.fail("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis: start one on 127.0.0.1:6379 to run this test")
    script = """
import json, sys
from banner import create_app
from banner.extensions import limiter
settings = json.loads(sys.argv[1])
app = create_app({**settings, "REDIS_URL": "redis://127.0.0.1:6379/15", "WTF_CSRF_ENABLED": False})
with app.app_context():
    limiter.reset()
    client = app.test_client()
    statuses = [client.post("/manage", data={"email": "redis@example.org"}).status_code for _ in range(6)]
    print(json.dumps([type(limiter.storage).__name__, statuses]))
    limiter.reset()
"""
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(app_settings)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    storage, statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert storage == "RedisStorage"
    assert statuses == [200] * 5 + [429]
