"""The staff area: log in (a password, then a code for those with two-factor); one's own account
(password, two-factor); read and edit campaigns and their banner variants; read donors and,
at a donor's request, correct their name or e-mail, cancel their gift or erase their personal
data; export donor data; manage staff accounts; read the audit log.

Each view declares who may use it with @requires or @public (see banner.views).
"""

import json
from typing import TypeVar

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from banner import errors
from banner.extensions import db
from banner.forms import (
    AuditFilterForm,
    CampaignForm,
    CodeForm,
    DonorEditForm,
    DonorSearchForm,
    EraseDonorForm,
    ExportForm,
    LoginForm,
    PasswordChangeForm,
    PasswordCheckForm,
    RoleForm,
    StaffCancelForm,
    StaffForm,
    StatementForm,
    VariantForm,
    lines,
    news_site_origins,
)
from banner.models import (
    CURRENCIES,
    CampaignStatus,
    Donor,
    Gift,
    GoalMode,
    Placement,
    Role,
    StaffUser,
    utcnow,
)
from banner.money import SYMBOLS
from banner.services import banners, campaigns, donors, exports, manage, privacy, receipts, staff, staff_auth
from banner.views import allowed_roles, public, requires

bp = Blueprint("staff", __name__, url_prefix="/staff")

EVERYONE = (Role.VIEWER, Role.FUNDRAISER, Role.ADMIN)
EDITORS = (Role.FUNDRAISER, Role.ADMIN)
ADMINS = (Role.ADMIN,)
STRIPE_FAILED = "Stripe could not be reached or refused, so nothing was changed. Try again in a moment."

T = TypeVar("T")
#: the key of the session that waits for its two-factor code: {"id", "at", "next"}
PENDING = "pending_login"


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


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next"))
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form), 400 if form.is_submitted() else 200
    try:
        user = staff_auth.check_password(form.email.data, form.password.data, _ip())
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
        user = staff_auth.check_code(pending["id"], pending["at"], form.code.data, _ip())
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


# One's own account: password and two-factor


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
        staff_auth.change_own_password(current_user, form.current.data, form.new.data, _ip())
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
        staff_auth.confirm_two_factor(current_user, form.code.data, _ip())
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
        staff_auth.remove_two_factor(current_user, form.password.data, _ip())
    except staff_auth.Throttled as error:
        return _too_many(error)
    except staff_auth.WrongPassword as error:
        form.password.errors.append(str(error))
        return _account_page(PasswordChangeForm(formdata=None), form), 400
    flash("Two-factor is off.", "done")
    return redirect(url_for("staff.account"))


def _ip() -> str:
    return request.remote_addr or "unknown"


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


@bp.get("/")
@requires(*EVERYONE)
def index():
    return redirect(url_for("staff.campaign_list"))


@bp.get("/campaigns")
@requires(*EVERYONE)
def campaign_list():
    rows = staff.campaign_overview()
    return render_template("staff/campaigns.html", rows=rows, now=utcnow(), can_edit=_can_edit())


@bp.get("/campaigns/new")
@requires(*EDITORS)
def new_campaign():
    return _campaign_page(CampaignForm.editing(None), None)


@bp.get("/campaigns/<slug>")
@requires(*EVERYONE)
def show_campaign(slug):
    campaign = _campaign_or_404(slug)
    return _campaign_page(CampaignForm.editing(campaign), campaign)


@bp.post("/campaigns/new", defaults={"slug": None})
@bp.post("/campaigns/<slug>")
@requires(*EDITORS)
def save_campaign(slug):
    campaign = _campaign_or_404(slug) if slug else None
    form = CampaignForm()
    if not form.validate():
        return _campaign_page(form, campaign), 400
    try:
        saved = staff.save_campaign(current_user, campaign, _campaign_fields(form), request.remote_addr)
    except staff.Taken as error:
        getattr(form, error.field).errors.append(str(error))
        return _campaign_page(form, campaign), 409
    return redirect(url_for("staff.show_campaign", slug=saved.slug))


@bp.get("/campaigns/<slug>/variants/new")
@requires(*EDITORS)
def new_variant(slug):
    campaign = _campaign_or_404(slug)
    return _variant_page(VariantForm.editing(None, campaign.currency), campaign, None)


@bp.get("/campaigns/<slug>/variants/<key>")
@requires(*EVERYONE)
def show_variant(slug, key):
    campaign, variant = _variant_or_404(slug, key)
    return _variant_page(VariantForm.editing(variant, campaign.currency), campaign, variant)


