"""Exports of the catalog, stock, prices, SKU mappings and aliases: full, or a delta since
a cursor; CSV or JSONL; optionally in one channel's view.

**Format.** Exactly the import format (``services/export_rows.py``), so an export imported
again changes nothing. A channel's view (``channel_id``) is read-only: what the hub says
that channel holds (its external ids, its available-to-sell, its price and currency, its
locale), from ``services/channel_slices.py``.

**Streaming.** Rows are read in keyset pages (``PAGE`` rows, by primary key), each page
in its own short read-only transaction, and encoded as they are read: memory is one
page whatever the size of the catalog, and no transaction stays open while a slow
client reads.

**Cursors and deltas.** A cursor is a position in the outbox's ``seq`` order. ``seq`` is
stamped after commit by the single sequencer (``OutboxRepository.sequence_pending``),
so every event at or below a stamped position belongs to a committed transaction. An
export first sequences what has committed, then takes the highest ``seq`` as its cursor
``E``, then reads the rows in later transactions: every change with ``seq <= E`` is
therefore in what it reads, and a change committed later (whenever it was stamped with
``updated_at``) gets a ``seq > E`` and is in the next delta. A delta since ``S`` holds the
things (product; stock level; tier set on a price list) with a public event in
``(S, E]``, in their current state. ``updated_at`` is never used: it is stamped before
commit, so a transaction that commits late would be missed by a watermark on it.
Mappings and aliases announce no events, so a delta of them is the full set (small, and
an import of unchanged rows changes nothing). A delta touching more than ``DELTA_MAX``
things is served as the full set for the same reason: never missing anything matters,
listing a few unchanged rows does not. A channel view's cursor also remembers the
channel's version: after the channel's slice changed, its delta is the whole view.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, get_args

from productsync.domain.access import Actor, Scope
from productsync.domain.channels import Channel
from productsync.domain.errors import InvalidInput
from productsync.services import export_rows as rows
from productsync.services.channel_slices import expected_items
from productsync.services.channels import get_channel
from productsync.store.database import Database
from productsync.store.repositories.exports import PRICE_EVENTS, PRODUCT_EVENTS, STATE_EVENTS, STOCK_EVENTS
from productsync.store.uow import UnitOfWork, transaction

ExportKind = Literal["products", "stock", "prices", "mappings", "aliases"]
ExportFormat = Literal["csv", "jsonl"]
KINDS: tuple[str, ...] = get_args(ExportKind)
FORMATS: tuple[str, ...] = get_args(ExportFormat)
VIEW_KINDS = ("products", "stock", "prices")
PAGE = 5000
DELTA_PAGE = 1000  # keys of a delta read per query
CHANGES_PAGE = 10_000  # outbox rows scanned per transaction when collecting a delta
DELTA_MAX = 200_000  # more changed things than this: the full set (bounded memory)
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class ExportRequest:
    kind: ExportKind
    format: Literal["csv", "jsonl"] = "csv"
    since: str | None = None  # a cursor from an earlier export: delta
    channel_id: uuid.UUID | None = None  # that channel's view


@dataclass(frozen=True)
class Cursor:
    seq: int
    channel_id: uuid.UUID | None = None
    channel_version: int | None = None

    def encode(self) -> str:
        body: dict[str, Any] = {"v": _CURSOR_VERSION, "s": self.seq}
        if self.channel_id is not None:
            body.update(c=self.channel_id.hex, cv=self.channel_version)
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(token: str) -> Cursor:
        """A cursor this hub gave out; anything else is a 422 naming ``since``."""
        bad = InvalidInput("since is not a cursor from an earlier export", field="since")
        token = token.strip()
        if not token or len(token) > 200:
            raise bad
        try:
            body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(body, dict) or body.get("v") != _CURSOR_VERSION:
                raise bad
            seq, channel, version = body.get("s"), body.get("c"), body.get("cv")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise bad
            if channel is not None and not isinstance(version, int):
                raise bad
            return Cursor(seq, uuid.UUID(hex=channel) if channel is not None else None, version)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise bad from None


Page = tuple[list[rows.Row], Any]  # rows of a page, and the key to continue after (None: done)
Reader = Callable[[UnitOfWork, Any, Collection[Any] | None], Awaitable[Page]]


class Export:
    """An export opened: its cursor (pass it as ``since`` next time) and its bytes."""

    def __init__(
        self,
        *,
        db: Database,
        cursor: str,
        encoder: rows.CsvEncoder | rows.JsonlEncoder,
        reader: Reader,
        keys: Callable[[], Awaitable[list[Any] | None]] | None,
    ) -> None:
        self.cursor = cursor
        self.content_type = encoder.content_type
        self._db = db
        self._encoder = encoder
        self._reader = reader
        self._keys = keys
        self.rows = 0  # written so far

    async def chunks(self) -> AsyncIterator[bytes]:
        """The header, then one chunk per page; each page its own read-only transaction."""
        header = self._encoder.header()
        if header:
            yield header
        keys = await self._keys() if self._keys is not None else None
        if keys is None:
            async for chunk in self._walk(None):
                yield chunk
            return
        for start in range(0, len(keys), DELTA_PAGE):
            async for chunk in self._walk(keys[start : start + DELTA_PAGE]):
                yield chunk

    async def _walk(self, only: Collection[Any] | None) -> AsyncIterator[bytes]:
        """Pages in key order. The next page is read while this one is encoded (in a
        worker thread, so the event loop keeps the read going): the database's time and
        Python's overlap instead of adding up. At most two pages are held at once."""

        async def read(after: Any) -> Page:
            async def page(uow: UnitOfWork) -> Page:
                return await self._reader(uow, after, only)

            return await transaction(self._db, page, readonly=True)

        pending: asyncio.Task[Page] | None = asyncio.create_task(read(None))
        try:
            while pending is not None:
                page, after = await pending
                pending = asyncio.create_task(read(after)) if after is not None else None
                if page:
                    self.rows += len(page)
                    yield await asyncio.to_thread(self._encoder.encode, page)
        finally:
            if pending is not None:  # the consumer went away (a client disconnected)
                pending.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await pending


