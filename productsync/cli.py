"""The ``productsync`` command line (Typer)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from productsync.cli_exports import export as export_command
from productsync.cli_payments import payments_app
from productsync.config import Settings
from productsync.domain.access import Scope, system_actor
from productsync.domain.errors import DomainError
from productsync.domain.imports import ErrorPolicy, FileFormat, ImportKind

app = typer.Typer(help="productsync: the central product hub.", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
secrets_app = typer.Typer(
    help="The key(s) that seal channel secrets at rest: make one, re-seal after a rotation.",
    no_args_is_help=True,
)
app.add_typer(secrets_app, name="secrets")
app.command("export")(export_command)
app.add_typer(payments_app, name="payments")
console = Console(stderr=True)
out = Console()
# What "all partner scopes" means for `keys create --partner X`: everything but admin.
ALL_PARTNER_SCOPES = tuple(s for s in Scope if s is not Scope.ADMIN)


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _require_secret_key(settings: Settings) -> None:
    """Scaled out (PostgreSQL), every process must seal with the same key: refuse to
    start without one rather than make a key file per process and directory."""
    from productsync.store.secrets import secret_key_problem

    try:
        problem = secret_key_problem(settings.secret_key, settings.database_url)
    except ValueError as exc:
        problem = str(exc)
    if problem:
        _fail(problem)


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
    _require_secret_key(settings)
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
    from productsync.sync import scheduler
    from productsync.sync.dispatcher import run

    settings = Settings()
    _require_secret_key(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def main() -> None:
        hub = await start_hub(settings)
        jobs = [*start_jobs(hub), asyncio.create_task(scheduler.run(hub))]
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
        str | None,
        typer.Option(
            "--scopes",
            help="Comma-separated scopes; default: all partner scopes ("
            + ", ".join(s.value for s in Scope if s is not Scope.ADMIN)
            + ").",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for listings.")] = "",
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    from productsync.bootstrap import start_hub
    from productsync.services.access import create_key, parse_scopes
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
                    else ALL_PARTNER_SCOPES
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
    from productsync.store.uow import UnitOfWork, transaction

    async def run() -> tuple[list[StoredKey], dict[uuid.UUID, str]]:
        hub = await start_hub(Settings())
        try:

            async def read(uow: UnitOfWork) -> tuple[list[StoredKey], dict[uuid.UUID, str]]:
                found = await list_keys(uow)
                partners = await uow.partners.find({k.partner_id for k in found if k.partner_id})
                return found, {p.id: p.code for p in partners}

            return await transaction(hub.db, read, readonly=True)
        finally:
            await hub.close()

    found, codes = asyncio.run(run())
    rows = [
        (
            k.prefix,
            k.name or "-",
            "(admin)" if k.partner_id is None else codes.get(k.partner_id, str(k.partner_id)),
            ",".join(k.scopes),
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-",
        )
        for k in found
    ]
    # Plain aligned columns, never truncated or wrapped (rich tables shorten cells to the
    # terminal width); the output can be piped and read by scripts.
    header = ("prefix", "name", "partner", "scopes", "created", "revoked")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


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


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new Fernet key for PRODUCTSYNC_SECRET_KEY (nothing is stored)."""
    from productsync.store.secrets import generate_key

    print(generate_key())


@secrets_app.command("reseal")
def secrets_reseal() -> None:
    """Re-seal every stored secret with the current key (the first of PRODUCTSYNC_SECRET_KEY),
    in one transaction. Rotation: put the new key first (NEW,OLD), restart, run this, then
    drop OLD."""
    from productsync.bootstrap import start_hub
    from productsync.services.secrets import reseal_secrets
    from productsync.store.uow import transaction

    settings = Settings()
    _require_secret_key(settings)

    async def run() -> tuple[int, int]:
        hub = await start_hub(settings)
        try:
            assert hub.db.secret_box is not None
            return await transaction(hub.db, reseal_secrets), hub.db.secret_box.key_count
        finally:
            await hub.close()

    try:
        count, keys = asyncio.run(run())
    except RuntimeError as exc:
        _fail(str(exc))
    out.print(f"re-sealed {count} secret(s) with the current key ({keys} key(s) configured)")
    if keys > 1:
        out.print("the keys after the first can now be removed from PRODUCTSYNC_SECRET_KEY")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV or JSONL file (or a Shopify product CSV export).")],
    kind: Annotated[ImportKind | None, typer.Option(help="Rows of the file; from the header.")] = None,
    fmt: Annotated[FileFormat | None, typer.Option("--format", help="csv or jsonl; from the name.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change.")] = False,
    error_policy: Annotated[ErrorPolicy, typer.Option(help="reject_all writes nothing if a row fails.")] = (
        ErrorPolicy.REJECT_ALL
    ),
    partner: Annotated[str | None, typer.Option(help="Partner code of rows naming none.")] = None,
    location: Annotated[str | None, typer.Option(help="Shopify: location of the quantities.")] = None,
    price_list: Annotated[str | None, typer.Option(help="Shopify: price list (id or name).")] = None,
    category: Annotated[str | None, typer.Option(help="Shopify: category code.")] = None,
    rejected: Annotated[Path | None, typer.Option(help="Rejected rows + reason go here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Import products, stock, prices, SKU mappings or aliases from a file (one transaction)."""
    from productsync import cli_imports

    cli_imports.run(
        file, kind=kind, fmt=fmt, dry_run=dry_run, error_policy=error_policy, partner=partner,
        location=location, price_list=price_list, category=category, rejected=rejected, quiet=quiet,
    )


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
    from productsync.services.stock_checks import inventory_accuracy, ledger_drift
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
