"""GET /healthz reports the database and Stripe."""


def test_healthz_is_ok_when_database_and_stripe_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": True,
        "stripe": True,
        "stripe_events_of_other_versions": 0,
    }


def test_healthz_is_503_when_stripe_is_unreachable(client, app):
    app.extensions.pop("stripe_client", None)
    base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"
    try:
        response = client.get("/healthz")
    finally:
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)
    assert response.status_code == 503
    assert response.json == {
        "status": "degraded",
        "database": True,
        "stripe": False,
        "stripe_events_of_other_versions": 0,
    }
