"""Helpers shared by repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class Repository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    @property
    def is_postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def insert_ignore(self, table: Table, values: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """INSERT … ON CONFLICT DO NOTHING in the connection's dialect (one row or many)."""
        dialect_insert = postgresql.insert if self.is_postgres else sqlite.insert
        return dialect_insert(table).values(values).on_conflict_do_nothing()
