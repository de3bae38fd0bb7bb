"""POST /stripe/webhook accepts only events signed with the configured secret."""

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from banner.extensions import db
from banner.models import StripeEvent
from banner.payments import API_VERSION

SECRET = "whsec_test_suite"


def signed(payload: bytes, secret: str = SECRET, timestamp: int | None = None, scheme="v1") -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},{scheme}={digest}"


def event_body(event_id="evt_1", kind="customer.created") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "api_version": API_VERSION,
            "livemode": False,
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        }
    ).encode()


def post(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/stripe/webhook", data=body, headers=headers)


def count_events() -> int:
    return db.session.scalar(sa.select(sa.func.count(StripeEvent.id)))


def test_signed_event_is_stored_once(client):
    body = event_body()
    assert post(client, body, signed(body)).status_code == 200
    assert post(client, body, signed(body)).json == {"received": True, "duplicate": True}
    assert count_events() == 1


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "garbage",
        signed(event_body(), secret="whsec_wrong"),
        signed(event_body(), timestamp=int(time.time()) - 301),
        signed(event_body(), timestamp=int(time.time()) + 301),
        signed(event_body(), scheme="v0"),
    ],
    ids=["missing", "garbage", "wrong-secret", "stale", "future", "v0-only"],
)
def test_unsigned_or_badly_signed_event_is_refused(client, signature):
    response = post(client, event_body(), signature)
    assert response.status_code == 400
    assert count_events() == 0


def test_a_changed_byte_breaks_the_signature(client):
    body = event_body()
    signature = signed(body)
    assert post(client, body.replace(b"cus_1", b"cus_2"), signature).status_code == 400
    assert count_events() == 0


def test_a_signed_body_that_is_not_an_event_is_refused(client):
    body = b'{"hello": "world"}'
    assert post(client, body, signed(body)).status_code == 400
    assert count_events() == 0
