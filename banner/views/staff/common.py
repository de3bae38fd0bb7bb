"""The staff blueprint, who may use it, and what its views share."""

from typing import TypeVar

from flask import Blueprint, abort, current_app, flash, render_template, request
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from banner.models import Role
from banner.views import allowed_roles

bp = Blueprint("staff", __name__, url_prefix="/staff")

EVERYONE = (Role.VIEWER, Role.FUNDRAISER, Role.ADMIN)
EDITORS = (Role.FUNDRAISER, Role.ADMIN)
ADMINS = (Role.ADMIN,)
STRIPE_FAILED = "Stripe could not be reached or refused, so nothing was changed. Try again in a moment."
#: fields a post may leave out and still mean something: an unticked checkbox is never sent
SENT_ONLY_WHEN_SET = ("BooleanField", "CSRFTokenField")

T = TypeVar("T")
F = TypeVar("F", bound=FlaskForm)


@bp.before_request
def refuse_undeclared_routes():
    """Answer 403 for a staff route whose view says nothing of who may use it (fail closed)."""
    try:
        allowed_roles(current_app.view_functions[request.endpoint])
    except LookupError:
        abort(403)


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"  # staff pages are for one person's eyes
    return response


def ip() -> str:
    return request.remote_addr or "unknown"


def is_admin() -> bool:
    return current_user.role is Role.ADMIN


def can_edit() -> bool:
    return current_user.role in EDITORS


def refused(template: str, form, message: str, status: int, **context):
    """Show the form again with why the action was refused, and change nothing."""
    form.form_errors.append(message)
    return render_template(template, form=form, **context), status


def first_error(form) -> str:
    return next(message for messages in form.errors.values() for message in messages)


def saved(changed: bool) -> None:
    """Confirm a staff save, so that nobody wonders whether it went through."""
    flash("Saved." if changed else "Saved: nothing had changed.", "done")


def read_post(form_class: type[F], current: F | None, **kwargs) -> F:
    """Read the posted form, each field it leaves out taken from `current` (the form as the saved
    row fills it), so that a post of a few fields changes those and never blanks the others; for
    a new row (`current` None) the post as it is."""
    if current is None:
        return form_class(**kwargs)
    left_out = [f for f in current if f.name not in request.form and f.type not in SENT_ONLY_WHEN_SET]
    merged = MultiDict(request.form)
    for field in left_out:
        merged.setlist(field.name, [_as_posted(field)])  # what a browser would post: required fields pass
    form = form_class(formdata=merged, **kwargs)
    for field in left_out:
        form[field.name].data = field.data  # the exact saved value, seconds and all
    return form


def _as_posted(field) -> str:
    """Return a field's value as a browser would post it."""
    if hasattr(field, "_value"):  # text, number and date fields
        return field._value()
    return "" if field.data is None else str(field.data)  # choices


def given(value: T | None) -> T:
    """Return the value of a validated form's field that its validators or filters always fill."""
    assert value is not None  # required fields pass validation only with a value; `stripped` gives ""
    return value
