"""``productsync payments reconcile``: payments against sales over a window (see
services/payment_reconciliation.py), as a table of counts, and optionally the CSV."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from productsync.config import Settings
from productsync.domain.access import system_actor
from productsync.domain.errors import DomainError

payments_app = typer.Typer(help="Payments (Stripe) against the sales they produced.", no_args_is_help=True)
console = Console(stderr=True)
out = Console()


@payments_app.command("reconcile")
def reconcile(
    start: Annotated[str, typer.Option("--from", help="A date (whole UTC day) or a date-time with offset")],
    end: Annotated[
        str, typer.Option("--to", help="A date (inclusive) or a date-time with offset (exclusive)")
    ],
    csv_file: Annotated[
        str | None, typer.Option("--csv", help="Also write the accounting CSV (one row per pair) here")
    ] = None,
) -> None:
    """Counts per status and the findings; exit code 1 when any row needs a person
    (anything but matched and amount_not_checked), 2 on bad input."""
    from productsync.bootstrap import start_hub
    from productsync.services import payment_reconciliation as recon

    async def run() -> recon.Report:
        window = recon.parse_window(start, end)
        hub = await start_hub(Settings())
        try:
            actor = system_actor("cli")
            if csv_file is not None:
                with open(csv_file, "wb") as sink:
                    async for chunk in recon.csv_chunks(hub.db, actor, window):
                        sink.write(chunk)
            return await recon.reconcile(hub.db, actor, window)
        finally:
            await hub.close()

    try:
        report = asyncio.run(run())
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.detail}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot write {csv_file}: {exc.strerror}", highlight=False)
        raise typer.Exit(2) from None
    table = Table(title=f"payments {report.window.start.isoformat()} .. {report.window.end.isoformat()}")
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status, n in report.counts.items():
        table.add_row(status, str(n))
    out.print(table)
    for row in report.findings:
        ref = row.payment_ref or f"movement {' '.join(map(str, row.movement_ids))}"
        out.print(f"{row.status.value:<22} {row.kind:<8} {ref} {row.sku or ''} {row.detail}", highlight=False)
    if csv_file is not None:
        console.print(f"wrote {report.rows:,} rows to {csv_file}", highlight=False)
    if report.discrepancies:
        raise typer.Exit(1)
