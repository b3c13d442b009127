from decimal import Decimal

import pytest

from productsync.domain.errors import InvalidInput
from productsync.domain.money import minor_units, parse_amount, parse_currency
from productsync.domain.quantities import BaseUnit, format_quantity, parse_unit, to_quantity


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (5, BaseUnit.PIECE, Decimal(5)),
        ("2.500", BaseUnit.LITRE, Decimal("2.5")),
        ("0.001", BaseUnit.MILLILITRE, Decimal("0.001")),
        (-3, BaseUnit.PIECE, Decimal(-3)),
        ("0", BaseUnit.GRAM, Decimal(0)),
    ],
)
def test_quantities_are_exact_decimals(value: object, unit: BaseUnit, expected: Decimal) -> None:
    assert to_quantity(value, unit=unit) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("1.5", BaseUnit.PIECE),
        ("0.0001", BaseUnit.LITRE),
        ("NaN", BaseUnit.GRAM),
        ("Infinity", BaseUnit.GRAM),
        ("abc", BaseUnit.GRAM),
        ("1e13", BaseUnit.GRAM),
    ],
)
def test_fractions_of_pieces_and_non_numbers_are_refused(value: str, unit: BaseUnit) -> None:
    with pytest.raises(InvalidInput):
        to_quantity(value, unit=unit)


def test_units_parse_leniently_and_refuse_unknown_ones() -> None:
    assert parse_unit(" fl oz ") is BaseUnit.FLUID_OUNCE
    assert parse_unit("ML") is BaseUnit.MILLILITRE
    with pytest.raises(InvalidInput, match="unknown unit"):
        parse_unit("parsec")


def test_quantities_format_without_exponent_or_trailing_zeros() -> None:
    assert format_quantity(Decimal("1E+2")) == "100"
    assert format_quantity(Decimal("0.500")) == "0.5"


@pytest.mark.parametrize(("code", "digits"), [("EUR", 2), ("usd", 2), ("JPY", 0), ("KWD", 3)])
def test_currencies_know_their_minor_units(code: str, digits: int) -> None:
    assert minor_units(parse_currency(code)) == digits


@pytest.mark.parametrize("code", ["EU", "XYZ", "EURO", "XAU", ""])
def test_unknown_or_non_pricing_currencies_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput, match="ISO 4217"):
        parse_currency(code)


def test_amounts_respect_the_currency_minor_unit() -> None:
    assert parse_amount("12.9", "EUR") == Decimal("12.90")
    assert parse_amount("1500", "JPY") == Decimal("1500")
    assert parse_amount("1.125", "KWD") == Decimal("1.125")
    for bad, currency in [("12.345", "EUR"), ("10.5", "JPY"), ("-1", "EUR"), ("NaN", "EUR"), ("x", "EUR")]:
        with pytest.raises(InvalidInput):
            parse_amount(bad, currency)
