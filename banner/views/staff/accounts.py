"""Logging in (a password, then a code for those with two-factor) and out, and one's own account:
password and two-factor."""

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from banner.forms import CodeForm, LoginForm, PasswordChangeForm, PasswordCheckForm
from banner.services import staff_auth
from banner.views import public, requires
from banner.views.staff.common import EVERYONE, bp, ip

#: the key of the session that waits for its two-factor code: {"id", "at", "next"}
PENDING = "pending_login"


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next"))
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form), 400 if form.is_submitted() else 200
    try:
        user = staff_auth.check_password(form.email.data, form.password.data, ip())
    except staff_auth.Throttled as error:
        return _too_many(error)
    except staff_auth.LoginError as error:
        form.form_errors.append(str(error))
        return render_template("staff/login.html", form=form), 401
    session.clear()  # a fresh session: nothing set before the login (a planted id) survives it
    if user.has_two_factor:
        session[PENDING] = {"id": user.get_id(), "at": staff_auth.now_seconds(), "next": form.next.data}
        return redirect(url_for("staff.login_code"))
    return _start_session(user, form.next.data)


@bp.route("/login/code", methods=["GET", "POST"])
@public
def login_code():
    pending = session.get(PENDING)
    if not pending:
        return redirect(url_for("staff.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("staff/login_code.html", form=form), 400 if form.is_submitted() else 200
    try:
        user = staff_auth.check_code(pending["id"], pending["at"], form.code.data, ip())
    except staff_auth.Throttled as error:
        return _too_many(error)
    except staff_auth.LoginError as error:
        form.code.errors.append(str(error))
        return render_template("staff/login_code.html", form=form), 401
    session.clear()
    if user is None:
        return redirect(url_for("staff.login"))
    return _start_session(user, pending.get("next"))


@bp.post("/logout")
@requires(*EVERYONE, before_two_factor=True)
def logout():
    staff_auth.log_out(current_user, request.remote_addr)
    logout_user()
    session.clear()
    return redirect(url_for("staff.login"))


@bp.get("/account")
@requires(*EVERYONE, before_two_factor=True)
def account():
    return _account_page(PasswordChangeForm(formdata=None))


@bp.post("/account/password")
@requires(*EVERYONE)
def change_password():
    form = PasswordChangeForm()
    if not form.validate():
        return _account_page(form), 400
    try:
        staff_auth.change_own_password(current_user, form.current.data, form.new.data, ip())
    except staff_auth.Throttled as error:
        return _too_many(error)
    except staff_auth.WrongPassword as error:
        form.current.errors.append(str(error))
        return _account_page(form), 400
    _start_session(current_user._get_current_object(), None)  # this one goes on; the others have ended
    flash("Your password is changed, and you are logged out everywhere else.", "done")
    return redirect(url_for("staff.account"))


@bp.get("/account/two-factor")
@requires(*EVERYONE, before_two_factor=True)
def two_factor():
    if current_user.has_two_factor:
        return redirect(url_for("staff.account"))
    return _two_factor_page(CodeForm(formdata=None))


@bp.post("/account/two-factor")
@requires(*EVERYONE, before_two_factor=True)
def confirm_two_factor():
    form = CodeForm()
    if current_user.has_two_factor:
        return redirect(url_for("staff.account"))
    if not form.validate():
        return _two_factor_page(form), 400
    try:
        staff_auth.confirm_two_factor(current_user, form.code.data, ip())
    except staff_auth.WrongCode as error:
        form.code.errors.append(str(error))
        return _two_factor_page(form), 400
    flash("Two-factor is on: logging in now asks for a code from your app.", "done")
    return redirect(url_for("staff.account"))


@bp.post("/account/two-factor/remove")
@requires(*EVERYONE)
def remove_two_factor():
    form = PasswordCheckForm()
    if not form.validate():
        return _account_page(PasswordChangeForm(formdata=None), form), 400
    try:
        staff_auth.remove_two_factor(current_user, form.password.data, ip())
    except staff_auth.Throttled as error:
        return _too_many(error)
    except staff_auth.WrongPassword as error:
        form.password.errors.append(str(error))
        return _account_page(PasswordChangeForm(formdata=None), form), 400
    flash("Two-factor is off.", "done")
    return redirect(url_for("staff.account"))


def _start_session(user, next_url):
    session.clear()
    login_user(user)
    session["seen_at"] = staff_auth.now_seconds()
    return redirect(next_url or url_for("staff.campaign_list"))


def _too_many(error):
    response = make_response(render_template("staff/too_many.html", seconds=error.seconds), 429)
    response.headers["Retry-After"] = str(error.seconds)
    return response


def _account_page(form, remove_form=None):
    return render_template(
        "staff/account.html", form=form, remove_form=remove_form or PasswordCheckForm(formdata=None)
    )


def _two_factor_page(form):
    uri = staff_auth.two_factor_uri(current_user, current_app.config["SITE_NAME"])
    return render_template("staff/two_factor.html", form=form, secret=current_user.totp_secret, uri=uri)
