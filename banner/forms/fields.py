"""Fields, filters and checks the forms of several areas share: amounts, frequencies, the
news site's URLs, text areas, action keys, someone's e-mail, and what no form can read."""

import json
import uuid
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    HiddenField,
    SelectChoice,
)
from wtforms.fields import EmailField
from wtforms.validators import (
    Email,
    InputRequired,
    Length,
    Regexp,
    ValidationError,
)

from banner.money import AmountError, format_amount, parse_amount

FREQUENCIES = [
    SelectChoice("once", "Once"),
    SelectChoice("month", "Monthly"),
    SelectChoice("year", "Yearly"),
]


def check_amount(text: str, currency: str) -> int:
    """Return minor units, or raise ValidationError when outside the configured bounds."""
    try:
        amount = parse_amount(text, currency)
    except AmountError as error:
        raise ValidationError(str(error)) from None
    low, high = current_app.config["MIN_AMOUNT"], current_app.config["MAX_AMOUNT"]
    if amount < low:
        raise ValidationError(f"The smallest gift we can take is {format_amount(low, currency)}.")
    if amount > high:
        raise ValidationError(f"For gifts over {format_amount(high, currency)}, please write to us.")
    return amount


def web_url(text: str | None) -> str | None:
    """Keep an attribution URL only if it is a plain http(s) address: no credentials, no fragment."""
    if not text or not origin(text) or "@" in urlsplit(text).netloc:
        return None
    return urlunsplit(urlsplit(text)._replace(fragment=""))


def origin(url: str) -> str:
    """Return "scheme://host[:port]" of an http(s) URL, lower-cased, or "" when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port and port != default else "")


def news_site_origins() -> list[str]:
    """Return the news site's origins listed in BANNER_SITE_ORIGINS."""
    listed = (item.strip() for item in str(current_app.config["SITE_ORIGINS"] or "").split(","))
    return sorted({origin(item) for item in listed if item} - {""})


def site_origins() -> set[str]:
    """Return the origins "Back to the article" may lead to: the news site's and BANNER_PUBLIC_URL's."""
    return {origin(current_app.config["PUBLIC_URL"]), *news_site_origins()} - {""}


def article_url(text: str | None) -> str | None:
    """Keep an article URL only if it is on the news site: it becomes a link on the thank-you page."""
    url = web_url(text)
    return url if url and origin(url) in site_origins() else None


def is_text(value) -> bool:
    """Return whether `value` is a string the database can store: no NUL, no lone surrogate."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unreadable(request) -> str | None:
    """Say what in a request's URL, query or form no field can hold (a NUL byte, a lone surrogate,
    a JSON value that is not text), or return None. JSON bodies are read as forms by Flask-WTF."""
    values = [value for value in (request.view_args or {}).values() if isinstance(value, str)]
    for multidict in (request.args, request.form):
        for key, items in multidict.lists():
            values += [key, *items]
    if not all(is_text(value) for value in values):
        return "The request holds characters we cannot read."
    if request.is_json:
        try:
            data = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            return "The body is not JSON."
        if not isinstance(data, dict) or not all(
            is_text(key) and (is_text(value) or (isinstance(value, list) and all(map(is_text, value))))
            for key, value in data.items()
        ):
            return "Send an object whose fields are text."
    return None


def stripped(text: str | None) -> str:
    return (text or "").strip()


def lines(text: str | None) -> list[str]:
    """Return the non-empty lines of a text area, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


ACTION_KEY = [InputRequired(), Regexp(r"^[0-9a-f]{32}$", message="Reload the page and try again.")]


def action_key_field():
    """One id per page load: a double submit repeats the same Stripe request, never a new one."""
    return HiddenField(default=lambda: uuid.uuid4().hex, validators=ACTION_KEY)


def their_email() -> EmailField:
    """Someone else's e-mail, typed by staff: a colleague's, or a donor's."""
    return EmailField(
        "E-mail",
        filters=[stripped],
        validators=[
            InputRequired("Enter their e-mail."),
            Length(max=254, message="Use at most 254 characters."),
            Email("Enter an e-mail address like name@example.org.", check_deliverability=False),
        ],
    )
