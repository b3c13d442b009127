"""Payment records and the set-based reads of the payments-against-sales report."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from productsync.domain.payment_reconciliation import Outcome, PaymentKind, PaymentRecord
from productsync.domain.pricing import PriceEntry
from productsync.store.repositories.base import Repository
from productsync.store.tables import price_entries, price_lists, products, stock_movements
from productsync.store.tables_payments import payment_movements, payment_records

_P = payment_records.c
_M = stock_movements.c
_L = payment_movements.c

# The ledger kinds a payment source writes (sales, and returns for refunds).
PAYMENT_MOVEMENT_KINDS = ("sale", "return")


def _record(row: Row[Any]) -> PaymentRecord:
    values = dict(row._mapping)
    values["kind"] = PaymentKind(values["kind"])
    values["outcome"] = Outcome(values["outcome"])
    return PaymentRecord(**values)


@dataclass(frozen=True)
class Moved:
    """A ledger row a payment record claims."""

    movement_id: int
    kind: str
    quantity: Decimal


@dataclass(frozen=True)
class OrphanMovement:
    """A ledger row of the payment source that no payment record claims."""

    id: int
    kind: str
    quantity: Decimal
    product_id: uuid.UUID
    sku: str
    owner_partner_id: uuid.UUID
    reservation_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


class PaymentRepository(Repository):
    async def add(self, record: PaymentRecord, movement_ids: list[int]) -> None:
        """The record and its ledger links. A refused record of the same event (an earlier
        delivery that failed) gives way: the event has now been taken. One upsert, so the
        usual case (no refusal before) costs no extra round trip."""
        row = {k: (v.value if k in ("kind", "outcome") else v) for k, v in asdict(record).items()}
        dialect_insert = postgresql.insert if self.is_postgres else sqlite.insert
        stmt = dialect_insert(payment_records).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_P.source, _P.event_id],
            set_={k: stmt.excluded[k] for k in row if k not in ("source", "event_id")},
            where=_P.outcome == Outcome.REFUSED.value,
        )
        await self.conn.execute(stmt)
        if movement_ids:
            await self.conn.execute(
                insert(payment_movements),
                [{"movement_id": m, "payment_record_id": record.id} for m in sorted(set(movement_ids))],
            )

    async def price_list_entries(
        self, list_id: uuid.UUID, product_ids: list[uuid.UUID]
    ) -> tuple[str, dict[uuid.UUID, list[PriceEntry]]] | None:
        """A price list's currency and its entries for ``product_ids``, in one statement;
        None when the list does not exist (a product never priced has no entries)."""
        e = price_entries.c
        stmt = (
            select(price_lists.c.currency, e.product_id, e.min_quantity, e.amount, e.valid_from, e.valid_to)
            .select_from(price_lists)
            .outerjoin(
                price_entries, and_(e.price_list_id == price_lists.c.id, e.product_id.in_(product_ids))
            )
            .where(price_lists.c.id == list_id)
            .order_by(e.product_id, e.min_quantity, e.id)
        )
        rows = (await self.conn.execute(stmt)).all()
        if not rows:
            return None
        found: dict[uuid.UUID, list[PriceEntry]] = {}
        for r in rows:
            if r.product_id is not None:
                found.setdefault(r.product_id, []).append(
                    PriceEntry(r.min_quantity, r.amount, r.valid_from, r.valid_to)
                )
        return rows[0].currency, found

    async def add_refused(self, record: PaymentRecord) -> None:
        """A refused event, once (a redelivery refused again keeps the first record)."""
        row = {k: (v.value if k in ("kind", "outcome") else v) for k, v in asdict(record).items()}
        await self.conn.execute(self.insert_ignore(payment_records, row))

    async def refunded_so_far(self, source: str, payment_ref: str) -> int:
        """Minor units already recorded as refunded for a payment (Stripe's charge carries
        the running total; each refund event records the difference)."""
        stmt = select(func.coalesce(func.sum(_P.amount_minor), 0)).where(
            _P.source == source,
            _P.payment_ref == payment_ref,
            _P.kind == PaymentKind.REFUNDED.value,
            _P.outcome != Outcome.REFUSED.value,
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    async def paid(self, source: str, payment_ref: str) -> PaymentRecord | None:
        """The payment's (first applied) paid record, for its refund's expected amount."""
        stmt = (
            select(payment_records)
            .where(
                _P.source == source,
                _P.payment_ref == payment_ref,
                _P.kind == PaymentKind.PAID.value,
                _P.outcome == Outcome.APPLIED.value,
            )
            .order_by(_P.recorded_at, _P.id)
            .limit(1)
        )
        row = (await self.conn.execute(stmt)).first()
        return _record(row) if row else None

    async def reservation_sales(self, reservation_id: uuid.UUID) -> list[int]:
        """The sale rows a committed reservation wrote (they name it)."""
        stmt = select(_M.id).where(_M.reservation_id == reservation_id, _M.kind == "sale").order_by(_M.id)
        return [int(i) for i in (await self.conn.execute(stmt)).scalars()]

    # --- the report ----------------------------------------------------------------------

    async def records_page(
        self,
        start: datetime,
        end: datetime,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[tuple[PaymentRecord, list[Moved]]]:
        """Records that occurred in [start, end), by (occurred_at, id), with the ledger
        rows each claims (two statements a page, whatever its size). ``owners`` None:
        every record; else those partners' records only (never a shared payment)."""
        stmt = (
            select(payment_records)
            .where(_P.occurred_at >= start, _P.occurred_at < end)
            .order_by(_P.occurred_at, _P.id)
            .limit(limit)
        )
        if owners is not None:
            stmt = stmt.where(_P.owner_partner_id.in_(owners))
        if after is not None:
            # A row-value comparison: both databases walk the (occurred_at, id) index from it.
            last = tuple_(literal(after[0], _P.occurred_at.type), literal(after[1], _P.id.type))
            stmt = stmt.where(tuple_(_P.occurred_at, _P.id) > last)
        records = [_record(r) for r in (await self.conn.execute(stmt)).all()]
        if not records:
            return []
        links = select(_L.payment_record_id, _M.id, _M.kind, _M.quantity).join(
            stock_movements, _M.id == _L.movement_id
        )
        links = links.where(_L.payment_record_id.in_([r.id for r in records])).order_by(_M.id)
        moved: dict[uuid.UUID, list[Moved]] = {}
        for rid, mid, kind, quantity in (await self.conn.execute(links)).all():
            moved.setdefault(rid, []).append(Moved(int(mid), kind, quantity))
        return [(r, moved.get(r.id, [])) for r in records]

    async def orphans_page(
        self,
        source: str,
        start: datetime,
        end: datetime,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        after_id: int,
        limit: int,
    ) -> list[OrphanMovement]:
        """Sale and return rows the payment source wrote in [start, end) that no payment
        record claims: one anti-join, by id."""
        stmt = (
            select(
                _M.id,
                _M.kind,
                _M.quantity,
                _M.product_id,
                products.c.sku,
                products.c.owner_partner_id,
                _M.reservation_id,
                _M.reason,
                _M.created_at,
            )
            .join(products, products.c.id == _M.product_id)
            .outerjoin(payment_movements, _L.movement_id == _M.id)
            .where(
                _M.origin == source,
                _M.kind.in_(PAYMENT_MOVEMENT_KINDS),
                _M.created_at >= start,
                _M.created_at < end,
                _M.id > after_id,
                _L.movement_id.is_(None),
            )
            .order_by(_M.id)
            .limit(limit)
        )
        if owners is not None:
            stmt = stmt.where(products.c.owner_partner_id.in_(owners))
        return [OrphanMovement(**dict(r._mapping)) for r in (await self.conn.execute(stmt)).all()]
