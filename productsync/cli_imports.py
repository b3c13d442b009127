"""``productsync import``: a file into the hub with a progress bar and a summary."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from productsync.config import Settings
from productsync.domain.access import system_actor
from productsync.domain.errors import DomainError
from productsync.domain.imports import ErrorPolicy, FileFormat, ImportKind, ImportReport

console = Console(stderr=True)
out = Console()
SHOWN_ERRORS = 20


def run(
    file: Path,
    *,
    kind: ImportKind | None,
    fmt: FileFormat | None,
    dry_run: bool,
    error_policy: ErrorPolicy,
    partner: str | None,
    location: str | None,
    price_list: str | None,
    category: str | None,
    rejected: Path | None,
    quiet: bool = False,
) -> None:
    from productsync.bootstrap import start_hub
    from productsync.services.imports import ImportOptions, run_import

    if not file.is_file():
        console.print(f"[red]error:[/red] {file} is not a readable file")
        raise typer.Exit(2)
    total = file.stat().st_size
    options = ImportOptions(
        kind=kind,
        fmt=fmt,
        dry_run=dry_run,
        error_policy=error_policy,
        partner=partner,
        location=location,
        price_list=price_list,
        category=category,
        rejected_path=rejected,
        job_id=uuid.uuid4(),
    )

    async def main(progress: Progress, task: object) -> ImportReport:
        hub = await start_hub(Settings())
        try:
            started = time.monotonic()

            def tick(rows: int, read: int) -> None:
                rate = rows / max(time.monotonic() - started, 1e-6)
                progress.update(task, completed=read, rows=rows, rate=f"{rate:,.0f}")  # type: ignore[arg-type]

            return await run_import(hub.db, system_actor("cli:import"), file, options, progress=tick)
        finally:
            await hub.close()

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]} rows, {task.fields[rate]} rows/s"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, disable=quiet) as progress:
            task = progress.add_task(f"import {file.name}", total=total, rows=0, rate="0")
            report = asyncio.run(main(progress, task))
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(2) from exc
    summary(report)
    if report.rejected or (report.errors and not report.rows):
        raise typer.Exit(1)


def summary(report: ImportReport) -> None:
    for e in report.errors[:SHOWN_ERRORS]:
        console.print(f"[red]rejected[/red] {e.text()}", highlight=False, soft_wrap=True)
    if report.rejected > SHOWN_ERRORS:
        console.print(f"… {report.rejected - SHOWN_ERRORS} more rejected rows (all in the rejected file)")
    table = Table("entity", "created", "updated", "unchanged", title=f"import of {report.kind.value}")
    for entity, c in sorted(report.counts.items()):
        table.add_row(entity, str(c.created), str(c.updated), str(c.unchanged))
    out.print(table)
    if report.dry_run:
        verdict = "dry run: nothing was written"
    elif report.rejected and report.error_policy is ErrorPolicy.REJECT_ALL:
        verdict = "nothing was written (reject_all and rows were rejected)"
    else:
        verdict = "written" if report.written else "nothing to change"
    out.print(f"rows: {report.rows}, rejected: {report.rejected}; {verdict}")
