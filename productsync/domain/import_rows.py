"""Parsing one import row: values by column (each bad one named with its column and
line) and the typed row of each kind. Pure: no I/O, no rule that needs the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from productsync.domain.imports import ImportKind, RawRow, RowError, RowRejected

# --- value parsing (each raises RowRejected with its column) --------------------------


def _bad(line: int, column: str, reason: str) -> RowRejected:
    return RowRejected([RowError(line, column, reason)])


def text_of(raw: RawRow, column: str, *, required: bool = False) -> str | None:
    value = raw.values.get(column)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            raise _bad(raw.line, column, "a value is required")
        return None
    if isinstance(value, (dict, list)):
        raise _bad(raw.line, column, "must be a text value")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def need(raw: RawRow, column: str) -> str:
    value = text_of(raw, column, required=True)
    assert value is not None
    return value


def decimal_of(raw: RawRow, column: str, *, required: bool = False) -> Decimal | None:
    value = raw.values.get(column)
    if isinstance(value, float):
        value = repr(value)  # JSON numbers: their shortest text, never binary noise
    text = text_of(raw, column, required=required) if not isinstance(value, int) else str(value)
    if text is None:
        return None
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise _bad(raw.line, column, f"{text!r} is not a decimal number") from exc
    if not number.is_finite():
        raise _bad(raw.line, column, f"{text!r} is not a finite number")
    return number


def quantity_of(raw: RawRow, column: str, *, required: bool = False) -> Decimal | None:
    """A non-negative quantity (stock counts and tiers are never negative)."""
    q = decimal_of(raw, column, required=required)
    if q is not None and q < 0:
        raise _bad(raw.line, column, "must not be negative")
    return q


def date_of(raw: RawRow, column: str) -> date | None:
    text = text_of(raw, column)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise _bad(raw.line, column, f"{text!r} is not a date (YYYY-MM-DD)") from exc


def instant_of(raw: RawRow, column: str) -> datetime | None:
    text = text_of(raw, column)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(raw.line, column, f"{text!r} is not an ISO 8601 instant") from exc
    if value.tzinfo is None:
        raise _bad(raw.line, column, "must carry a UTC offset (e.g. +00:00)")
    return value


def bool_of(raw: RawRow, column: str) -> bool | None:
    value = raw.values.get(column)
    if isinstance(value, bool):
        return value
    text = text_of(raw, column)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise _bad(raw.line, column, f"{text!r} is not true or false")


def json_of(raw: RawRow, column: str) -> Any:
    """A JSON object (or, for texts/packs, whatever JSON the column holds)."""
    value = raw.values.get(column)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError as exc:
            raise _bad(raw.line, column, f"is not valid JSON ({exc.args[0].split(':')[0]})") from exc
    if not isinstance(value, dict):
        raise _bad(raw.line, column, "must be a JSON object")
    return _plain(value)


def _plain(value: Any) -> Any:
    """JSON numbers back as int/float the way the API's JSON body gives them (attribute
    schemas test "type": "number"/"integer"), decimals kept exact where they are whole."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value


def barcodes_of(raw: RawRow, column: str = "barcodes") -> list[str]:
    value = raw.values.get(column)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise _bad(raw.line, column, "must be a list of GTIN strings")
        return [str(v).strip() for v in value if str(v).strip()]
    if not isinstance(value, str):
        raise _bad(raw.line, column, "must be GTINs separated by '|'")
    return [part.strip() for part in value.split("|") if part.strip()]


# --- typed rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRow:
    line: int
    sku: str
    partner: str | None
    name: str
    category: str
    description: str | None
    base_unit: str | None
    barcodes: list[str] | None
    tax_class: str | None
    status: str | None
    attributes: dict[str, Any] | None
    texts: dict[str, Any] | None
    allow_backorders: bool | None
    packs: dict[str, Any] | None
    location: str | None = None
    on_hand: Decimal | None = None
    price_list: str | None = None
    price: Decimal | None = None


@dataclass(frozen=True)
class StockRow:
    line: int
    sku: str
    partner: str | None
    location: str
    on_hand: Decimal
    safety_stock: Decimal | None
    lot_number: str | None
    expires_on: date | None


@dataclass(frozen=True)
class PriceRow:
    line: int
    sku: str
    partner: str | None
    price_list: str
    amount: Decimal
    min_quantity: Decimal
    valid_from: datetime | None
    valid_to: datetime | None


@dataclass(frozen=True)
class MappingRow:
    line: int
    channel: str
    external_id: str
    sku: str
    partner: str | None
    external_sku: str | None


@dataclass(frozen=True)
class AliasRow:
    line: int
    scheme: str
    code: str
    sku: str
    partner: str | None


TypedRow = ProductRow | StockRow | PriceRow | MappingRow | AliasRow


