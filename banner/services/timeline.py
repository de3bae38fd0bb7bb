"""A gift event in words for the donor's timeline: amounts in money and old → new where something
changed ("$10/month → $15/month"), never the donor's personal data (their words show apart, in
the timeline's own column, and are erased with them)."""

from banner.models import CANCELLATION_REASONS, GiftEvent
from banner.money import MINUS, format_amount

#: how often, after an amount: "$10/month"
PER = {"once": " once", "month": "/month", "year": "/year"}
OFFERS = {"pause": "a pause", "lower": "a lower amount", "yearly": "giving yearly"}


def describe(event: GiftEvent) -> str:
    """Return what happened to the gift, in words."""
    currency = event.gift.currency
    data = event.data or {}
    if event.kind == "mrr":
        movement = (event.movement or "").replace("_", " ")
        sign = MINUS if event.mrr_delta < 0 else "+"
        return f"Monthly value: {movement}, {sign}{format_amount(abs(event.mrr_delta), currency)} a month"
    if event.kind == "status":
        before = _words(event.from_status.value) if event.from_status else "new"
        return f"{before} → {_words(event.to_status.value if event.to_status else '')}"
    if event.kind == "amount" and "old" in data and "new" in data:
        return f"Amount: {_gift(data['old'], currency)} → {_gift(data['new'], currency)}"
    if event.kind == "payment" and "amount" in data:
        return f"Payment of {format_amount(data['amount'], currency)}"
    if event.kind == "refund":
        return (
            f"Refunded {format_amount(data['refunded'], currency)} of {format_amount(data['of'], currency)}"
        )
    if event.kind == "refund_failed":
        return f"A refund of {format_amount(data['amount'], currency)} failed"
    if event.kind in ("dispute", "dispute_status"):
        held = format_amount(data.get("withheld", 0), currency)
        return f"Dispute {_words(data.get('status') or '')}: {held} held"
    if event.kind == "cancel_request":
        when = "at the end of the paid period" if data.get("at_period_end") else "now"
        text = f"Asked to cancel {when}: {reason_words(data.get('reason'))}"
        offered = ", ".join(OFFERS.get(offer, offer) for offer in data.get("offered") or [])
        return f"{text}; offered {offered}" if offered else text
    if event.kind == "save_offer":
        taken = str(data.get("taken"))
        return f"Took an offer instead of cancelling: {OFFERS.get(taken, taken)}"
    if event.kind == "keep":
        return "Kept the gift instead of letting it end"
    if event.kind == "card":
        return f"New card: {data.get('brand') or 'card'} ending {data.get('last4')}"
    if event.kind == "staff_reply":
        return "Answer to the donor's comment, e-mailed"
    details = [f"{_words(key)}: {value}" for key, value in data.items() if isinstance(value, str | int)]
    return "; ".join([_words(event.kind).capitalize(), *details])


def reason_words(reason: str | None) -> str:
    """Return a cancellation reason in the donor's words, or "no reason given"."""
    if not reason:
        return "no reason given"
    return CANCELLATION_REASONS[reason][0] if reason in CANCELLATION_REASONS else _words(reason)


def _gift(values: dict, currency: str) -> str:
    return f"{format_amount(values['amount'], currency)}{PER.get(values.get('frequency', ''), '')}"


def _words(code: str) -> str:
    return code.replace("_", " ")
