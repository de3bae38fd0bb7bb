"""The donate page, its payment steps, the thank-you page and the receipt online."""

import secrets
import time

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from werkzeug.datastructures import MultiDict

from banner.errors import PaymentError
from banner.extensions import limiter
from banner.forms.donate import ConfirmForm, DonateForm, FeeForm
from banner.models import normalise_email
from banner.money import format_amount, major_units
from banner.services import brakes, campaigns, checkout, links, receipts
from banner.views import json_error, private

bp = Blueprint("donate", __name__, url_prefix="/donate")

#: the session keys of the gifts this browser started, and of those it just made {reference: time}
STARTED_HERE = "started_here"
GAVE_HERE = "gave_here"
BROWSER = "browser"


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


def _email_key() -> str:
    return "donate-email:" + normalise_email(request.form.get("email", ""))[:254]


@bp.post("")
@limiter.limit(lambda: current_app.config["STARTS_PER_IP"])
@limiter.limit(lambda: current_app.config["STARTS_PER_IP"], key_func=_email_key)
def start():
    form = DonateForm()
    if not form.validate():
        if request.accept_mimetypes.best == "application/json":
            return json_error("invalid", "Please check the form.", 400, fields=form.errors)
        return _render(form), 400
    outcome = checkout.start_gift(_gift_request(form))  # refusals: banner.errors' handler
    session[STARTED_HERE] = [*session.get(STARTED_HERE, [])[-4:], outcome.reference]
    return _outcome_json(outcome)


@bp.post("/<reference>/confirm")
def confirm(reference):
    form = ConfirmForm()
    if not form.validate():
        return json_error("invalid", "Reload the page and try again.", 400, fields=form.errors)
    return _outcome_json(checkout.complete_gift(reference))


@bp.get("/<reference>/return")
def returned(reference):
    """Where Stripe sends the reader back after a payment method that leaves the page."""
    try:
        outcome = checkout.complete_gift(reference)
    except PaymentError:
        return render_template("donate/not_completed.html", message=None), 503
    if outcome.status == "succeeded":
        _remember(reference)
        return redirect(url_for("donate.thanks", reference=reference))
    return render_template("donate/not_completed.html", message=outcome.message)


@bp.get("/thanks/<reference>")
@private
def thanks(reference):
    if not _gave_here(reference):
        abort(404)
    gift = checkout.get_gift(reference)
    if not gift.made_at_checkout:
        abort(404)
    return render_template("donate/thanks.html", gift=gift)


@bp.get("/receipt/<token>")
@private
def receipt(token):
    try:
        receipt = receipts.receipt_online(token)
    except links.LinkError:
        abort(404)
    return render_template("donate/receipt.html", receipt=receipt, gift=receipt.gift)


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
        "total": form.amount_minor + extra,
        "total_display": format_amount(form.amount_minor + extra, currency),
        "amount_display": format_amount(form.amount_minor, currency),
    }


def _remember(reference: str) -> None:
    """Let this browser, if it started the gift, see its thank-you page for a short while."""
    if reference not in session.get(STARTED_HERE, []):
        return
    now = int(time.time())
    window = current_app.config["THANKS_MINUTES"] * 60
    gave = {ref: at for ref, at in session.get(GAVE_HERE, {}).items() if now - at < window}
    gave[reference] = now
    session[GAVE_HERE] = dict(sorted(gave.items(), key=lambda item: item[1])[-3:])


def _gave_here(reference: str) -> bool:
    at = session.get(GAVE_HERE, {}).get(reference)
    return isinstance(at, int) and time.time() - at < current_app.config["THANKS_MINUTES"] * 60


def _render(form: DonateForm):
    campaign = campaigns.find(form.campaign.data) or campaigns.default_campaign()
    variant = campaigns.find_variant(campaign, form.variant.data)
    if campaign is not None:
        form.currency.data = campaign.currency
        form.campaign.data = campaign.slug
    currency = form.currency.data or current_app.config["DEFAULT_CURRENCY"]
    defaults = {
        frequency: major_units(amount, currency)
        for frequency, amount in campaigns.default_amounts(variant).items()
    }
    if not form.amount.data:
        form.amount.data = defaults.get(form.frequency.data or "once", "")
    return render_template(
        "donate/form.html",
        form=form,
        campaign=campaign,
        progress=campaigns.goal_progress(campaign) if campaign else None,
        presets=campaigns.preset_amounts(campaign, variant),
        defaults=defaults,
        popular=bool(variant and variant.popular_label),
        challenge=bool(current_app.config["CHALLENGE_SITE_KEY"]) and brakes.challenge_needed(),
    )


def _gift_request(form: DonateForm) -> checkout.GiftRequest:
    return checkout.GiftRequest(
        amount=form.amount_minor,
        currency=form.currency.data or "",
        frequency=form.frequency_value,
        cover_fees=form.cover_fees.data,
        name=form.name.data or "",
        email=form.email.data or "",
        checkout_key=form.checkout_key.data or "",
        campaign=form.campaign.data or None,
        variant=form.variant.data or None,
        article_url=form.article_url.data or None,
        referrer=form.referrer.data or None,
        client=brakes.client(request.remote_addr, _browser(), form.email.data or ""),
        challenge=form.challenge.data or None,
        ip=request.remote_addr,
    )


def _browser() -> str:
    """Return this browser's random id, kept in its session cookie."""
    if BROWSER not in session:
        session[BROWSER] = secrets.token_hex(16)
    return session[BROWSER]


def _outcome_json(outcome: checkout.Outcome):
    body = {
        "reference": outcome.reference,
        "status": outcome.status,
        "confirm_url": url_for("donate.confirm", reference=outcome.reference),
        "return_url": url_for("donate.returned", reference=outcome.reference, _external=True),
    }
    if outcome.client_secret:
        body["client_secret"] = outcome.client_secret
    if outcome.message:
        body["message"] = outcome.message
    if outcome.status == "succeeded":
        _remember(outcome.reference)
        body["thanks_url"] = url_for("donate.thanks", reference=outcome.reference)
    return body
