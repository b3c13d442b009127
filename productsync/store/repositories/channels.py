"""Channels (with sealed signing secrets) and their SKU mappings."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.engine import Row

from productsync.domain.channels import Channel, ChannelKind, ChannelStatus, ConflictPolicy
from productsync.domain.sku_namespaces import SkuCandidate
from productsync.store.repositories.base import Repository
from productsync.store.tables import channels, partners, product_aliases, products, sku_mappings

# Columns holding secrets sealed by store/secrets.py (``productsync secrets reseal``).
SEALED_COLUMNS = ("secret_sealed", "previous_secret_sealed", "credentials_sealed")


def _ids(raw: list[str]) -> tuple[uuid.UUID, ...]:
    return tuple(uuid.UUID(x) for x in raw)


def _channel(row: Row[Any]) -> Channel:
    return Channel(
        id=row.id,
        name=row.name,
        kind=ChannelKind(row.kind),
        owner_partner_id=row.owner_partner_id,
        url=row.url,
        config=row.config,
        partner_ids=_ids(row.partner_ids),
        category_ids=_ids(row.category_ids),
        location_ids=_ids(row.location_ids),
        price_list_id=row.price_list_id,
        locale=row.locale,
        buffer_stock=row.buffer_stock,
        conflict_policy=ConflictPolicy(row.conflict_policy),
        status=ChannelStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        secret_rotated_at=row.secret_rotated_at,
        previous_secret_expires_at=row.previous_secret_expires_at,
        last_success_at=row.last_success_at,
        failing_since=row.failing_since,
        has_credentials=row.credentials_sealed is not None,
    )


def _values(c: Channel) -> dict[str, Any]:
    return {
        "name": c.name,
        "url": c.url,
        "config": c.config,
        "partner_ids": [str(x) for x in c.partner_ids],
        "category_ids": [str(x) for x in c.category_ids],
        "location_ids": [str(x) for x in c.location_ids],
        "price_list_id": c.price_list_id,
        "locale": c.locale,
        "buffer_stock": c.buffer_stock,
        "conflict_policy": c.conflict_policy.value,
        "status": c.status.value,
        "version": c.version,
        "updated_at": c.updated_at,
    }


class ChannelRepository(Repository):
    async def add(self, channel: Channel, secret_sealed: str) -> None:
        await self.conn.execute(
            insert(channels).values(
                id=channel.id,
                kind=channel.kind.value,
                owner_partner_id=channel.owner_partner_id,
                created_at=channel.created_at,
                secret_sealed=secret_sealed,
                **_values(channel),
            )
        )

    async def get(self, channel_id: uuid.UUID, *, for_update: bool = False) -> Channel | None:
        stmt = select(channels).where(channels.c.id == channel_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _channel(row) if row else None

    async def find(self, owners: AbstractSet[uuid.UUID] | None) -> list[Channel]:
        stmt = select(channels).order_by(channels.c.name, channels.c.id)
        if owners is not None:
            stmt = stmt.where(channels.c.owner_partner_id.in_(owners))
        return [_channel(r) for r in await self.conn.execute(stmt)]

    async def update(self, channel: Channel) -> None:
        await self.conn.execute(
            update(channels).where(channels.c.id == channel.id).values(**_values(channel))
        )

    async def sealed_secrets(self, channel_id: uuid.UUID) -> tuple[str, str | None, datetime | None]:
        row = (
            await self.conn.execute(
                select(
                    channels.c.secret_sealed,
                    channels.c.previous_secret_sealed,
                    channels.c.previous_secret_expires_at,
                ).where(channels.c.id == channel_id)
            )
        ).one()
        return row.secret_sealed, row.previous_secret_sealed, row.previous_secret_expires_at

    async def set_health(
        self,
        channel_id: uuid.UUID,
        *,
        success_at: datetime | None = None,
        failing_since: datetime | None = None,
        clear_failing: bool = False,
        disable: bool = False,
    ) -> None:
        values: dict[str, Any] = {}
        if success_at is not None:
            values["last_success_at"] = success_at
        if clear_failing:
            values["failing_since"] = None
        elif failing_since is not None:
            values["failing_since"] = func.coalesce(channels.c.failing_since, failing_since)
        if disable:
            values["status"] = ChannelStatus.DISABLED.value
        if values:
            await self.conn.execute(update(channels).where(channels.c.id == channel_id).values(**values))

    async def request_backfill(self, channel_id: uuid.UUID, at: datetime) -> None:
        await self.conn.execute(
            update(channels).where(channels.c.id == channel_id).values(backfill_requested_at=at)
        )

    async def awaiting_backfill(self) -> list[Channel]:
        stmt = select(channels).where(channels.c.backfill_requested_at.is_not(None)).order_by(channels.c.id)
        return [_channel(r) for r in await self.conn.execute(stmt)]

    async def backfilled(self, channel_id: uuid.UUID) -> None:
        await self.conn.execute(
            update(channels).where(channels.c.id == channel_id).values(backfill_requested_at=None)
        )

    async def set_credentials(self, channel_id: uuid.UUID, sealed: str | None) -> None:
        await self.conn.execute(
            update(channels).where(channels.c.id == channel_id).values(credentials_sealed=sealed)
        )

    async def sealed_credentials(self, channel_id: uuid.UUID) -> str | None:
        stmt = select(channels.c.credentials_sealed).where(channels.c.id == channel_id)
        return (await self.conn.execute(stmt)).scalar_one_or_none()

    async def failing_since(self, channel_id: uuid.UUID) -> datetime | None:
        stmt = select(channels.c.failing_since).where(channels.c.id == channel_id)
        return (await self.conn.execute(stmt)).scalar_one_or_none()

    async def rotate_secret(
        self,
        channel_id: uuid.UUID,
        new_sealed: str,
        previous_sealed: str | None,
        previous_until: datetime | None,
        now: datetime,
    ) -> None:
        await self.conn.execute(
            update(channels)
            .where(channels.c.id == channel_id)
            .values(
                secret_sealed=new_sealed,
                previous_secret_sealed=previous_sealed,
                previous_secret_expires_at=previous_until,
                secret_rotated_at=now,
            )
        )


    async def all_sealed(self) -> list[tuple[uuid.UUID, dict[str, str | None]]]:
        """Every channel's sealed columns, locked in id order (re-sealing rewrites them)."""
        stmt = (
            select(channels.c.id, *(channels.c[name] for name in SEALED_COLUMNS))
            .order_by(channels.c.id)
            .with_for_update()
        )
        rows = await self.conn.execute(stmt)
        return [(r.id, {name: r._mapping[name] for name in SEALED_COLUMNS}) for r in rows]

    async def set_sealed(self, channel_id: uuid.UUID, values: dict[str, str | None]) -> None:
        await self.conn.execute(update(channels).where(channels.c.id == channel_id).values(**values))

