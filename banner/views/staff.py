"""The staff area: log in, then read and edit campaigns and their banner variants."""

import functools

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from banner.extensions import login as login_manager
from banner.forms import CampaignForm, LoginForm, VariantForm, lines
from banner.models import CURRENCIES, CampaignStatus, GoalMode, Placement, Role, utcnow
from banner.money import SYMBOLS
from banner.services import banners, campaigns, staff

bp = Blueprint("staff", __name__, url_prefix="/staff")

EDITORS = (Role.FUNDRAISER, Role.ADMIN)


@bp.before_request
def require_login():
    if request.endpoint != "staff.login" and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"  # staff pages are for one person's eyes
    return response


def editors_only(view):
    """Answer 403 unless the staff member may edit campaigns (fundraisers and admins)."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not _can_edit():
            abort(403)
        return view(*args, **kwargs)

    return guarded


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next"))
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form), 400 if form.is_submitted() else 200
    user = staff.authenticate(form.email.data, form.password.data, request.remote_addr)
    if user is None:
        form.form_errors.append("Wrong e-mail or password.")
        return render_template("staff/login.html", form=form), 401
    session.clear()  # a fresh session: nothing set before the login (a planted id) survives it
    login_user(user)
    return redirect(form.next.data or url_for("staff.campaign_list"))


@bp.post("/logout")
def logout():
    staff.audit("logout", current_user, request.remote_addr)
    logout_user()
    session.clear()
    return redirect(url_for("staff.login"))


@bp.get("/")
def index():
    return redirect(url_for("staff.campaign_list"))


@bp.get("/campaigns")
def campaign_list():
    rows = staff.campaign_overview()
    return render_template("staff/campaigns.html", rows=rows, now=utcnow(), can_edit=_can_edit())


@bp.get("/campaigns/new", defaults={"slug": None})
@bp.get("/campaigns/<slug>")
def show_campaign(slug):
    campaign = _campaign_or_404(slug) if slug else None
    return _campaign_page(CampaignForm.editing(campaign), campaign)


@bp.post("/campaigns/new", defaults={"slug": None})
@bp.post("/campaigns/<slug>")
@editors_only
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


@bp.get("/campaigns/<slug>/variants/new", defaults={"key": None})
@bp.get("/campaigns/<slug>/variants/<key>")
def show_variant(slug, key):
    campaign, variant = _variant_or_404(slug, key)
    return _variant_page(VariantForm.editing(variant, campaign.currency), campaign, variant)


@bp.post("/campaigns/<slug>/variants/new", defaults={"key": None})
@bp.post("/campaigns/<slug>/variants/<key>")
@editors_only
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
@editors_only
def delete_variant(slug, key):
    campaign, variant = _variant_or_404(slug, key)
    try:
        staff.delete_variant(current_user, variant, request.remote_addr)
    except staff.VariantHasGifts as error:
        form = VariantForm.editing(variant, campaign.currency)
        form.form_errors.append(str(error))
        return _variant_page(form, campaign, variant), 409
    return redirect(url_for("staff.show_campaign", slug=campaign.slug))


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
        presets=campaigns.preset_amounts(campaign, None),
        symbol=SYMBOLS.get(campaign.currency, ""),
        digits=CURRENCIES[campaign.currency],
        can_edit=_can_edit(),
    )


def _campaign_fields(form: CampaignForm) -> staff.CampaignFields:
    return staff.CampaignFields(
        slug=form.slug.data,
        title=form.title.data,
        description=form.description.data,
        goal_amount=form.goal_minor,
        currency=form.currency.data,
        goal_mode=GoalMode(form.goal_mode.data),
        status=CampaignStatus(form.status.data),
        starts_at=form.starts_at.data,
        ends_at=form.ends_at.data,
        priority=form.priority.data,
        preset_amounts=form.presets_minor,
        path_include=lines(form.path_include.data),
        path_exclude=lines(form.path_exclude.data),
        referrer_domains=lines(form.referrer_domains.data),
        placement=Placement(form.placement.data),
        dismiss_days=form.dismiss_days.data,
        gave_hide_days=form.gave_hide_days.data,
        daily_cap=form.daily_cap.data,
    )


def _variant_fields(form: VariantForm) -> staff.VariantFields:
    return staff.VariantFields(
        key=form.key.data,
        heading=form.heading.data,
        body=form.body.data,
        button_text=form.button_text.data,
        preset_amounts=form.presets_minor,
        theme=form.theme.data,
        weight=form.weight.data,
        audience=form.audience.data,
    )
