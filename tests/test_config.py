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


PRODUCTION = {"ENV": "production", "SECRET_KEY": "k" * 32, **TEST_KEYS}


@pytest.mark.parametrize(
    ("unsafe", "named"),
    [
        ({"SECRET_KEY": "x"}, "BANNER_SECRET_KEY is too short"),
        ({"SECRET_KEY": "k" * 31}, "BANNER_SECRET_KEY is too short"),
        ({"WTF_CSRF_ENABLED": False}, "BANNER_WTF_CSRF_ENABLED"),
        ({"WTF_CSRF_ENABLED": 0}, "BANNER_WTF_CSRF_ENABLED"),
        ({"DEBUG": True}, "BANNER_DEBUG"),
        ({"STRIPE_API_BASE": "http://127.0.0.1:8420"}, "BANNER_STRIPE_API_BASE"),
        ({"STRIPE_API_BASE": "https://api.stripe.com.evil.example"}, "BANNER_STRIPE_API_BASE"),
    ],
)
def test_production_refuses_unsafe_settings(unsafe, named):
    with pytest.raises(ConfigError, match=named):
        create_app({**PRODUCTION, **unsafe})


@pytest.mark.parametrize("base", [None, "https://api.stripe.com", "https://api.stripe.com/"])
def test_production_accepts_a_long_secret_and_stripe_s_own_api(base):
    assert create_app({**PRODUCTION, "STRIPE_API_BASE": base}).config["ENV"] == "production"


@pytest.mark.parametrize("env", ["development", "testing"])
def test_development_and_tests_may_use_short_keys_debug_and_the_emulator(env):
    settings = {"ENV": env, "SECRET_KEY": "x", "DEBUG": True, "WTF_CSRF_ENABLED": False}
    assert create_app({**settings, "STRIPE_API_BASE": "http://127.0.0.1:8420"}).debug


@pytest.mark.parametrize("origins", ["news.example.org", "https://news.example.org/articles", "ftp://x.org"])
def test_site_origins_must_be_origins(origins):
    with pytest.raises(ConfigError, match="BANNER_SITE_ORIGINS"):
        create_app({"ENV": "testing", "SITE_ORIGINS": origins})


@pytest.mark.parametrize("zone", ["Mars/Olympus", "EST5EDT/../x", ""])
def test_the_time_zone_must_be_an_iana_name(zone):
    with pytest.raises(ConfigError, match="BANNER_TIMEZONE"):
        create_app({"ENV": "testing", "TIMEZONE": zone})


def test_the_time_zone_defaults_to_new_york():
    assert create_app({"ENV": "testing"}).config["TIMEZONE"] == "America/New_York"


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


def test_csrf_turned_off_in_production_is_one_clear_line():
    env = {key: value for key, value in os.environ.items() if not key.startswith("BANNER_")}
    env.update({"BANNER_ENV": "production", "BANNER_SECRET_KEY": "k" * 40, "BANNER_WTF_CSRF_ENABLED": "0"})
    env.update({"BANNER_" + name: value for name, value in TEST_KEYS.items()})
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
        "banner: configuration error: BANNER_WTF_CSRF_ENABLED is off: production forms need their CSRF check."
    )


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
        ("DIGEST_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/x"),
        ("DIGEST_WEBHOOK_URL", "file:///etc/passwd"),
        ("EVENTS_APPLIED_BY", "cron"),
    ],
)
def test_bad_mail_worker_settings_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigError, match=f"BANNER_{name} "):
        create_app({"ENV": "testing", **TEST_KEYS, name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SAVE_OFFERS_BY_REASON", "bored=pause"),  # not one of the reasons asked
        ("SAVE_OFFERS_BY_REASON", "too_expensive=discount"),  # not one of the offers
        ("SAVE_OFFERS_BY_REASON", "too_expensive"),
        ("SAVE_OFFERS_BY_REASON", "financial=pause;financial=lower"),
        ("SAVE_OFFERS", "pause,discount"),
    ],
)
def test_bad_save_offer_settings_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigError, match=f"BANNER_{name} "):
        create_app({"ENV": "testing", **TEST_KEYS, name: value})


def test_save_offers_by_reason_may_offer_nothing_for_a_reason():
    app = create_app(
        {"ENV": "testing", **TEST_KEYS, "SAVE_OFFERS_BY_REASON": "too_expensive=lower,pause; coverage="}
    )
    assert app.config["SAVE_OFFERS_BY_REASON"] == "too_expensive=lower,pause; coverage="
