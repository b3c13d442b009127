"""Reaching the real services the suite needs (PostgreSQL, later RabbitMQ).

With PRODUCTSYNC_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails the
run; without it, the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from productsync.store.database import async_url

POSTGRES_URL = os.environ.get(
    "PRODUCTSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRED = os.environ.get("PRODUCTSYNC_REQUIRE_SERVICES") == "1"


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc!r}"
    if REQUIRED:
        pytest.fail(message + " (PRODUCTSYNC_REQUIRE_SERVICES=1, so this fails instead of skipping)")
    pytest.skip(message)


async def _admin_execute(sql: str) -> None:
    engine = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text(sql)), timeout=30)
    finally:
        await engine.dispose()


async def create_postgres_database() -> str:
    """A fresh database for this run; returns its URL."""
    name = f"productsync_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