class MappingRepository(Repository):
    async def upsert(self, channel_id: uuid.UUID, rows: list[dict[str, Any]], now: datetime) -> None:
        """Insert or replace mappings by (channel, external id): a re-sent bulk file is harmless."""
        if not rows:
            return
        await self.conn.execute(
            delete(sku_mappings).where(
                sku_mappings.c.channel_id == channel_id,
                sku_mappings.c.external_id.in_([r["external_id"] for r in rows]),
            )
        )
        await self.conn.execute(
            insert(sku_mappings),
            [{**r, "channel_id": channel_id, "updated_at": now} for r in rows],
        )

    async def external_ids(self, channel_id: uuid.UUID, product_id: uuid.UUID) -> tuple[str, ...]:
        stmt = (
            select(sku_mappings.c.external_id)
            .where(sku_mappings.c.channel_id == channel_id, sku_mappings.c.product_id == product_id)
            .order_by(sku_mappings.c.external_id)
        )
        return tuple(r[0] for r in await self.conn.execute(stmt))

    async def find(self, channel_id: uuid.UUID, *, after: str = "", limit: int = 500) -> list[Row[Any]]:
        stmt = (
            select(sku_mappings, products.c.sku)
            .join(products, products.c.id == sku_mappings.c.product_id)
            .where(sku_mappings.c.channel_id == channel_id, sku_mappings.c.external_id > after)
            .order_by(sku_mappings.c.external_id)
            .limit(limit)
        )
        return list(await self.conn.execute(stmt))

    async def product_for_external_sku(self, channel_id: uuid.UUID, external_sku: str) -> uuid.UUID | None:
        stmt = (
            select(sku_mappings.c.product_id)
            .where(sku_mappings.c.channel_id == channel_id, sku_mappings.c.external_sku == external_sku)
            .limit(2)
        )
        found = [r[0] for r in await self.conn.execute(stmt)]
        return found[0] if len(found) == 1 else None  # ambiguous external SKUs name nothing

    async def product_for(self, channel_id: uuid.UUID, external_id: str) -> uuid.UUID | None:
        stmt = select(sku_mappings.c.product_id).where(
            sku_mappings.c.channel_id == channel_id, sku_mappings.c.external_id == external_id
        )
        return (await self.conn.execute(stmt)).scalar_one_or_none()

    async def remove(self, channel_id: uuid.UUID, external_id: str) -> bool:
        result = await self.conn.execute(
            delete(sku_mappings).where(
                sku_mappings.c.channel_id == channel_id, sku_mappings.c.external_id == external_id
            )
        )
        return bool(result.rowcount)


