"""Settings: defaults for local development, then BANNER_* environment variables."""

import importlib.util
import os
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EMULATOR_BASE = "http://127.0.0.1:8420"

#: Outside production, with no Stripe key set, the service talks to the local emulator.
EMULATOR_SETTINGS = {
    "STRIPE_SECRET_KEY": "sk_test_emulator",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_emulator",
    "STRIPE_WEBHOOK_SECRET": "whsec_emulator",
    "STRIPE_API_BASE": EMULATOR_BASE,
}

DEV_SECRET_KEY = "dev-only-not-secret"

DEFAULTS = {
    "ENV": "production",
    "SECRET_KEY": None,
    "DATABASE_URL": None,  # sqlite:///<instance>/banner.sqlite3 when unset
    "PUBLIC_URL": "http://127.0.0.1:5000",
    #: the news site's origins, comma-separated, like "https://news.example.org": the donate page
    #: links "Back to the article" only to these and to PUBLIC_URL's
    "SITE_ORIGINS": "",
    "STRIPE_SECRET_KEY": None,
    "STRIPE_PUBLISHABLE_KEY": None,
    "STRIPE_WEBHOOK_SECRET": None,
    "STRIPE_API_BASE": None,  # the emulator only; None talks to api.stripe.com
    "STRIPE_JS_URL": None,  # Stripe.js; the emulator's copy when STRIPE_API_BASE is set
    "STRIPE_DASHBOARD_URL": "https://dashboard.stripe.com/test",
    "ALLOW_LIVE_KEYS": False,
    "MAIL_URL": None,  # file://<instance>/outbox when unset
    "MAIL_FROM": "Support The Ledger <donations@example.org>",
    # the mail worker: minutes before each retry of a message that failed (then it is given up),
    # how many messages one pass sends at most, and how long it sleeps when nothing is due
    "MAIL_RETRY_MINUTES": "1,5,30,120,720",
    "MAIL_BATCH_SIZE": 100,
    "MAIL_POLL_SECONDS": 5,
    # who applies Stripe's events once they are stored and answered: "request" (the process that
    # answered, right after the answer: nothing else needs to run) or "worker" (`banner worker`,
    # told at once on PostgreSQL: the answering process does nothing else, so its answers do not
    # wait behind another event's effect; deploy/'s banner-webhooks.service)
    "EVENTS_APPLIED_BY": "request",
    "REDIS_URL": None,
    "SITE_NAME": "The Riverside Ledger",
    "SITE_URL": "https://ledger.example/",  # the news site's home page: pages and mails link back to it
    "SUPPORT_EMAIL": "donations@example.org",  # where donors write with questions: pages and mails say so
    # what a receipt that counts for tax names: the organisation, its address and tax id, and
    # the deductibility statement (US 501(c)(3) wording unless replaced)
    "ORG_LEGAL_NAME": "Riverside Ledger News, Inc.",
    "ORG_ADDRESS": "100 Main Street, Riverside, NY 10001, United States",
    "ORG_TAX_ID": "00-0000000",
    "DEDUCTIBILITY": (
        "We are a nonprofit organization exempt from federal income tax under Section 501(c)(3) of "
        "the Internal Revenue Code. Your contribution is tax-deductible to the extent allowed by law."
    ),
    # receipts of renewals: "each" (one receipt per payment) or "statement" (the yearly one only)
    "RENEWAL_RECEIPTS": "each",
    "DEFAULT_CURRENCY": "usd",
    "TIMEZONE": "America/New_York",  # the newsroom's days and months in the reports (IANA name)
    "MIN_AMOUNT": 100,  # minor units: $1
    "MAX_AMOUNT": 1_000_000,  # minor units: $10,000
    "FEE_PERCENT_BPS": 290,  # card fee a donor may cover: 2.9% ...
    "FEE_FIXED": 30,  # ... plus 30 minor units
    "CACHE_SECONDS": 30,  # how old the banner's campaigns and goal progress may be (at most 60)
    "REPORT_MIN_DONORS": 20,  # below this many donors a churn rate is "too few to tell"
    "MANAGE_LINK_DAYS": 30,  # how long a "manage my gift" link works
    "MANAGE_SESSION_MINUTES": 30,  # the manage pages a link opened close after this long unused
    "CANCEL_AT_PERIOD_END": True,  # a donor's cancellation ends the paid period (else: at once)
    "SAVE_OFFERS": "pause,lower,yearly",  # offered before a cancellation; empty for none
    #: offers for some reasons instead, like "too_expensive=lower,pause;financial=pause";
    #: reasons not named get SAVE_OFFERS (checked at start-up by services.save_offers.save_offer_plan)
    "SAVE_OFFERS_BY_REASON": "",
    # the payment methods the donate page offers: "automatic" (what the Stripe account enables:
    # wallets and Link where available, card always) or a list such as "card" or "card,link"
    "PAYMENT_METHODS": "automatic",
    "THANKS_MINUTES": 60,  # how long the browser that gave sees its thank-you page
    "ATTEMPT_HOURS": 24,  # an unpaid checkout attempt is forgotten after this long
    # the card-testing brake: declined attempts in 24 hours after which no new one is started
    "DECLINES_PER_BROWSER": 3,
    "DECLINES_PER_EMAIL": 5,
    "DECLINES_PER_IP": 10,
    "STARTS_PER_IP": "20 per hour",  # attempts started from one address (Flask-Limiter syntax)
    "PROXIES": 0,  # how many proxies in front of the app set X-Forwarded-For (nginx: 1)
    # declines site-wide in an hour after which every new attempt must pass the challenge
    # (or, with no challenge configured, no new attempt is started until the hour has passed)
    "BURST_DECLINES": 30,
    # an optional challenge (Cloudflare Turnstile) before a payment starts: always, or in a burst
    "CHALLENGE_SITE_KEY": None,
    "CHALLENGE_SECRET_KEY": None,
    "CHALLENGE_ALWAYS": False,
    "CHALLENGE_VERIFY_URL": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "CHALLENGE_SCRIPT_URL": "https://challenges.cloudflare.com/turnstile/v0/api.js",
    # banner events one client may send: readers behind one address (an office, a mobile network)
    # share the first limit; the second applies to one browser, when its beacons carry a reader id
    "EVENTS_PER_IP": "120 per minute;2000 per day",
    "EVENTS_PER_READER": "30 per minute;300 per day",
    # the daily digest to staff (`banner digest`): an address, and an optional Slack-compatible
    # incoming webhook the outbox worker posts the same summary to
    "DIGEST_TO": None,
    "DIGEST_WEBHOOK_URL": None,
    "STAFF_IDLE_MINUTES": 30,  # a staff session unused this long ends
    "REQUIRE_ADMIN_2FA": False,  # admins must turn on two-factor before anything else
    # static copies of the banner for a CDN (`banner publish`, and again after each staff save):
    # a directory, and/or an S3-compatible bucket (credentials the usual AWS ways; boto3: the [s3] extra)
    "PUBLISH_DIR": None,
    "PUBLISH_S3_BUCKET": None,
    "PUBLISH_S3_ENDPOINT_URL": None,  # None: AWS itself
    "PUBLISH_S3_PREFIX": "",
    "LOG_FORMAT": "plain",  # "json": one JSON object per line, and a line per request (banner/logs.py)
}

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
STRIPE_API = "https://api.stripe.com"
MIN_SECRET_KEY_BYTES = 32


