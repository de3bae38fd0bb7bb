"""The reader-revenue service: banner, donations, monthly gifts and staff reports."""

from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, current_app, render_template, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from banner import config, forms, logs, republish
from banner.cli import group as cli_group
from banner.config import ConfigError
from banner.errors import ServiceError
from banner.extensions import csrf, db, limiter, login, migrate, talisman
from banner.hotpath import App, SessionInterface, hot_headers
from banner.money import format_amount, major_units
from banner.services import donor_marker, save_offers, staff_auth
from banner.services.reports.periods import day_month, newsroom_date
from banner.views import donate, embed, health, json_error, manage, reports, staff, webhooks

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "create_app"]


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app from BANNER_* settings, with `overrides` applied last (tests use them)."""
    app = App(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    config.load(app, overrides)
    configure_save_offers(app)
    configure_proxies(app)
    configure_logging(app)
    configure_extensions(app)
    configure_security_headers(app)
    configure_hot_path(app)
    configure_private_pages(app)
    configure_blueprints(app)
    configure_input(app)
    configure_errors(app)
    configure_templates(app)
    configure_cli(app)
    republish.configure(app)
    return app


def configure_save_offers(app: Flask) -> None:
    """Refuse save offers for reasons, or of kinds, the cancel page does not have."""
    try:
        save_offers.save_offer_plan(app.config)
    except save_offers.OfferSettingError as error:
        raise ConfigError(str(error)) from None


def configure_proxies(app: Flask) -> None:
    """Read the reader's real address (rate limits, the card-testing brake) behind BANNER_PROXIES."""
    count = int(app.config["PROXIES"])
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]


def configure_logging(app: Flask) -> None:
    """Plain or JSON log lines; every answer carries its request id (X-Request-ID)."""
    json_logs = app.config["LOG_FORMAT"] == "json"
    logs.configure(app.config["LOG_FORMAT"], app.debug)
    # Outside ProxyFix: it reads the reader's address once ProxyFix has set it.
    app.wsgi_app = logs.RequestIds(app.wsgi_app, log_requests=json_logs)  # type: ignore[method-assign]


def configure_extensions(app: Flask) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.session_interface = SessionInterface()
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            sa.event.listen(db.engine, "do_connect", _without_jit)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login.init_app(app)
    login.login_view = "staff.login"
    login.login_message = None  # the login page says what to do; no flash message to carry

    @login.user_loader
    def load_staff(user_id: str):
        seen_at = session.get("seen_at")
        staff = staff_auth.session_staff(user_id, seen_at, current_app.config["STAFF_IDLE_MINUTES"])
        if staff is not None:
            session["seen_at"] = staff_auth.now_seconds()  # activity keeps the session alive
        return staff


def _without_jit(dialect, connection_record, cargs, cparams) -> None:
    """Open PostgreSQL sessions with JIT compilation off.

    The reports' aggregates run in a fraction of a second, but the planner's row estimates for
    nested GROUP BYs are far too high, which makes it JIT-compile them: hundreds of
    milliseconds spent compiling to save a few (measured in bench/README.md).
    """
    cparams["options"] = " ".join(filter(None, (cparams.get("options"), "-c jit=off")))


def configure_security_headers(app: Flask) -> None:
    stripe_js = urlsplit(app.config["STRIPE_JS_URL"])
    stripe_origin = f"{stripe_js.scheme}://{stripe_js.netloc}"
    stripe_api = app.config["STRIPE_API_BASE"] or "https://api.stripe.com"
    production = app.config["ENV"] == "production"
    challenge = app.config["CHALLENGE_SITE_KEY"] and urlsplit(app.config["CHALLENGE_SCRIPT_URL"])
    challenge_origin = [f"{challenge.scheme}://{challenge.netloc}"] if challenge else []
    talisman.init_app(
        app,
        force_https=False,  # TLS ends at the proxy in front of gunicorn
        strict_transport_security=production,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        frame_options="DENY",
        referrer_policy="no-referrer",  # pages with donor data and links carry tokens and references
        content_security_policy={
            "default-src": "'self'",
            "script-src": ["'self'", stripe_origin, *challenge_origin],
            "style-src": "'self'",
            "img-src": ["'self'", "data:", stripe_origin],
            "connect-src": ["'self'", stripe_api, stripe_origin],
            "frame-src": [stripe_origin, "https://hooks.stripe.com", *challenge_origin],
            "form-action": "'self'",
            "base-uri": "'none'",
            "object-src": "'none'",
        },
    )


