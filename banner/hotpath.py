"""The public hot path: the endpoints every article page calls, served without the app's
per-request machinery.

`/embed.js`, `/embed.<hash>.js` and `/api/banner` answer the same bytes to every reader, built
in advance (banner.assets, services.banners). They read no session and set no cookie, load no
staff user, take no CSRF token, count against no rate limit and read no form, so the app-wide
`before_request` and `after_request` hooks of the extensions (Flask-WTF, Flask-Limiter,
Flask-Login, Talisman) and of create_app are skipped for them; their views set the few
security headers such answers need (hot_headers), on their errors too. Everything else is Flask
as usual: routing, the request and app contexts, teardown. A staff preview (`?preview=`) reads
its campaign from the database; nothing else on the hot path does.
"""

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface

#: the views of the hot path (banner/views/embed.py)
HOT_ENDPOINTS = frozenset({"embed.embed_js", "embed.embed_js_pinned", "embed.banner_choice"})


def is_hot_path(path: str) -> bool:
    """Return whether a request's path belongs to the hot path, before its URL is matched."""
    return path == "/api/banner" or (path.startswith("/embed.") and path.endswith(".js"))


class App(Flask):
    """Flask, except that the hot path's views run without the app-wide request hooks."""

    def preprocess_request(self):
        if request.endpoint in HOT_ENDPOINTS:
            return None
        return super().preprocess_request()

    def process_response(self, response):
        if request.endpoint in HOT_ENDPOINTS:
            return response  # no session to save, no headers of the extensions to add
        return super().process_response(response)

    def do_teardown_request(self, *args, **kwargs) -> None:
        if request.endpoint in HOT_ENDPOINTS:
            return None  # the only teardown_request hook resets Flask-Limiter's state, unused here
        return super().do_teardown_request(*args, **kwargs)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, left out of the banner's public endpoints: their answers
    are the same for everyone, so they set no cookie and do not vary by one; the hot path does
    not even read one."""

    PUBLIC_BLUEPRINTS = frozenset({"embed"})

    def open_session(self, app, request):
        if is_hot_path(request.path):
            return None  # Flask makes it a null session, which is never saved
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.blueprint in self.PUBLIC_BLUEPRINTS:
            return
        super().save_session(app, session, response)


def hot_headers(production: bool) -> list[tuple[str, str]]:
    """Return the security headers of a script or JSON answer read by other sites' pages."""
    headers = [
        ("X-Content-Type-Options", "nosniff"),  # a script is run as a script and JSON never as one
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if production:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers
