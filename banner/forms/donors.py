"""Staff acting for a donor who asked: correcting them, cancelling a gift, sending a statement,
erasing their data."""

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    BooleanField,
    IntegerField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from banner.forms.fields import action_key_field, stripped, their_email
from banner.forms.manage import CancelForm


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
