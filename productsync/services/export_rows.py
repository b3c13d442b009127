"""Export rows: the columns of each kind and their CSV and JSONL encodings.

The columns are exactly the import format (``productsync/domain/imports.py``), so an
export imported again changes nothing. Each column has a type, and each type one
converter per format, chosen once per export (not per cell): ``None`` is an empty CSV
cell and JSON ``null``; ``bool`` is ``true``/``false``; ``qty``/``amount`` are exact
decimal text, JSON numbers in JSONL; ``gtins`` (stored JSON text) and ``list`` are
``|``-joined in CSV and a JSON array in JSONL; ``json`` (attributes, texts, packs, read
as stored text) is JSON text in a CSV cell and the value itself in JSONL; ``date`` and
``instant`` are ISO 8601 (instants with their offset).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from productsync.domain.quantities import SCALE, format_quantity
from productsync.services.channel_slices import ExpectedItem

Columns = tuple[tuple[str, str], ...]  # (name, type)
_FACTOR = 10**SCALE

PRODUCT_COLUMNS: Columns = (
    ("sku", "text"),
    ("partner", "text"),
    ("name", "text"),
    ("category", "text"),
    ("description", "text"),
    ("base_unit", "text"),
    ("barcodes", "gtins"),
    ("tax_class", "text"),
    ("status", "text"),
    ("attributes", "json"),
    ("texts", "json"),
    ("allow_backorders", "bool"),
    ("packs", "json"),
)
# The same for CSV, where the database already wrote barcodes and the flag as text.
PRODUCT_CSV_COLUMNS: Columns = tuple(
    (n, "text" if n in ("barcodes", "allow_backorders") else t) for n, t in PRODUCT_COLUMNS
)
STOCK_COLUMNS: Columns = (
    ("sku", "text"),
    ("partner", "text"),
    ("location", "text"),
    ("on_hand", "scaled"),
    ("safety_stock", "scaled"),
    ("lot_number", "text"),
    ("expires_on", "date"),
)
PRICE_COLUMNS: Columns = (
    ("sku", "text"),
    ("partner", "text"),
    ("price_list", "text"),
    ("amount", "amount"),
    ("min_quantity", "scaled"),
    ("valid_from", "date"),
    ("valid_to", "date"),
)
MAPPING_COLUMNS: Columns = (
    ("channel", "text"),
    ("external_id", "text"),
    ("sku", "text"),
    ("partner", "text"),
    ("external_sku", "text"),
)
ALIAS_COLUMNS: Columns = (("scheme", "text"), ("code", "text"), ("sku", "text"), ("partner", "text"))

# A channel's view (read-only, not an import format): what the hub says the channel holds.
_VIEW_COMMON: Columns = (
    ("sku", "text"),
    ("partner", "text"),
    ("product_id", "text"),
    ("external_ids", "list"),
)
VIEW_COLUMNS: dict[str, Columns] = {
    "products": (
        *_VIEW_COMMON,
        ("gtins", "list"),
        ("title", "text"),
        ("description", "text"),
        ("locale", "text"),
        ("version", "int"),
    ),
    "stock": (*_VIEW_COMMON, ("quantity", "qty")),
    "prices": (
        *_VIEW_COMMON,
        ("price_list", "text"),
        ("price", "amount"),
        ("compare_at_price", "amount"),
        ("currency", "text"),
    ),
}

Row = tuple[Any, ...]


def _one_line(text: str | None) -> str:
    """Stored JSON text as it is; re-serialized only in the rare case it spans lines
    (a JSONL record is one line)."""
    if text is None:
        return "{}"
    if "\n" in text or "\r" in text:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    return text


def stock_rows(level: Any, lots: list[tuple[Any, ...]]) -> list[Row]:
    """One row per lot holding stock, plus one without a lot for what no lot covers; one
    row per level when it has no lots. ``level`` is an ``ExportRepository.level_rows`` row
    and ``lots`` its ``lots_of`` tuples; quantities are scaled integers (``scaled`` columns)."""
    _, _, sku, partner, location, on_hand, safety = level
    if not lots:
        return [(sku, partner, location, on_hand, safety, None, None)]
    out: list[Row] = [(sku, partner, location, lot[4], safety, lot[2], lot[3]) for lot in lots]
    untracked = on_hand - sum(lot[4] for lot in lots)
    if untracked > 0:
        out.append((sku, partner, location, untracked, safety, None, None))
    return out


def price_row(r: Any) -> Row:
    """An ``ExportRepository.price_rows`` row (amount as stored text, tier scaled)."""
    return (r[3], r[4], str(r[0]), r[5], r[6], r[7], r[8])


def mapping_row(r: Any) -> Row:
    return (str(r.channel_id), r.external_id, r.sku, r.partner, r.external_sku)


def alias_row(r: Any) -> Row:
    return (r.scheme, r.code, r.sku, r.partner)


def view_row(kind: str, item: ExpectedItem, partner: str | None, locale: str | None) -> Row:
    common: Row = (item.sku, partner, str(item.product_id), item.external_ids)
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


def _gtins_csv(text: str | None) -> str:
    return "" if not text or text == "[]" else "|".join(str(b) for b in json.loads(text))


def _scaled(v: int | None) -> str:
    """A quantity as stored (integer thousandths, ``store/types.Quantity``) as exact text."""
    if v is None:
        return ""
    whole, part = divmod(v, _FACTOR)
    return str(whole) if not part else format_quantity(Decimal(v).scaleb(-SCALE))


def _iso(v: date | None) -> str:
    return "" if v is None else v.isoformat()


# The csv module writes None as an empty field and other values with str(): text, JSON
# text, amounts and integers need no converter at all.
_CSV_AS_IS = frozenset({"text", "json", "amount", "int"})
_CSV: dict[str, Callable[[Any], Any]] = {
    "gtins": _gtins_csv,
    "list": lambda v: "|".join(v),
    "bool": lambda v: "" if v is None else ("true" if v else "false"),
    "qty": lambda v: "" if v is None else format_quantity(v),
    "scaled": _scaled,
    "date": _iso,
}


def _text_json(v: Any) -> str:
    return "null" if v is None else json.dumps(v, ensure_ascii=False)


_JSON: dict[str, Callable[[Any], str]] = {
    "text": _text_json,
    "json": lambda v: _one_line(v),
    "gtins": lambda v: v or "[]",
    "list": lambda v: json.dumps(list(v), ensure_ascii=False),
    "bool": lambda v: "null" if v is None else ("true" if v else "false"),
    "qty": lambda v: "null" if v is None else format_quantity(v),
    "scaled": lambda v: "null" if v is None else _scaled(v),
    "amount": lambda v: "null" if v is None else str(v),
    "int": lambda v: "null" if v is None else str(v),
    "date": lambda v: "null" if v is None else f'"{v.isoformat()}"',
}


class CsvEncoder:
    """RFC 4180: a header line, CRLF line ends, fields quoted where they need it."""

    content_type = "text/csv; charset=utf-8"

    def __init__(self, columns: Columns) -> None:
        self.names = [name for name, _ in columns]
        self.convert = [(i, _CSV[kind]) for i, (_, kind) in enumerate(columns) if kind not in _CSV_AS_IS]
        self.cells = itemgetter(*range(len(columns)))  # rows may carry their key after the cells

    def header(self) -> bytes:
        return self._write([self.names])

    def encode(self, rows: Sequence[Row]) -> bytes:
        if not self.convert:
            return self._write(list(map(self.cells, rows)))
        out = []
        for row in rows:
            cells = list(self.cells(row))
            for i, f in self.convert:
                cells[i] = f(cells[i])
            out.append(cells)
        return self._write(out)

    @staticmethod
    def _write(rows: Sequence[Sequence[Any]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode()


class JsonlEncoder:
    """One JSON object per line, with the CSV's column names as keys."""

    content_type = "application/x-ndjson"

    def __init__(self, columns: Columns) -> None:
        self.keys = [json.dumps(name) + ":" for name, _ in columns]
        self.convert = [_JSON[kind] for _, kind in columns]

    def header(self) -> bytes:
        return b""

    def encode(self, rows: Sequence[Row]) -> bytes:
        pairs = list(zip(self.keys, self.convert, strict=True))
        lines = [
            # zip stops at the last column: a row's trailing key is not written.
            "{" + ",".join(k + f(v) for (k, f), v in zip(pairs, row, strict=False)) + "}\n"
            for row in rows
        ]
        return "".join(lines).encode()


ENCODERS: dict[str, type[CsvEncoder] | type[JsonlEncoder]] = {"csv": CsvEncoder, "jsonl": JsonlEncoder}