@bp.post("/campaigns/<slug>/variants/new", defaults={"key": None})
@bp.post("/campaigns/<slug>/variants/<key>")
@requires(*EDITORS)
def save_variant(slug, key):
    campaign, variant = _variant_or_404(slug, key)
    form = VariantForm(currency=campaign.currency)
    if not form.validate():
        return _variant_page(form, campaign, variant), 400
    fields = _variant_fields(form)
    try:
        saved = staff.save_variant(current_user, campaign, variant, fields, request.remote_addr)
    except staff.Taken as error:
        getattr(form, error.field).errors.append(str(error))
        return _variant_page(form, campaign, variant), 409
    return redirect(url_for("staff.show_variant", slug=campaign.slug, key=saved.key))


@bp.post("/campaigns/<slug>/variants/<key>/delete")
@requires(*EDITORS)
def delete_variant(slug, key):
    campaign, variant = _variant_or_404(slug, key)
    try:
        staff.delete_variant(current_user, variant, request.remote_addr)
    except staff.VariantHasGifts as error:
        form = VariantForm.editing(variant, campaign.currency)
        form.form_errors.append(str(error))
        return _variant_page(form, campaign, variant), 409
    return redirect(url_for("staff.show_campaign", slug=campaign.slug))


# Donors


@bp.get("/donors")
@requires(*EVERYONE)
def donor_list():
    form = DonorSearchForm(request.args, filters=donors.FILTERS, sorts=donors.SORTS)
    if not form.validate():
        return _donor_list_page(form, None), 400
    query = donors.DonorQuery(
        search=form.q.data or "",
        filter=form.filter.data,
        sort=form.sort.data,
        descending=form.order.data == "desc",
        page=form.page.data or 1,
    )
    return _donor_list_page(form, donors.donor_page(query))


@bp.get("/donors/<int:donor_id>")
@requires(*EVERYONE)
def show_donor(donor_id):
    history = donors.history(donor_id)
    if history is None:
        abort(404)
    return render_template("staff/donor.html", history=history, is_admin=_is_admin())


@bp.route("/donors/<int:donor_id>/edit", methods=["GET", "POST"])
@requires(*ADMINS)
def edit_donor(donor_id):
    donor = db.get_or_404(Donor, donor_id)
    if donor.erased:
        abort(404)
    if request.method == "GET":
        return render_template("staff/donor_edit.html", donor=donor, form=DonorEditForm(obj=donor))
    form = DonorEditForm()
    if not form.validate():
        return render_template("staff/donor_edit.html", donor=donor, form=form), 400
    try:
        changed = donors.edit(
            current_user, donor, form.name.data, form.email.data, form.action_key.data, request.remote_addr
        )
    except donors.DonorEditError as error:
        return _refused("staff/donor_edit.html", form, str(error), 409, donor=donor)
    except errors.NotFound:
        message = f"Stripe has no customer {donor.stripe_customer_id}; nothing was changed."
        return _refused("staff/donor_edit.html", form, message, 409, donor=donor)
    except errors.PaymentError:
        return _refused("staff/donor_edit.html", form, STRIPE_FAILED, 503, donor=donor)
    flash("Saved." if changed else "Nothing to change.", "done")
    return redirect(url_for("staff.show_donor", donor_id=donor.id))


@bp.route("/donors/<int:donor_id>/gifts/<reference>/cancel", methods=["GET", "POST"])
@requires(*ADMINS)
def cancel_gift(donor_id, reference):
    gift = db.first_or_404(sa.select(Gift).where(Gift.reference == reference, Gift.donor_id == donor_id))
    if not gift.frequency.recurring:
        abort(404)
    form = StaffCancelForm(
        formdata=request.form if request.method == "POST" else None, reasons=manage.REASONS
    )
    if request.method == "GET":
        return render_template("staff/gift_cancel.html", gift=gift, form=form)
    if not form.validate():
        return render_template("staff/gift_cancel.html", gift=gift, form=form), 400
    try:
        changed = donors.cancel_gift(
            current_user,
            gift,
            form.reason.data,
            form.comment.data,
            form.when.data == "period_end",
            form.action_key.data,
            request.remote_addr,
        )
    except manage.ManageError as error:
        return _refused("staff/gift_cancel.html", form, str(error), 409, gift=gift)
    except errors.NotFound:
        message = f"Stripe has no subscription {gift.stripe_subscription_id}; nothing was changed."
        return _refused("staff/gift_cancel.html", form, message, 409, gift=gift)
    except errors.PaymentError:
        return _refused("staff/gift_cancel.html", form, STRIPE_FAILED, 503, gift=gift)
    flash("The gift is cancelled." if changed else "This gift was cancelled already.", "done")
    return redirect(url_for("staff.show_donor", donor_id=donor_id, _anchor=f"gift-{gift.id}"))


