"""Programmatic Alembic: ``productsync migrate`` and the embedded first start."""

from __future__ import annotations

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "productsync.store:migrations")
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Safe to run on every start: no-op when current."""
    command.upgrade(alembic_config(database_url), revision)
