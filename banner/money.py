"""Money as integer minor units: parsing what donors type, showing amounts, the card-fee formula."""

import re
from decimal import Decimal, DecimalException

from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)

from banner.models import CURRENCIES

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "nzd": "NZ$", "jpy": "¥"}

#: how donors paying in each currency write numbers: "10,50" is ten euros fifty, "1,000" a thousand dollars
LOCALES = {
    "usd": "en_US",
    "eur": "fr_FR",  # takes "10,50" and "10.50" alike; "1.000" is refused, never read as 1000
    "gbp": "en_GB",
    "cad": "en_CA",
    "aud": "en_AU",
    "nzd": "en_NZ",
    "chf": "de_CH",
    "jpy": "ja_JP",
}
#: the minus sign of negative money (a movement, a change), not the hyphen
MINUS = "\u2212"
#: longer than any amount a donor types; the parser never sees more
MAX_AMOUNT_TEXT = 24
#: digits, separators and spaces only: no signs, exponents or other scripts' digits
NUMBER = re.compile(r"[0-9.,'\u2019\s]+")


class AmountError(ValueError):
    """What a donor typed is not an amount of money."""


def parse_amount(text: str, currency: str) -> int:
    """Turn "25", "25.50" or "25,50" (major units, as written in the currency's locale) into minor
    units, or raise AmountError."""
    digits = CURRENCIES[currency]
    locale = LOCALES.get(currency, "en_US")
    cleaned = _without_currency((text or "").strip(), currency)
    if cleaned.startswith("-") and NUMBER.fullmatch(cleaned[1:]):
        raise AmountError("Enter an amount greater than zero.")
    if len(cleaned) > MAX_AMOUNT_TEXT or not NUMBER.fullmatch(cleaned):
        raise AmountError(_example(currency))
    group = get_group_symbol(locale)
    cleaned = re.sub(r"\s+", group if group.isspace() else "", cleaned)
    try:
        value = parse_decimal(cleaned, locale, strict=True)
    except (NumberFormatError, DecimalException):  # babel's round-trip check can overflow
        raise AmountError(_example(currency)) from None
    if value <= 0:
        raise AmountError("Enter an amount greater than zero.")
    if -int(value.as_tuple().exponent) > digits:  # an int: the value is finite
        raise AmountError(f"Use at most {digits} decimal places." if digits else "Use whole numbers.")
    return int(value.scaleb(digits))


def _without_currency(text: str, currency: str) -> str:
    """Drop a leading or trailing currency symbol or code: "€10,50", "10 EUR", "$25"."""
    symbol = SYMBOLS.get(currency, "")
    for mark in filter(None, (symbol, "$" if "$" in symbol else "", currency)):
        if text[: len(mark)].lower() == mark.lower():
            text = text[len(mark) :].strip()
        if text[-len(mark) :].lower() == mark.lower():
            text = text[: -len(mark)].strip()
    return text


def _example(currency: str) -> str:
    if not CURRENCIES[currency]:
        return "Enter an amount in whole numbers, like 2500."
    decimal = get_decimal_symbol(LOCALES.get(currency, "en_US"))
    return f"Enter an amount in numbers, like 25 or 25{decimal}50."


def major_units(minor: int, currency: str) -> str:
    """Write minor units as the donate form's amount field takes them: 2500 -> "25", 2550 -> "25.50"."""
    digits = CURRENCIES[currency]
    if minor % (10**digits) == 0:
        return str(minor // 10**digits)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def format_amount(minor: int, currency: str) -> str:
    """Show minor units as a donor reads them: 2550, "usd" -> "$25.50"; 2500 -> "$25"; -2500 ->
    "\u2212$25.00" (a true minus sign)."""
    digits = CURRENCIES[currency]
    if minor < 0:
        shown = format_currency(Decimal(minor).scaleb(-digits), currency.upper(), locale="en_US")
        return shown.replace("-", MINUS, 1)
    major = Decimal(minor).scaleb(-digits)
    text = f"{major:,.0f}" if minor % (10**digits) == 0 else f"{major:,.{digits}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def cover_fee(amount: int, percent_bps: int, fixed: int) -> int:
    """Return the smallest extra after whose card fee (percent_bps / 100 % of the total, rounded
    to the minor unit, plus `fixed`) the newsroom still receives the whole `amount`."""

    def kept(total: int) -> int:
        return total - (total * percent_bps + 5_000) // 10_000 - fixed

    total = -(-(amount + fixed) * 10_000 // (10_000 - percent_bps))
    while kept(total - 1) >= amount:
        total -= 1
    return total - amount