@bp.post("/donors/<int:donor_id>/statement")
@requires(*EDITORS)
def resend_statement(donor_id):
    donor = db.get_or_404(Donor, donor_id)
    form = StatementForm()
    if donor.erased or not form.validate():
        flash("Enter a year like 2026; no statement was sent.", "error")
        return redirect(url_for("staff.show_donor", donor_id=donor.id))
    try:
        receipts.resend_statement(current_user, donor, form.year.data, request.remote_addr)
    except receipts.StatementError as error:
        flash(f"{error} No statement was sent.", "error")
    else:
        flash(f"The {form.year.data} statement is on its way to {donor.email}.", "done")
    return redirect(url_for("staff.show_donor", donor_id=donor.id))


@bp.get("/donors/<int:donor_id>/erase")
@requires(*ADMINS)
def confirm_erase(donor_id):
    return render_template("staff/erase.html", donor=db.get_or_404(Donor, donor_id), form=EraseDonorForm())


@bp.post("/donors/<int:donor_id>/erase")
@requires(*ADMINS)
def erase_donor(donor_id):
    donor = db.get_or_404(Donor, donor_id)
    form = EraseDonorForm()
    if not form.validate():
        return render_template("staff/erase.html", donor=donor, form=form), 400
    try:
        privacy.erase(current_user, donor, request.remote_addr)
    except privacy.DonorHasRunningGift as error:
        return _refused("staff/erase.html", form, str(error), 409, donor=donor)
    except errors.PaymentError:
        return _refused("staff/erase.html", form, STRIPE_FAILED, 503, donor=donor)
    return redirect(url_for("staff.show_donor", donor_id=donor.id))


@bp.get("/donors/<int:donor_id>/export.json")
@requires(Role.ADMIN)
def export_donor(donor_id):
    donor = db.get_or_404(Donor, donor_id)
    data = privacy.export(current_user, donor, request.remote_addr)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="donor-{donor.id}.json"'},
    )


