"""Money as integer minor units: parsing what donors type, showing amounts, the card-fee formula."""

from decimal import Decimal, InvalidOperation

from banner.models import CURRENCIES

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "nzd": "NZ$", "jpy": "¥"}


class AmountError(ValueError):
    """What a donor typed is not an amount of money."""


def parse_amount(text: str, currency: str) -> int:
    """Turn "25" or "25.50" (major units) into minor units, or raise AmountError."""
    digits = CURRENCIES[currency]
    cleaned = (text or "").strip().replace(",", "").lstrip(SYMBOLS.get(currency, "$")).strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise AmountError("Enter an amount in numbers, like 25 or 25.50.") from None
    if not value.is_finite():
        raise AmountError("Enter an amount in numbers, like 25 or 25.50.")
    if value <= 0:
        raise AmountError("Enter an amount greater than zero.")
    if -int(value.as_tuple().exponent) > digits:  # an int: the value is finite
        raise AmountError(f"Use at most {digits} decimal places." if digits else "Use whole numbers.")
    return int(value.scaleb(digits))


def major_units(minor: int, currency: str) -> str:
    """Write minor units as the donate form's amount field takes them: 2500 -> "25", 2550 -> "25.50"."""
    digits = CURRENCIES[currency]
    if minor % (10**digits) == 0:
        return str(minor // 10**digits)
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def format_amount(minor: int, currency: str) -> str:
    """Show minor units as a donor reads them: 2550, "usd" -> "$25.50"; 2500 -> "$25"."""
    digits = CURRENCIES[currency]
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
