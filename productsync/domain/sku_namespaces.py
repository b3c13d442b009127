"""SKU namespaces: a SKU is unique per owner partner, the product UUID hub-wide.

Partners are independent platforms, so two of them may use the same SKU. A request
that names a product by SKU therefore names a set of *candidates* (one per partner
using it); ``choose`` picks the one the caller means:

1. only candidates the caller may see count (own, shared with it; an admin sees all),
   so another partner's SKU never leaks through a lookup;
2. ``partner`` (a partner code, or its id) narrows to that partner's product;
3. a write by a partner key means its own product first: it may write nothing else, so
   its own SKU wins over a shared one (without an own one the shared product is still
   chosen, and the write is then refused as read-only, as before namespaces);
4. one candidate left is the answer; none is "not found"; several are a 409
   ``ambiguous-sku`` listing them (product id, partner code, partner id), and the caller
   names ``product_id`` or ``partner``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from productsync.domain.errors import Conflict, ErrorCode, NotFound


@dataclass(frozen=True)
class SkuCandidate:
    """One product using a SKU, with its owner (the partner's code is what callers name)."""

    product_id: uuid.UUID
    partner_id: uuid.UUID
    partner_code: str

    def public(self) -> dict[str, str]:
        """The candidate as a 409 body lists it."""
        return {
            "product_id": str(self.product_id),
            "partner": self.partner_code,
            "partner_id": str(self.partner_id),
        }


def _names(candidate: SkuCandidate, partner: str) -> bool:
    wanted = partner.strip().lower()
    return wanted in (candidate.partner_code.lower(), str(candidate.partner_id))


def ambiguous(sku: str, candidates: Iterable[SkuCandidate]) -> Conflict:
    """The 409 for a SKU several visible partners use; candidates in partner-code order."""
    listed = sorted(candidates, key=lambda c: (c.partner_code, str(c.product_id)))
    codes = ", ".join(c.partner_code for c in listed)
    return Conflict(
        f"SKU {sku} is used by several partners you can see ({codes}); name product_id or partner",
        code=ErrorCode.AMBIGUOUS_SKU,
        sku=sku,
        candidates=[c.public() for c in listed],
    )


def choose(
    sku: str,
    candidates: Iterable[SkuCandidate],
    *,
    readable: AbstractSet[uuid.UUID] | None,
    writer: uuid.UUID | None = None,
    partner: str | None = None,
) -> SkuCandidate:
    """The candidate a request naming ``sku`` means (rules in the module docstring).

    ``readable``: the owners the caller may see (None: every one, an admin or the hub).
    ``writer``: the partner of a partner key that is writing (None for reads and admins).
    ``partner``: the caller's disambiguator, a partner code or id (None if not given).
    Raises NotFound (nothing visible matches) or Conflict ``ambiguous-sku``."""
    visible = [c for c in candidates if readable is None or c.partner_id in readable]
    if partner is not None and partner.strip():
        visible = [c for c in visible if _names(c, partner)]
    elif writer is not None:
        own = [c for c in visible if c.partner_id == writer]
        visible = own or visible
    if not visible:
        raise NotFound("product", sku if partner is None else f"{sku} of partner {partner.strip()}")
    if len(visible) > 1:
        raise ambiguous(sku, visible)
    return visible[0]
