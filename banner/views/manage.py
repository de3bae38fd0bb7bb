"""Donor self-service from a signed link: see, change, pause, update the card of, or cancel a gift."""

import functools

from flask import Blueprint, flash, redirect, render_template, request, url_for

from banner import payments
from banner.extensions import limiter
from banner.forms import (
    ActionForm,
    CancelForm,
    CardForm,
    ChangeAmountForm,
    PauseForm,
    RequestLinkForm,
)
from banner.models import Frequency
from banner.money import format_amount, major_units
from banner.services import links, manage
from banner.services.checkout import normalise_email
from banner.views import json_error

bp = Blueprint("manage", __name__, url_prefix="/manage")

TRY_AGAIN = "We could not reach our payment provider, so nothing was changed. Please try again."


def _email_key() -> str:
    return "manage-link:" + normalise_email(request.form.get("email", ""))


@bp.get("")
def request_link():
    return render_template("manage/request.html", form=RequestLinkForm())


@bp.post("")
@limiter.limit("5 per hour", key_func=_email_key)
@limiter.limit("20 per hour")
def send_link():
    form = RequestLinkForm()
    if not form.validate():
        return render_template("manage/request.html", form=form), 400
    manage.send_link(form.email.data)
    return render_template("manage/sent.html", email=form.email.data)


def with_gift(view):
    """Resolve the link's donor and, when the URL names one, their gift; a bad link gets a page
    offering a new one, and a Stripe failure a "try again"."""

    @functools.wraps(view)
    def wrapped(token, reference=None):
        try:
            donor = links.donor_for(token)
            gift = manage.gift_of(donor, reference) if reference else None
            return view(token, donor, gift)
        except links.LinkError as error:
            form = RequestLinkForm()
            return render_template("manage/link_invalid.html", form=form, message=str(error)), 403
        except manage.ManageError as error:
            return _back(token, str(error), "error")
        except payments.CardDeclined as error:
            return _back(token, f"{error} Nothing was changed.", "error")
        except payments.PaymentError:
            return _back(token, TRY_AGAIN, "error")

    return wrapped


def _back(token: str, message: str, category: str = "done"):
    flash(message, category)
    return redirect(url_for("manage.gifts", token=token))


@bp.get("/<token>")
@with_gift
def gifts(token, donor, gift):
    overview = manage.overview(donor)
    forms = {
        g.reference: {
            "amount": ChangeAmountForm(
                formdata=None,
                currency=g.currency,
                frequency=g.frequency.value,
                amount=major_units(g.base_amount, g.currency),
            ),
            "pause": PauseForm(formdata=None),
            "action": ActionForm(formdata=None),
        }
        for g in overview.recurring
    }
    return render_template("manage/gifts.html", token=token, donor=donor, overview=overview, forms=forms)


@bp.post("/<token>/gifts/<reference>/amount")
@with_gift
def change_amount(token, donor, gift):
    form = ChangeAmountForm(currency=gift.currency)
    if not form.validate():
        return _back(token, " ".join(m for messages in form.errors.values() for m in messages), "error")
    frequency = Frequency(form.frequency.data)
    changed = manage.change_amount(gift, form.amount_minor, frequency, form.action_key.data)
    _note_offer(gift, form.offer.data)
    words = f"{format_amount(gift.amount, gift.currency)} every {gift.frequency.value}"
    return _back(
        token,
        f"Done: you now give {words}, from your next charge."
        if changed
        else f"Your gift is already {words}.",
    )


@bp.post("/<token>/gifts/<reference>/pause")
@with_gift
def pause(token, donor, gift):
    form = PauseForm()
    if not form.validate():
        return _back(token, "Choose how long to pause.", "error")
    changed = manage.pause(gift, int(form.months.data), form.action_key.data)
    _note_offer(gift, form.offer.data)
    until = gift.paused_until.strftime("%d %B %Y") if gift.paused_until else "you resume it"
    return _back(
        token,
        f"Paused until {until}. Nothing is charged until then."
        if changed
        else "This gift is already paused.",
    )


@bp.post("/<token>/gifts/<reference>/resume")
@with_gift
def resume(token, donor, gift):
    form = ActionForm()
    if not form.validate():
        return _back(token, "Reload the page and try again.", "error")
    changed = manage.resume(gift, form.action_key.data)
    return _back(token, "Resumed: thank you!" if changed else "This gift is not paused.")


@bp.get("/<token>/gifts/<reference>/card")
@with_gift
def card(token, donor, gift):
    return render_template("manage/card.html", token=token, gift=gift, form=ActionForm(formdata=None))


@bp.post("/<token>/gifts/<reference>/card/start")
@with_gift
def card_start(token, donor, gift):
    form = ActionForm()
    if not form.validate():
        return json_error("invalid", "Reload the page and try again.", 400)
    return {"client_secret": manage.start_card_update(gift, form.action_key.data)}


@bp.post("/<token>/gifts/<reference>/card")
@with_gift
def card_save(token, donor, gift):
    form = CardForm()
    if not form.validate():
        return json_error("invalid", "Reload the page and try again.", 400)
    status = manage.finish_card_update(gift, form.setup_intent.data, form.action_key.data)
    flash(
        f"Your new card ending in {gift.card_last4} will be used from now on."
        + (" Your gift is up to date again." if status.value == "active" else ""),
        "done",
    )
    return {"next": url_for("manage.gifts", token=token)}


@bp.get("/<token>/gifts/<reference>/cancel")
@with_gift
def cancel_form(token, donor, gift):
    return _cancel_page(token, gift, CancelForm(formdata=None, reasons=manage.REASONS))


@bp.post("/<token>/gifts/<reference>/cancel")
@with_gift
def cancel(token, donor, gift):
    form = CancelForm(reasons=manage.REASONS)
    if not form.validate():
        return _cancel_page(token, gift, form), 400
    changed = manage.cancel(gift, form.reason.data, form.comment.data, manage.offers(), form.action_key.data)
    if not changed:
        return _back(token, "This gift is already cancelled.")
    return render_template("manage/cancelled.html", token=token, gift=gift)


def _cancel_page(token, gift, form):
    offers = manage.offers()
    lower_amount, yearly_amount = manage.offer_amounts(gift)
    lower = ChangeAmountForm(
        formdata=None,
        currency=gift.currency,
        frequency=gift.frequency.value,
        amount=major_units(lower_amount, gift.currency),
        offer="lower",
    )
    yearly = ChangeAmountForm(
        formdata=None,
        currency=gift.currency,
        frequency="year",
        amount=major_units(yearly_amount, gift.currency),
        offer="yearly",
    )
    return render_template(
        "manage/cancel.html",
        token=token,
        gift=gift,
        form=form,
        offers=offers,
        pause_form=PauseForm(formdata=None, offer="pause"),
        lower_form=lower,
        yearly_form=yearly,
    )


def _note_offer(gift, taken: str | None) -> None:
    """A change made from the cancel page's offers is a save: the donor stayed."""
    if taken in manage.offers():
        manage.record_offer_taken(gift, manage.offers(), taken)
