"""Shapes of scheduled jobs and feed runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from productsync.api.schemas.common import Input
from productsync.store.repositories.schedules import FeedRun, Schedule


class ScheduleOut(BaseModel):
    id: uuid.UUID
    key: str
    kind: str
    channel_id: uuid.UUID | None
    every_seconds: int
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    running_since: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    runs: int

    @classmethod
    def of(cls, s: Schedule) -> ScheduleOut:
        return cls.model_validate(s, from_attributes=True)


class SchedulePage(BaseModel):
    items: list[ScheduleOut]


class FeedRunOut(BaseModel):
    id: uuid.UUID
    schedule_id: uuid.UUID
    channel_id: uuid.UUID | None
    kind: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    runner: str
    counts: dict[str, int]
    errors: list[dict[str, Any]]
    error: str | None

    @classmethod
    def of(cls, r: FeedRun) -> FeedRunOut:
        return cls.model_validate(r, from_attributes=True)


class FeedRunPage(BaseModel):
    items: list[FeedRunOut]


class RunNowIn(Input):
    kind: Literal["file_feed", "pull_feed", "reconcile"] | None = None
