"""Settings: safe refusals and clear errors."""

import os
import subprocess
import sys

import pytest

from banner import ConfigError, create_app
from tests.conftest import ROOT

TEST_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}


@pytest.mark.parametrize("key", ["sk_live_abc", "rk_live_abc"])
def test_live_stripe_keys_are_refused_unless_allowed(key):
    settings = {"ENV": "testing", **TEST_KEYS, "STRIPE_SECRET_KEY": key}
    with pytest.raises(ConfigError, match="BANNER_ALLOW_LIVE_KEYS"):
        create_app(settings)
    assert create_app({**settings, "ALLOW_LIVE_KEYS": True}).config["STRIPE_SECRET_KEY"] == key


@pytest.mark.parametrize("secret", [None, "", "dev-only-not-secret"])
def test_production_needs_a_real_secret_key(secret):
    with pytest.raises(ConfigError, match="BANNER_SECRET_KEY"):
        create_app({"ENV": "production", "SECRET_KEY": secret, **TEST_KEYS})


def test_production_without_stripe_keys_names_the_missing_settings():
    with pytest.raises(ConfigError, match="BANNER_STRIPE_SECRET_KEY, BANNER_STRIPE_PUBLISHABLE_KEY"):
        create_app({"ENV": "production", "SECRET_KEY": "s" * 40})


def test_development_defaults_to_the_local_emulator():
    app = create_app({"ENV": "development"})
    assert app.config["STRIPE_API_BASE"] == "http://127.0.0.1:8420"
    assert app.config["STRIPE_JS_URL"] == "http://127.0.0.1:8420/js.stripe.com/v3/"
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_test_keys_in_development_talk_to_real_stripe():
    app = create_app({"ENV": "development", **TEST_KEYS})
    assert app.config["STRIPE_API_BASE"] is None
    assert app.config["STRIPE_JS_URL"] == "https://js.stripe.com/v3/"


def test_settings_come_from_banner_environment_variables(monkeypatch):
    monkeypatch.setenv("BANNER_ENV", "production")
    monkeypatch.setenv("BANNER_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("BANNER_DATABASE_URL", "sqlite:////tmp/elsewhere.sqlite3")
    for name, value in TEST_KEYS.items():
        monkeypatch.setenv("BANNER_" + name, value)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/elsewhere.sqlite3"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_bad_configuration_is_one_clear_line_not_a_stack_trace():
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    env["BANNER_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "routes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "banner: configuration error: BANNER_SECRET_KEY is not set: production needs a long random secret."
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAIL_RETRY_MINUTES", ""),
        ("MAIL_RETRY_MINUTES", "1, 5"),
        ("MAIL_RETRY_MINUTES", "soon"),
        ("MAIL_BATCH_SIZE", 0),
        ("MAIL_BATCH_SIZE", "ten"),
        ("MAIL_POLL_SECONDS", 0),
        ("MAIL_POLL_SECONDS", "often"),
    ],
)
def test_bad_mail_worker_settings_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigError, match=f"BANNER_{name} "):
        create_app({"ENV": "testing", **TEST_KEYS, name: value})
