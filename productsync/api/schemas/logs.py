"""The audit log and the event feed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from productsync.api.schemas.common import Page


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_key_id: uuid.UUID | None
    actor_partner_id: uuid.UUID | None
    origin: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditPage(Page):
    items: list[AuditOut]


class EventPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="CloudEvents 1.0 (structured JSON), in commit order.")
    next_cursor: str = Field(description="Pass as `after` to continue; unchanged when nothing new.")
