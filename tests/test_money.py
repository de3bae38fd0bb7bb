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
        ("1,000", "jpy", 1000),
        ("10,50", "eur", 1050),
        ("10.50", "eur", 1050),
        ("€10,50", "eur", 1050),
        ("1 000,50 EUR", "eur", 100050),
        ("CA$25", "cad", 2500),
        ("1'000.50", "chf", 100050),
    ],
)
def test_parse_amount_reads_the_currency_s_way_of_writing_numbers(text, currency, minor):
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
        ("10,50", "usd"),  # a decimal comma in dollars is refused, never read as 1050
        ("1.000", "eur"),  # a thousand in German writing, one in English: refused, never guessed
        ("1,000", "eur"),
        ("1e3", "usd"),
        ("1e150000", "usd"),
        ("1e999990", "usd"),
        ("1e10000000", "usd"),
        ("9" * 40, "usd"),
        ("٣٣", "usd"),  # digits of another script
    ],
)
def test_parse_amount_refuses_what_is_not_money(text, currency):
    with pytest.raises(AmountError):
        parse_amount(text, currency)


#: the worst 40-byte inputs: long exponents, long digit runs, separators and spaces
WORST_INPUTS = [
    "1e" + "9" * 38,
    "9" * 40,
    "1" + "0" * 39,
    "0." + "0" * 37 + "1",
    "1," * 20,
    "1 " * 20,
    ",." * 20,
    "$" * 40,
    "9" * 31 + "e" + "9" * 8,
]


@pytest.mark.parametrize("text", WORST_INPUTS)
@pytest.mark.parametrize("currency", ["usd", "eur", "chf", "jpy"])
def test_parse_amount_refuses_long_inputs_with_a_message(text, currency):
    with pytest.raises(AmountError, match="Enter an amount"):
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


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [(-2500, "usd", "\u2212$25.00"), (-99, "gbp", "\u2212£0.99"), (-500, "jpy", "\u2212¥500")],
)
def test_negative_money_has_a_minus_sign_before_the_currency(minor, currency, shown):
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
