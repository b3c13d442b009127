"""What the hub knows each storefront channel holds: the last quantity per external id
(Shopify's ``changeFromQuantity``), and the stock the channel itself reported since."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from productsync.store.repositories.base import Repository
from productsync.store.tables import oversells, stock_movements
from productsync.store.tables_channel_state import channel_quantities

_Q = channel_quantities.c
_NO_PENDING = {"pending_key": None, "pending_from": None, "pending_quantity": None, "pending_at": None}


@dataclass(frozen=True)
class Pending:
    """A push sent to the channel whose answer the hub never stored."""

    key: str
    change_from: int
    quantity: int
    at: datetime | None = field(default=None, compare=False)  # when it was noted


def _pending(row: Any) -> Pending | None:
    if row is None or row.pending_key is None or row.pending_from is None or row.pending_quantity is None:
        return None
    return Pending(str(row.pending_key), int(row.pending_from), int(row.pending_quantity), row.pending_at)


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
        ordered by the dispatcher); whatever push was pending is settled by it."""
        values = {"quantity": quantity, "event_id": event_id, "updated_at": now, **_NO_PENDING}
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

    async def pending(self, channel_id: uuid.UUID, external_id: str) -> Pending | None:
        """The push noted and never settled, if any."""
        row = (
            await self.conn.execute(
                select(_Q.pending_key, _Q.pending_from, _Q.pending_quantity, _Q.pending_at).where(
                    and_(_Q.channel_id == channel_id, _Q.external_id == external_id)
                )
            )
        ).first()
        return _pending(row)

    async def intend(
        self, channel_id: uuid.UUID, external_id: str, pending: Pending, now: datetime, *, overwrite: bool
    ) -> Pending | None:
        """Note a push about to be sent. Another push noted before it and never settled (its
        process died between the shop's answer and the write) is returned instead, and kept
        unless ``overwrite``: it must be asked about before it can be forgotten."""
        where = and_(_Q.channel_id == channel_id, _Q.external_id == external_id)
        row = (
            await self.conn.execute(
                select(_Q.pending_key, _Q.pending_from, _Q.pending_quantity, _Q.pending_at).where(where)
            )
        ).first()
        earlier = _pending(row)
        values = {
            "pending_key": pending.key,
            "pending_from": pending.change_from,
            "pending_quantity": pending.quantity,
            "pending_at": now,
        }
        if row is None:
            await self.conn.execute(
                self.insert_ignore(
                    channel_quantities,
                    {
                        "channel_id": channel_id,
                        "external_id": external_id,
                        "quantity": pending.change_from,
                        "event_id": None,
                        "updated_at": now,
                        **values,
                    },
                )
            )
            return None
        if earlier is not None and earlier != pending and not overwrite:
            return earlier
        await self.conn.execute(update(channel_quantities).where(where).values(**values))
        return None

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
