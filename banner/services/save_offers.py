"""What the newsroom offers a donor about to cancel instead (a pause, a lower amount, giving
yearly), as BANNER_SAVE_OFFERS and BANNER_SAVE_OFFERS_BY_REASON set it, and the offers donors take."""

from flask import current_app

from banner.extensions import db
from banner.models import Actor, Gift, GiftEvent
from banner.services.manage import ACTOR_REF, OFFERS, REASONS


def record_offer_taken(gift: Gift, offered: list[str], taken: str) -> None:
    """Note that a donor about to cancel took one of the newsroom's offers instead."""
    gift.events.append(
        GiftEvent(
            kind="save_offer",
            actor=Actor.DONOR,
            actor_ref=ACTOR_REF,
            data={"offered": offered, "taken": taken},
        )
    )
    db.session.commit()


def offer_amounts(gift: Gift) -> tuple[int, int]:
    """Return the amounts offered instead of cancelling: half the gift (at least the minimum),
    and a year of it given once a year."""
    return max(current_app.config["MIN_AMOUNT"], gift.base_amount // 2), gift.base_amount * 12


class OfferSettingError(ValueError):
    """BANNER_SAVE_OFFERS or BANNER_SAVE_OFFERS_BY_REASON names what we do not have."""


def _offer_names(configured: str | list[str], setting: str) -> list[str]:
    names = configured.split(",") if isinstance(configured, str) else configured
    names = [name.strip() for name in names if name.strip()]
    unknown = [name for name in names if name not in OFFERS]
    if unknown:
        raise OfferSettingError(f"BANNER_{setting} offers any of {','.join(OFFERS)}, not {unknown[0]}.")
    return names


def save_offer_plan(config) -> tuple[list[str], dict[str, list[str]]]:
    """Return the offers made before a cancellation, and those made instead for some reasons;
    raise OfferSettingError for a setting that names an unknown reason or offer."""
    default = _offer_names(config["SAVE_OFFERS"], "SAVE_OFFERS")
    by_reason: dict[str, list[str]] = {}
    for entry in filter(None, (part.strip() for part in str(config["SAVE_OFFERS_BY_REASON"]).split(";"))):
        reason, equals, names = (text.strip() for text in entry.partition("="))
        if not equals or reason not in REASONS or reason in by_reason:
            raise OfferSettingError(
                f"BANNER_SAVE_OFFERS_BY_REASON is a list like too_expensive=lower,pause;financial=pause "
                f"with each of {', '.join(REASONS)} at most once, not {entry}."
            )
        by_reason[reason] = _offer_names(names, "SAVE_OFFERS_BY_REASON")
    return default, by_reason


def offers_for(reason: str | None) -> list[str]:
    """Return the alternatives offered to a donor leaving for `reason`, in the newsroom's order."""
    default, by_reason = save_offer_plan(current_app.config)
    return by_reason.get(reason or "", default)


def offers() -> list[str]:
    """Return every alternative the cancel page shows, whatever the reason the donor picks."""
    default, by_reason = save_offer_plan(current_app.config)
    shown = list(default)
    for names in by_reason.values():
        shown += [name for name in names if name not in shown]
    return shown
