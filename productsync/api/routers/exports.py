"""Exports: the catalog, stock, prices, mappings and aliases as a streamed CSV or JSONL file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from productsync.api.deps import ActorDep, HubDep
from productsync.api.schemas.common import PROBLEM_RESPONSES
from productsync.services.exports import ExportRequest, open_export

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES, tags=["exports"])

CURSOR_HEADER = "Export-Cursor"

_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/x-ndjson": {"schema": {"type": "string"}},
}


@router.get(
    "/exports/{kind}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": _CONTENT,
            "description": "The rows, streamed; the next cursor is in the Export-Cursor header",
            "headers": {
                CURSOR_HEADER: {"schema": {"type": "string"}, "description": "Pass as since= next time"}
            },
        }
    },
)
async def export(
    hub: HubDep,
    actor: ActorDep,
    kind: Annotated[str, Path(max_length=20, description="products, stock, prices, mappings or aliases")],
    format: Annotated[str, Query(max_length=10, description="csv (default) or jsonl")] = "csv",  # noqa: A002
    since: Annotated[str | None, Query(max_length=200, description="A cursor from an earlier export")] = None,
    channel_id: Annotated[uuid.UUID | None, Query(description="Export that channel's view")] = None,
) -> StreamingResponse:
    """Full, or only what changed since the cursor `since` (a delta), in the import format
    (an export imported again changes nothing). With `channel_id` (channels:admin of its
    owner): that channel's read-only view of products, stock or prices, or its mappings.
    The next cursor is in the `Export-Cursor` header. Rows are read page by page while
    the body streams; a bad kind, format or cursor is a 422 before anything is sent."""
    opened = await open_export(
        hub.db,
        actor,
        ExportRequest(kind, format, since or None, channel_id),  # type: ignore[arg-type]  # checked by the service
    )

    async def body() -> AsyncIterator[bytes]:
        async for chunk in opened.chunks():
            yield chunk

    suffix = "csv" if format == "csv" else "jsonl"
    return StreamingResponse(
        body(),
        media_type=opened.content_type,
        headers={
            CURSOR_HEADER: opened.cursor,
            "Content-Disposition": f'attachment; filename="{kind}.{suffix}"',
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        },
    )
