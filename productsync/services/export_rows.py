"""Export rows: the columns of each kind and their CSV and JSONL encodings.

The columns are exactly the import format (``productsync/domain/imports.py``), so an
export imported again changes nothing. One neutral value per cell, encoded per format:
``None`` is an empty CSV cell and JSON ``null``; a bool is ``true``/``false``; a number
(``Decimal``) is its exact text, a JSON number in JSONL; a list (GTINs, external ids) is
``|``-joined in CSV and a JSON array in JSONL; ``RawJson`` (attributes, texts, packs) is
JSON text in a CSV cell and the value itself in JSONL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from productsync.domain.quantities import format_quantity
from productsync.services.channel_slices import ExpectedItem

PRODUCT_COLUMNS = (
    "sku",
    "partner",
    "name",
    "category",
    "description",
    "base_unit",
    "barcodes",
    "tax_class",
    "status",
    "attributes",
    "texts",
    "allow_backorders",
    "packs",
)
STOCK_COLUMNS = ("sku", "partner", "location", "on_hand", "safety_stock", "lot_number", "expires_on")
PRICE_COLUMNS = ("sku", "partner", "price_list", "amount", "min_quantity", "valid_from", "valid_to")
MAPPING_COLUMNS = ("channel", "external_id", "sku", "partner", "external_sku")
ALIAS_COLUMNS = ("scheme", "code", "sku", "partner")

# A channel's view (read-only, not an import format): what the hub says the channel holds.
VIEW_COLUMNS = {
    "products": (
        "sku",
        "partner",
        "product_id",
        "external_ids",
        "gtins",
        "title",
        "description",
        "locale",
        "version",
    ),
    "stock": ("sku", "partner", "product_id", "external_ids", "quantity"),
    "prices": (
        "sku",
        "partner",
        "product_id",
        "external_ids",
        "price_list",
        "price",
        "compare_at_price",
        "currency",
    ),
}


class RawJson(str):
    """JSON text read from the database, copied out as it is."""

    __slots__ = ()


Cell = str | Decimal | bool | list[str] | tuple[str, ...] | RawJson | date | datetime | int | None
Row = tuple[Cell, ...]


def raw_json(text: str | None, default: str) -> RawJson:
    """Stored JSON text; re-serialized only in the rare case it spans lines (JSONL is one
    value per line)."""
    if text is None:
        return RawJson(default)
    if "\n" in text or "\r" in text:
        return RawJson(json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")))
    return RawJson(text)


def barcodes(text: str | None) -> list[str]:
    return [str(b) for b in json.loads(text)] if text else []


def quantity(q: Decimal | None) -> Decimal | None:
    return None if q is None else Decimal(format_quantity(q))


def product_row(r: Any) -> Row:
    return (
        r.sku,
        r.partner,
        r.name,
        r.category,
        r.description,
        r.base_unit,
        barcodes(r.barcodes),
        r.tax_class,
        r.status,
        raw_json(r.attributes, "{}"),
        raw_json(r.texts, "{}"),
        bool(r.allow_backorders),
        raw_json(r.packs, "{}"),
    )


def stock_rows(level: Any, lots: list[Any]) -> list[Row]:
    """One row per lot holding stock, plus one without a lot for what no lot covers; one
    row per level when it has no lots."""
    if not lots:
        return [
            (
                level.sku,
                level.partner,
                level.location,
                quantity(level.on_hand),
                quantity(level.safety_stock),
                None,
                None,
            )
        ]
    safety = quantity(level.safety_stock)
    out: list[Row] = [
        (
            level.sku,
            level.partner,
            level.location,
            quantity(lot.quantity),
            safety,
            lot.lot_number,
            lot.expires_on,
        )
        for lot in lots
    ]
    untracked = level.on_hand - sum((lot.quantity for lot in lots), Decimal(0))
    if untracked > 0:
        out.append((level.sku, level.partner, level.location, quantity(untracked), safety, None, None))
    return out


def price_row(r: Any) -> Row:
    return (
        r.sku,
        r.partner,
        str(r.price_list_id),
        r.amount,
        quantity(r.min_quantity),
        r.valid_from,
        r.valid_to,
    )


def mapping_row(r: Any) -> Row:
    return (str(r.channel_id), r.external_id, r.sku, r.partner, r.external_sku)


def alias_row(r: Any) -> Row:
    return (r.scheme, r.code, r.sku, r.partner)


def view_row(kind: str, item: ExpectedItem, partner: str | None, locale: str | None) -> Row:
    common: tuple[Cell, ...] = (item.sku, partner, str(item.product_id), item.external_ids)
    if kind == "products":
        return (*common, item.gtins, item.title, item.description, locale, item.version)
    if kind == "stock":
        return (*common, item.quantity)
    return (
        *common,
        None if item.price_list_id is None else str(item.price_list_id),
        item.price,
        item.compare_at_price,
        item.currency,
    )


# --- encodings -----------------------------------------------------------------------


def _csv_cell(v: Cell) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "|".join(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def _json_cell(v: Cell) -> str:
    if v is None:
        return "null"
    if isinstance(v, RawJson):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (datetime, date)):
        return f'"{v.isoformat()}"'
    return json.dumps(list(v), ensure_ascii=False)


class CsvEncoder:
    content_type = "text/csv; charset=utf-8"

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = columns

    def header(self) -> bytes:
        return self.encode([tuple(self.columns)])

    def encode(self, rows: Sequence[Row]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
        writer.writerows([_csv_cell(v) for v in row] for row in rows)
        return buffer.getvalue().encode()


class JsonlEncoder:
    content_type = "application/x-ndjson"

    def __init__(self, columns: Sequence[str]) -> None:
        self.keys = [json.dumps(c) + ":" for c in columns]

    def header(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[Row]) -> bytes:
        keys = self.keys
        lines = [
            "{" + ",".join(k + _json_cell(v) for k, v in zip(keys, row, strict=True)) + "}\n" for row in rows
        ]
        return "".join(lines).encode()


ENCODERS: dict[str, type[CsvEncoder] | type[JsonlEncoder]] = {"csv": CsvEncoder, "jsonl": JsonlEncoder}
