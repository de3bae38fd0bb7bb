"""Donor self-service from a signed link: see, change, pause, update the card of, or cancel a gift.

The link's token is read once, by `open_link`, which keeps whom it acts for in the session and
sends the browser to /manage/gifts: no other address carries the token (see services.links).
"""

import functools
import time
from email.utils import parseaddr

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from banner import errors
from banner.extensions import limiter
from banner.forms.manage import (
    ActionForm,
    CancelForm,
    CardForm,
    ChangeAmountForm,
    PauseForm,
    RequestLinkForm,
)
from banner.models import Frequency, GiftStatus, normalise_email
from banner.money import format_amount, major_units
from banner.services import links, manage, pauses, receipts, save_offers
from banner.views import json_error

bp = Blueprint("manage", __name__, url_prefix="/manage")

#: the session key of the donor a link was opened for (services.links.session_grant)
MANAGING = "manage"

TRY_AGAIN = "We could not reach our payment provider, so nothing was changed. Please try again."
MISSING = (
    "We could not find this gift at our payment provider; it may have ended. Nothing was changed. "
    "Contact us at {contact} and we will sort it out."
)
OUR_FAULT = (
    "Something went wrong on our side, so nothing was changed. Contact us at {contact} if it happens again."
)


def _contact() -> str:
    """Return the address donors write to: the one our messages come from."""
    return parseaddr(current_app.config["MAIL_FROM"])[1]


def _email_key() -> str:
    return "manage-link:" + normalise_email(request.form.get("email", ""))


@bp.after_request
def never_cache(response):
    """Keep every manage page, with its donor data, out of caches (the app sends no Referer)."""
    response.headers["Cache-Control"] = "no-store"
    return response


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


@bp.get("/<token>")
def open_link(token):
    try:
        donor = links.donor_for(token)
    except links.LinkError as error:
        return _new_link_page(str(error))
    session[MANAGING] = links.session_grant(donor, time.time())
    return redirect(url_for("manage.gifts"))


def _new_link_page(message: str):
    return render_template("manage/link_invalid.html", form=RequestLinkForm(), message=message), 403


def with_gift(view):
    """Resolve the session's donor and, when the URL names one, their gift; no session (or an
    ended one) gets a page offering a new link, and a Stripe failure a "try again"."""

    @functools.wraps(view)
    def wrapped(reference=None, **values):
        try:
            now = time.time()
            donor = links.donor_for_session(session.get(MANAGING), now)
            session[MANAGING] = links.session_grant(donor, now)
            gift = manage.gift_of(donor, reference) if reference else None
            return view(donor, gift, **values)
        except links.LinkError as error:
            session.pop(MANAGING, None)
            return _new_link_page(str(error))
        except manage.ManageError as error:
            return _back(error.message, "error")
        except errors.CardDeclined as error:
            return _back(f"{error.message} Nothing was changed.", "error")
        except errors.NotFound:
            return _back(MISSING.format(contact=_contact()), "error")
        except errors.PaymentUnavailable:
            return _back(TRY_AGAIN, "error")
        except errors.PaymentError:
            return _back(OUR_FAULT.format(contact=_contact()), "error")

    return wrapped


def _back(message: str, category: str = "done"):
    flash(message, category)
    return redirect(url_for("manage.gifts"))


@bp.get("/gifts")
@with_gift
def gifts(donor, gift):
    overview = manage.overview(donor)
    forms = {
        g.reference: {
            "amount": ChangeAmountForm(
                formdata=None,
                currency=g.currency,
                frequency=g.frequency.value,
                amount=major_units(g.base_amount, g.currency),
            ),
            "interval": ChangeAmountForm(
                formdata=None,
                currency=g.currency,
                frequency=_other(g.frequency).value,
                amount=major_units(manage.proposed_amount(g, _other(g.frequency)), g.currency),
            ),
            "pause": PauseForm(formdata=None),
            "pauses": pauses.pause_options(g),
            "action": ActionForm(formdata=None),
        }
        for g in overview.recurring
    }
    return render_template(
        "manage/gifts.html", donor=donor, overview=overview, forms=forms, give_again=manage.give_again
    )


@bp.get("/gifts/statement", defaults={"year": None})
@bp.get("/gifts/statement/<int:year>")
@with_gift
def statement(donor, gift, year):
    try:
        found = receipts.statement(donor, year)
    except receipts.StatementError as error:
        return _back(str(error), "error")
    return render_template("manage/statement.html", statement=found, years=receipts.years_given(donor))


@bp.post("/gifts/<reference>/amount")
@with_gift
def change_amount(donor, gift):
    form = ChangeAmountForm(currency=gift.currency)
    if not form.validate():
        return _back(" ".join(m for messages in form.errors.values() for m in messages), "error")
    frequency = Frequency(form.frequency.data)
    if frequency is not gift.frequency and not form.proration_date.data:
        change = manage.preview_interval_change(gift, form.amount_minor, frequency)
        return _confirm_interval_page(gift, change, form)
    proration_date = int(form.proration_date.data) if form.proration_date.data else None
    changed = manage.change_amount(gift, form.amount_minor, frequency, form.action_key.data, proration_date)
    _note_offer(gift, form.offer.data)
    words = f"{format_amount(gift.amount, gift.currency)} every {gift.frequency.value}"
    if not changed:
        return _back(f"Your gift is already {words}.")
    if proration_date is not None:
        return _back(f"Done: you now give {words}, starting today.")
    return _back(f"Done: you now give {words}, from your next charge.")


