"""Quantities: exact decimals in a product's base unit.

Quantities are ``Decimal`` with at most three fractional digits (the storage
scale); a unit counted in whole items (a piece) refuses fractions.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

from productsync.domain.errors import ErrorCode, InvalidInput

SCALE = 3
_QUANTUM = Decimal(1).scaleb(-SCALE)
MAX_QUANTITY = Decimal("1000000000000")


class BaseUnit(StrEnum):
    """Units a product can be counted in; conversions between them come with pint."""

    PIECE = "piece"
    MILLILITRE = "ml"
    LITRE = "l"
    GRAM = "g"
    KILOGRAM = "kg"
    OUNCE = "oz"
    FLUID_OUNCE = "fl_oz"
    METRE = "m"

    @property
    def whole_only(self) -> bool:
        return self is BaseUnit.PIECE


def parse_unit(raw: str) -> BaseUnit:
    try:
        return BaseUnit(raw.strip().lower().replace(" ", "_"))
    except ValueError as exc:
        raise InvalidInput(
            f"unknown unit {raw!r}; use one of {', '.join(u.value for u in BaseUnit)}",
            code=ErrorCode.INVALID_UNIT,
            unit=raw,
        ) from exc


def to_quantity(value: Decimal | int | str, *, unit: BaseUnit, field: str = "quantity") -> Decimal:
    """Check a quantity for the unit: finite, at most 3 decimals, whole for pieces."""
    try:
        q = Decimal(value)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise InvalidInput(f"{field} is not a number", code=ErrorCode.INVALID_QUANTITY) from exc
    if not q.is_finite():
        raise InvalidInput(f"{field} must be finite", code=ErrorCode.INVALID_QUANTITY, field=field)
    if abs(q) > MAX_QUANTITY:
        raise InvalidInput(f"{field} is too large", code=ErrorCode.INVALID_QUANTITY, field=field)
    if q != q.quantize(_QUANTUM):
        raise InvalidInput(
            f"{field} has more than {SCALE} decimals", code=ErrorCode.INVALID_QUANTITY, field=field
        )
    if unit.whole_only and q != q.to_integral_value():
        raise InvalidInput(
            f"{field} must be a whole number of {unit.value}s",
            code=ErrorCode.INVALID_QUANTITY,
            field=field,
            unit=unit.value,
        )
    return q.quantize(_QUANTUM).normalize() if q else Decimal(0)


def format_quantity(q: Decimal) -> str:
    """Canonical text: no exponent, no trailing zeros (``12``, ``0.5``)."""
    text = format(q.normalize(), "f")
    return text
