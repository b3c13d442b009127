"""Bulk import use case: a file of products, stock, prices, mappings or aliases.

The file is read record by record and never held in memory: each row is checked on
its own (line, column, reason for each problem), good rows are merged a batch at a
time, rejected rows go to the rejected file with their reason. The whole import is
one transaction: under ``reject_all`` any rejected row rolls everything back, a dry
run always rolls back (its counts are those of the real run), and ``skip_failed``
commits the good rows. One audit record names the job; every changed entity has its
own before/after record and the same event the API would have written.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.exc import DBAPIError, IntegrityError

from productsync.domain.access import Actor, Scope
from productsync.domain.errors import Conflict, DomainError, ErrorCode, Forbidden, InvalidInput
from productsync.domain.import_formats import (
    ShopifyDefaults,
    guess_format,
    is_shopify,
    open_records,
    shopify_rows,
)
from productsync.domain.import_rows import parse_row
from productsync.domain.imports import (
    COLUMNS,
    ErrorPolicy,
    FileFormat,
    ImportKind,
    ImportReport,
    RowError,
    RowRejected,
    check_header,
    infer_kind,
)
from productsync.services import import_others, import_products
from productsync.services.import_batch import Batch, BatchContext
from productsync.services.import_refs import References
from productsync.services.import_rejects import RejectedWriter
from productsync.store.database import Database
from productsync.store.repositories.import_writes import ImportWrites
from productsync.store.repositories.log import audit_row
from productsync.store.uow import UnitOfWork, is_data_exception

BATCH = 2000
_SCOPES = {
    ImportKind.PRODUCTS: Scope.CATALOG_WRITE,
    ImportKind.STOCK: Scope.STOCK_WRITE,
    ImportKind.PRICES: Scope.PRICES_WRITE,
    ImportKind.MAPPINGS: Scope.CHANNELS_ADMIN,
    ImportKind.ALIASES: Scope.CATALOG_WRITE,
}
# kind -> (prepare(ctx, typed row, source) -> (merge key, prepared row), batch merger)
_HANDLERS: dict[ImportKind, tuple[Any, Batch[Any]]] = {
    ImportKind.PRODUCTS: (import_products.prepare, import_products.ProductBatch()),
    ImportKind.STOCK: (import_others.prepare_stock, import_others.StockBatch()),
    ImportKind.PRICES: (import_others.prepare_price, import_others.PriceBatch()),
    ImportKind.MAPPINGS: (import_others.prepare_mapping, import_others.MappingBatch()),
    ImportKind.ALIASES: (import_others.prepare_alias, import_others.AliasBatch()),
}


def required_scope(kind: ImportKind) -> Scope:
    return _SCOPES[kind]


@dataclass(frozen=True)
class ImportOptions:
    kind: ImportKind | None = None
    fmt: FileFormat | None = None
    dry_run: bool = False
    error_policy: ErrorPolicy = ErrorPolicy.REJECT_ALL
    partner: str | None = None
    location: str | None = None
    price_list: str | None = None
    category: str | None = None
    rejected_path: Path | None = None
    job_id: uuid.UUID | None = None
    batch_size: int = BATCH


Progress = Callable[[int, int], Any]  # (rows read, bytes read)


class _CountingReader(io.RawIOBase):
    """The bytes read so far, for progress and ETA by bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


async def run_import(
    db: Database,
    actor: Actor,
    path: Path,
    options: ImportOptions,
    *,
    progress: Progress | None = None,
    request_id: str | None = None,
) -> ImportReport:
    """Import one file (see module doc). Raises only for a file that cannot be read
    at all (not UTF-8, unknown kind) or a key that may not import this kind."""
    with path.open("rb") as fb:
        head = fb.read(512)
        fb.seek(0)
        fmt = options.fmt or guess_format(path.name, head)
        counter = _CountingReader(fb)
        stream = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding="utf-8", newline="")
        try:
            return await _run(db, actor, stream, fmt, options, counter, progress, request_id)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"the file is not UTF-8 (near byte {counter.count}): {exc.reason}") from exc


