"""Donors: a list to search, one donor's page, and what staff do at a donor's request: correct
their name or e-mail, cancel their gift, send their statement again, answer their comment, or
erase their personal data."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from banner import errors
from banner.extensions import db
from banner.forms import (
    DonorEditForm,
    DonorSearchForm,
    EraseDonorForm,
    ExportForm,
    ReplyForm,
    StaffCancelForm,
    StatementForm,
)
from banner.models import Donor, Gift
from banner.services import donors, manage, privacy, receipts, replies, timeline
from banner.views import requires
from banner.views.staff.common import (
    ADMINS,
    EDITORS,
    EVERYONE,
    STRIPE_FAILED,
    bp,
    first_error,
    is_admin,
    refused,
)


@bp.get("/donors")
@requires(*EVERYONE)
def donor_list():
    form = DonorSearchForm(request.args, filters=donors.FILTERS, sorts=donors.SORTS)
    if not form.validate():
        return donor_list_page(form, None), 400
    query = donors.DonorQuery(
        search=form.q.data or "",
        filter=form.filter.data,
        sort=form.sort.data,
        descending=form.order.data == "desc",
        page=form.page.data or 1,
    )
    return donor_list_page(form, donors.donor_page(query))


@bp.get("/donors/<int:donor_id>")
@requires(*EVERYONE)
def show_donor(donor_id):
    history = donors.history(donor_id)
    if history is None:
        abort(404)
    return render_template(
        "staff/donor.html",
        history=history,
        is_admin=is_admin(),
        describe=timeline.describe,
        reply_form=ReplyForm(formdata=None),
    )


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
        return refused("staff/donor_edit.html", form, str(error), 409, donor=donor)
    except errors.NotFound:
        message = f"Stripe has no customer {donor.stripe_customer_id}; nothing was changed."
        return refused("staff/donor_edit.html", form, message, 409, donor=donor)
    except errors.PaymentError:
        return refused("staff/donor_edit.html", form, STRIPE_FAILED, 503, donor=donor)
    flash("Saved." if changed else "Nothing to change.", "done")
    return redirect(url_for("staff.show_donor", donor_id=donor.id))


@bp.route("/donors/<int:donor_id>/gifts/<reference>/cancel", methods=["GET", "POST"])
@requires(*ADMINS)
def cancel_gift(donor_id, reference):
    gift = _gift_or_404(donor_id, reference)
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
        return refused("staff/gift_cancel.html", form, str(error), 409, gift=gift)
    except errors.NotFound:
        message = f"Stripe has no subscription {gift.stripe_subscription_id}; nothing was changed."
        return refused("staff/gift_cancel.html", form, message, 409, gift=gift)
    except errors.PaymentError:
        return refused("staff/gift_cancel.html", form, STRIPE_FAILED, 503, gift=gift)
    flash("The gift is cancelled." if changed else "This gift was cancelled already.", "done")
    return redirect(url_for("staff.show_donor", donor_id=donor_id, _anchor=f"gift-{gift.id}"))


@bp.post("/donors/<int:donor_id>/gifts/<reference>/reply")
@requires(*EDITORS)
def reply_to_comment(donor_id, reference):
    gift = _gift_or_404(donor_id, reference)
    form = ReplyForm()
    if not form.validate():
        flash(f"{first_error(form)} No answer was sent.", "error")
    else:
        try:
            replies.answer_comment(current_user, gift, form.message.data, request.remote_addr)
        except replies.ReplyRefused as error:
            flash(f"{error} No answer was sent.", "error")
        else:
            flash("Your answer is on its way to the donor.", "done")
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
        return refused("staff/erase.html", form, str(error), 409, donor=donor)
    except errors.PaymentError:
        return refused("staff/erase.html", form, STRIPE_FAILED, 503, donor=donor)
    return redirect(url_for("staff.show_donor", donor_id=donor.id))


def donor_list_page(form, page, export_form=None):
    return render_template(
        "staff/donors.html",
        form=form,
        page=page,
        export_form=export_form or ExportForm(formdata=None),
        is_admin=is_admin(),
    )


def _gift_or_404(donor_id: int, reference: str) -> Gift:
    return db.first_or_404(sa.select(Gift).where(Gift.reference == reference, Gift.donor_id == donor_id))
