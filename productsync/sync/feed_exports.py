"""File feeds: a ``file_feed`` channel's view exported on a schedule, to a directory or by
HTTP PUT, for partners that exchange files instead of taking real-time calls.

Each run writes, per kind in ``config.feed.kinds``, the channel's view (its SKUs or
external ids, its available-to-sell, its price list and currency, its locale) from
``services.exports.open_export``: the full view on the first run and every
``full_every_minutes``, otherwise the delta since the cursor the last run kept in the
schedule's state. A file appears whole or not at all (a temporary file renamed into
place for a directory; one PUT per file for HTTP). A cursor moves on only when its
file is written, so a failed write is repeated by the next run, never lost.

Names: ``{kind}-{mode}-{stamp}.{csv|jsonl}`` in a directory (``mode`` is full or
delta, ``stamp`` a sortable UTC time); an URL may place ``{kind}``, ``{mode}`` and
``{stamp}`` itself (``https://host/path/{kind}-{stamp}.csv``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

import httpx

from productsync.domain.access import system_actor
from productsync.domain.feeds import FeedConfig, feed_config, needs_full, stamp
from productsync.services.exports import ExportKind, ExportRequest, open_export
from productsync.services.schedules import RunResult
from productsync.sync.guard import TargetGuard, pinned_client

if TYPE_CHECKING:
    from productsync.sync.scheduler import JobContext


class FeedWriteError(Exception):
    """A feed file could not be written; the run fails with this reason."""


async def _to_dir(directory: Path, name: str, chunks: AsyncIterator[bytes]) -> str:
    """Write to a temporary file in the same directory, then rename it into place: a
    reader never sees half a file."""
    try:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        fd, tmp = await asyncio.to_thread(tempfile.mkstemp, prefix=".tmp-", suffix=".part", dir=directory)
    except OSError as exc:
        raise FeedWriteError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(out.flush)
            await asyncio.to_thread(os.fsync, out.fileno())
        final = directory / name
        await asyncio.to_thread(os.replace, tmp, final)
        return str(final)
    except OSError as exc:
        raise FeedWriteError(f"cannot write {name}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


async def _to_url(
    url: str, content_type: str, chunks: AsyncIterator[bytes], *, guard: TargetGuard, timeout: float
) -> str:
    """One streamed PUT through the SSRF guard; any 2xx is written."""
    try:
        async with pinned_client(guard) as client:
            resp = await client.put(
                url, content=chunks, headers={"Content-Type": content_type}, timeout=timeout
            )
    except httpx.HTTPError as exc:
        raise FeedWriteError(f"PUT {url} failed: {type(exc).__name__}: {exc}") from exc
    if not 200 <= resp.status_code < 300:
        raise FeedWriteError(f"PUT {url} answered HTTP {resp.status_code}")
    return url


async def write_feed_file(
    feed: FeedConfig,
    kind: str,
    mode: str,
    at: datetime,
    content_type: str,
    chunks: AsyncIterator[bytes],
    *,
    guard: TargetGuard,
    timeout: float,
) -> str:
    """Write one export to the feed's target; returns where it went."""
    when = stamp(at)
    parts = urlsplit(feed.target)
    if parts.scheme == "dir":
        name = f"{kind}-{mode}-{when}.{feed.format}"
        return await _to_dir(Path(unquote(parts.path)), name, chunks)
    url = feed.target.format(kind=kind, stamp=when, mode=mode)
    if "{" not in feed.target:  # one URL for every file: name it by query instead
        url = f"{url}{'&' if parts.query else '?'}kind={kind}&mode={mode}&stamp={when}"
    return await _to_url(url, content_type, chunks, guard=guard, timeout=timeout)


async def run_file_feed(ctx: JobContext) -> RunResult:
    """One feed run: each kind full or delta, written; the cursors that moved are kept."""
    feed = feed_config(ctx.channel.config or {})
    state: dict[str, Any] = dict(ctx.claimed.schedule.state)
    if feed is None:
        return RunResult(status="failed", error="the channel has no config.feed", state=state)
    cursors: dict[str, str] = dict(state.get("cursors") or {})
    last_full = state.get("last_full_at")
    full = needs_full(
        datetime.fromisoformat(last_full) if last_full else None, feed.full_every_minutes, ctx.now
    )
    full = full or any(k not in cursors for k in feed.kinds)
    mode = "full" if full else "delta"
    counts: dict[str, int] = {"files": 0, "rows": 0}
    files: list[str] = []
    actor = system_actor(f"feed:{ctx.channel.id}")
    timeout = ctx.hub.settings.webhook_timeout_seconds
    try:
        for kind in feed.kinds:
            request = ExportRequest(
                kind=cast(ExportKind, kind),
                format="jsonl" if feed.format == "jsonl" else "csv",
                since=None if full else cursors.get(kind),
                channel_id=ctx.channel.id,
            )
            export = await open_export(ctx.hub.db, actor, request)
            where = await write_feed_file(
                feed,
                kind,
                mode,
                ctx.now,
                export.content_type,
                export.chunks(),
                guard=ctx.guard,
                timeout=timeout,
            )
            cursors[kind] = export.cursor
            files.append(where)
            counts["files"] += 1
            counts[f"{kind}_rows"] = export.rows
            counts["rows"] += export.rows
    except FeedWriteError as exc:
        state.update(cursors=cursors)  # the kinds written before the failure keep their place
        return RunResult(status="failed", counts=counts, error=str(exc), state=state)
    state.update(cursors=cursors, last_files=files, last_mode=mode)
    if full:
        state["last_full_at"] = ctx.now.isoformat()
    counts[mode] = 1
    return RunResult(counts=counts, state=state)
