"""Money: Decimal amounts in an ISO 4217 currency, respecting its minor units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

from productsync.domain.errors import ErrorCode, InvalidInput

MAX_AMOUNT = Decimal("1000000000000")

# Funds, metals and testing codes are in ISO 4217 but nobody prices a product in them.
_NON_PRICING = {"XAU", "XAG", "XPD", "XPT", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU"}


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(c for c in list_currencies() if len(c) == 3 and c not in _NON_PRICING)


def parse_currency(raw: str) -> str:
    code = raw.strip().upper()
    if code not in _currencies():
        raise InvalidInput(
            f"{raw!r} is not an ISO 4217 currency code", code=ErrorCode.INVALID_CURRENCY, currency=raw
        )
    return code


def minor_units(currency: str) -> int:
    """Digits after the decimal point (EUR 2, JPY 0, KWD 3), from CLDR via Babel."""
    return int(get_currency_precision(currency))


def parse_amount(raw: Decimal | str | int, currency: str, *, field: str = "amount") -> Decimal:
    """An amount must be finite, non-negative and have no more decimals than the
    currency's minor unit: 12.345 EUR cannot be charged, so it cannot be stored."""
    try:
        amount = Decimal(raw)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise InvalidInput(f"{field} is not a decimal number", field=field) from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{field} must be a finite, non-negative amount", field=field)
    if amount > MAX_AMOUNT:
        raise InvalidInput(f"{field} is larger than {MAX_AMOUNT}", field=field)
    digits = minor_units(currency)
    quantum = Decimal(1).scaleb(-digits)
    if amount != amount.quantize(quantum):
        raise InvalidInput(
            f"{field} {raw} has more decimals than {currency} allows ({digits})",
            code=ErrorCode.INVALID_CURRENCY,
            field=field,
            currency=currency,
            minor_units=digits,
        )
    return amount.quantize(quantum)
