"""Staff accounts: logging in, passwords, two-factor codes, new accounts and roles."""

import re
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: new in WTForms 3.3, the stubs are 3.2's
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.fields import EmailField
from wtforms.validators import (
    EqualTo,
    InputRequired,
    Length,
    Regexp,
)

from banner.forms.fields import their_email


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


#: the values of banner.models.Role, with what each may do
ROLES = [
    SelectChoice("viewer", "Viewer: reads campaigns, donors and reports"),
    SelectChoice("fundraiser", "Fundraiser: also edits campaigns and banners"),
    SelectChoice("admin", "Admin: also manages staff, exports and erases donors"),
]


class StaffForm(FlaskForm):
    """A new staff account; its password is generated and shown once."""

    email = their_email()
    role = SelectField("Role", choices=ROLES, default="viewer")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLES)
