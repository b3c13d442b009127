"""What a channel holds, spooled to a temporary SQLite file while it is compared.

Readers yield items in the channel's order (Shopify by variant, a feed by line), the hub's
slice comes in product-id pages: neither side can be walked in the other's order. Rather
than a dict of a million ``ChannelItem`` objects, the items go to a local scratch file
(stdlib ``sqlite3``, no journal, no fsync — it lives only for the run) indexed by external
id and SKU; each page of expected items looks its few thousand keys up there, marks what
it claimed, and whatever is left unclaimed at the end is extra. Memory is one page.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.reconciliation import sku_key

CHUNK = 900  # bound parameters per statement (SQLite's historical limit is 999)
_COLUMNS = "ext, sku, skey, qty, price, cur, title, descr"


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


_Row = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]
_READ = "ext, sku, qty, price, cur, title, descr"


def _item(row: _Row) -> ChannelItem:
    ext, sku, qty, price, cur, title, descr = row
    return ChannelItem(
        external_id=ext,
        sku=sku,
        quantity=Decimal(qty) if qty is not None else None,
        price=Decimal(price) if price is not None else None,
        currency=cur,
        title=title,
        description=descr,
    )


def _merged(rows: list[_Row]) -> ChannelItem:
    """One item from the rows of one external id, in the channel's order."""
    if len(rows) == 1:
        return _item(rows[0])
    first: list[str | None] = list(rows[0])
    for row in rows[1:]:
        first = [a if a is not None else b for a, b in zip(first, row, strict=True)]
    return _item(tuple(first))  # type: ignore[arg-type]


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(keys), CHUNK):
        yield keys[i : i + CHUNK]


class Spool:
    """A run's scratch store of channel items (one thread at a time uses it)."""

    def __init__(self, directory: str | None = None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="productsync-reconcile-", suffix=".db", dir=directory)
        os.close(fd)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;
            PRAGMA cache_size=-65536;
            CREATE TABLE items (ext TEXT NOT NULL, sku TEXT, skey TEXT, qty TEXT, price TEXT,
                                cur TEXT, title TEXT, descr TEXT, claimed INTEGER NOT NULL DEFAULT 0);
            """
        )
        self.count = 0

    def add(self, items: Iterable[ChannelItem]) -> None:
        rows = [
            (
                i.external_id,
                i.sku,
                sku_key(i.sku),
                _dec(i.quantity),
                _dec(i.price),
                i.currency,
                i.title,
                i.description,
            )
            for i in items
        ]
        self.db.execute("BEGIN")
        self.db.executemany(f"INSERT INTO items ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        self.db.execute("COMMIT")
        self.count += len(rows)

    def index(self) -> None:
        """Index once everything is in (faster than keeping indexes up while loading)."""
        self.db.execute("CREATE INDEX ix_ext ON items (ext)")
        self.db.execute("CREATE INDEX ix_skey ON items (skey) WHERE skey IS NOT NULL")

    def by_external(self, ids: list[str]) -> dict[str, ChannelItem]:
        """The items with these external ids. Rows a channel reports twice under one id (a
        feed's stock row and price row of one SKU) are one item: the first value given
        for each field wins."""
        rows: dict[str, list[_Row]] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            stmt = f"SELECT {_READ} FROM items WHERE ext IN ({marks}) ORDER BY rowid"
            for row in self.db.execute(stmt, chunk):
                rows.setdefault(row[0], []).append(row)
        return {ext: _merged(found) for ext, found in rows.items()}

    def by_sku(self, keys: list[str]) -> dict[str, ChannelItem]:
        """Per SKU key, the first unclaimed item (for expected items without a mapping),
        merged over the rows of its external id that carry that SKU."""
        rows: dict[str, list[_Row]] = {}
        for chunk in _chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            stmt = f"SELECT skey, {_READ} FROM items WHERE skey IN ({marks}) AND claimed = 0 ORDER BY rowid"
            for skey, *row in self.db.execute(stmt, chunk):
                found = rows.setdefault(skey, [])
                if not found or found[0][0] == row[0]:
                    found.append(tuple(row))
        return {skey: _merged(found) for skey, found in rows.items()}

    def claim(self, ids: Iterable[str]) -> None:
        """Mark every row of these external ids as held by an expected item."""
        keys = sorted(set(ids))
        if not keys:
            return
        self.db.execute("BEGIN")
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"UPDATE items SET claimed = 1 WHERE ext IN ({marks})", chunk)
        self.db.execute("COMMIT")

    def unclaimed(self, batch: int = 5000) -> Iterator[list[ChannelItem]]:
        """The items no expected item claimed, in batches, in the channel's order (an id
        reported on several rows is reported on each of them)."""
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT rowid, ext, sku, qty, price, cur, title, descr FROM items "
                "WHERE rowid > ? AND claimed = 0 ORDER BY rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [_item(tuple(r[1:])) for r in rows]

    def close(self) -> None:
        self.db.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
