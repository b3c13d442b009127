"""Import jobs as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ImportProgress(BaseModel):
    rows: int = Field(description="Rows read so far.")
    bytes_read: int
    total_bytes: int


class ImportJobOut(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "failed"]
    kind: str | None
    format: str
    error_policy: str
    dry_run: bool
    file_name: str | None
    progress: ImportProgress
    rejected: int
    report: dict[str, Any] | None = Field(
        description="Counts per entity (created, updated, unchanged), the first errors "
        "(line, column, reason) and whether anything was written."
    )
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: dict[str, Any]) -> ImportJobOut:
        values: dict[str, Any] = {k: job.get(k) for k in cls.model_fields if k != "progress"}
        progress = ImportProgress(
            rows=job["rows"], bytes_read=job["bytes_read"], total_bytes=job["total_bytes"]
        )
        return cls(progress=progress, **values)
