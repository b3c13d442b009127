"""``productsync export``: a full or delta export to a file or stdout (see services/exports.py)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Annotated, BinaryIO

import typer
from rich.console import Console

from productsync.config import Settings
from productsync.domain.access import Actor, Scope, system_actor
from productsync.domain.errors import DomainError

console = Console(stderr=True)


async def _partner_actor(db: object, partner: str) -> Actor:
    """The partner named by code or id, reading what a key of it reads (its own data and
    the catalogs shared with it); its own channels' views too."""
    from productsync.store.database import Database
    from productsync.store.uow import UnitOfWork, transaction

    assert isinstance(db, Database)

    async def find(uow: UnitOfWork) -> Actor:
        found = None
        try:
            found = await uow.partners.get(uuid.UUID(partner))
        except ValueError:
            found = await uow.partners.get_by_code(partner)
        if found is None:
            raise DomainError(f"partner {partner} was not found")
        shared = await uow.partners.owners_sharing_with(found.id)
        return Actor(
            key_id=None,
            partner_id=found.id,
            scopes=frozenset({Scope.CATALOG_READ, Scope.CHANNELS_ADMIN}),
            readable_partners=frozenset(shared),
            origin="cli",
        )

    return await transaction(db, find, readonly=True)


def export(
    kind: Annotated[str, typer.Argument(help="products, stock, prices, mappings or aliases")],
    format: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl")] = "csv",  # noqa: A002
    since: Annotated[
        str | None, typer.Option("--since", help="A cursor printed by an earlier export: only what changed")
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Channel id: that channel's (read-only) view")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="File to write, or - for stdout")] = "-",
    partner: Annotated[
        str | None, typer.Option("--partner", help="Export as this partner (code or id): what its keys read")
    ] = None,
) -> None:
    """Export in the import format (an export imported again changes nothing). The cursor
    for the next delta is printed to stderr as `cursor: <token>`."""
    from productsync.bootstrap import start_hub
    from productsync.services.exports import ExportRequest, open_export

    try:
        channel_id = uuid.UUID(channel) if channel else None
    except ValueError:
        console.print(f"[red]error:[/red] --channel {channel!r} is not a channel id")
        raise typer.Exit(2) from None

    async def run(sink: BinaryIO) -> tuple[str, int, float]:
        hub = await start_hub(Settings())
        try:
            actor = await _partner_actor(hub.db, partner) if partner else system_actor("cli")
            started = time.perf_counter()
            request = ExportRequest(kind, format, since, channel_id)  # type: ignore[arg-type]
            opened = await open_export(hub.db, actor, request)
            async for chunk in opened.chunks():
                sink.write(chunk)
            sink.flush()
            return opened.cursor, opened.rows, time.perf_counter() - started
        finally:
            await hub.close()

    try:
        if output == "-":
            cursor, rows, seconds = asyncio.run(run(sys.stdout.buffer))
        else:
            with open(output, "wb") as sink:
                cursor, rows, seconds = asyncio.run(run(sink))
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot write {output}: {exc.strerror}", highlight=False)
        raise typer.Exit(2) from None
    rate = f"{rows / seconds:,.0f} rows/s" if seconds > 0 else ""
    console.print(f"exported {rows:,} rows in {seconds:.1f} s {rate}", highlight=False)
    console.print(f"cursor: {cursor}", highlight=False, soft_wrap=True)
