"""Every input the service accepts, validated by a form."""

import uuid

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectChoice,
    StringField,
)
from wtforms.fields import EmailField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from banner.models import CURRENCIES, EVENT_COLUMNS, Frequency
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
    """Keep an attribution URL only if it is http(s): it becomes a link on the thank-you page."""
    return text if text and text.startswith(("https://", "http://")) else None


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
        field.data = web_url(field.data)

    def validate_referrer(self, field):
        field.data = web_url(field.data)

    def validate_amount(self, field):
        if self.currency.data in CURRENCIES:
            self.amount_minor = check_amount(field.data, self.currency.data)

    @property
    def frequency_value(self) -> Frequency:
        return Frequency(self.frequency.data)


class ConfirmForm(FlaskForm):
    setup_intent = StringField(validators=[Optional(), Regexp(r"^seti_\w+$")])


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


class BannerQueryForm(FlaskForm):
    """GET /api/banner: the page asking for a banner."""

    class Meta:
        csrf = False

    campaign = StringField(validators=[Optional(), Length(max=60)])
    path = StringField(validators=[Optional(), Length(max=2000)])
    ref = StringField(validators=[Optional(), Length(max=2000)])
    preview = StringField(validators=[Optional(), Regexp(r"^[\w-]{1,60}:[\w-]{1,40}$")])
