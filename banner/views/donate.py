"""The donate page, its card steps, and the thank-you page."""

from flask import Blueprint, abort, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from banner import payments
from banner.forms import ConfirmForm, DonateForm, FeeForm
from banner.money import format_amount
from banner.services import campaigns, checkout, links
from banner.views import json_error

bp = Blueprint("donate", __name__, url_prefix="/donate")


@bp.get("")
def form():
    query = request.args
    prefill = MultiDict(
        {
            "amount": query.get("amount", ""),
            "frequency": query.get("frequency", "once"),
            "campaign": query.get("campaign", ""),
            "variant": query.get("variant", ""),
            "article_url": query.get("from", ""),
            "referrer": query.get("ref", request.referrer or ""),
        }
    )
    return _render(DonateForm(formdata=None, data=prefill.to_dict()))


@bp.post("")
def start():
    form = DonateForm()
    if not form.validate():
        if request.accept_mimetypes.best == "application/json":
            return json_error("invalid", "Please check the form.", 400, fields=form.errors)
        return _render(form), 400
    try:
        outcome = checkout.start_gift(_gift_request(form))
    except checkout.CheckoutError as error:
        return json_error("conflict", str(error), 409)
    except payments.PaymentError as error:
        return json_error("payment_unavailable", str(error), 503)
    return _outcome_json(outcome)


@bp.post("/<reference>/confirm")
def confirm(reference):
    form = ConfirmForm()
    if not form.validate():
        return json_error("invalid", "Reload the page and try again.", 400, fields=form.errors)
    try:
        outcome = checkout.complete_gift(reference, form.setup_intent.data or None)
    except checkout.GiftNotFound as error:
        return json_error("not_found", str(error), 404)
    except payments.PaymentError as error:
        return json_error("payment_unavailable", str(error), 503)
    return _outcome_json(outcome)


@bp.get("/thanks/<reference>")
def thanks(reference):
    try:
        gift = checkout.get_gift(reference)
    except checkout.GiftNotFound:
        abort(404)
    if gift.status not in checkout.DONE:
        abort(404)
    return render_template("donate/thanks.html", gift=gift, manage_url=links.manage_url(gift.donor))


@bp.get("/fee")
def fee():
    form = FeeForm(request.args)
    if not form.validate():
        return json_error("invalid", "Enter an amount.", 400, fields=form.errors)
    extra = checkout.fee_for(form.amount_minor)
    currency = form.currency.data
    return {
        "fee": extra,
        "fee_display": format_amount(extra, currency),
        "total_display": format_amount(form.amount_minor + extra, currency),
    }


def _render(form: DonateForm):
    campaign = campaigns.find(form.campaign.data) or campaigns.default_campaign()
    variant = campaigns.find_variant(campaign, form.variant.data)
    if campaign is not None:
        form.currency.data = campaign.currency
        form.campaign.data = campaign.slug
    return render_template(
        "donate/form.html",
        form=form,
        campaign=campaign,
        progress=campaigns.goal_progress(campaign) if campaign else None,
        presets=campaigns.preset_amounts(campaign, variant),
    )


def _gift_request(form: DonateForm) -> checkout.GiftRequest:
    return checkout.GiftRequest(
        amount=form.amount_minor,
        currency=form.currency.data,
        frequency=form.frequency_value,
        cover_fees=form.cover_fees.data,
        name=form.name.data,
        email=form.email.data,
        checkout_key=form.checkout_key.data,
        campaign=form.campaign.data or None,
        variant=form.variant.data or None,
        article_url=form.article_url.data or None,
        referrer=form.referrer.data or None,
    )


def _outcome_json(outcome: checkout.Outcome):
    body = {
        "reference": outcome.reference,
        "status": outcome.status,
        "confirm_url": url_for("donate.confirm", reference=outcome.reference),
    }
    if outcome.client_secret:
        body["client_secret"] = outcome.client_secret
    if outcome.message:
        body["message"] = outcome.message
    if outcome.status == "succeeded":
        body["thanks_url"] = url_for("donate.thanks", reference=outcome.reference)
    return body
