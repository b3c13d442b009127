"""Payments against sales: a report over a time window, as JSON or as CSV for accounting.

Each payment record that occurred in the window (by the gateway event's time) is one row,
beside the ledger rows it claims; each sale or return the payment source wrote in the
window (by the ledger row's time) that no record claims is one row too. Every row gets a
status from ``domain/payment_reconciliation.py``. Rows are read a page at a time, each
page in its own read-only transaction, so a report (or a CSV download) of any size
holds neither memory nor a transaction open for long.

Who sees what: an admin key every row; a partner key (``catalog:read``) the payments for
its own products and its own products' ledger rows only - a payment for several partners'
goods, or one the hub refused before it knew the goods, is for admins only.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial

from productsync.domain.access import Actor, Scope
from productsync.domain.errors import Forbidden, InvalidInput
from productsync.domain.payment_reconciliation import (
    CSV_COLUMNS,
    DISCREPANCIES,
    STATUSES,
    PaymentRecord,
    RecordFacts,
    Status,
    classify,
    classify_orphan,
    from_minor,
)
from productsync.domain.quantities import format_quantity
from productsync.services.payment_records import SOURCE
from productsync.store.database import Database
from productsync.store.repositories.payments import Moved, OrphanMovement
from productsync.store.uow import UnitOfWork, transaction

PAGE = 1000
FINDINGS_MAX = 1000


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime


def _instant(raw: str, name: str, *, end: bool) -> datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            # A day is the whole UTC day: from its midnight, to the next one.
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"{name} is not an ISO 8601 date or date-time: {raw[:40]!r}", field=name) from exc
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"{name} needs a UTC offset (e.g. 2026-11-23T00:00:00Z)", field=name)
    try:
        return at.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+14:00 has no UTC instant
        raise InvalidInput(f"{name} is out of range", field=name) from exc


def parse_window(raw_from: str | None, raw_to: str | None) -> Window:
    """``from`` and ``to``: dates (whole UTC days, ``to`` inclusive) or date-times with
    an offset (``to`` exclusive); ``from`` must come before ``to``."""
    if not raw_from:
        raise InvalidInput("from is required", field="from")
    if not raw_to:
        raise InvalidInput("to is required", field="to")
    start, end = _instant(raw_from, "from", end=False), _instant(raw_to, "to", end=True)
    if start >= end:
        raise InvalidInput("from must be before to", field="from")
    return Window(start, end)


@dataclass(frozen=True)
class ReportRow:
    """One payment/sale pair (or one side of it, when the other is missing)."""

    status: Status
    detail: str
    kind: str
    occurred_at: datetime
    source: str
    payment_ref: str | None
    event_id: str | None
    currency: str | None
    amount_minor: int | None
    expected_minor: int | None
    price_list_id: uuid.UUID | None
    sku: str | None
    product_id: uuid.UUID | None
    quantity: Decimal | None
    reservation_id: uuid.UUID | None
    movement_ids: tuple[int, ...]
    moved_quantity: Decimal | None

    def cells(self) -> dict[str, str]:
        """The CSV row: plain text, amounts both as minor units and as decimals."""

        def text(v: object) -> str:
            return "" if v is None else str(v)

        def money(minor: int | None) -> str:
            return "" if minor is None or self.currency is None else str(from_minor(minor, self.currency))

        return {
            "status": self.status.value,
            "detail": _safe(self.detail),
            "kind": self.kind,
            "occurred_at": self.occurred_at.isoformat(),
            "source": self.source,
            "payment_ref": _safe(self.payment_ref),
            "event_id": _safe(self.event_id),
            "currency": text(self.currency),
            "amount_minor": text(self.amount_minor),
            "amount": money(self.amount_minor),
            "expected_minor": text(self.expected_minor),
            "expected_amount": money(self.expected_minor),
            "price_list_id": text(self.price_list_id),
            "sku": _safe(self.sku),
            "product_id": text(self.product_id),
            "quantity": "" if self.quantity is None else format_quantity(self.quantity),
            "reservation_id": text(self.reservation_id),
            "movement_ids": " ".join(str(m) for m in self.movement_ids),
            "moved_quantity": "" if self.moved_quantity is None else format_quantity(self.moved_quantity),
        }


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: str | None) -> str:
    """Text that came from outside (SKUs, ids, reasons) cannot start a spreadsheet formula."""
    if value is None:
        return ""
    return f"'{value}" if value.startswith(_FORMULA) else value


def record_row(record: PaymentRecord, moved: list[Moved]) -> ReportRow:
    status, detail = classify(
        RecordFacts(
            kind=record.kind,
            outcome=record.outcome,
            moved=bool(moved),
            amount_minor=record.amount_minor,
            currency=record.currency,
            expected_minor=record.expected_minor,
            price_currency=record.price_currency,
            check_note=record.check_note,
            error=record.error,
        )
    )
    return ReportRow(
        status=status,
        detail=detail,
        kind=record.kind.value,
        occurred_at=record.occurred_at,
        source=record.source,
        payment_ref=record.payment_ref,
        event_id=record.event_id,
        currency=record.currency,
        amount_minor=record.amount_minor,
        expected_minor=record.expected_minor,
        price_list_id=record.price_list_id,
        sku=record.sku,
        product_id=record.product_id,
        quantity=record.quantity,
        reservation_id=record.reservation_id,
        movement_ids=tuple(m.movement_id for m in moved),
        moved_quantity=sum((m.quantity for m in moved), Decimal(0)) if moved else None,
    )


def orphan_row(m: OrphanMovement) -> ReportRow:
    status, detail = classify_orphan(m.kind)
    return ReportRow(
        status=status,
        detail=detail,
        kind=m.kind,
        occurred_at=m.created_at,
        source=SOURCE,
        payment_ref=None,
        event_id=None,
        currency=None,
        amount_minor=None,
        expected_minor=None,
        price_list_id=None,
        sku=m.sku,
        product_id=m.product_id,
        quantity=None,
        reservation_id=m.reservation_id,
        movement_ids=(m.id,),
        moved_quantity=m.quantity,
    )


def _owners(actor: Actor) -> frozenset[uuid.UUID] | None:
    """Admins: everything; a partner key: its own products' payments only (not shared ones:
    a payment is the owner's money)."""
    if actor.is_admin:
        return None
    actor.require(Scope.CATALOG_READ)
    if actor.partner_id is None:
        raise Forbidden("the payments reconciliation needs an admin key or a partner's key")
    return frozenset({actor.partner_id})


