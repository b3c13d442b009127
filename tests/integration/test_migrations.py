"""The migration chain goes down to nothing and back up on both databases."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import inspect

from productsync.store.database import create_database
from productsync.store.migrate import alembic_config
from productsync.store.tables import metadata
from tests import services


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        db = create_database(url)
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await db.dispose()
        return names

    return asyncio.run(run())


def _roundtrip(url: str) -> None:
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    assert set(metadata.tables) <= _tables(url)
    command.downgrade(cfg, "base")
    assert _tables(url) & set(metadata.tables) == set()
    command.upgrade(cfg, "head")
    assert set(metadata.tables) <= _tables(url)


def test_sqlite_schema_migrates_down_and_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgres_schema_migrates_down_and_up() -> None:
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    try:
        _roundtrip(url)
    finally:
        asyncio.run(services.drop_postgres_database(url))
