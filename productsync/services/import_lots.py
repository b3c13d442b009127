"""Stock counts of lot-tracked products: one row per lot, the level is their sum.

All lot rows of a level are its whole count: they are staged until the file is read,
then each level is merged at once. A lot of the level the file does not name is
counted as zero; a lot cannot go below what reservations hold on it, nor change its
expiry date (that is another lot). Each lot that changes gets a ``count`` ledger row
with its lot id, so the ledger still sums to the level and to each lot.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from productsync.domain.errors import DomainError
from productsync.domain.events import stock_changed
from productsync.domain.imports import RowError, rule_error
from productsync.domain.inventory import Movement, MovementKind, StockLevel, empty_level
from productsync.domain.quantities import to_quantity
from productsync.services.bundles import announce_bundles
from productsync.services.import_batch import BatchContext
from productsync.store.repositories.stock import movement_row

_GROUPS_PER_PASS = 500
IMPORT_REASON = "import"


def stage_row(r: Any) -> tuple[str, int, str]:
    """A lot row kept until the file is read (grouped by its level)."""
    payload = {
        "lot": r.lot_number,
        "expires": r.expires_on.isoformat(),
        "qty": str(r.on_hand),
        "safety": None if r.safety_stock is None else str(r.safety_stock),
        "code": r.location.code,
        "source": r.source,
    }
    return f"{r.owner}:{r.sku}:{r.location.id}", r.line, json.dumps(payload)


async def merge_staged(ctx: BatchContext) -> None:
    """Every staged level, a few hundred at a time, in (level, line) order."""
    await ctx.writes.index_stage()
    after: tuple[str, int] | None = None
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    while True:
        page = await ctx.writes.staged(after, 5000)
        for grp, line, payload in page:
            groups.setdefault(grp, []).append((line, json.loads(payload)))
        if page:
            after = (page[-1][0], page[-1][1])
        done = not page
        if len(groups) > _GROUPS_PER_PASS or done:
            last = None if done else page[-1][0]
            await _merge(ctx, {g: v for g, v in groups.items() if g != last})
            groups = {g: v for g, v in groups.items() if g == last}
            await ctx.flush_journal()
        if done:
            return


def _reject_all(
    ctx: BatchContext, rows: list[tuple[int, dict[str, Any]]], column: str | None, why: str
) -> None:
    for line, data in rows:
        ctx.reject(line, data["source"], [RowError(line, column, why)])


async def _merge(ctx: BatchContext, groups: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
    if not groups:
        return
    keys = {g: g.split(":", 2) for g in groups}
    found = await ctx.writes.products_by_sku({k[1] for k in keys.values()})
    todo = []
    for grp, rows in groups.items():
        owner, sku, location_id = keys[grp]
        p = found.get((uuid.UUID(owner), sku))
        if p is None:
            _reject_all(ctx, rows, "sku", f"SKU {sku} was not found for this partner")
        elif not await ctx.refs.lot_tracked(p.category_id):
            _reject_all(ctx, rows, "lot_number", "the product's category is not lot-tracked: give no lot")
        else:
            todo.append((p, uuid.UUID(location_id), rows))
    pairs = {(p.id, loc) for p, loc, _ in todo}
    levels = await ctx.writes.levels(pairs)
    current = await ctx.writes.lots_of(pairs)
    new_levels: list[StockLevel] = []
    changed_levels: list[StockLevel] = []
    new_lots: list[dict[str, Any]] = []
    changed_lots: list[dict[str, Any]] = []
    movements: list[dict[str, Any]] = []
    moved: set[uuid.UUID] = set()
    for p, loc, rows in todo:
        try:
            wanted = {
                d["lot"]: (
                    line,
                    date.fromisoformat(d["expires"]),
                    to_quantity(d["qty"], unit=p.base_unit, field="on_hand"),
                )
                for line, d in rows
            }
            safety = next((Decimal(d["safety"]) for _, d in rows if d["safety"] is not None), None)
        except DomainError as exc:
            for line, data in rows:
                ctx.reject(line, data["source"], [rule_error(line, exc, column="on_hand")])
            continue
        stored = {r.lot_number: r for r in current.get((p.id, loc), [])}
        problems = [
            RowError(line, "expires_on", f"lot {n} expires on {stored[n].expires_on} in the hub")
            for n, (line, exp, _) in wanted.items()
            if n in stored and stored[n].expires_on != exp
        ] + [
            RowError(
                wanted[n][0] if n in wanted else rows[0][0],
                "on_hand",
                f"lot {n} holds {r.reserved} for reservations",
            )
            for n, r in stored.items()
            if (wanted[n][2] if n in wanted else Decimal(0)) < r.reserved
        ]
        if problems:
            for line, data in rows:
                ctx.reject(
                    line,
                    data["source"],
                    [e for e in problems if e.line == line]
                    or [RowError(line, None, "another lot of this level was rejected")],
                )
            continue
        level = levels.get((p.id, loc))
        base = level or empty_level(p.id, loc)
        target = sum((q for _, _, q in wanted.values()), Decimal(0))
        changes = []
        for n, (_, exp, q) in wanted.items():
            old = stored.get(n)
            if old is None:
                lot_id = uuid.uuid4()
                new_lots.append(
                    {
                        "id": lot_id,
                        "product_id": p.id,
                        "location_id": loc,
                        "lot_number": n,
                        "expires_on": exp,
                        "quantity": q,
                        "reserved": Decimal(0),
                        "near_expiry_announced": False,
                        "created_at": ctx.now,
                        "updated_at": ctx.now,
                    }
                )
                if q:
                    changes.append((lot_id, q))
            elif old.quantity != q:
                changed_lots.append(_lot_row(old, q, ctx))
                changes.append((old.id, q - old.quantity))
        for n, old in stored.items():
            if n not in wanted and old.quantity:
                changed_lots.append(_lot_row(old, Decimal(0), ctx))
                changes.append((old.id, -old.quantity))
        unchanged = (
            level is not None
            and not changes
            and level.on_hand == target
            and (safety is None or level.safety_stock == safety)
        )
        if unchanged and not any(r.get("product_id") == p.id for r in new_lots):
            ctx.count("stock", "unchanged")
            continue
        after, diff = base.set_to(target)
        if safety is not None:
            after = StockLevel(
                after.product_id, after.location_id, after.on_hand, after.reserved, safety, after.version
            )
        (changed_levels if level is not None else new_levels).append(after)
        ctx.count("stock", "updated" if level is not None else "created")
        for i, (lot_id, q) in enumerate(changes):
            m = Movement(
                p.id,
                loc,
                MovementKind.COUNT,
                q,
                after.on_hand,
                IMPORT_REASON,
                expected=base.on_hand if i == 0 else None,
                lot_id=lot_id,
            )
            movements.append(movement_row(m, ctx.actor, ctx.request_id, ctx.now))
        total = Movement(
            p.id, loc, MovementKind.COUNT, diff, after.on_hand, IMPORT_REASON, expected=base.on_hand
        )
        ctx.record(
            "stock.count",
            "stock_level",
            f"{p.id}:{loc}",
            p.owner_partner_id,
            base.snapshot(),
            after.snapshot(),
            stock_changed(p, after, total, location_code=rows[0][1]["code"], origin=ctx.actor.origin),
            product_id=p.id,
            scope_id=loc,
        )
        moved.add(p.id)
    if not ctx.writing:
        return
    await ctx.writes.save_levels(new_levels, changed_levels, ctx.now)
    await ctx.writes.save_lots(new_lots, changed_lots)
    await ctx.writes.add_movements(movements)
    if moved:
        ctx.extra_events(await announce_bundles(ctx.uow, moved, origin=ctx.actor.origin))


def _lot_row(old: Any, quantity: Decimal, ctx: BatchContext) -> dict[str, Any]:
    row = dict(old._mapping)
    row.update(quantity=quantity, updated_at=ctx.now)
    return row
