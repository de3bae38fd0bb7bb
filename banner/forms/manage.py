"""A donor managing their gifts from a signed link."""

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    HiddenField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.fields import EmailField
from wtforms.validators import (
    AnyOf,
    Email,
    InputRequired,
    Length,
    Optional,
    Regexp,
)

from banner.forms.fields import action_key_field, check_amount


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
