"""Reconciliation runs (the consistency history) and their per-SKU findings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from productsync.domain.reconciliation import Finding
from productsync.store.repositories.base import Repository
from productsync.store.tables_reconcile import reconciliation_findings, reconciliation_runs

ROWS_PER_INSERT = 1000


@dataclass(frozen=True)
class Run:
    id: uuid.UUID
    channel_id: uuid.UUID
    status: str
    trigger: str
    repair: str
    started_at: datetime
    finished_at: datetime | None
    expected: int
    matched: int
    items_read: int
    consistency_rate: float | None
    counts: dict[str, int]
    repaired: int
    error: str | None
    created_by: str | None


@dataclass(frozen=True)
class StoredFinding:
    seq: int
    kind: str
    sku: str | None
    product_id: uuid.UUID | None
    external_id: str | None
    hub_value: str | None
    channel_value: str | None


def _run(r: Row[Any]) -> Run:
    return Run(
        id=r.id,
        channel_id=r.channel_id,
        status=r.status,
        trigger=r.trigger,
        repair=r.repair,
        started_at=r.started_at,
        finished_at=r.finished_at,
        expected=r.expected,
        matched=r.matched,
        items_read=r.items_read,
        consistency_rate=r.consistency_rate,
        counts=dict(r.counts or {}),
        repaired=r.repaired,
        error=r.error,
        created_by=r.created_by,
    )


def _finding(r: Row[Any]) -> StoredFinding:
    return StoredFinding(r.seq, r.kind, r.sku, r.product_id, r.external_id, r.hub_value, r.channel_value)


class ReconciliationRepository(Repository):
    async def start(
        self,
        *,
        run_id: uuid.UUID,
        channel_id: uuid.UUID,
        trigger: str,
        repair: str,
        counts: dict[str, int],
        created_by: str | None,
        at: datetime,
    ) -> None:
        await self.conn.execute(
            insert(reconciliation_runs).values(
                id=run_id,
                channel_id=channel_id,
                status="running",
                trigger=trigger,
                repair=repair,
                started_at=at,
                expected=0,
                matched=0,
                items_read=0,
                counts=counts,
                repaired=0,
                created_by=created_by,
            )
        )

    async def finish(
        self,
        run_id: uuid.UUID,
        *,
        status: str,
        at: datetime,
        expected: int = 0,
        matched: int = 0,
        items_read: int = 0,
        rate: float | None = None,
        counts: dict[str, int] | None = None,
        repaired: int = 0,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "finished_at": at,
            "expected": expected,
            "matched": matched,
            "items_read": items_read,
            "consistency_rate": rate,
            "repaired": repaired,
            "error": error,
        }
        if counts is not None:
            values["counts"] = counts
        await self.conn.execute(
            update(reconciliation_runs).where(reconciliation_runs.c.id == run_id).values(**values)
        )

    async def add_findings(
        self, run_id: uuid.UUID, findings: Iterable[Finding], *, first_seq: int = 1
    ) -> int:
        """Multi-row INSERTs of ``ROWS_PER_INSERT`` findings; returns how many."""
        batch: list[dict[str, Any]] = []
        seq = first_seq - 1
        for seq, f in enumerate(findings, start=first_seq):  # noqa: B007 - seq is the count after the loop
            batch.append(
                {
                    "run_id": run_id,
                    "seq": seq,
                    "kind": f.kind.value,
                    "sku": f.sku,
                    "product_id": f.product_id,
                    "external_id": f.external_id,
                    "hub_value": f.hub_value,
                    "channel_value": f.channel_value,
                }
            )
            if len(batch) >= ROWS_PER_INSERT:
                await self.conn.execute(insert(reconciliation_findings), batch)
                batch = []
        if batch:
            await self.conn.execute(insert(reconciliation_findings), batch)
        return seq - first_seq + 1

    async def get(self, run_id: uuid.UUID) -> Run | None:
        row = (
            await self.conn.execute(select(reconciliation_runs).where(reconciliation_runs.c.id == run_id))
        ).first()
        return _run(row) if row else None

    async def runs(
        self, channel_id: uuid.UUID, *, before: datetime | None = None, limit: int = 100
    ) -> list[Run]:
        """The channel's runs, newest first (its consistency history)."""
        r = reconciliation_runs.c
        stmt = select(reconciliation_runs).where(r.channel_id == channel_id)
        if before is not None:
            stmt = stmt.where(r.started_at < before)
        stmt = stmt.order_by(r.started_at.desc(), r.id.desc()).limit(limit)
        return [_run(row) for row in await self.conn.execute(stmt)]

    async def findings(
        self, run_id: uuid.UUID, *, kind: str | None = None, after: int = 0, limit: int = 100
    ) -> list[StoredFinding]:
        f = reconciliation_findings.c
        stmt = select(reconciliation_findings).where(f.run_id == run_id, f.seq > after)
        if kind is not None:
            stmt = stmt.where(f.kind == kind)
        stmt = stmt.order_by(f.seq).limit(limit)
        return [_finding(row) for row in await self.conn.execute(stmt)]
