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

from collections.abc import Mapping
from dataclasses import dataclass, field
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