@bp.get("/export/<any(donors, gifts, payments):kind>.csv")
@requires(*ADMINS)
def export(kind):
    form = ExportForm(request.args)
    if not form.validate():
        search = DonorSearchForm(formdata=None, filters=donors.FILTERS, sorts=donors.SORTS)
        return _donor_list_page(search, donors.donor_page(donors.DonorQuery()), form), 400
    csv_lines = exports.export(current_user, kind, form.start.data, form.end.data, request.remote_addr)
    name = f"{kind}-{form.start.data.isoformat()}-{form.end.data.isoformat()}.csv"
    return Response(
        stream_with_context(csv_lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Staff accounts and the audit log


@bp.get("/staff")
@requires(*ADMINS)
def staff_list():
    return _staff_page(StaffForm())


@bp.post("/staff")
@requires(*ADMINS)
def create_staff():
    form = StaffForm()
    if not form.validate():
        return _staff_page(form), 400
    try:
        created, password = staff.create_staff(
            current_user, form.email.data, Role(form.role.data), request.remote_addr
        )
    except staff.Taken as error:
        form.email.errors.append(str(error))
        return _staff_page(form), 409
    return _staff_page(StaffForm(formdata=None), account=created, password=password, created=True), 201


@bp.post("/staff/<int:staff_id>/role")
@requires(*ADMINS)
def change_role(staff_id):
    member = db.get_or_404(StaffUser, staff_id)
    form = RoleForm()
    if not form.validate():
        return _staff_page(StaffForm(formdata=None), error=_first_error(form)), 400
    try:
        staff.change_role(current_user, member, Role(form.role.data), request.remote_addr)
    except staff.OwnAccount as error:
        return _staff_page(StaffForm(formdata=None), error=str(error)), 409
    return redirect(url_for("staff.staff_list"))


@bp.post("/staff/<int:staff_id>/deactivate", defaults={"active": False})
@bp.post("/staff/<int:staff_id>/reactivate", defaults={"active": True})
@requires(*ADMINS)
def set_active(staff_id, active):
    member = db.get_or_404(StaffUser, staff_id)
    try:
        staff.set_active(current_user, member, active, request.remote_addr)
    except staff.OwnAccount as error:
        return _staff_page(StaffForm(formdata=None), error=str(error)), 409
    return redirect(url_for("staff.staff_list"))


@bp.post("/staff/<int:staff_id>/password")
@requires(*ADMINS)
def new_password(staff_id):
    member = db.get_or_404(StaffUser, staff_id)
    password = staff.reset_password(current_user, member, request.remote_addr)
    return _staff_page(StaffForm(formdata=None), account=member, password=password)


@bp.post("/staff/<int:staff_id>/two-factor/remove")
@requires(*ADMINS)
def reset_two_factor(staff_id):
    member = db.get_or_404(StaffUser, staff_id)
    staff_auth.reset_two_factor(current_user, member, request.remote_addr)
    return redirect(url_for("staff.staff_list"))


@bp.get("/audit")
@requires(*ADMINS)
def audit_log():
    form = AuditFilterForm(request.args, actions=staff.audit_actions())
    if not form.validate():
        return render_template("staff/audit.html", form=form, entries=None), 400
    entries = staff.audit_page(form.action.data or None, form.page.data or 1)
    return render_template("staff/audit.html", form=form, entries=entries)


def _is_admin() -> bool:
    return current_user.role is Role.ADMIN


def _refused(template: str, form, message: str, status: int, **context):
    """Show the form again with why the action was refused, and change nothing."""
    form.form_errors.append(message)
    return render_template(template, form=form, **context), status


def _first_error(form) -> str:
    return next(message for messages in form.errors.values() for message in messages)


def _donor_list_page(form, page, export_form=None):
    return render_template(
        "staff/donors.html",
        form=form,
        page=page,
        export_form=export_form or ExportForm(formdata=None),
        is_admin=_is_admin(),
    )


def _staff_page(form, *, account=None, password=None, created=False, error=None):
    return render_template(
        "staff/staff.html",
        form=form,
        members=staff.staff_list(),
        role_form=RoleForm(formdata=None),
        account=account,
        password=password,
        created=created,
        error=error,
    )


def _can_edit() -> bool:
    return current_user.role in EDITORS


def _campaign_or_404(slug):
    campaign = campaigns.find(slug)
    if campaign is None:
        abort(404)
    return campaign


def _variant_or_404(slug, key):
    campaign = _campaign_or_404(slug)
    variant = campaigns.find_variant(campaign, key) if key else None
    if key and variant is None:
        abort(404)
    return campaign, variant


def _campaign_page(form, campaign):
    return render_template(
        "staff/campaign.html",
        form=form,
        campaign=campaign,
        results=campaigns.variant_results(campaign) if campaign else [],
        can_edit=_can_edit(),
    )


def _variant_page(form, campaign, variant):
    return render_template(
        "staff/variant.html",
        form=form,
        campaign=campaign,
        variant=variant,
        payload=banners.payload(campaign),
        preview_token=banners.preview_token(campaign.slug, variant.key) if variant else None,
        news_sites=news_site_origins(),
        presets=campaigns.preset_amounts(campaign, None),
        symbol=SYMBOLS.get(campaign.currency, ""),
        digits=CURRENCIES[campaign.currency],
        can_edit=_can_edit(),
    )


def _given(value: T | None) -> T:
    """Return the value of a validated form's field that its validators or filters always fill."""
    assert value is not None  # required fields pass validation only with a value; `stripped` gives ""
    return value


def _campaign_fields(form: CampaignForm) -> staff.CampaignFields:
    return staff.CampaignFields(
        slug=_given(form.slug.data),
        title=_given(form.title.data),
        description=_given(form.description.data),
        goal_amount=form.goal_minor,
        currency=form.currency.data,
        goal_mode=GoalMode(form.goal_mode.data),
        status=CampaignStatus(form.status.data),
        starts_at=form.starts_at.data,
        ends_at=form.ends_at.data,
        priority=_given(form.priority.data),
        preset_amounts=form.presets_minor,
        path_include=lines(form.path_include.data),
        path_exclude=lines(form.path_exclude.data),
        referrer_domains=lines(form.referrer_domains.data),
        placement=Placement(form.placement.data),
        dismiss_days=_given(form.dismiss_days.data),
        gave_hide_days=_given(form.gave_hide_days.data),
        daily_cap=form.daily_cap.data,
    )


def _variant_fields(form: VariantForm) -> staff.VariantFields:
    return staff.VariantFields(
        key=_given(form.key.data),
        heading=_given(form.heading.data),
        body=_given(form.body.data),
        button_text=_given(form.button_text.data),
        preset_amounts=form.presets_minor,
        default_amounts=form.defaults_minor,
        popular_label=bool(form.popular_label.data),
        theme=form.theme.data,
        weight=_given(form.weight.data),
        audience=form.audience.data,
    )
