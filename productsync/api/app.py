"""The FastAPI application factory (nothing is built at import time)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from productsync import __version__
from productsync.api import problems
from productsync.api.deps import AuthCache, RequestIdMiddleware
from productsync.api.guard import BodyGuardMiddleware
from productsync.api.routers import (
    aliases,
    catalog,
    channels,
    exports,
    imports,
    inbound,
    logs,
    onboarding,
    oversells,
    payments,
    prices,
    reconciliations,
    reservations,
    schedules,
    status,
    stock,
    stream,
    webhooks,
)
from productsync.bootstrap import start_hub, start_jobs, watch_events
from productsync.config import Settings
from productsync.services import import_jobs
from productsync.store.secrets import secret_key_problem
from productsync.sync import dispatcher, scheduler

DESCRIPTION = """
One source of truth for catalog, stock and prices, shared by partners and synced to channels.

Authenticate with `Authorization: Bearer <api key>` (create keys with `productsync keys create`).
Writes accept `Idempotency-Key`; products carry an `ETag` and honour `If-Match`.
Errors are RFC 9457 `application/problem+json` with a stable `type` per error.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        problem = secret_key_problem(settings.secret_key, settings.database_url)
        if problem:  # also when started without the CLI (uvicorn --factory)
            raise RuntimeError(problem)
        hub = await start_hub(settings)
        app.state.hub = hub
        await import_jobs.fail_abandoned(hub.db)  # imports whose process died
        # Everything loaded so far (modules, compiled statements) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise stall
        # every request in flight for tens of milliseconds.
        gc.freeze()
        tasks = [*start_jobs(hub), asyncio.create_task(watch_events(hub))]
        if settings.embedded_dispatcher:
            tasks.append(asyncio.create_task(dispatcher.run(hub)))
            tasks.append(asyncio.create_task(scheduler.run(hub)))  # feeds, pulls, reconciliations
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await hub.close()

    app = FastAPI(
        title="productsync",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    problems.install(app)
    for module in (
        logs,
        catalog,
        aliases,
        stock,
        reservations,
        prices,
        channels,
        inbound,
        oversells,
        exports,
        imports,
        onboarding,
        reconciliations,
        payments,
        schedules,
        webhooks,
        stream,
        status,
    ):
        app.include_router(module.router)
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app


def configure_logging(level: str) -> None:
    """The hub's own loggers (``productsync.*``) to stderr at ``level``; uvicorn keeps its own."""
    logger = logging.getLogger("productsync")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def factory() -> FastAPI:
    """Entry point for ``uvicorn --factory productsync.api.app:factory`` (multi-worker serve)."""
    return create_app()
