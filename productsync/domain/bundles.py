"""A bundle's stock figures, derived from its components' levels (never stored).

Per location: ``on_hand`` is how many whole bundles the components' on-hand stock there
makes, ``available`` how many their available stock makes, and ``reserved`` the
difference (bundles' worth held back by the components' holds and safety stock), so
``available = on_hand - reserved`` as for any level. Totals follow the number channels
get (``bundle_available``): components are summed over locations first, then divided,
so a total may exceed the sum of the locations when parts lie at different places.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from decimal import ROUND_FLOOR, Decimal

from productsync.domain.catalog import Component
from productsync.domain.inventory import StockLevel, StockTotals

_ZERO = Decimal(0)


def _made(components: Iterable[Component], have: Callable[[uuid.UUID], Decimal]) -> Decimal:
    counts = [(have(c.product_id) / c.quantity).to_integral_value(ROUND_FLOOR) for c in components]
    return max(_ZERO, min(counts)) if counts else _ZERO


def bundle_levels(
    bundle_id: uuid.UUID, components: tuple[Component, ...], levels: dict[uuid.UUID, list[StockLevel]]
) -> list[StockLevel]:
    """One derived level per location where any component is stocked (ordered by location)."""
    at: dict[uuid.UUID, dict[uuid.UUID, StockLevel]] = {}
    for c in components:
        for lv in levels.get(c.product_id, []):
            at.setdefault(lv.location_id, {})[c.product_id] = lv
    out = []
    for location_id in sorted(at):
        here = at[location_id]

        def figure(pid: uuid.UUID, field: str, here: dict[uuid.UUID, StockLevel] = here) -> Decimal:
            lv = here.get(pid)
            return _ZERO if lv is None else (lv.on_hand if field == "on_hand" else lv.available)

        on_hand = _made(components, lambda pid: figure(pid, "on_hand"))
        available = _made(components, lambda pid: figure(pid, "available"))
        out.append(StockLevel(bundle_id, location_id, on_hand, on_hand - available, _ZERO, 0))
    return out


def bundle_totals(
    components: tuple[Component, ...], levels: dict[uuid.UUID, list[StockLevel]]
) -> StockTotals:
    """Totals as channels count a bundle: each component summed over all locations."""

    def total(pid: uuid.UUID, available: bool) -> Decimal:
        return sum(((lv.available if available else lv.on_hand) for lv in levels.get(pid, [])), _ZERO)

    on_hand = _made(components, lambda pid: total(pid, False))
    available = _made(components, lambda pid: total(pid, True))
    return StockTotals(on_hand=on_hand, reserved=on_hand - available, safety_stock=_ZERO, available=available)
