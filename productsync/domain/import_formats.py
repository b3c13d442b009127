"""Reading import files record by record: CSV (RFC 4180), JSONL, and the Shopify
product CSV export as a dialect of the products kind.

Readers take an iterable of text lines (a file opened with ``newline=""``) and yield
``RawRow`` or ``RowError`` one record at a time, so memory does not grow with the file.
Each record carries the line it started on: that is the line every error names.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from productsync.domain.imports import FileFormat, RawRow, RowError

SHOPIFY_MARKERS = ("Handle", "Variant SKU")


class _LineCounter:
    """Feeds csv.reader lines while counting them, so a record knows its first line
    (csv's own ``line_num`` is where the record ended)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.consumed = 0

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed += 1
        return line


@dataclass
class CsvFile:
    """A CSV file's header and records. ``header`` is read at construction."""

    lines: Iterable[str]

    def __post_init__(self) -> None:
        self._counter = _LineCounter(self.lines)
        self._reader = csv.reader(self._counter, strict=True)
        try:
            first = next(self._reader)
        except StopIteration:
            first = []
        except csv.Error:
            first = []
        if first and first[0].startswith("\ufeff"):
            first[0] = first[0][1:]  # a UTF-8 BOM written by spreadsheets
        self.header = [c.strip() for c in first]

    def records(self) -> Iterator[RawRow | RowError]:
        width = len(self.header)
        while True:
            start = self._counter.consumed + 1
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RowError(start, None, f"malformed CSV: {exc}")
                continue
            if not fields or fields == [""]:
                continue  # blank line
            if len(fields) != width:
                yield RowError(start, None, f"has {len(fields)} fields, the header has {width}")
                continue
            yield RawRow(start, dict(zip(self.header, fields, strict=True)), fields)


@dataclass
class JsonlFile:
    """JSONL: one object per line; the header is the first object's keys (reported
    only; every line may give any known key)."""

    lines: Iterable[str]

    def __post_init__(self) -> None:
        self._lines = iter(self.lines)
        self._first: tuple[int, str] | None = None
        self.header: list[str] = []
        for n, line in enumerate(self._lines, start=1):
            if line.strip():
                self._first = (n, line)
                try:
                    obj = json.loads(line)
                    self.header = list(obj) if isinstance(obj, dict) else []
                except ValueError:
                    self.header = []
                break
        self._offset = self._first[0] if self._first else 0

    def records(self) -> Iterator[RawRow | RowError]:
        if self._first is None:
            return
        yield self._parse(*self._first)
        for n, line in enumerate(self._lines, start=self._offset + 1):
            if line.strip():
                yield self._parse(n, line)

    @staticmethod
    def _parse(n: int, line: str) -> RawRow | RowError:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            return RowError(n, None, f"is not valid JSON: {exc}")
        if not isinstance(obj, dict):
            return RowError(n, None, "must be a JSON object")
        return RawRow(n, obj, obj)


def open_records(lines: Iterable[str], fmt: FileFormat) -> CsvFile | JsonlFile:
    return CsvFile(lines) if fmt is FileFormat.CSV else JsonlFile(lines)


def guess_format(name: str | None, first_bytes: bytes) -> FileFormat:
    """By extension, else by content (a JSON object starts with ``{``)."""
    if name:
        lowered = name.lower()
        if lowered.endswith((".jsonl", ".ndjson", ".json")):
            return FileFormat.JSONL
        if lowered.endswith(".csv"):
            return FileFormat.CSV
    return FileFormat.JSONL if first_bytes.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else FileFormat.CSV


def is_shopify(header: list[str]) -> bool:
    return all(m in header for m in SHOPIFY_MARKERS)


@dataclass(frozen=True)
class ShopifyDefaults:
    """What the Shopify export does not say and the hub needs: the category of the
    products, where its inventory quantities are counted and which list its prices go to."""

    category: str | None
    location: str | None
    price_list: str | None
    partner: str | None = None


_PRODUCT_FIELDS = ("Title", "Body (HTML)", "Vendor", "Type", "Tags", "Published")


def shopify_rows(
    records: Iterable[RawRow | RowError], defaults: ShopifyDefaults
) -> Iterator[RawRow | RowError]:
    """Shopify's product CSV as products-kind rows: one hub product per variant with a
    SKU. Rows without a Title continue the product of their Handle (its title, body and
    options); options become attributes (``Size`` -> ``size``), Variant Barcode a
    barcode, Variant Inventory Qty stock at the default location and Variant Price a
    price on the default list. Image-only rows (no SKU) are skipped."""
    current: dict[str, Any] = {}
    handle = None
    for rec in records:
        if isinstance(rec, RowError):
            yield rec
            continue
        v = rec.values
        row_handle = (v.get("Handle") or "").strip() or handle  # a blank Handle continues
        if row_handle != handle or (v.get("Title") or "").strip():
            if row_handle != handle or not current:
                current = {}
            handle = row_handle
            for f in _PRODUCT_FIELDS:
                if (v.get(f) or "").strip():
                    current[f] = v[f]
            for i in (1, 2, 3):
                name = (v.get(f"Option{i} Name") or "").strip()
                if name:
                    current[f"Option{i} Name"] = name
        sku = (v.get("Variant SKU") or "").strip()
        if not sku:
            continue
        attributes: dict[str, Any] = {}
        for i in (1, 2, 3):
            name = current.get(f"Option{i} Name")
            value = (v.get(f"Option{i} Value") or "").strip()
            if name and value and name.lower() != "title":
                attributes[name.strip().lower().replace(" ", "_")] = value
        title = current.get("Title") or handle or sku
        values: dict[str, Any] = {
            "sku": sku,
            "name": title if not attributes else f"{title} ({' / '.join(attributes.values())})",
            "category": defaults.category or "",
            "description": current.get("Body (HTML)", ""),
            "attributes": json.dumps(attributes),
            "barcodes": (v.get("Variant Barcode") or "").strip(),
        }
        if defaults.partner:
            values["partner"] = defaults.partner
        qty = (v.get("Variant Inventory Qty") or "").strip()
        if qty and defaults.location:
            values["location"], values["on_hand"] = defaults.location, qty
        price = (v.get("Variant Price") or "").strip()
        if price and defaults.price_list:
            values["price_list"], values["price"] = defaults.price_list, price
        yield RawRow(rec.line, values, rec.source)
