"""GET /healthz says the process answers; GET /readyz checks the database, Redis and Stripe."""

from datetime import timedelta
from unittest import mock

import pytest

from banner import payments
from banner.extensions import db, limiter
from banner.models import StripeEvent, utcnow


def test_healthz_calls_neither_stripe_nor_the_database(client):
    with (
        mock.patch.object(payments, "ping", side_effect=AssertionError("Stripe called")),
        mock.patch.object(db.session, "execute", side_effect=AssertionError("database called")),
    ):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.usefixtures("stripe_base")
def test_readyz_is_ok_when_database_and_stripe_answer(client, app):
    app.extensions.pop("stripe_ready", None)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": True,
        "stripe": True,
        "stripe_events_of_other_versions": 0,
        "stripe_events_not_applied": 0,
        "stripe_events_waiting": 0,
    }


def test_readyz_asks_stripe_at_most_once_a_minute(client, app):
    app.extensions.pop("stripe_ready", None)
    with mock.patch.object(payments, "ping", return_value=True) as ping:
        for _ in range(5):
            assert client.get("/readyz").status_code == 200
    assert ping.call_count == 1


def test_readyz_is_503_when_stripe_is_unreachable(client, app):
    app.extensions.pop("stripe_client", None)
    app.extensions.pop("stripe_ready", None)
    base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    try:
        response = client.get("/readyz")
    finally:
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)
        app.extensions.pop("stripe_ready", None)
    assert response.status_code == 503
    assert response.json == {
        "status": "degraded",
        "database": True,
        "stripe": False,
        "stripe_events_of_other_versions": 0,
        "stripe_events_not_applied": 0,
        "stripe_events_waiting": 0,
    }


@pytest.mark.usefixtures("stripe_base")
def test_readyz_checks_redis_when_it_is_configured(client, app, monkeypatch):
    app.extensions.pop("stripe_ready", None)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/5")
    with mock.patch.object(limiter.storage, "check", return_value=False):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["redis"] is False


def test_a_failed_stripe_check_is_tried_again_within_seconds(client, app):
    """Stripe unreachable at start (the demo starts the emulator alongside): ready soon after it answers."""
    from banner.services import readiness

    app.extensions.pop("stripe_ready", None)
    with mock.patch("banner.payments.ping", side_effect=[False, True]) as ping:
        assert client.get("/readyz").status_code == 503
        later = readiness.time.monotonic() + readiness.STRIPE_RETRY_SECONDS + 1
        with mock.patch("banner.services.readiness.time.monotonic", return_value=later):
            assert client.get("/readyz").status_code == 200
    assert ping.call_count == 2
    app.extensions.pop("stripe_ready", None)


def test_readyz_counts_the_stripe_events_whose_applying_failed(client, app):
    app.extensions.pop("stripe_ready", None)
    db.session.add_all(
        [
            StripeEvent(
                event_id="evt_1", type="invoice.paid", created=1, payload={}, attempts=2, error="boom"
            ),
            StripeEvent(event_id="evt_2", type="invoice.paid", created=1, payload={}, processed_at=utcnow()),
        ]
    )
    db.session.commit()
    with mock.patch.object(payments, "ping", return_value=True):
        assert client.get("/readyz").json["stripe_events_not_applied"] == 1


def test_readyz_counts_the_stripe_events_no_worker_applied_within_a_minute(client, app):
    """With BANNER_EVENTS_APPLIED_BY=worker an event waits for the worker: a worker that is not
    running shows here."""
    app.extensions.pop("stripe_ready", None)
    now = utcnow()
    db.session.add_all(
        [
            StripeEvent(
                event_id=f"evt_{n}", type="invoice.paid", created=1, payload={}, attempts=attempts,
                received_at=now - age, next_attempt_at=now - age,
            )
            for n, (age, attempts) in enumerate(
                [(timedelta(minutes=5), 0), (timedelta(seconds=5), 0), (timedelta(minutes=5), 1)]
            )
        ]
    )  # fmt: skip
    db.session.commit()
    with mock.patch.object(payments, "ping", return_value=True):
        counts = client.get("/readyz").json
    assert (counts["stripe_events_waiting"], counts["stripe_events_not_applied"]) == (1, 1)