def _confirm_interval_page(gift, change, form):
    """Show what an interval change charges today, before the donor confirms it."""
    confirm = ChangeAmountForm(
        formdata=None,
        currency=gift.currency,
        amount=form.amount.data,
        frequency=change.frequency.value,
        offer=form.offer.data,
        proration_date=str(change.proration_date),
        action_key=form.action_key.data,
    )
    proposed = manage.proposed_amount(gift, change.frequency)
    propose = ChangeAmountForm(
        formdata=None,
        currency=gift.currency,
        amount=major_units(proposed, gift.currency),
        frequency=change.frequency.value,
        offer=form.offer.data,
    )
    return render_template(
        "manage/change_interval.html",
        gift=gift,
        change=change,
        form=confirm,
        proposed=proposed,
        propose=propose,
    )


@bp.post("/gifts/<reference>/pause")
@with_gift
def pause(donor, gift):
    form = PauseForm()
    if not form.validate():
        return _back("Choose how long to pause.", "error")
    paused = manage.pause(gift, int(form.months.data), form.action_key.data)
    _note_offer(gift, form.offer.data)
    return _back(f"Paused. {paused.describe()}" if paused else "This gift is already paused.")


@bp.post("/gifts/<reference>/resume")
@with_gift
def resume(donor, gift):
    form = ActionForm()
    if not form.validate():
        return _back("Reload the page and try again.", "error")
    changed = manage.resume(gift, form.action_key.data)
    return _back("Resumed: thank you!" if changed else "This gift is not paused.")


@bp.post("/gifts/<reference>/keep")
@with_gift
def keep(donor, gift):
    form = ActionForm()
    if not form.validate():
        return _back("Reload the page and try again.", "error")
    changed = manage.keep(gift, form.action_key.data)
    return _back("Thank you: your gift continues." if changed else "This gift is not set to end.")


@bp.get("/gifts/<reference>/card")
@with_gift
def card(donor, gift):
    return render_template("manage/card.html", gift=gift, form=ActionForm(formdata=None))


@bp.post("/gifts/<reference>/card/start")
@with_gift
def card_start(donor, gift):
    form = ActionForm()
    if not form.validate():
        return json_error("invalid", "Reload the page and try again.", 400)
    return {"client_secret": manage.start_card_update(gift, form.action_key.data)}


@bp.post("/gifts/<reference>/card")
@with_gift
def card_save(donor, gift):
    form = CardForm()
    if not form.validate():
        return json_error("invalid", "Reload the page and try again.", 400)
    status = manage.finish_card_update(gift, form.setup_intent.data, form.action_key.data)
    flash(
        f"Your new card ending in {gift.card_last4} will be used from now on."
        + (" Your gift is up to date again." if status is GiftStatus.ACTIVE else ""),
        "done",
    )
    return {"next": url_for("manage.gifts")}


@bp.get("/gifts/<reference>/confirm")
@with_gift
def authenticate(donor, gift):
    return render_template("manage/authenticate.html", gift=gift, form=ActionForm(formdata=None))


@bp.post("/gifts/<reference>/confirm/start")
@with_gift
def authenticate_start(donor, gift):
    if not ActionForm().validate():
        return json_error("invalid", "Reload the page and try again.", 400)
    return {"client_secret": manage.start_authentication(gift)}


@bp.post("/gifts/<reference>/confirm")
@with_gift
def authenticate_done(donor, gift):
    if not ActionForm().validate():
        return json_error("invalid", "Reload the page and try again.", 400)
    paid = manage.finish_authentication(gift).value == "active"
    flash("Thank you: your payment is confirmed." if paid else "Your payment is not confirmed yet.", "done")
    return {"next": url_for("manage.gifts")}


@bp.get("/gifts/<reference>/cancel")
@with_gift
def cancel_form(donor, gift):
    return _cancel_page(gift, CancelForm(formdata=None, reasons=manage.REASONS))


@bp.post("/gifts/<reference>/cancel")
@with_gift
def cancel(donor, gift):
    form = CancelForm(reasons=manage.REASONS)
    if not form.validate():
        return _cancel_page(gift, form), 400
    reason = form.reason.data or None
    changed = manage.cancel(
        gift, reason, form.comment.data, save_offers.offers_for(reason), form.action_key.data
    )
    if not changed:
        return _back("This gift is already cancelled.")
    return render_template("manage/cancelled.html", gift=gift)


def _cancel_page(gift, form):
    offers = save_offers.offers()
    lower_amount, yearly_amount = save_offers.offer_amounts(gift)
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
        gift=gift,
        form=form,
        offers=offers,
        pause_form=PauseForm(formdata=None, offer="pause"),
        pause_offer=pauses.pause_options(gift)[-1:],
        lower_form=lower,
        yearly_form=yearly,
    )


def _other(frequency: Frequency) -> Frequency:
    return Frequency.YEAR if frequency is Frequency.MONTH else Frequency.MONTH


def _note_offer(gift, taken: str | None) -> None:
    """A change made from the cancel page's offers is a save: the donor stayed."""
    if taken in save_offers.offers():
        save_offers.record_offer_taken(gift, save_offers.offers(), taken)
