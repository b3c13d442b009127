"""Units of measure: a quantity given in any compatible unit, converted exactly.

The ledger counts every product in its base unit. Callers may say ``1.5 l`` of a
product counted in ``ml``, or ``2 six-pack`` of one sold in packs; pint knows the
unit relations and does the arithmetic in ``Decimal``, so nothing drifts through
floats. A conversion whose exact result needs more than the three stored decimals
(``1 fl_oz`` is 29.5735295625 ml) is refused rather than rounded: a stock number
that silently changes on the way in is the kind of error the hub exists to prevent.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import pint

from productsync.domain.errors import ErrorCode, InvalidInput
from productsync.domain.quantities import SCALE, BaseUnit, format_quantity, to_quantity

_PINT_NAME = {
    BaseUnit.MILLILITRE: "milliliter",
    BaseUnit.LITRE: "liter",
    BaseUnit.GRAM: "gram",
    BaseUnit.KILOGRAM: "kilogram",
    BaseUnit.OUNCE: "ounce",
    BaseUnit.FLUID_OUNCE: "fluid_ounce",
    BaseUnit.METRE: "meter",
}
_PIECE_WORDS = frozenset({"piece", "pieces", "pc", "pcs", "each", "ea", "unit", "units"})
_SPELLINGS = {"fl_oz": "fluid_ounce", "fl oz": "fluid_ounce", "floz": "fluid_ounce"}
_QUANTUM = Decimal(1).scaleb(-SCALE)
# A unit is a name, never an expression: pint would evaluate "m**99999" or "1/0".
_UNIT_RE = re.compile(r"^[A-Za-z][A-Za-z_ ]{0,23}$")


@cache
def _registry() -> pint.UnitRegistry[Any]:
    return pint.UnitRegistry(non_int_type=Decimal)


def _unit_name(raw: str) -> str:
    text = raw.strip()
    return _SPELLINGS.get(text.lower(), text)


def to_base(
    quantity: Decimal | int | str,
    unit: str | None,
    *,
    base: BaseUnit,
    packs: dict[str, Decimal] | None = None,
    field: str = "quantity",
) -> Decimal:
    """``quantity`` of ``unit`` expressed in ``base``, exactly, or a 422 saying why not."""
    if unit is None or unit.strip() == "" or unit.strip().lower() == base.value:
        return to_quantity(quantity, unit=base, field=field)
    key = unit.strip().lower()
    if packs and key in packs:
        count = to_quantity(quantity, unit=BaseUnit.PIECE, field=field)  # packs are whole
        return to_quantity(count * packs[key], unit=base, field=field)
    if base is BaseUnit.PIECE:
        if key in _PIECE_WORDS:
            return to_quantity(quantity, unit=base, field=field)
        raise _incompatible(unit, base, packs)
    try:
        amount = Decimal(quantity)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise InvalidInput(f"{field} is not a number", code=ErrorCode.INVALID_QUANTITY, field=field) from exc
    if not amount.is_finite():
        raise InvalidInput(f"{field} must be finite", code=ErrorCode.INVALID_QUANTITY, field=field)
    if not _UNIT_RE.match(unit.strip()):
        raise InvalidInput(
            f"unknown unit {unit!r}", code=ErrorCode.INVALID_UNIT, field=f"{field}.unit", unit=unit
        )
    reg = _registry()
    try:
        converted = reg.Quantity(amount, _unit_name(unit)).to(_PINT_NAME[base]).magnitude
    except pint.errors.DimensionalityError as exc:
        raise _incompatible(unit, base, packs) from exc
    except (pint.errors.PintError, AttributeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput(
            f"unknown unit {unit!r}", code=ErrorCode.INVALID_UNIT, field=f"{field}.unit", unit=unit
        ) from exc
    exact = Decimal(converted)
    if exact != exact.quantize(_QUANTUM):
        raise InvalidInput(
            f"{format_quantity(amount)} {unit} is {exact.normalize():f} {base.value}, which has more than "
            f"{SCALE} decimals; give the quantity in {base.value}",
            code=ErrorCode.INVALID_QUANTITY,
            field=field,
            unit=unit,
        )
    return to_quantity(exact.quantize(_QUANTUM), unit=base, field=field)


def _incompatible(unit: str, base: BaseUnit, packs: dict[str, Decimal] | None) -> InvalidInput:
    allowed = [base.value, *sorted(packs or {})]
    return InvalidInput(
        f"unit {unit!r} cannot be converted to {base.value}; use {', '.join(allowed)} or a unit of the "
        "same kind",
        code=ErrorCode.INVALID_UNIT,
        field="unit",
        unit=unit,
        base_unit=base.value,
    )