async def _run(
    db: Database,
    actor: Actor,
    stream: io.TextIOWrapper,
    fmt: FileFormat,
    options: ImportOptions,
    counter: _CountingReader,
    progress: Progress | None,
    request_id: str | None,
) -> ImportReport:
    file = open_records(stream, fmt)
    records = file.records()
    if is_shopify(file.header):
        if fmt is not FileFormat.CSV:
            raise InvalidInput("the Shopify dialect is a CSV format")
        kind = ImportKind.PRODUCTS
        defaults = ShopifyDefaults(options.category, options.location, options.price_list, options.partner)
        records = shopify_rows(records, defaults)
        header_errors: list[RowError] = []
        if options.category is None:
            header_errors.append(RowError(1, "category", "a Shopify file needs --category"))
    else:
        kind = options.kind or infer_kind(file.header)
        header_errors = check_header(kind, file.header) if fmt is FileFormat.CSV else []
        if fmt is FileFormat.JSONL and file.header:
            known = COLUMNS[kind].known
            header_errors = [
                RowError(1, c, "unknown key")
                for c in file.header
                if c not in known and c not in ("reason", "line")
            ]
    if not actor.has(_SCOPES[kind]):
        raise Forbidden(f"this key lacks the {_SCOPES[kind].value} scope", scope=_SCOPES[kind].value)
    report = ImportReport(kind=kind, dry_run=options.dry_run, error_policy=options.error_policy)
    rejects = RejectedWriter(options.rejected_path, fmt, file.header)
    try:
        if header_errors:
            report.errors.extend(header_errors)
            report.rejected = 0
            rejects.file_error(header_errors)
            return report
        try:
            await _import(db, actor, records, kind, options, report, rejects, counter, progress, request_id)
        except IntegrityError as exc:
            raise Conflict(
                "the data changed while the file was imported (a SKU, barcode or alias was written "
                "at the same time); nothing was written, run the import again",
                code=ErrorCode.DUPLICATE,
                concurrent=True,
            ) from exc
        except DBAPIError as exc:
            if is_data_exception(exc):
                raise InvalidInput(
                    "a value in the file cannot be stored (out of range or not representable)"
                ) from exc
            raise
    finally:
        rejects.close()
    report.bytes_read = counter.count
    return report


async def _import(
    db: Database,
    actor: Actor,
    records: Any,
    kind: ImportKind,
    options: ImportOptions,
    report: ImportReport,
    rejects: RejectedWriter,
    counter: _CountingReader,
    progress: Progress | None,
    request_id: str | None,
) -> None:
    prepare, merger = _HANDLERS[kind]
    async with UnitOfWork(db, request_id=request_id) as uow:
        writes = ImportWrites(uow.products.conn)
        await writes.start()
        ctx = BatchContext(
            uow=uow,
            writes=writes,
            actor=actor,
            refs=References(uow, actor, options.partner),
            report=report,
            columns=frozenset(),
            on_reject=rejects.write,
            now=uow.now,
            request_id=request_id,
        )
        batch: list[tuple[str, Any]] = []
        for rec in records:
            report.rows += 1
            if progress is not None and report.rows % 1000 == 0:
                progress(report.rows, counter.count)
            if isinstance(rec, RowError):
                ctx.reject(rec.line, None, [rec])
                continue
            try:
                typed = parse_row(kind, rec)
                key, prepared = await prepare(ctx, typed, rec)
            except RowRejected as exc:
                ctx.reject(rec.line, rec.source, exc.errors)
                continue
            except DomainError as exc:  # a rule that named no row: still this row's fault
                ctx.reject(rec.line, rec.source, [RowError(rec.line, None, exc.detail)])
                continue
            batch.append((key, prepared))
            if len(batch) >= options.batch_size:
                await _flush(ctx, merger, batch)
                batch = []
        await _flush(ctx, merger, batch)
        await merger.finish(ctx)
        await ctx.flush_journal()
        if progress is not None:
            progress(report.rows, counter.count)
        changed = any(c.created or c.updated for c in report.counts.values())
        keep = not options.dry_run and not (
            report.rejected and options.error_policy is ErrorPolicy.REJECT_ALL
        )
        if keep and changed:
            await writes.journal(
                [
                    audit_row(
                        actor=actor,
                        action="import.completed",
                        entity_type="import_job",
                        entity_id=options.job_id or uuid.uuid4(),
                        owner_partner_id=actor.partner_id,
                        before=None,
                        after=report.snapshot(),
                        request_id=request_id,
                        at=uow.now,
                    )
                ],
                [],
            )
        await writes.stop()
        if keep:
            await uow.commit()
            report.written = changed


async def _flush(ctx: BatchContext, merger: Batch[Any], batch: list[tuple[str, Any]]) -> None:
    """Reject later rows for a key already given (in this batch or an earlier one), then
    merge the rest."""
    if not batch:
        return
    firsts: dict[str, int] = {}
    unique: list[Any] = []
    for key, row in batch:
        if key in firsts:
            ctx.reject(row.line, row.source, [_duplicate(row.line, firsts[key])])
            continue
        firsts[key] = row.line
        unique.append((key, row))
    earlier = await ctx.writes.first_lines([(k, r.line) for k, r in unique])
    rows = []
    for key, row in unique:
        if key in earlier and earlier[key] != row.line:
            ctx.reject(row.line, row.source, [_duplicate(row.line, earlier[key])])
        else:
            rows.append(row)
    await merger.merge(ctx, rows)
    await ctx.flush_journal()


def _duplicate(line: int, first: int) -> RowError:
    return RowError(line, None, f"repeats the key of line {first} (each key may appear once)")