class AliasRepository(Repository):
    """Codes suppliers, warehouses and marketplaces know products by: unique per owner
    partner (migration 0021), so one code may name one product of each partner."""

    async def replace_for_product(
        self,
        product_id: uuid.UUID,
        owner_partner_id: uuid.UUID,
        aliases: list[tuple[str, str]],
        now: datetime,
    ) -> None:
        await self.conn.execute(delete(product_aliases).where(product_aliases.c.product_id == product_id))
        if aliases:
            await self.conn.execute(
                insert(product_aliases),
                [
                    {
                        "owner_partner_id": owner_partner_id,
                        "scheme": s,
                        "code": c,
                        "product_id": product_id,
                        "created_at": now,
                    }
                    for s, c in aliases
                ],
            )

    async def for_product(self, product_id: uuid.UUID) -> list[tuple[str, str]]:
        stmt = (
            select(product_aliases.c.scheme, product_aliases.c.code)
            .where(product_aliases.c.product_id == product_id)
            .order_by(product_aliases.c.scheme, product_aliases.c.code)
        )
        return [(r.scheme, r.code) for r in await self.conn.execute(stmt)]

    async def owners(
        self, owner_partner_id: uuid.UUID, aliases: list[tuple[str, str]]
    ) -> dict[tuple[str, str], uuid.UUID]:
        """Which of ``aliases`` already name a product of this partner (one query; other
        partners' codes are no conflict and are never told)."""
        if not aliases:
            return {}
        a = product_aliases.c
        stmt = select(a.scheme, a.code, a.product_id).where(
            a.owner_partner_id == owner_partner_id, tuple_(a.scheme, a.code).in_(aliases)
        )
        return {(r.scheme, r.code): r.product_id for r in await self.conn.execute(stmt)}

    async def owned(
        self, keys: list[tuple[uuid.UUID, str, str]]
    ) -> dict[tuple[uuid.UUID, str, str], uuid.UUID]:
        """The product each (owner partner, scheme, code) names, where one does (one query;
        imports check a batch of several partners' rows with it)."""
        if not keys:
            return {}
        a = product_aliases.c
        stmt = select(a.owner_partner_id, a.scheme, a.code, a.product_id).where(
            tuple_(a.owner_partner_id, a.scheme, a.code).in_(keys)
        )
        return {(r.owner_partner_id, r.scheme, r.code): r.product_id for r in await self.conn.execute(stmt)}

    async def candidates(
        self, scheme: str, code: str, owners: AbstractSet[uuid.UUID] | None = None
    ) -> list[SkuCandidate]:
        """Every product the alias names (of ``owners`` only, when given), with its
        partner's code: one query, for ``domain.alias_namespaces.choose_alias``."""
        if owners is not None and not owners:
            return []
        a = product_aliases.c
        stmt = (
            select(a.product_id, a.owner_partner_id, partners.c.code.label("partner_code"))
            .join_from(product_aliases, partners, partners.c.id == a.owner_partner_id)
            .where(a.scheme == scheme, a.code == code)
        )
        if owners is not None:
            stmt = stmt.where(a.owner_partner_id.in_(owners))
        rows = await self.conn.execute(stmt)
        return [SkuCandidate(r.product_id, r.owner_partner_id, r.partner_code) for r in rows]