async def _sequenced_top(uow: UnitOfWork) -> int:
    """Stamp what has committed, then the highest stamp: everything at or below it is
    committed (see the module docstring)."""
    await uow.outbox.sequence_pending()
    return await uow.outbox.latest_seq()


async def open_export(db: Database, actor: Actor, request: ExportRequest) -> Export:
    """Check the request and the caller's rights, fix the cursor; rows are read as the
    export's chunks are consumed."""
    kind, fmt = request.kind, request.format
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    since = Cursor.decode(request.since) if request.since is not None else None
    actor.require(Scope.CATALOG_READ)
    channel: Channel | None = None
    if request.channel_id is not None:
        if kind not in (*VIEW_KINDS, "mappings"):
            raise InvalidInput(f"a channel view exports {', '.join(VIEW_KINDS)} or mappings", field="kind")
        channel_id = request.channel_id
        channel = await transaction(db, lambda uow: get_channel(uow, actor, channel_id), readonly=True)
    top = await transaction(db, _sequenced_top)
    if since is not None and since.seq > top:
        raise InvalidInput("since is not a cursor from an earlier export", field="since")
    cursor = Cursor(top)
    if channel is not None and kind != "mappings":
        cursor = Cursor(top, channel.id, channel.version)
        columns: rows.Columns = rows.VIEW_COLUMNS[kind]
        reader, keys = _view(db, actor, channel, kind, since, top)
    else:
        columns, reader, keys = _plain(db, actor, kind, fmt, since, top, channel)
    encoder = rows.ENCODERS[fmt](columns)
    return Export(db=db, cursor=cursor.encode(), encoder=encoder, reader=reader, keys=keys)


# --- plain exports (the import format) --------------------------------------------------


def _plain(
    db: Database, actor: Actor, kind: str, fmt: str, since: Cursor | None, top: int, channel: Channel | None
) -> tuple[rows.Columns, Reader, Callable[[], Awaitable[list[Any] | None]] | None]:
    owners = actor.readable_owners()

    as_csv = fmt == "csv"

    async def products(uow: UnitOfWork, after: Any, only: Collection[Any] | None) -> Page:
        found = await uow.exports.product_rows(owners=owners, after=after, limit=PAGE, ids=only, csv=as_csv)
        return found, (found[-1].id if len(found) == PAGE else None)

    async def stock(uow: UnitOfWork, after: Any, only: Collection[Any] | None) -> Page:
        found = await uow.exports.level_rows(owners=owners, after=after, limit=PAGE, keys=only)
        lots = await uow.exports.lots_of(found[0][0], found[-1][0]) if found else {}
        out = [row for r in found for row in rows.stock_rows(r, lots.get((r[0], r[1]), []))]
        last = found[-1] if len(found) == PAGE else None
        return out, (None if last is None else (last.product_id, last.location_id))

    async def prices(uow: UnitOfWork, after: Any, only: Collection[Any] | None) -> Page:
        found = await uow.exports.price_rows(owners=owners, after=after, limit=PAGE, pairs=only)
        last = found[-1] if len(found) == PAGE else None
        return [rows.price_row(r) for r in found], (None if last is None else last.id)

    channel_owners = None if actor.is_admin else frozenset({actor.partner_id} if actor.partner_id else ())

    async def mappings(uow: UnitOfWork, after: Any, only: Collection[Any] | None) -> Page:
        found = await uow.exports.mapping_rows(
            channel_owners=channel_owners,
            owners=owners,
            channel_id=channel.id if channel is not None else None,
            after=after,
            limit=PAGE,
        )
        last = found[-1] if len(found) == PAGE else None
        return [rows.mapping_row(r) for r in found], (
            None if last is None else (last.channel_id, last.external_id)
        )

    async def aliases(uow: UnitOfWork, after: Any, only: Collection[Any] | None) -> Page:
        found = await uow.exports.alias_rows(owners=owners, after=after, limit=PAGE)
        last = found[-1] if len(found) == PAGE else None
        return [rows.alias_row(r) for r in found], (None if last is None else (last.scheme, last.code))

    table: dict[str, tuple[rows.Columns, Reader]] = {
        "products": (rows.PRODUCT_CSV_COLUMNS if as_csv else rows.PRODUCT_COLUMNS, products),
        "stock": (rows.STOCK_COLUMNS, stock),
        "prices": (rows.PRICE_COLUMNS, prices),
        "mappings": (rows.MAPPING_COLUMNS, mappings),
        "aliases": (rows.ALIAS_COLUMNS, aliases),
    }
    columns, reader = table[kind]
    keys = None if since is None or kind not in _DELTA_KEYS else _delta(db, kind, since.seq, top)
    return columns, reader, keys


