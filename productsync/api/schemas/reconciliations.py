"""Channel reconciliation: runs (the report's counts and rate), findings, consistency history."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from productsync.api.schemas.common import Page
from productsync.store.repositories.reconciliations import Run, StoredFinding

KINDS_DOC = "missing, extra, wrong_stock, wrong_price or wrong_text"


class RunOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    status: str = Field(description="running, succeeded or failed")
    trigger: str = Field(description="on_demand or scheduled")
    repair: str = Field(description="report (findings only) or push (the hub's state sent for drifted SKUs)")
    started_at: datetime
    finished_at: datetime | None
    expected: int = Field(description="SKUs the channel should hold")
    matched: int = Field(description="Of those, SKUs the channel holds exactly (within its tolerances)")
    items_read: int = Field(description="Items the channel reported")
    consistency_rate: float | None = Field(description="matched / expected, 0-1 (1 when it should hold none)")
    counts: dict[str, int] = Field(description=f"Findings per kind: {KINDS_DOC}")
    repaired: int = Field(description="Products whose current state was queued to the channel")
    error: str | None = Field(description="Why a failed run failed (e.g. the channel could not be read)")

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            id=run.id,
            channel_id=run.channel_id,
            status=run.status,
            trigger=run.trigger,
            repair=run.repair,
            started_at=run.started_at,
            finished_at=run.finished_at,
            expected=run.expected,
            matched=run.matched,
            items_read=run.items_read,
            consistency_rate=run.consistency_rate,
            counts=run.counts,
            repaired=run.repaired,
            error=run.error,
        )


class FindingOut(BaseModel):
    seq: int
    kind: str = Field(description=KINDS_DOC)
    sku: str | None
    product_id: uuid.UUID | None = Field(description="The hub product (null for an extra item)")
    external_id: str | None = Field(description="The channel's id of the item")
    hub_value: str | None = Field(description="What the hub says (quantity, price with currency, text)")
    channel_value: str | None = Field(description="What the channel holds")

    @classmethod
    def of(cls, f: StoredFinding) -> FindingOut:
        return cls(
            seq=f.seq,
            kind=f.kind,
            sku=f.sku,
            product_id=f.product_id,
            external_id=f.external_id,
            hub_value=f.hub_value,
            channel_value=f.channel_value,
        )


class RunReportOut(RunOut, Page):
    findings: list[FindingOut]


class RunListOut(BaseModel):
    runs: list[RunOut]


class ConsistencyPoint(BaseModel):
    run_id: uuid.UUID
    at: datetime
    trigger: str
    consistency_rate: float | None
    expected: int
    matched: int
    counts: dict[str, int]


class ConsistencyOut(BaseModel):
    channel_id: uuid.UUID
    current: float | None = Field(description="The latest successful run's rate (null: never reconciled)")
    history: list[ConsistencyPoint] = Field(description="Successful runs, newest first")
