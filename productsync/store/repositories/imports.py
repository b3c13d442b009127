"""Bulk import: staging, batch reads of what exists, and set-based writes.

Every write of an import batch is one statement per table: on PostgreSQL rows go in
with ``COPY`` (asyncpg's ``copy_records_to_table`` on the transaction's own
connection), updates are ``COPY`` into a temporary twin of the table followed by one
``UPDATE … FROM``; on SQLite they are multi-row statements. Keys already seen in the
file live in a temporary table, so duplicate detection costs no memory in Python.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, bindparam, delete, insert, select, text, tuple_, update
from sqlalchemy.types import TypeDecorator

from productsync.domain.catalog import Product
from productsync.domain.inventory import StockLevel
from productsync.domain.pricing import PriceEntry
from productsync.store.repositories.base import Repository
from productsync.store.repositories.catalog import _product
from productsync.store.tables import (
    price_boundaries,
    price_entries,
    product_barcodes,
    product_prices,
    products,
    stock_levels,
)
from productsync.store.types import UTCDateTime

_SQLITE_CACHE_KB = 65536
_CHUNK = 500  # keys per IN list (SQLite's variable limit is 32766; keep statements small)


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _encode_json(value: Any) -> str | None:
    """JSON text for COPY; empty containers (most of a product's JSON columns) skip the
    encoder."""
    if value is None:
        return None
    if not value and isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    return _ENCODER.encode(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_ENCODER = json.JSONEncoder(default=_json_default)


class ImportRepository(Repository):
    """Reads and writes of one import, on the import's unit-of-work connection."""

    _converters: dict[str, list[tuple[str, Any]]] = {}

    async def start(self) -> None:
        """The scratch tables of this transaction (dropped at its end)."""
        if not self.is_postgres:
            # One long write transaction inserts into several random-keyed indexes (uuid
            # keys, audit and outbox): with SQLite's default 2 MB page cache its dirty
            # pages spill and are read back all the time. 64 MB holds the hot pages; the
            # connection gets its default back in ``stop``.
            await self.conn.execute(text(f"PRAGMA cache_size = -{_SQLITE_CACHE_KB}"))
        suffix = " ON COMMIT DROP" if self.is_postgres else ""
        temp = "TEMP" if self.is_postgres else "TEMP"
        await self.conn.execute(text("DROP TABLE IF EXISTS import_seen"))
        await self.conn.execute(text("DROP TABLE IF EXISTS import_stage"))
        await self.conn.execute(
            text(f"CREATE {temp} TABLE import_seen (k TEXT PRIMARY KEY, line INTEGER NOT NULL){suffix}")
        )
        await self.conn.execute(
            text(
                f"CREATE {temp} TABLE import_stage (grp TEXT NOT NULL, line INTEGER NOT NULL, "
                f"payload TEXT NOT NULL){suffix}"
            )
        )

    async def stop(self) -> None:
        if not self.is_postgres:
            await self.conn.execute(text("PRAGMA cache_size = -2000"))

    async def first_lines(self, keys: list[tuple[str, int]]) -> dict[str, int]:
        """Record these (key, line) pairs as seen; returns, for keys seen on an earlier
        line of the file, that line (the row at hand is then a duplicate)."""
        if not keys:
            return {}
        earlier: dict[str, int] = {}
        if self.is_postgres:
            rows = await self.conn.execute(
                text(
                    "WITH given AS (SELECT * FROM unnest(CAST(:ks AS text[]), CAST(:ls AS int[])) "
                    "AS g(k, line)), "
                    "ins AS (INSERT INTO import_seen SELECT k, line FROM given ON CONFLICT (k) DO NOTHING "
                    "RETURNING k) SELECT s.k, s.line FROM import_seen s JOIN given g ON g.k = s.k "
                    "WHERE g.k NOT IN (SELECT k FROM ins)"
                ),
                {"ks": [k for k, _ in keys], "ls": [n for _, n in keys]},
            )
            earlier = {r[0]: r[1] for r in rows}
        else:
            for part in _chunks([k for k, _ in keys]):
                stmt = text("SELECT k, line FROM import_seen WHERE k IN :ks").bindparams(
                    bindparam("ks", expanding=True)
                )
                earlier.update({r[0]: r[1] for r in await self.conn.execute(stmt, {"ks": part})})
            await self.conn.execute(
                text("INSERT OR IGNORE INTO import_seen (k, line) VALUES (:k, :line)"),
                [{"k": k, "line": n} for k, n in keys],
            )
        return earlier

    async def stage(self, rows: list[tuple[str, int, str]]) -> None:
        """Rows kept until the whole file is read (a price tier set, a level's lots)."""
        if not rows:
            return
        if self.is_postgres:
            raw = await self._raw()
            await raw.copy_records_to_table("import_stage", records=rows, columns=["grp", "line", "payload"])
        else:
            await self.conn.execute(
                text("INSERT INTO import_stage (grp, line, payload) VALUES (:g, :l, :p)"),
                [{"g": g, "l": n, "p": p} for g, n, p in rows],
            )

    async def staged(self, after: tuple[str, int] | None, limit: int) -> list[tuple[str, int, str]]:
        """Staged rows in (group, line) order, a page after ``after``."""
        if after is None:
            stmt = text("SELECT grp, line, payload FROM import_stage ORDER BY grp, line LIMIT :n")
            params: dict[str, Any] = {"n": limit}
        else:
            stmt = text(
                "SELECT grp, line, payload FROM import_stage WHERE grp > :g OR (grp = :g AND line > :l) "
                "ORDER BY grp, line LIMIT :n"
            )
            params = {"g": after[0], "l": after[1], "n": limit}
        return [(r[0], r[1], r[2]) for r in await self.conn.execute(stmt, params)]

    async def index_stage(self) -> None:
        await self.conn.execute(
            text("CREATE INDEX IF NOT EXISTS ix_import_stage ON import_stage (grp, line)")
        )

    # --- reads ---------------------------------------------------------------------------

    async def products_by_sku(self, skus: set[str]) -> dict[tuple[uuid.UUID, str], Product]:
        """Products with these SKUs, keyed (owner, sku): an import merges on that pair."""
        out: dict[tuple[uuid.UUID, str], Product] = {}
        for part in _chunks(list(skus)):
            for r in await self.conn.execute(select(products).where(products.c.sku.in_(part))):
                p = _product(r)
                out[(p.owner_partner_id, p.sku)] = p
        return out

    async def barcode_owners(self, keys: set[str]) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        """The products carrying these GTIN-14s, by (owner partner, GTIN-14): a barcode is
        unique per owner partner (migration 0021), not hub-wide."""
        out: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        b = product_barcodes.c
        for part in _chunks(list(keys)):
            stmt = select(b.owner_partner_id, b.gtin14, b.product_id).where(b.gtin14.in_(part))
            out.update({(r.owner_partner_id, r.gtin14): r.product_id for r in await self.conn.execute(stmt)})
        return out

    async def levels(
        self, pairs: set[tuple[uuid.UUID, uuid.UUID]]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], StockLevel]:
        """Levels of these (product, location) pairs. Asked by product id (the leading
        key column) and filtered here: a row-value IN list of pairs plans badly on
        PostgreSQL (seconds per batch)."""
        out: dict[tuple[uuid.UUID, uuid.UUID], StockLevel] = {}
        L = stock_levels.c
        locations_ = {loc for _, loc in pairs}
        for part in _chunks(list({p for p, _ in pairs})):
            stmt = select(stock_levels).where(L.product_id.in_(part), L.location_id.in_(locations_))
            for r in await self.conn.execute(stmt):
                if (r.product_id, r.location_id) in pairs:
                    out[(r.product_id, r.location_id)] = StockLevel(
                        r.product_id,
                        r.location_id,
                        r.on_hand,
                        r.reserved,
                        r.safety_stock,
                        r.version,
                        r.updated_at,
                    )
        return out

    async def price_sets(
        self, pairs: set[tuple[uuid.UUID, uuid.UUID]]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[list[PriceEntry], int]]:
        """Tier sets and versions of (list, product) pairs that have a header (asked by
        list and product id lists, filtered here; see ``levels``)."""
        out: dict[tuple[uuid.UUID, uuid.UUID], tuple[list[PriceEntry], int]] = {}
        H, E = product_prices.c, price_entries.c
        lists = {lid for lid, _ in pairs}
        for part in _chunks(list({pid for _, pid in pairs})):
            heads = select(H.price_list_id, H.product_id, H.version).where(
                H.price_list_id.in_(lists), H.product_id.in_(part)
            )
            for r in await self.conn.execute(heads):
                if (r.price_list_id, r.product_id) in pairs:
                    out[(r.price_list_id, r.product_id)] = ([], r.version)
            stmt = (
                select(price_entries)
                .where(E.price_list_id.in_(lists), E.product_id.in_(part))
                .order_by(E.min_quantity, E.id)
            )
            for r in await self.conn.execute(stmt):
                if (r.price_list_id, r.product_id) in out:
                    out[(r.price_list_id, r.product_id)][0].append(
                        PriceEntry(r.min_quantity, r.amount, r.valid_from, r.valid_to)
                    )
        return out

    # --- writes --------------------------------------------------------------------------

    async def _raw(self) -> Any:
        raw = await self.conn.get_raw_connection()
        return raw.driver_connection

    def _converter(self, table: Table) -> list[tuple[str, Any]]:
        """Per column, how a Python value becomes what COPY sends (the column types'
        own bind processing: scaled quantities, UTC instants, JSON text)."""
        conv = self._converters.get(table.name)
        if conv is None:
            conv = []
            for c in table.c:
                if isinstance(c.type, UTCDateTime):
                    conv.append((c.name, None))  # asyncpg takes aware datetimes as they are
                elif isinstance(c.type, TypeDecorator):
                    conv.append((c.name, self._bind(c.type)))
                elif isinstance(c.type, JSON):
                    conv.append((c.name, _encode_json))
                else:
                    conv.append((c.name, None))
            self._converters[table.name] = conv
        return conv

    def _bind(self, type_: TypeDecorator[Any]) -> Any:
        dialect = self.conn.dialect
        process = type_.process_bind_param
        return lambda v: process(v, dialect)

    def _records(self, table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """COPY records: the first row's columns (read with one C-level getter), then only
        the values whose column needs it go through its converter."""
        pairs = [(n, f) for n, f in self._converter(table) if n in rows[0]]
        names = [n for n, _ in pairs]
        getter = itemgetter(*names)
        if len(names) == 1:
            return names, [(getter(row),) for row in rows]
        todo = [(i, f) for i, (_, f) in enumerate(pairs) if f is not None]
        if not todo:
            return names, [getter(row) for row in rows]
        records = []
        for row in rows:
            values = list(getter(row))
            for i, f in todo:
                v = values[i]
                if v is not None:
                    values[i] = f(v)
            records.append(tuple(values))
        return names, records

    async def insert_rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Many rows into one table: COPY on PostgreSQL, executemany on SQLite. Columns
        not in the first row take their defaults (an autoincrement id)."""
        if not rows:
            return
        if not self.is_postgres:
            await self.conn.execute(insert(table), rows)
            return
        names, records = self._records(table, rows)
        raw = await self._raw()
        await raw.copy_records_to_table(table.name, records=records, columns=names)

    async def update_rows(self, table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        """Rows of ``table`` rewritten by key: on PostgreSQL COPY into a temporary twin and
        one UPDATE … FROM; on SQLite one executemany UPDATE."""
        if not rows:
            return
        columns = [c for c in rows[0] if c not in keys]
        if not self.is_postgres:
            stmt = (
                update(table)
                .where(*[table.c[k] == bindparam(f"k_{k}") for k in keys])
                .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns})
            )
            params = [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in columns}} for r in rows]
            await self.conn.execute(stmt, params)
            return
        twin = f"import_upd_{table.name}"
        await self.conn.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS {twin} ON COMMIT DROP "
                f"AS SELECT * FROM {table.name} WHERE false"
            )
        )
        await self.conn.execute(text(f"TRUNCATE {twin}"))
        names, records = self._records(table, rows)
        raw = await self._raw()
        await raw.copy_records_to_table(twin, records=records, columns=names)
        sets = ", ".join(f"{c} = u.{c}" for c in columns)
        where = " AND ".join(f"t.{k} = u.{k}" for k in keys)
        await self.conn.execute(text(f"UPDATE {table.name} t SET {sets} FROM {twin} u WHERE {where}"))

    async def delete_barcodes(self, product_ids: list[uuid.UUID]) -> None:
        for part in _chunks(product_ids):
            await self.conn.execute(delete(product_barcodes).where(product_barcodes.c.product_id.in_(part)))

    async def delete_prices(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Entries and boundaries of these (list, product) pairs (their sets are replaced)."""
        for part in _chunks(pairs):
            for table in (price_entries, price_boundaries):
                await self.conn.execute(
                    delete(table).where(tuple_(table.c.price_list_id, table.c.product_id).in_(part))
                )

    async def product_exists(self, skus: list[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(skus):
            found.update(
                r[0] for r in await self.conn.execute(select(products.c.sku).where(products.c.sku.in_(part)))
            )
        return found