def _product_key(r: Any) -> Any:
    return r.product_id


def _level_key(r: Any) -> Any:
    return None if r.location_code is None else (r.product_id, r.location_code)


def _price_key(r: Any) -> Any:
    return None if r.price_list_id is None else (uuid.UUID(str(r.price_list_id)), r.product_id)


# What a delta of each kind is keyed by, and which events name those keys.
_DELTA_KEYS: dict[str, tuple[tuple[Any, ...], Callable[[Any], Any]]] = {
    "products": (PRODUCT_EVENTS, _product_key),
    "stock": (STOCK_EVENTS, _level_key),
    "prices": (PRICE_EVENTS, _price_key),
    "view": (STATE_EVENTS, _product_key),
}


def _delta(db: Database, kind: str, after_seq: int, top: int) -> Callable[[], Awaitable[list[Any] | None]]:
    """Collect the keys of things changed in ``(after_seq, top]`` (sorted), scanning the
    outbox in pages; None (the full set) when more than ``DELTA_MAX`` changed."""
    types, key_of = _DELTA_KEYS[kind]

    async def collect() -> list[Any] | None:
        keys: set[Any] = set()
        seq = after_seq
        while seq < top:

            async def read(uow: UnitOfWork, seq: int = seq) -> Sequence[Any]:
                return await uow.exports.changes(after_seq=seq, upto_seq=top, types=types, limit=CHANGES_PAGE)

            page = await transaction(db, read, readonly=True)
            keys.update(k for k in map(key_of, page) if k is not None)
            if len(keys) > DELTA_MAX:
                return None
            if len(page) < CHANGES_PAGE:
                break
            seq = int(page[-1].seq)
        return sorted(keys, key=str)

    return collect


# --- a channel's view -------------------------------------------------------------------


def _view(
    db: Database, actor: Actor, channel: Channel, kind: str, since: Cursor | None, top: int
) -> tuple[Reader, Callable[[], Awaitable[list[Any] | None]] | None]:
    """Expected items of the channel's slice (``channel_slices``), for products the
    caller may read, as rows of the view's columns."""
    owners = actor.readable_owners()

    async def reader(uow: UnitOfWork, after: Any, only: Collection[Any] | None) -> Page:
        if only is not None:
            products = await uow.exports.slice_products(
                partner_ids=channel.partner_ids,
                category_ids=channel.category_ids,
                after=after,
                limit=PAGE,
                ids=only,
            )
        else:
            products = await uow.exports.slice_products(
                partner_ids=channel.partner_ids, category_ids=channel.category_ids, after=after, limit=PAGE
            )
        visible = [p for p in products if owners is None or p.owner_partner_id in owners]
        items = await expected_items(uow, channel, visible)
        codes = await uow.exports.partner_codes({p.owner_partner_id for p in visible})
        out = [
            rows.view_row(
                kind, i, codes.get(i.owner_partner_id) if i.owner_partner_id else None, channel.locale
            )
            for i in items
        ]
        return out, (products[-1].id if len(products) == PAGE else None)

    same_slice = (
        since is not None and since.channel_id == channel.id and since.channel_version == channel.version
    )
    keys = _delta(db, "view", since.seq, top) if since is not None and same_slice else None
    return reader, keys


__all__ = [
    "Export",
    "ExportKind",
    "ExportRequest",
    "open_export",
]
