"""Staff accounts, managed by admins, and the audit log they read."""

from flask import redirect, render_template, request, url_for
from flask_login import current_user

from banner.extensions import db
from banner.forms import AuditFilterForm, RoleForm, StaffForm
from banner.models import Role, StaffUser
from banner.services import audit, staff, staff_auth
from banner.views import requires
from banner.views.staff.common import ADMINS, bp, first_error


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
        return _staff_page(StaffForm(formdata=None), error=first_error(form)), 400
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
    form = AuditFilterForm(request.args, actions=audit.audit_actions())
    if not form.validate():
        return render_template("staff/audit.html", form=form, entries=None), 400
    entries = audit.audit_page(form.action.data or None, form.page.data or 1)
    return render_template("staff/audit.html", form=form, entries=entries)


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
