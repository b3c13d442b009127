"""Alias (and barcode) namespaces: like SKUs, an alias code is unique per owner partner.

Two partners may register the same supplier or marketplace code, so a lookup by alias
names a set of candidates; the rule that picks one is ``sku_namespaces.choose`` (only
visible candidates count, ``partner`` narrows, a writing partner key means its own).
Only the 409 differs: ``ambiguous-alias`` names the alias instead of a SKU.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from productsync.domain.errors import Conflict, ErrorCode, NotFound
from productsync.domain.sku_namespaces import SkuCandidate, choose


def choose_alias(
    alias: str,
    candidates: Iterable[SkuCandidate],
    *,
    readable: AbstractSet[uuid.UUID] | None,
    writer: uuid.UUID | None = None,
    partner: str | None = None,
) -> SkuCandidate:
    """The candidate a request naming ``alias`` ("scheme:code") means.
    Raises NotFound ("alias") or Conflict ``ambiguous-alias`` listing the visible candidates."""
    visible = [c for c in candidates if readable is None or c.partner_id in readable]
    try:
        return choose(alias, visible, readable=None, writer=writer, partner=partner)
    except NotFound:
        named = alias if partner is None or not partner.strip() else f"{alias} of partner {partner.strip()}"
        raise NotFound("alias", named) from None
    except Conflict:
        listed = sorted(visible, key=lambda c: (c.partner_code, str(c.product_id)))
        codes = ", ".join(c.partner_code for c in listed)
        raise Conflict(
            f"alias {alias} names products of several partners you can see ({codes}); name partner",
            code=ErrorCode.AMBIGUOUS_ALIAS,
            alias=alias,
            candidates=[c.public() for c in listed],
        ) from None
