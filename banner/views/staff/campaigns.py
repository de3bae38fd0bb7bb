"""Campaigns and their banner variants: read by every staff role, edited by fundraisers and
admins, each save confirmed and kept as a version that can be put back in one click."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from banner.extensions import db
from banner.forms import CampaignForm, RestoreForm, VariantForm, lines, news_site_origins
from banner.models import CURRENCIES, CampaignStatus, EditVersion, GoalMode, Placement, utcnow
from banner.money import SYMBOLS
from banner.services import banners, campaign_editing, campaigns, edit_history
from banner.views import requires
from banner.views.staff.common import EDITORS, EVERYONE, bp, can_edit, given, read_post, saved


@bp.get("/")
@requires(*EVERYONE)
def index():
    return redirect(url_for("staff.campaign_list"))


@bp.get("/campaigns")
@requires(*EVERYONE)
def campaign_list():
    rows = campaign_editing.campaign_overview()
    return render_template("staff/campaigns.html", rows=rows, now=utcnow(), can_edit=can_edit())


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
    form = read_post(CampaignForm, CampaignForm.editing(campaign) if campaign else None)
    if not form.validate():
        return _campaign_page(form, campaign), 400
    try:
        saved_campaign, changed = campaign_editing.save_campaign(
            current_user, campaign, _campaign_fields(form), request.remote_addr
        )
    except campaign_editing.Taken as error:
        getattr(form, error.field).errors.append(str(error))
        return _campaign_page(form, campaign), 409
    saved(changed)
    return redirect(url_for("staff.show_campaign", slug=saved_campaign.slug))


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
    current = VariantForm.editing(variant, campaign.currency) if variant else None
    form = read_post(VariantForm, current, currency=campaign.currency)
    if not form.validate():
        return _variant_page(form, campaign, variant), 400
    try:
        saved_variant, changed = campaign_editing.save_variant(
            current_user, campaign, variant, _variant_fields(form), request.remote_addr
        )
    except campaign_editing.Taken as error:
        getattr(form, error.field).errors.append(str(error))
        return _variant_page(form, campaign, variant), 409
    saved(changed)
    return redirect(url_for("staff.show_variant", slug=campaign.slug, key=saved_variant.key))


@bp.post("/campaigns/<slug>/variants/<key>/delete")
@requires(*EDITORS)
def delete_variant(slug, key):
    campaign, variant = _variant_or_404(slug, key)
    try:
        campaign_editing.delete_variant(current_user, variant, request.remote_addr)
    except campaign_editing.VariantHasGifts as error:
        form = VariantForm.editing(variant, campaign.currency)
        form.form_errors.append(str(error))
        return _variant_page(form, campaign, variant), 409
    flash(f"Variant “{key}” is deleted; its history below can bring it back.", "done")
    return redirect(url_for("staff.show_campaign", slug=campaign.slug))


@bp.post("/campaigns/<slug>/versions/<int:version_id>/restore")
@requires(*EDITORS)
def restore_version(slug, version_id):
    campaign = _campaign_or_404(slug)
    version = db.first_or_404(
        sa.select(EditVersion).where(EditVersion.id == version_id, EditVersion.campaign_id == campaign.id)
    )
    if not RestoreForm().validate():
        abort(400)
    try:
        restored = campaign_editing.restore_version(current_user, version, request.remote_addr)
    except campaign_editing.Taken as error:
        flash(f"{error} Nothing was restored.", "error")
        return redirect(url_for("staff.show_campaign", slug=campaign.slug, _anchor="history"))
    what = "the campaign" if version.is_campaign else f"variant “{version.variant_key}”"
    if restored is None:
        flash(f"Nothing to restore: {what} is as version {version.number} had it.", "done")
    else:
        flash(f"Saved: {what} is back as version {version.number} had it.", "done")
    return redirect(url_for("staff.show_campaign", slug=campaign.slug, _anchor="history"))


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
        history=edit_history.history(campaign) if campaign else [],
        restore_form=RestoreForm(formdata=None),
        can_edit=can_edit(),
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
        can_edit=can_edit(),
    )


def _campaign_fields(form: CampaignForm) -> campaign_editing.CampaignFields:
    return campaign_editing.CampaignFields(
        slug=given(form.slug.data),
        title=given(form.title.data),
        description=given(form.description.data),
        goal_amount=form.goal_minor,
        currency=form.currency.data,
        goal_mode=GoalMode(form.goal_mode.data),
        status=CampaignStatus(form.status.data),
        starts_at=form.starts_at.data,
        ends_at=form.ends_at.data,
        priority=given(form.priority.data),
        preset_amounts=form.presets_minor,
        path_include=lines(form.path_include.data),
        path_exclude=lines(form.path_exclude.data),
        referrer_domains=lines(form.referrer_domains.data),
        placement=Placement(form.placement.data),
        dismiss_days=given(form.dismiss_days.data),
        gave_hide_days=given(form.gave_hide_days.data),
        daily_cap=form.daily_cap.data,
    )


def _variant_fields(form: VariantForm) -> campaign_editing.VariantFields:
    return campaign_editing.VariantFields(
        key=given(form.key.data),
        heading=given(form.heading.data),
        body=given(form.body.data),
        button_text=given(form.button_text.data),
        preset_amounts=form.presets_minor,
        default_amounts=form.defaults_minor,
        popular_label=bool(form.popular_label.data),
        theme=form.theme.data,
        weight=given(form.weight.data),
        audience=form.audience.data,
    )