def configure_hot_path(app: Flask) -> None:
    """Keep the security headers of the banner's public answers, which skip Talisman (banner.hotpath)."""
    app.extensions["hot_headers"] = hot_headers(app.config["ENV"] == "production")


#: pages with a donor's data or a staff member's view: never kept by a browser's or a proxy's cache
PRIVATE_BLUEPRINTS = frozenset({"manage", "staff", "reports"})
PRIVATE_ENDPOINTS = frozenset({"donate.thanks", "donate.receipt"})


def configure_private_pages(app: Flask) -> None:
    @app.after_request
    def never_cache_private_pages(response):
        if request.blueprint in PRIVATE_BLUEPRINTS or request.endpoint in PRIVATE_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response


def configure_blueprints(app: Flask) -> None:
    for module in (donate, embed, health, manage, reports, staff, webhooks):
        app.register_blueprint(module.bp)


#: endpoints that read their body themselves: Stripe's signed events, the banner's beacons
RAW_BODY_ENDPOINTS = frozenset({"webhooks.stripe_webhook", "embed.banner_events"})


def configure_input(app: Flask) -> None:
    """Refuse, with a 400 or 413, what no form can read, before any view or database sees it."""

    @app.before_request
    def refuse_unreadable_input():
        if request.endpoint in RAW_BODY_ENDPOINTS:
            return None  # MAX_CONTENT_LENGTH, fit for Stripe's events, bounds them
        request.max_content_length = app.config["FORM_MAX_CONTENT_LENGTH"]
        problem = forms.unreadable(request)
        if problem is None:
            return None
        if _wants_json():
            return json_error("invalid", problem, 400)
        return render_template("error.html", title="Bad request", message=problem), 400


def _wants_json() -> bool:
    return (
        request.accept_mimetypes.best == "application/json"
        or request.is_json
        or request.path.startswith(("/api/", "/stripe/"))
    )


#: status -> (code, title, message) of the error pages
ERRORS = {
    400: ("csrf", "Page expired", "This page has expired. Reload it and try again."),
    413: ("too_large", "Too large", "What was sent is larger than this address accepts."),
    403: ("forbidden", "Not allowed", "Your account may not do this. Ask an admin if you need to."),
    404: ("not_found", "Not found", "There is nothing at this address."),
    429: ("too_many", "Please wait", "Too many tries. Please wait an hour and try again."),
    500: (
        "server_error",
        "Sorry",
        "Something went wrong on our side. Nothing was charged twice; please try again.",
    ),
}


def configure_errors(app: Flask) -> None:
    def error_page(status: int):
        code, title, message = ERRORS[status]
        if status == 500:
            db.session.rollback()
        if _wants_json():
            return {"error": {"code": code, "message": message}}, status
        return render_template("error.html", title=title, message=message), status

    app.register_error_handler(CSRFError, lambda error: error_page(400))
    for status in (403, 404, 413, 429, 500):
        app.register_error_handler(status, lambda error, status=status: error_page(status))
    app.register_error_handler(ServiceError, service_error_page)


def service_error_page(error: ServiceError):
    """Answer a service's refusal with its status and message, as a page or as JSON; nothing of
    the request's unfinished transaction is kept."""
    db.session.rollback()
    if _wants_json():
        return {"error": {"code": error.code, "message": error.message}}, error.http_status
    return render_template("error.html", title=error.title, message=error.message), error.http_status


def configure_templates(app: Flask) -> None:
    app.add_template_filter(format_amount, "money")
    app.add_template_filter(major_units, "major_units")
    app.add_template_filter(donor_marker.gave_marker, "gave_marker")
    app.add_template_filter(donor_marker.cancelled_marker, "cancelled_marker")
    # a donor's dates are the newsroom's days (BANNER_TIMEZONE), as on the receipts and reports
    app.add_template_filter(newsroom_date, "newsroom_date")
    app.add_template_filter(day_month, "day_month")


def configure_cli(app: Flask) -> None:
    app.cli.add_command(cli_group)
