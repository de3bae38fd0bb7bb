"""A gift event in words on the donor's timeline: money as money, old → new for changes of amount
and frequency, cancellation reasons in the donor's words."""

import pytest

from banner.models import Actor, Frequency, GiftEvent, GiftStatus
from banner.services.timeline import describe
from tests import factories


def event(kind, currency="usd", **fields):
    gift = factories.gift(Frequency.MONTH, GiftStatus.ACTIVE, currency=currency, save=False)
    return GiftEvent(kind=kind, actor=Actor.DONOR, gift=gift, **fields)


def change(old_amount, old_frequency, new_amount, new_frequency):
    return {
        "old": {"amount": old_amount, "frequency": old_frequency},
        "new": {"amount": new_amount, "frequency": new_frequency},
    }


@pytest.mark.parametrize(
    ("kind", "fields", "currency", "words"),
    [
        ("amount", {"data": change(1000, "month", 1500, "month")}, "usd", "Amount: $10/month → $15/month"),
        ("amount", {"data": change(1000, "month", 12000, "year")}, "eur", "Amount: €10/month → €120/year"),
        ("amount", {"data": change(1050, "year", 500, "month")}, "usd", "Amount: $10.50/year → $5/month"),
        ("payment", {"data": {"invoice": "in_1", "amount": 2550}}, "usd", "Payment of $25.50"),
        ("refund", {"data": {"payment": 1, "refunded": 500, "of": 2500}}, "usd", "Refunded $5 of $25"),
        ("refund_failed", {"data": {"payment": 1, "refund": "re_1", "amount": 500, "mark": 1}}, "usd",
         "A refund of $5 failed"),
        ("dispute", {"data": {"payment": 1, "status": "needs_response", "withheld": 2500}}, "usd",
         "Dispute needs response: $25 held"),
        ("cancel_request", {"data": {"reason": "too_expensive", "offered": ["pause", "lower"],
                                     "at_period_end": True}}, "usd",
         "Asked to cancel at the end of the paid period: It costs too much for me right now; "
         "offered a pause, a lower amount"),
        ("cancel_request", {"data": {"reason": None, "offered": [], "at_period_end": False}}, "usd",
         "Asked to cancel now: no reason given"),
        ("save_offer", {"data": {"offered": ["pause"], "taken": "pause"}}, "usd",
         "Took an offer instead of cancelling: a pause"),
        ("mrr", {"movement": "voluntary_churn", "mrr_delta": -1500}, "usd",
         "Monthly value: voluntary churn, \u2212$15 a month"),
        ("staff_reply", {"reason": "Thank you, Ada"}, "usd", "Answer to the donor's comment, e-mailed"),
        ("something_new", {"data": {"count": 2, "nested": {"email": "ada@example.org"}}}, "usd",
         "Something new; count: 2"),
    ],
)  # fmt: skip
def test_each_event_reads_in_words(kind, fields, currency, words):
    assert describe(event(kind, currency, **fields)) == words
