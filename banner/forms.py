"""Every input the service accepts, validated by a form."""

import json
import re
import uuid
from datetime import UTC
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import DateField, DateTimeLocalField, EmailField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from banner.models import CURRENCIES, EVENT_COLUMNS, Campaign, Frequency, Variant
from banner.money import AmountError, format_amount, major_units, parse_amount

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


class DonateForm(FlaskForm):
    amount = StringField("Amount", validators=[InputRequired("Choose or enter an amount.")])
    frequency = RadioField(
        "How often",
        choices=FREQUENCIES,
        default="once",
        validators=[InputRequired("Choose how often to give.")],
    )
    currency = HiddenField("Currency", default="usd")
    cover_fees = BooleanField("Cover the card fees")
    name = StringField(
        "Your name",
        validators=[
            InputRequired("Tell us your name."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    email = EmailField(
        "E-mail",
        validators=[
            InputRequired("We need your e-mail for the receipt."),
            Length(max=254),
            Email("Enter an e-mail address like name@example.org.", check_deliverability=False),
        ],
    )
    # attribution, carried from the banner link
    campaign = HiddenField(validators=[Optional(), Length(max=60)])
    variant = HiddenField(validators=[Optional(), Length(max=40)])
    article_url = HiddenField(validators=[Optional(), Length(max=2000)])
    referrer = HiddenField(validators=[Optional(), Length(max=2000)])
    #: the challenge's token (Cloudflare Turnstile names its field so), when the page shows one
    challenge = StringField(name="cf-turnstile-response", validators=[Optional(), Length(max=2048)])
    #: one id per submission attempt: a double click sends the same one twice
    checkout_key = HiddenField(
        default=lambda: uuid.uuid4().hex,
        validators=[
            InputRequired(),
            Regexp(r"^[0-9a-f]{32}$", message="Reload the page and try again."),
        ],
    )

    def validate_currency(self, field):
        if field.data not in CURRENCIES:
            raise ValidationError("We cannot take gifts in this currency.")

    def validate_article_url(self, field):
        field.data = article_url(field.data)

    def validate_referrer(self, field):
        field.data = web_url(field.data)

    def validate_amount(self, field):
        if self.currency.data in CURRENCIES:
            self.amount_minor = check_amount(field.data, self.currency.data)

    @property
    def frequency_value(self) -> Frequency:
        return Frequency(self.frequency.data)


class ConfirmForm(FlaskForm):
    """The donate page's "I confirmed the payment": only its CSRF token."""


class FeeForm(FlaskForm):
    """The fee quote the donate page shows next to "cover the card fees"."""

    class Meta:
        csrf = False  # a read-only GET

    amount = StringField(validators=[InputRequired()])
    currency = StringField(default="usd")

    def validate_currency(self, field):
        if field.data not in CURRENCIES:
            raise ValidationError("unknown currency")

    def validate_amount(self, field):
        if self.currency.data in CURRENCIES:
            try:  # any amount gets a quote; the donate form checks the bounds
                self.amount_minor = parse_amount(field.data, self.currency.data)
            except AmountError as error:
                raise ValidationError(str(error)) from None


class BannerEventForm(Form):
    type = StringField(validators=[DataRequired(), AnyOf(list(EVENT_COLUMNS))])
    campaign = StringField(validators=[DataRequired(), Length(max=60)])
    variant = StringField(validators=[DataRequired(), Length(max=40)])


class BannerEventsForm(FlaskForm):
    """A batch of banner events, as the banner script sends them with navigator.sendBeacon."""

    class Meta:
        csrf = False  # cookieless, cross-origin beacons; nothing here acts for a user

    MAX_EVENTS = 50
    events = FieldList(FormField(BannerEventForm), min_entries=1, max_entries=MAX_EVENTS)
    #: the banner's anonymous id for this browser (random, kept in localStorage), when it sends one
    reader = StringField(validators=[Optional(), Regexp(r"^[A-Za-z0-9_-]{8,64}$")])


class BeaconBatch(NamedTuple):
    events: list[tuple[str, str, str]]  #: (kind, campaign slug, variant key)
    reader: str | None


class BeaconError(ValueError):
    """A beacon body that is not a batch of events; the message says what is wrong."""


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


def read_beacons(body: bytes) -> BeaconBatch:
    """Decode a beacon body, {"events": [{"type", "campaign", "variant"}, ...], "reader"?}, or
    raise BeaconError."""
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep or a too long number
        raise BeaconError("The body is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise BeaconError('Send {"events": [...]}.')
    events = data["events"]
    if len(events) > BannerEventsForm.MAX_EVENTS:
        raise BeaconError("Too many events in one batch.")
    fields = ("type", "campaign", "variant")
    if not all(isinstance(e, dict) and all(is_text(e.get(f)) for f in fields) for e in events):
        raise BeaconError("Each event is an object of type, campaign and variant, as text.")
    reader = data.get("reader")
    if reader is not None and not is_text(reader):
        raise BeaconError("The reader is a text id.")
    form = BannerEventsForm(formdata=None, data={"events": events, "reader": reader})
    if not form.validate():
        raise BeaconError("Bad events.")
    return BeaconBatch([(e["type"], e["campaign"], e["variant"]) for e in form.events.data], reader)


class BannerQueryForm(FlaskForm):
    """GET /api/banner: the page asking for a banner."""

    class Meta:
        csrf = False

    campaign = StringField(validators=[Optional(), Length(max=60)])
    path = StringField(validators=[Optional(), Length(max=2000)])
    ref = StringField(validators=[Optional(), Length(max=2000)])
    #: a signed token from the staff area (banners.preview_token)
    preview = StringField(validators=[Optional(), Length(max=300), Regexp(r"^\.?[\w-]+\.[\w-]+\.[\w-]+$")])


# The staff area: logging in, and editing campaigns and their banner variants.

#: the largest goal the database column holds, in minor units
MAX_GOAL = 2**31 - 1
MAX_PRESETS = 6  # what fits on one line of the banner
RESERVED_NAMES = {"new"}  # "/staff/campaigns/new" is the new-campaign form, not a campaign
SLUG = r"^[a-z0-9-]+$"
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]  # what datetime-local inputs send
LONG_TEXT = Length(max=5000, message="Use at most 5000 characters.")
DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")

GOAL_MODES = [
    SelectChoice("raised", "Money raised"),
    SelectChoice("committed", "Committed (a year of monthly gifts)"),
]
STATUSES = [
    SelectChoice("draft", "Draft"),
    SelectChoice("live", "Live"),
    SelectChoice("paused", "Paused"),
    SelectChoice("ended", "Ended"),
]
PLACEMENTS = [
    SelectChoice("top", "Bar at the top"),
    SelectChoice("bottom", "Bar at the bottom"),
    SelectChoice("slot", "The page's reserved slot"),
]
THEMES = [SelectChoice("light", "Light"), SelectChoice("dark", "Dark")]
AUDIENCES = [SelectChoice("all", "All readers"), SelectChoice("former", "Former donors")]


def parse_presets(text: str | None, currency: str) -> list[int]:
    """Turn "5, 10, 25" into minor units, or raise ValidationError naming the bad amount."""
    amounts = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        try:
            amounts.append(check_amount(item, currency))
        except ValidationError as error:
            raise ValidationError(f"“{item.strip()}”: {error}") from None
    if len(amounts) > MAX_PRESETS:
        raise ValidationError(f"Suggest at most {MAX_PRESETS} amounts.")
    return amounts


def stripped(text: str | None) -> str:
    return (text or "").strip()


def lines(text: str | None) -> list[str]:
    """Return the non-empty lines of a text area, stripped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def check_paths(field):
    bad = [path for path in lines(field.data) if not path.startswith("/")]
    if bad:
        raise ValidationError(f"Start each path with /: {', '.join(bad)}.")


def not_reserved(form, field):
    if field.data in RESERVED_NAMES:
        raise ValidationError(f"“{field.data}” is reserved; choose another.")


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[InputRequired("Enter your e-mail."), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    #: where to go after logging in: a staff page of this site, nothing else
    next = HiddenField()

    def validate_next(self, field):
        text = field.data or ""
        try:
            target = urlsplit(text)
        except ValueError:  # "http://[::1"
            field.data = None
            return
        if target.scheme or target.netloc or "\\" in text or not target.path.startswith("/staff/"):
            field.data = None


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app",
        filters=[lambda text: re.sub(r"\s", "", text or "")],  # apps show "123 456"
        validators=[
            InputRequired("Enter the code."),
            Regexp(r"^[0-9]{6}$", message="Enter the six digits the app shows."),
        ],
    )


class PasswordCheckForm(FlaskForm):
    password = PasswordField("Your password", validators=[InputRequired("Enter your password.")])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[InputRequired("Enter your current password.")])
    new = PasswordField(
        "New password",
        validators=[
            InputRequired("Enter a new password."),
            Length(min=12, message="Use at least 12 characters."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    repeat = PasswordField(
        "New password again",
        validators=[
            InputRequired("Enter the new password again."),
            EqualTo("new", message="The two new passwords differ."),
        ],
    )


class CampaignForm(FlaskForm):
    slug = StringField(
        "Slug (in the embed tag and links)",
        filters=[stripped],
        validators=[
            DataRequired("Give the campaign a slug."),
            Length(max=60, message="Use at most 60 characters."),
            Regexp(SLUG, message="Use lower-case letters, digits and hyphens only."),
            not_reserved,
        ],
    )
    title = StringField(
        "Title",
        filters=[stripped],
        validators=[
            DataRequired("Give the campaign a title."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    description = TextAreaField(
        "Description (on the donate page)",
        filters=[stripped],
        validators=[LONG_TEXT],
    )
    goal = StringField("Goal", filters=[stripped], validators=[DataRequired("Set a goal, like 25000.")])
    currency = SelectField(
        "Currency", choices=[SelectChoice(code, code.upper()) for code in CURRENCIES], default="usd"
    )
    goal_mode = SelectField("Count towards the goal", choices=GOAL_MODES, default="raised")
    status = SelectField("Status", choices=STATUSES, default="draft")
    starts_at = DateTimeLocalField(
        "Starts (UTC)",
        format=DATETIME_FORMATS,
        tz=UTC,  # type: ignore[call-arg]  # new in WTForms 3.3; the stubs are 3.2's
        validators=[Optional()],
        description="Empty: as soon as it is live.",
    )
    ends_at = DateTimeLocalField(
        "Ends (UTC)",
        format=DATETIME_FORMATS,
        tz=UTC,  # type: ignore[call-arg]  # new in WTForms 3.3; the stubs are 3.2's
        validators=[Optional()],
        description="Empty: no end.",
    )
    priority = IntegerField(
        "Priority",
        default=0,
        validators=[
            InputRequired("Enter a whole number."),
            NumberRange(-1000, 1000, "Use a whole number from -1000 to 1000."),
        ],
        description="When several live campaigns target a page, the highest priority shows.",
    )
    preset_amounts = StringField(
        "Suggested amounts", description="Whole or decimal amounts, separated by commas: 5, 10, 25"
    )
    path_include = TextAreaField(
        "Only on paths starting with",
        validators=[LONG_TEXT],
        description="One per line, like /news/. Empty: everywhere.",
    )
    path_exclude = TextAreaField(
        "Never on paths starting with", validators=[LONG_TEXT], description="One per line."
    )
    referrer_domains = TextAreaField(
        "Only for readers coming from",
        filters=[lambda text: (text or "").lower()],
        validators=[LONG_TEXT],
        description="One domain per line, like facebook.com. Empty: anyone.",
    )
    placement = SelectField("Placement", choices=PLACEMENTS, default="bottom")
    dismiss_days = IntegerField(
        "Days hidden after a reader closes it",
        default=14,
        validators=[InputRequired("Enter a number of days."), NumberRange(0, 3650, "Use 0 to 3650 days.")],
    )
    gave_hide_days = IntegerField(
        "Days hidden after a reader gives once",
        description="Then the reader sees the variants for former donors. A monthly or yearly donor "
        "sees no banner until they cancel and their paid period ends.",
        default=365,
        validators=[InputRequired("Enter a number of days."), NumberRange(0, 3650, "Use 0 to 3650 days.")],
    )
    daily_cap = IntegerField(
        "Impressions per reader per day",
        validators=[Optional(), NumberRange(1, 1000, "Use 1 to 1000, or leave it empty for no cap.")],
        description="Empty: no cap.",
    )

    @classmethod
    def editing(cls, campaign: Campaign | None) -> "CampaignForm":
        """Return the form filled in from `campaign`, or empty for a new campaign."""
        if campaign is None:
            return cls(formdata=None)
        currency = campaign.currency
        return cls(
            formdata=None,
            slug=campaign.slug,
            title=campaign.title,
            description=campaign.description,
            goal=major_units(campaign.goal_amount, currency),
            currency=currency,
            goal_mode=campaign.goal_mode.value,
            status=campaign.status.value,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            priority=campaign.priority,
            preset_amounts=", ".join(major_units(amount, currency) for amount in campaign.preset_amounts),
            path_include="\n".join(campaign.path_include),
            path_exclude="\n".join(campaign.path_exclude),
            referrer_domains="\n".join(campaign.referrer_domains),
            placement=campaign.placement.value,
            dismiss_days=campaign.dismiss_days,
            gave_hide_days=campaign.gave_hide_days,
            daily_cap=campaign.daily_cap,
        )

    def validate_goal(self, field):
        if self.currency.data not in CURRENCIES:
            return
        try:
            self.goal_minor = parse_amount(field.data, self.currency.data)
        except AmountError as error:
            raise ValidationError(str(error)) from None
        if self.goal_minor > MAX_GOAL:
            raise ValidationError(f"Set a goal under {format_amount(MAX_GOAL, self.currency.data)}.")

    def validate_ends_at(self, field):
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError("The campaign must end after it starts.")

    def validate_preset_amounts(self, field):
        if self.currency.data in CURRENCIES:
            self.presets_minor = parse_presets(field.data, self.currency.data)

    def validate_path_include(self, field):
        check_paths(field)

    def validate_path_exclude(self, field):
        check_paths(field)

    def validate_referrer_domains(self, field):
        bad = [domain for domain in lines(field.data) if not DOMAIN.match(domain)]
        if bad:
            raise ValidationError(f"Not a domain: {', '.join(bad)}. Write it like facebook.com.")


class VariantForm(FlaskForm):
    key = StringField(
        "Key (short name in reports and links)",
        filters=[stripped],
        validators=[
            DataRequired("Give the variant a key, like a or b."),
            Regexp(r"^[a-z0-9-]{1,40}$", message="Use 1 to 40 lower-case letters, digits and hyphens."),
            not_reserved,
        ],
    )
    heading = StringField(
        "Heading",
        filters=[stripped],
        validators=[
            DataRequired("Write a heading."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    body = TextAreaField(
        "Text", filters=[stripped], validators=[Length(max=2000, message="Use at most 2000 characters.")]
    )
    button_text = StringField(
        "Button",
        default="Give now",
        filters=[stripped],
        validators=[
            DataRequired("Write the button's text."),
            Length(max=60, message="Use at most 60 characters."),
        ],
    )
    preset_amounts = StringField(
        "Suggested amounts", description="Separated by commas: 5, 10, 25. Empty: the campaign's."
    )
    default_once = StringField("Amount chosen at first, once", description="Empty: none chosen.")
    default_month = StringField("Amount chosen at first, monthly")
    default_year = StringField("Amount chosen at first, yearly")
    popular_label = BooleanField("Call the chosen amount “Most popular”")
    theme = SelectField("Theme", choices=THEMES, default="light")
    weight = IntegerField(
        "Weight",
        default=1,
        validators=[
            InputRequired("Enter a whole number."),
            NumberRange(0, 1000, "Use a whole number from 0 to 1000."),
        ],
        description="Its share of readers relative to the other variants; 0 stops showing it.",
    )
    audience = SelectField("Audience", choices=AUDIENCES, default="all")

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency_code = currency  # the campaign's: suggested amounts are in it

    @classmethod
    def editing(cls, variant: Variant | None, currency: str) -> "VariantForm":
        """Return the form filled in from `variant`, or empty for a new variant."""
        if variant is None:
            return cls(formdata=None, currency=currency)
        return cls(
            formdata=None,
            currency=currency,
            key=variant.key,
            heading=variant.heading,
            body=variant.body,
            button_text=variant.button_text,
            preset_amounts=", ".join(
                major_units(amount, currency) for amount in variant.preset_amounts or ()
            ),
            theme=variant.theme,
            weight=variant.weight,
            audience=variant.audience,
            popular_label=variant.popular_label,
            **{
                f"default_{frequency}": major_units(amount, currency)
                for frequency, amount in (variant.default_amounts or {}).items()
            },
        )

    def validate_preset_amounts(self, field):
        self.presets_minor = parse_presets(field.data, self.currency_code) or None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        self.defaults_minor: dict[str, int] = {}
        for frequency in ("once", "month", "year"):
            field = getattr(self, f"default_{frequency}")
            if not (field.data or "").strip():
                continue
            try:
                self.defaults_minor[frequency] = check_amount(field.data, self.currency_code)
            except ValidationError as error:
                field.errors = [*field.errors, str(error)]
                valid = False
        return valid


# A donor managing their gifts from a signed link.

ACTION_KEY = [InputRequired(), Regexp(r"^[0-9a-f]{32}$", message="Reload the page and try again.")]


def action_key_field():
    """One id per page load: a double submit repeats the same Stripe request, never a new one."""
    return HiddenField(default=lambda: uuid.uuid4().hex, validators=ACTION_KEY)


class RequestLinkForm(FlaskForm):
    email = EmailField(
        "Your e-mail",
        validators=[
            InputRequired("Enter the e-mail you give with."),
            Length(max=254),
            Email("Enter an e-mail address like name@example.org.", check_deliverability=False),
        ],
    )


class ChangeAmountForm(FlaskForm):
    amount = StringField("New amount", validators=[InputRequired("Enter an amount.")])
    frequency = RadioField(
        "How often",
        choices=[SelectChoice("month", "Monthly"), SelectChoice("year", "Yearly")],
        validators=[InputRequired("Choose how often.")],
    )
    offer = HiddenField(validators=[Optional(), AnyOf(["lower", "yearly"])])  #: sent from the cancel page
    #: sent when the donor confirms an interval change: the moment its charge was reckoned at
    proration_date = HiddenField(validators=[Optional(), Regexp(r"^\d{1,12}$")])
    action_key = action_key_field()

    def __init__(self, *args, currency: str = "usd", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency_code = currency

    def validate_amount(self, field):
        self.amount_minor = check_amount(field.data, self.currency_code)


class PauseForm(FlaskForm):
    months = RadioField(
        "Pause for",
        choices=[SelectChoice("1", "1 month"), SelectChoice("2", "2 months"), SelectChoice("3", "3 months")],
        default="1",
        validators=[InputRequired("Choose how long.")],
    )
    offer = HiddenField(validators=[Optional(), AnyOf(["pause"])])  #: sent from the cancel page
    action_key = action_key_field()


class ActionForm(FlaskForm):
    """A button that acts (resume a paused gift, start a card update)."""

    action_key = action_key_field()


class CardForm(FlaskForm):
    setup_intent = StringField(validators=[InputRequired(), Regexp(r"^seti_\w+$")])
    action_key = action_key_field()


class CancelForm(FlaskForm):
    reason = RadioField("Why are you cancelling? (optional)", validators=[Optional()])
    comment = TextAreaField(
        "Anything you would like us to know? (optional)",
        validators=[Optional(), Length(max=1000, message="Use at most 1,000 characters.")],
    )
    action_key = action_key_field()

    def __init__(self, *args, reasons: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = [SelectChoice(key, label) for key, (label, _) in reasons.items()]


class ReportForm(FlaskForm):
    """The period and currency a report covers (a GET form: nothing to protect)."""

    class Meta:
        csrf = False

    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])
    currency = SelectField("Currency", validators=[Optional()])

    def __init__(self, *args, currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.currency.choices = [SelectChoice(code, code.upper()) for code in currencies]

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end comes before the start.")


# The staff area: staff accounts, donors, exports and the audit log.

#: the values of banner.models.Role, with what each may do
ROLES = [
    SelectChoice("viewer", "Viewer: reads campaigns, donors and reports"),
    SelectChoice("fundraiser", "Fundraiser: also edits campaigns and banners"),
    SelectChoice("admin", "Admin: also manages staff, exports and erases donors"),
]
PAGE = [Optional(), NumberRange(1, 1_000_000, "Not a page number.")]
ORDERS = [SelectChoice("desc", "Descending"), SelectChoice("asc", "Ascending")]


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


class StaffForm(FlaskForm):
    """A new staff account; its password is generated and shown once."""

    email = their_email()
    role = SelectField("Role", choices=ROLES, default="viewer")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLES)


class EraseDonorForm(FlaskForm):
    confirm = BooleanField(
        "I understand that the donor's name, e-mail and comments are erased for good",
        validators=[DataRequired("Tick the box to confirm.")],
    )


class StatementForm(FlaskForm):
    """The year of a donor's statement staff send again."""

    year = IntegerField(
        "Year",
        validators=[InputRequired("Enter a year."), NumberRange(2000, 9999, "Enter a year like 2026.")],
    )


class DonorEditForm(FlaskForm):
    """A donor's name and e-mail, corrected by staff at the donor's request."""

    name = StringField(
        "Name",
        filters=[stripped],
        validators=[
            InputRequired("Enter their name."),
            Length(max=200, message="Use at most 200 characters."),
        ],
    )
    email = their_email()
    action_key = action_key_field()


class StaffCancelForm(CancelForm):
    """A recurring gift cancelled by staff for a donor who asked them (a call, a letter): the
    donor's cancel form in staff's words, and when it ends."""

    reason = RadioField("Why does the donor cancel?", validators=[InputRequired("Choose their reason.")])
    comment = TextAreaField(
        "In their words (optional)",
        validators=[Optional(), Length(max=1000, message="Use at most 1,000 characters.")],
    )
    when = RadioField(
        "When",
        choices=[
            SelectChoice("period_end", "At the end of the period they paid for"),
            SelectChoice("now", "Now"),
        ],
        default="period_end",
        validators=[InputRequired("Choose when the gift ends.")],
    )


class DonorSearchForm(FlaskForm):
    """The donor list's search, filter, sort and page (a GET form: nothing to protect)."""

    class Meta:
        csrf = False

    q = StringField("Name or e-mail", filters=[stripped], validators=[Length(max=254)])
    filter = SelectField("Show", default="all")
    sort = SelectField("Sort by", default="joined")
    order = SelectField("Order", choices=ORDERS, default="desc")
    page = IntegerField("Page", default=1, validators=PAGE)

    def __init__(self, *args, filters: dict[str, str], sorts: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.filter.choices = [SelectChoice(key, label) for key, label in filters.items()]
        self.sort.choices = [SelectChoice(key, label) for key, label in sorts.items()]


class ExportForm(FlaskForm):
    """The period of a CSV export: ?from=YYYY-MM-DD&to=YYYY-MM-DD, both days included."""

    class Meta:
        csrf = False

    start = DateField("From", name="from", validators=[InputRequired("Choose the first day.")])
    end = DateField("To", name="to", validators=[InputRequired("Choose the last day.")])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The last day comes before the first.")


class AuditFilterForm(FlaskForm):
    """The audit log's action filter and page (a GET form)."""

    class Meta:
        csrf = False

    action = SelectField("Action", default="")
    page = IntegerField("Page", default=1, validators=PAGE)

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.action.choices = [SelectChoice("", "All actions")] + [SelectChoice(a, a) for a in actions]


# --- staff edit history ---


class RestoreForm(FlaskForm):
    """The one-click restore of an earlier version of a campaign or variant: its CSRF token only."""


class ReplyForm(FlaskForm):
    """Staff's answer to a donor's comment, e-mailed to the donor."""

    message = TextAreaField(
        "Your answer",
        filters=[stripped],
        validators=[
            DataRequired("Write your answer."),
            Length(max=5000, message="Use at most 5,000 characters."),
        ],
    )
