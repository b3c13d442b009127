"""Bulk import rows: the file format, the column spec per kind and per-row parsing.

A row is parsed on its own, with no I/O, into a typed row or a list of ``RowError``
(line, column, reason): that is what lets an import stream a file of any size and name
every bad row. Rules that need the database (which category, which partner, does the
SKU exist) are applied by the service with the catalog rules of ``domain/catalog.py``;
nothing here repeats them.

The format is the contract with the export (an export imported again changes nothing):
CSV with a header row (structured values as JSON text, barcodes joined by ``|``) or
JSONL with the same keys and native JSON values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from productsync.domain.errors import DomainError, ErrorCode


class ImportKind(StrEnum):
    PRODUCTS = "products"
    STOCK = "stock"
    PRICES = "prices"
    MAPPINGS = "mappings"
    ALIASES = "aliases"


class ErrorPolicy(StrEnum):
    """Saleor's vocabulary: ``reject_all`` writes nothing when any row fails;
    ``skip_failed`` writes the good rows and reports the bad ones."""

    REJECT_ALL = "reject_all"
    SKIP_FAILED = "skip_failed"


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class ColumnSpec:
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.required + self.optional)


COLUMNS: dict[ImportKind, ColumnSpec] = {
    ImportKind.PRODUCTS: ColumnSpec(
        ("sku", "name", "category"),
        (
            "partner",
            "description",
            "base_unit",
            "barcodes",
            "tax_class",
            "status",
            "attributes",
            "texts",
            "allow_backorders",
            "packs",
            "location",
            "on_hand",
            "price_list",
            "price",
        ),
    ),
    ImportKind.STOCK: ColumnSpec(
        ("sku", "location", "on_hand"), ("partner", "safety_stock", "lot_number", "expires_on")
    ),
    ImportKind.PRICES: ColumnSpec(
        ("sku", "price_list", "amount"), ("partner", "min_quantity", "valid_from", "valid_to")
    ),
    ImportKind.MAPPINGS: ColumnSpec(("channel", "external_id", "sku"), ("partner", "external_sku")),
    ImportKind.ALIASES: ColumnSpec(("scheme", "code", "sku"), ("partner",)),
}

# Columns that carry JSON: text in CSV, native values in JSONL.
_JSON_COLUMNS = frozenset({"attributes", "texts", "packs"})


@dataclass(frozen=True)
class RowError:
    """One reason a row was rejected; ``column`` is None for the row as a whole."""

    line: int
    column: str | None
    reason: str

    def text(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


class RowRejected(Exception):
    """Raised inside row handling; carries every error of the row."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(e.text() for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class RawRow:
    """A record as read: its first physical line and its values by column name (text
    in CSV, JSON values in JSONL), plus the original record to write back if rejected."""

    line: int
    values: Mapping[str, Any]
    source: Any = None


def infer_kind(columns: list[str]) -> ImportKind:
    """The kind whose required columns the header has (the most specific one wins)."""
    have = set(columns)
    for kind in (
        ImportKind.MAPPINGS,
        ImportKind.ALIASES,
        ImportKind.PRODUCTS,
        ImportKind.PRICES,
        ImportKind.STOCK,
    ):
        if set(COLUMNS[kind].required) <= have:
            return kind
    raise DomainError(
        "cannot tell the kind of rows from the header; give --kind "
        f"(columns seen: {', '.join(columns[:12])})",
        code=ErrorCode.INVALID_INPUT,
    )


def check_header(kind: ImportKind, columns: list[str]) -> list[RowError]:
    """Missing required columns stop the whole file (line 1); unknown ones are errors
    too, since a misspelt optional column would otherwise be silently ignored."""
    spec = COLUMNS[kind]
    errors = [RowError(1, c, "required column is missing") for c in spec.required if c not in columns]
    errors += [RowError(1, c, "unknown column") for c in columns if c not in spec.known and c != "reason"]
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            errors.append(RowError(1, c, "column given twice"))
        seen.add(c)
    return errors


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


# Where a catalog rule's error belongs when the rule does not name a field itself.
_CODE_COLUMNS = {
    ErrorCode.INVALID_SKU: "sku",
    ErrorCode.INVALID_GTIN: "barcodes",
    ErrorCode.INVALID_ATTRIBUTES: "attributes",
    ErrorCode.INVALID_LOCALE: "texts",
    ErrorCode.INVALID_UNIT: "base_unit",
    ErrorCode.INVALID_CURRENCY: "price_list",
}


def rule_error(line: int, exc: DomainError, *, column: str | None = None) -> RowError:
    """A domain rule's refusal as a row error, in the column it is about."""
    named = exc.data.get("field")
    if isinstance(named, str):
        named = named.split(".")[0].split("[")[0]
        if named == "prices":
            named = "amount"
    col = column or (named if isinstance(named, str) else None) or _CODE_COLUMNS.get(exc.code)
    return RowError(line, col, exc.detail)


@dataclass
class KindCounts:
    """What an import did (or, in a dry run, would do) to one kind of entity."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class ImportReport:
    kind: ImportKind
    dry_run: bool
    error_policy: ErrorPolicy
    rows: int = 0
    rejected: int = 0
    written: bool = False
    counts: dict[str, KindCounts] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)  # the first ones, for display
    bytes_read: int = 0

    def count(self, entity: str) -> KindCounts:
        return self.counts.setdefault(entity, KindCounts())

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "dry_run": self.dry_run,
            "error_policy": self.error_policy.value,
            "rows": self.rows,
            "rejected": self.rejected,
            "written": self.written,
            "counts": {k: v.as_dict() for k, v in sorted(self.counts.items())},
            "errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in self.errors],
        }
