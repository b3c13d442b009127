"""What the hub knows each storefront channel holds: the last quantity per external id
(Shopify's ``changeFromQuantity``), and the stock the channel itself reported since."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, delete, func, select, update

from productsync.store.repositories.base import Repository
from productsync.store.tables import oversells, stock_movements
from productsync.store.tables_channel_state import channel_quantities

_Q = channel_quantities.c


class ChannelQuantityRepository(Repository):
    async def get(self, channel_id: uuid.UUID, external_id: str) -> tuple[int, datetime] | None:
        """The known quantity and when it became known."""
        row = (
            await self.conn.execute(
                select(_Q.quantity, _Q.updated_at).where(
                    and_(_Q.channel_id == channel_id, _Q.external_id == external_id)
                )
            )
        ).first()
        return (int(row.quantity), row.updated_at) if row else None

    async def put(
        self, channel_id: uuid.UUID, external_id: str, quantity: int, event_id: str | None, now: datetime
    ) -> None:
        """Insert or overwrite (the last confirmed push or read wins: pushes of one item are
        ordered by the dispatcher)."""
        values = {"quantity": quantity, "event_id": event_id, "updated_at": now}
        done = await self.conn.execute(
            update(channel_quantities)
            .where(and_(_Q.channel_id == channel_id, _Q.external_id == external_id))
            .values(**values)
        )
        if done.rowcount == 0:
            await self.conn.execute(
                self.insert_ignore(
                    channel_quantities, {"channel_id": channel_id, "external_id": external_id, **values}
                )
            )

    async def forget(self, channel_id: uuid.UUID, external_id: str) -> None:
        await self.conn.execute(
            delete(channel_quantities).where(and_(_Q.channel_id == channel_id, _Q.external_id == external_id))
        )

    async def reported_since(self, channel_id: uuid.UUID, product_id: uuid.UUID, since: datetime) -> Decimal:
        """Signed stock change the hub recorded *from this channel* for the product since
        ``since``: its ledger rows (sales negative) minus the oversold parts of its sales
        (a sale the hub lacked stock for is partly an oversell, not a ledger row)."""
        moved = (
            await self.conn.execute(
                select(func.coalesce(func.sum(stock_movements.c.quantity), 0)).where(
                    and_(
                        stock_movements.c.product_id == product_id,
                        stock_movements.c.origin == f"channel:{channel_id}",
                        stock_movements.c.created_at > since,
                    )
                )
            )
        ).scalar_one()
        oversold = (
            await self.conn.execute(
                select(func.coalesce(func.sum(oversells.c.quantity), 0)).where(
                    and_(
                        oversells.c.product_id == product_id,
                        oversells.c.channel_id == channel_id,
                        oversells.c.created_at > since,
                    )
                )
            )
        ).scalar_one()
        return Decimal(str(moved)) - Decimal(str(oversold))
