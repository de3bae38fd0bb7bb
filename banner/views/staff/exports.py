"""Exports for admins: one donor's data as JSON (a subject-access request), and donors, gifts
and payments of a period as CSV."""

import json

from flask import Response, request, stream_with_context
from flask_login import current_user

from banner.extensions import db
from banner.forms import DonorSearchForm, ExportForm
from banner.models import Donor
from banner.services import donors, exports, privacy
from banner.views import requires
from banner.views.staff.common import ADMINS, bp
from banner.views.staff.donors import donor_list_page


@bp.get("/donors/<int:donor_id>/export.json")
@requires(*ADMINS)
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
        return donor_list_page(search, donors.donor_page(donors.DonorQuery()), form), 400
    csv_lines = exports.export(current_user, kind, form.start.data, form.end.data, request.remote_addr)
    name = f"{kind}-{form.start.data.isoformat()}-{form.end.data.isoformat()}.csv"
    return Response(
        stream_with_context(csv_lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
