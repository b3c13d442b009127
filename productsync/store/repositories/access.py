"""API keys: only the SHA-256 of the secret is stored."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from productsync.store.repositories.base import Repository
from productsync.store.tables import api_keys


@dataclass(frozen=True)
class StoredKey:
    id: uuid.UUID
    prefix: str
    name: str
    partner_id: uuid.UUID | None
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def _key(row: Row[Any]) -> StoredKey:
    return StoredKey(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        partner_id=row.partner_id,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class KeyRepository(Repository):
    async def add(self, key: StoredKey, secret_hash: str) -> None:
        await self.conn.execute(
            insert(api_keys).values(
                id=key.id,
                prefix=key.prefix,
                secret_hash=secret_hash,
                name=key.name,
                partner_id=key.partner_id,
                scopes=list(key.scopes),
                created_at=key.created_at,
                revoked_at=None,
            )
        )

    async def by_hash(self, secret_hash: str) -> StoredKey | None:
        row = (await self.conn.execute(select(api_keys).where(api_keys.c.secret_hash == secret_hash))).first()
        return _key(row) if row else None

    async def find(self) -> list[StoredKey]:
        return [_key(r) for r in await self.conn.execute(select(api_keys).order_by(api_keys.c.created_at))]

    async def revoke(self, prefix: str, at: datetime) -> bool:
        result = await self.conn.execute(
            update(api_keys)
            .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)
