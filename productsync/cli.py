"""The ``productsync`` command line (Typer)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from productsync.config import Settings
from productsync.domain.access import Scope, system_actor
from productsync.domain.errors import DomainError

app = typer.Typer(help="productsync: the central product hub.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def migrate() -> None:
    """Bring the database schema to the latest version."""
    from productsync.bootstrap import start_hub

    settings = Settings()

    async def run() -> None:
        hub = await start_hub(settings, run_migrations=True)
        await hub.close()

    asyncio.run(run())
    out.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int, typer.Option(help="API processes (PostgreSQL only; SQLite uses one).")] = 1,
) -> None:
    """Run the hub's HTTP API (migrates an embedded SQLite database on first start)."""
    import uvicorn

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    if workers > 1:
        if settings.database_url.startswith("sqlite"):
            _fail("--workers > 1 needs PostgreSQL: SQLite has a single writer")
        # Migrate once here so the workers do not race each other on start.
        from productsync.bootstrap import prepare_schema

        asyncio.run(prepare_schema(settings))
        os.environ["PRODUCTSYNC_AUTO_MIGRATE"] = "false"
    console.print(f"productsync on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    if workers > 1:
        from productsync.serving import balanced_available, serve_balanced

        if balanced_available():
            raise typer.Exit(serve_balanced(host, port, workers, settings.log_level))
    uvicorn.run(
        "productsync.api.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run the dispatcher alone (scaled out: several workers share the work on PostgreSQL)."""
    import logging

    from productsync.bootstrap import start_hub, start_jobs
    from productsync.sync.dispatcher import run

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def main() -> None:
        hub = await start_hub(settings)
        jobs = start_jobs(hub)
        try:
            await run(hub)
        finally:
            for job in jobs:
                job.cancel()
            await hub.close()

    console.print(
        "productsync worker: dispatching outbox events to channels, releasing expired holds (Ctrl-C stops)"
    )
    asyncio.run(main())


@keys_app.command("create")
def keys_create(
    admin: Annotated[bool, typer.Option("--admin", help="An admin key (all partners, all scopes).")] = False,
    partner: Annotated[
        str | None, typer.Option("--partner", help="Partner id or code the key acts for.")
    ] = None,
    scopes: Annotated[
        str | None, typer.Option("--scopes", help="Comma-separated scopes; default: all partner scopes.")
    ] = None,
    name: Annotated[str, typer.Option(help="A label for listings.")] = "",
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    from productsync.bootstrap import start_hub
    from productsync.services.access import PARTNER_DEFAULT_SCOPES, create_key, parse_scopes
    from productsync.store.uow import UnitOfWork, transaction

    if admin == (partner is not None):
        _fail("give exactly one of --admin or --partner ID")

    async def run() -> str:
        hub = await start_hub(Settings())
        try:

            async def use_case(uow: UnitOfWork) -> str:
                partner_id = None
                if partner is not None:
                    found = None
                    try:
                        found = await uow.partners.get(uuid.UUID(partner))
                    except ValueError:
                        found = await uow.partners.get_by_code(partner)
                    if found is None:
                        raise DomainError(f"partner {partner} was not found")
                    partner_id = found.id
                chosen = (
                    (Scope.ADMIN,)
                    if admin
                    else parse_scopes(scopes.split(","))
                    if scopes
                    else PARTNER_DEFAULT_SCOPES
                )
                _, token = await create_key(
                    uow, system_actor("cli"), partner_id=partner_id, scopes=chosen, name=name
                )
                return token

            return await transaction(hub.db, use_case)
        finally:
            await hub.close()

    try:
        token = asyncio.run(run())
    except DomainError as exc:
        _fail(exc.detail)
    console.print("Store this key now: it is shown only once.")
    out.print(token, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (prefixes only; secrets are never stored)."""
    from productsync.bootstrap import start_hub
    from productsync.services.access import list_keys
    from productsync.store.repositories.access import StoredKey
    from productsync.store.uow import transaction

    async def run() -> list[StoredKey]:
        hub = await start_hub(Settings())
        try:
            return await transaction(hub.db, list_keys, readonly=True)
        finally:
            await hub.close()

    table = Table("prefix", "name", "partner", "scopes", "created", "revoked")
    for k in asyncio.run(run()):
        table.add_row(
            k.prefix,
            k.name,
            str(k.partner_id or "-"),
            ",".join(k.scopes),
            k.created_at.isoformat(timespec="seconds"),
            "yes" if k.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (the 8 characters after ``psk_``)."""
    from productsync.bootstrap import start_hub
    from productsync.services.access import revoke_key
    from productsync.store.uow import transaction

    async def run() -> None:
        hub = await start_hub(Settings())
        try:
            await transaction(hub.db, lambda uow: revoke_key(uow, system_actor("cli"), prefix))
        finally:
            await hub.close()

    try:
        asyncio.run(run())
    except DomainError as exc:
        _fail(exc.detail)
    out.print(f"revoked {prefix}")


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve", help="Start the API after seeding.")] = False,
) -> None:
    """Seed a realistic demo (partners, shares, locations, ~50 products, stock, prices) and print keys."""
    from productsync.demo import seed_demo

    settings = Settings()
    result = asyncio.run(seed_demo(settings))
    base = f"http://{settings.host}:{settings.port}"
    # Plain print: keys must never be wrapped or truncated by the terminal renderer.
    print(f"demo data: {result.summary}")
    print("API keys (shown once; store them now):")
    for who, key in result.keys:
        print(f"  {who:<36} {key}")
    print(f"API docs: {base}/docs   (click Authorize and paste a key)")
    print(f'try:      curl -H "Authorization: Bearer {result.keys[0][1]}" "{base}/v1/products?limit=5"')
    if serve_after:
        serve(host=None, port=None, workers=1)


@app.command()
def check() -> None:
    """Recompute every stock level from the ledger and report differences (0 on a healthy hub)."""
    from productsync.bootstrap import start_hub
    from productsync.domain.inventory import CountAccuracy
    from productsync.domain.quantities import format_quantity
    from productsync.services.stock import inventory_accuracy, ledger_drift
    from productsync.store.uow import transaction

    async def run() -> tuple[list[dict[str, object]], CountAccuracy]:
        hub = await start_hub(Settings())
        try:
            drift = await transaction(hub.db, ledger_drift, readonly=True)
            accuracy = await transaction(
                hub.db, lambda uow: inventory_accuracy(uow, system_actor("cli")), readonly=True
            )
            return drift, accuracy
        finally:
            await hub.close()

    drift, accuracy = asyncio.run(run())
    share = f"{accuracy.percent} %" if accuracy.percent is not None else "no counts yet"
    out.print(f"inventory accuracy: {accuracy.matched} of {accuracy.counts} cycle counts matched ({share})")
    # Open oversells are not drift (the ledger holds the sale of what there was); they are
    # channel sales still waiting for a person, so they are reported, not failed on.
    out.print(
        f"open oversells: {accuracy.open_oversells} ({format_quantity(accuracy.oversold)} missing)"
        + ("; resolve them: GET /v1/oversells?status=open" if accuracy.open_oversells else "")
    )
    if not drift:
        out.print("inventory check: 0 levels differ from the ledger and the live reservations")
        return
    table = Table("product", "location", "field", "recorded", "recomputed")
    for d in drift:
        table.add_row(
            str(d["product_id"]),
            str(d["location_id"]),
            str(d["field"]),
            str(d["recorded"]),
            str(d["recomputed"]),
        )
    out.print(table)
    out.print(f"inventory check: {len(drift)} level(s) differ from the ledger or the live reservations")
    raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
