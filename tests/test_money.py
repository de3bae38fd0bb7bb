"""Amount parsing, display and the card-fee formula."""

import pytest

from banner.money import AmountError, cover_fee, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("25", "usd", 2500),
        ("25.5", "usd", 2550),
        ("$1,000.05", "usd", 100005),
        (" 7 ", "eur", 700),
        ("1000", "jpy", 1000),
    ],
)
def test_parse_amount_gives_minor_units(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("", "usd"),
        ("abc", "usd"),
        ("-5", "usd"),
        ("0", "usd"),
        ("1.234", "usd"),
        ("NaN", "usd"),
        ("Infinity", "usd"),
        ("1e3x", "usd"),
        ("10.5", "jpy"),
    ],
)
def test_parse_amount_refuses_what_is_not_money(text, currency):
    with pytest.raises(AmountError):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (2500, "usd", "$25"),
        (2550, "usd", "$25.50"),
        (100000, "usd", "$1,000"),
        (99, "gbp", "£0.99"),
        (500, "jpy", "¥500"),
        (1500, "chf", "15 CHF"),
    ],
)
def test_format_amount(minor, currency, shown):
    assert format_amount(minor, currency) == shown


@pytest.mark.parametrize("amount", [100, 999, 2500, 1000, 123_457, 1_000_000])
def test_covered_fee_leaves_the_newsroom_the_whole_gift(amount):
    def kept(total):  # what Stripe leaves of `total` at 2.9% (half up) + 30
        return total - (total * 29 + 500) // 1000 - 30

    total = amount + cover_fee(amount, 290, 30)
    assert kept(total) >= amount
    assert kept(total - 1) < amount  # and no smaller extra would do


def test_fee_formula_follows_its_settings():
    assert cover_fee(1000, 0, 0) == 0
    assert cover_fee(1000, 500, 0) == 53