async def report_rows(
    db: Database, actor: Actor, window: Window, *, page: int = PAGE
) -> AsyncIterator[ReportRow]:
    """Every row of the report: payment records by (occurred_at, id), then the payment
    source's unclaimed ledger rows by id."""
    owners = _owners(actor)
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        read = partial(_records, window=window, owners=owners, after=after, limit=page)
        batch = await transaction(db, read, readonly=True)
        for record, moved in batch:
            yield record_row(record, moved)
        if len(batch) < page:
            break
        after = (batch[-1][0].occurred_at, batch[-1][0].id)
    after_id = 0
    while True:
        read_orphans = partial(_orphans, window=window, owners=owners, after_id=after_id, limit=page)
        found = await transaction(db, read_orphans, readonly=True)
        for movement in found:
            yield orphan_row(movement)
        if len(found) < page:
            break
        after_id = found[-1].id


async def _records(
    uow: UnitOfWork,
    *,
    window: Window,
    owners: frozenset[uuid.UUID] | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[PaymentRecord, list[Moved]]]:
    return await uow.payments.records_page(window.start, window.end, owners=owners, after=after, limit=limit)


async def _orphans(
    uow: UnitOfWork, *, window: Window, owners: frozenset[uuid.UUID] | None, after_id: int, limit: int
) -> list[OrphanMovement]:
    return await uow.payments.orphans_page(
        SOURCE, window.start, window.end, owners=owners, after_id=after_id, limit=limit
    )


@dataclass
class Report:
    window: Window
    counts: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in STATUSES})
    # Per currency: minor units paid and refunded (what the accounts should show).
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[ReportRow] = field(default_factory=list)
    findings_truncated: bool = False

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def discrepancies(self) -> int:
        return sum(n for s, n in self.counts.items() if Status(s) in DISCREPANCIES)


async def reconcile(db: Database, actor: Actor, window: Window, *, limit: int = FINDINGS_MAX) -> Report:
    """Counts per status over the whole window, money totals per currency, and the rows
    that are not plain matches (the first ``limit`` of them)."""
    report = Report(window)
    counts: Counter[str] = Counter()
    async for row in report_rows(db, actor, window):
        counts[row.status.value] += 1
        if row.currency is not None and row.amount_minor is not None and row.event_id is not None:
            per = report.totals.setdefault(row.currency, {"paid": 0, "refunded": 0})
            per[row.kind] = per.get(row.kind, 0) + row.amount_minor
        if row.status is not Status.MATCHED:
            if len(report.findings) < limit:
                report.findings.append(row)
            else:
                report.findings_truncated = True
    report.counts.update(counts)
    return report


async def csv_chunks(db: Database, actor: Actor, window: Window) -> AsyncIterator[bytes]:
    """The report as CSV (``CSV_COLUMNS``), a chunk per page of rows."""
    _owners(actor)  # refuse before the first byte is sent
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    async for row in report_rows(db, actor, window):
        writer.writerow(row.cells())
        count += 1
        if count % PAGE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