class ConfigError(Exception):
    """The settings cannot run the service; the message says which and how to fix it."""


def load(app, overrides=None):
    """Fill app.config from DEFAULTS, BANNER_* variables and overrides, then check it."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("BANNER")
    app.config.update(overrides or {})
    config = app.config
    if config["ENV"] not in ("production", "development", "testing"):
        raise ConfigError("BANNER_ENV must be production, development or testing.")
    if config["ENV"] != "production":
        if not config["STRIPE_SECRET_KEY"]:
            for name, value in EMULATOR_SETTINGS.items():
                config[name] = config[name] or value
        config["SECRET_KEY"] = config["SECRET_KEY"] or DEV_SECRET_KEY
    if not config["STRIPE_JS_URL"]:
        base = config["STRIPE_API_BASE"]
        config["STRIPE_JS_URL"] = f"{base}/js.stripe.com/v3/" if base else "https://js.stripe.com/v3/"
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"] or (
        "sqlite:///" + os.path.join(app.instance_path, "banner.sqlite3")
    )
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    config["MAIL_URL"] = config["MAIL_URL"] or "file://" + os.path.join(app.instance_path, "outbox")
    config["SESSION_COOKIE_SECURE"] = config["ENV"] == "production"
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["WTF_CSRF_TIME_LIMIT"] = None  # the token lives as long as the session
    config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"] or "memory://"
    config["RATELIMIT_HEADERS_ENABLED"] = True
    config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # Stripe's events are far smaller; 413 beyond
    config["FORM_MAX_CONTENT_LENGTH"] = 64 * 1024  # every other body: forms of a few fields
    check(config)


def check(config):
    """Raise ConfigError when the settings are unsafe or incomplete."""
    if config["ENV"] == "production":
        check_production(config)
    missing = [
        "BANNER_" + name
        for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
        if not config.get(name)
    ]
    if missing:
        raise ConfigError(f"Stripe is not configured: set {', '.join(missing)} (see README).")
    methods = str(config["PAYMENT_METHODS"])
    if not re.fullmatch(r"automatic|[a-z_]+(,[a-z_]+)*", methods) or (
        methods != "automatic" and "card" not in methods.split(",")
    ):
        raise ConfigError('BANNER_PAYMENT_METHODS is "automatic" or a list with card, like "card,link".')
    origins = [item.strip() for item in str(config["SITE_ORIGINS"] or "").split(",") if item.strip()]
    for origin in origins:
        if not re.fullmatch(r"https?://[^/?#@\s]+", origin):
            raise ConfigError(
                f"BANNER_SITE_ORIGINS lists origins like https://news.example.org, not {origin}."
            )
    check_contact(config)
    if not re.fullmatch(r"\d+(\.\d+)?(,\d+(\.\d+)?)*", str(config["MAIL_RETRY_MINUTES"])):
        raise ConfigError('BANNER_MAIL_RETRY_MINUTES is a list of minutes, like "1,5,30,120,720".')
    if type(config["MAIL_BATCH_SIZE"]) is not int or config["MAIL_BATCH_SIZE"] < 1:
        raise ConfigError("BANNER_MAIL_BATCH_SIZE is a whole number above 0.")
    if type(config["MAIL_POLL_SECONDS"]) not in (int, float) or config["MAIL_POLL_SECONDS"] <= 0:
        raise ConfigError("BANNER_MAIL_POLL_SECONDS is a number of seconds above 0.")
    hook = config["DIGEST_WEBHOOK_URL"]
    if hook and not re.fullmatch(r"https?://[^\s]+", str(hook)):
        raise ConfigError("BANNER_DIGEST_WEBHOOK_URL is an http(s) address, like https://hooks.slack.com/...")
    if config["EVENTS_APPLIED_BY"] not in ("request", "worker"):
        raise ConfigError('BANNER_EVENTS_APPLIED_BY is "request" or "worker".')
    if config["LOG_FORMAT"] not in ("plain", "json"):
        raise ConfigError('BANNER_LOG_FORMAT is "plain" or "json".')
    if config["RENEWAL_RECEIPTS"] not in ("each", "statement"):
        raise ConfigError('BANNER_RENEWAL_RECEIPTS is "each" or "statement".')
    try:
        ZoneInfo(str(config["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"BANNER_TIMEZONE is an IANA time zone name like America/New_York, not {config['TIMEZONE']}."
        ) from None
    if config["PUBLISH_S3_BUCKET"] and importlib.util.find_spec("boto3") is None:
        raise ConfigError("BANNER_PUBLISH_S3_BUCKET is set but boto3 is missing: pip install 'banner[s3]'.")
    key = config["STRIPE_SECRET_KEY"]
    if key.startswith(LIVE_KEY_PREFIXES) and not config["ALLOW_LIVE_KEYS"]:
        raise ConfigError(
            "BANNER_STRIPE_SECRET_KEY is a live key; set BANNER_ALLOW_LIVE_KEYS=1 to accept real money."
        )


def check_contact(config):
    """Raise ConfigError unless the site's URL and the support address can go in pages and mails."""
    if not re.fullmatch(r"https?://[^/?#@\s]+(/[^\s]*)?", str(config["SITE_URL"] or "")):
        raise ConfigError(
            f"BANNER_SITE_URL is the news site's address, like https://news.example.org/, "
            f"not {config['SITE_URL']}."
        )
    if not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", str(config["SUPPORT_EMAIL"] or "")):
        raise ConfigError(
            f"BANNER_SUPPORT_EMAIL is an address donors can write to, not {config['SUPPORT_EMAIL']}."
        )


def check_production(config):
    """Raise ConfigError for settings only development and tests may use."""
    secret = config["SECRET_KEY"]
    if secret in (None, "", DEV_SECRET_KEY):
        raise ConfigError("BANNER_SECRET_KEY is not set: production needs a long random secret.")
    if len(str(secret).encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            f"BANNER_SECRET_KEY is too short: production needs at least {MIN_SECRET_KEY_BYTES} random bytes."
        )
    if not config.get("WTF_CSRF_ENABLED", True):
        raise ConfigError("BANNER_WTF_CSRF_ENABLED is off: production forms need their CSRF check.")
    if config.get("DEBUG"):
        raise ConfigError("BANNER_DEBUG is on: the debugger runs code for anyone; unset it in production.")
    base = config["STRIPE_API_BASE"]
    if base and str(base).rstrip("/") != STRIPE_API:
        raise ConfigError(f"BANNER_STRIPE_API_BASE is {base}: production talks only to {STRIPE_API}.")