def _product(raw: RawRow) -> ProductRow:
    errors: list[RowError] = []

    def safe(fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(raw, *args, **kw)
        except RowRejected as exc:
            errors.extend(exc.errors)
            return None

    values = {
        "sku": safe(need, "sku"),
        "partner": safe(text_of, "partner"),
        "name": safe(need, "name"),
        "category": safe(need, "category"),
        "description": raw.values.get("description") if "description" in raw.values else None,
        "base_unit": safe(text_of, "base_unit"),
        "barcodes": safe(barcodes_of) if "barcodes" in raw.values else None,
        "tax_class": safe(text_of, "tax_class"),
        "status": safe(text_of, "status"),
        "attributes": safe(json_of, "attributes") if "attributes" in raw.values else None,
        "texts": safe(json_of, "texts") if "texts" in raw.values else None,
        "allow_backorders": safe(bool_of, "allow_backorders"),
        "packs": safe(json_of, "packs") if "packs" in raw.values else None,
        "location": safe(text_of, "location"),
        "on_hand": safe(quantity_of, "on_hand"),
        "price_list": safe(text_of, "price_list"),
        "price": safe(decimal_of, "price"),
    }
    if values["description"] is not None and not isinstance(values["description"], str):
        errors.append(RowError(raw.line, "description", "must be text"))
    if (values["location"] is None) != (values["on_hand"] is None) and not errors:
        column = "on_hand" if values["on_hand"] is None else "location"
        errors.append(RowError(raw.line, column, "inline stock needs both location and on_hand"))
    if (values["price_list"] is None) != (values["price"] is None) and not errors:
        column = "price" if values["price"] is None else "price_list"
        errors.append(RowError(raw.line, column, "an inline price needs both price_list and price"))
    if errors:
        raise RowRejected(errors)
    return ProductRow(line=raw.line, **values)


def _stock(raw: RawRow) -> StockRow:
    errors: list[RowError] = []
    out: dict[str, Any] = {}
    parsers: tuple[tuple[str, Any], ...] = (
        ("sku", need),
        ("partner", text_of),
        ("location", need),
        ("on_hand", lambda r, c: quantity_of(r, c, required=True)),
        ("safety_stock", quantity_of),
        ("lot_number", text_of),
        ("expires_on", date_of),
    )
    for name, fn in parsers:
        try:
            out[name] = fn(raw, name)
        except RowRejected as exc:
            errors.extend(exc.errors)
    if not errors and (out["lot_number"] is None) != (out["expires_on"] is None):
        column = "expires_on" if out["expires_on"] is None else "lot_number"
        errors.append(RowError(raw.line, column, "a lot needs both lot_number and expires_on"))
    if errors:
        raise RowRejected(errors)
    return StockRow(line=raw.line, **out)


def _price(raw: RawRow) -> PriceRow:
    errors: list[RowError] = []
    out: dict[str, Any] = {}
    for name, fn, required in (
        ("sku", need, True),
        ("partner", text_of, False),
        ("price_list", need, True),
        ("amount", decimal_of, True),
        ("min_quantity", quantity_of, False),
        ("valid_from", instant_of, False),
        ("valid_to", instant_of, False),
    ):
        try:
            out[name] = fn(raw, name, required=True) if required and fn is decimal_of else fn(raw, name)
        except RowRejected as exc:
            errors.extend(exc.errors)
    if errors:
        raise RowRejected(errors)
    if out["min_quantity"] is None:
        out["min_quantity"] = Decimal(1)
    elif out["min_quantity"] == 0:
        raise _bad(raw.line, "min_quantity", "must be positive")
    return PriceRow(line=raw.line, **out)


def _mapping(raw: RawRow) -> MappingRow:
    return MappingRow(
        line=raw.line,
        channel=need(raw, "channel"),
        external_id=need(raw, "external_id"),
        sku=need(raw, "sku"),
        partner=text_of(raw, "partner"),
        external_sku=text_of(raw, "external_sku"),
    )


def _alias(raw: RawRow) -> AliasRow:
    return AliasRow(
        line=raw.line,
        scheme=need(raw, "scheme"),
        code=need(raw, "code"),
        sku=need(raw, "sku"),
        partner=text_of(raw, "partner"),
    )


_PARSERS: dict[ImportKind, Any] = {
    ImportKind.PRODUCTS: _product,
    ImportKind.STOCK: _stock,
    ImportKind.PRICES: _price,
    ImportKind.MAPPINGS: _mapping,
    ImportKind.ALIASES: _alias,
}


def parse_row(kind: ImportKind, raw: RawRow) -> TypedRow:
    """The typed row, or ``RowRejected`` naming every bad column of it."""
    row: TypedRow = _PARSERS[kind](raw)
    return row
