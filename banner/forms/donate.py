"""The donate page's forms: the gift, its confirmation and the fee quote."""

import uuid

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    StringField,
)
from wtforms.fields import EmailField
from wtforms.validators import (
    Email,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from banner.forms.fields import FREQUENCIES, article_url, check_amount, web_url
from banner.models import CURRENCIES, Frequency
from banner.money import AmountError, parse_amount


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
