"""banner.billing: the charges a pause skips, counted as Stripe counts them from the anchor."""

from datetime import UTC, datetime

import pytest

from banner import billing


def day(text: str) -> datetime:
    return datetime.fromisoformat(text + "T09:30:00").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("next_charge", "interval", "count", "anchor_day", "expected"),
    [
        ("2027-01-01", "month", 1, None, ["2027-01-01"]),
        ("2027-01-01", "month", 3, None, ["2027-01-01", "2027-02-01", "2027-03-01"]),
        ("2026-12-15", "month", 2, None, ["2026-12-15", "2027-01-15"]),
        ("2027-01-31", "month", 3, None, ["2027-01-31", "2027-02-28", "2027-03-31"]),
        ("2028-01-31", "month", 2, None, ["2028-01-31", "2028-02-29"]),
        ("2026-12-31", "month", 3, None, ["2026-12-31", "2027-01-31", "2027-02-28"]),
        ("2027-04-30", "month", 3, 31, ["2027-04-30", "2027-05-31", "2027-06-30"]),
        ("2027-02-28", "month", 2, 30, ["2027-02-28", "2027-03-30"]),
        ("2027-02-28", "month", 2, None, ["2027-02-28", "2027-03-28"]),
        ("2027-03-10", "year", 2, None, ["2027-03-10", "2028-03-10"]),
        ("2028-02-29", "year", 2, None, ["2028-02-29", "2029-02-28"]),
        ("2031-02-28", "year", 2, 29, ["2031-02-28", "2032-02-29"]),
    ],
)
def test_charge_dates_follow_the_billing_anchor(next_charge, interval, count, anchor_day, expected):
    dates = billing.charge_dates(day(next_charge), interval, count, anchor_day)
    assert dates == [day(text) for text in expected]


@pytest.mark.parametrize(
    ("next_charge", "interval", "skipped", "last_skipped", "resumes_with"),
    [
        # paid on 1 December, next charge 1 January: one month skips 1 January only
        ("2027-01-01", "month", 1, "2027-01-01", "2027-02-01"),
        ("2027-01-01", "month", 2, "2027-02-01", "2027-03-01"),
        ("2027-01-01", "month", 3, "2027-03-01", "2027-04-01"),
        ("2027-01-31", "month", 1, "2027-01-31", "2027-02-28"),
        ("2027-12-31", "month", 2, "2028-01-31", "2028-02-29"),
        ("2027-06-15", "year", 1, "2027-06-15", "2028-06-15"),
    ],
)
def test_a_pause_ends_just_after_the_last_charge_it_skips(
    next_charge, interval, skipped, last_skipped, resumes_with
):
    end = billing.pause_end(day(next_charge), interval, skipped)
    assert day(last_skipped) < end < day(resumes_with)
    assert billing.next_charge_after(end, day(next_charge), interval) == day(resumes_with)
