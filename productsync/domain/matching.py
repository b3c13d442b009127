"""Onboarding: which hub product each item of a channel's catalog is.

A shop that joins the hub already has a catalog on its storefront; retyping thousands of
SKU mappings by hand is what onboarding saves. The rules, in order (``RULES``), each tried
only when the ones before found nothing:

1. **SKU**: the channel's SKU, trimmed and upper-cased as ``normalize_sku`` stores them;
2. **GTIN**: the channel's barcode in any of its forms (UPC-A, EAN-13, GTIN-14 with
   leading zeros), compared in the GTIN-14 form the hub indexes barcodes by;
3. **alias**: the channel's SKU as a code of a product alias (supplier, warehouse, ...),
   case kept, in the given schemes or any.

A rule that names several products is narrowed by the later rules (two partners sharing
a SKU, one of them holding the barcode); barcodes and aliases are unique per partner, so
a GTIN or alias may name the channel owner's own product and a shared one: then the
owner's own is taken (it is the one its shop sells). If nothing singles one out, the item
is *ambiguous*. A hub product claimed by several channel items is ambiguous for all of
them: a mapping is one item to one product, so a person must choose. Existing mappings
win over the rules: an item already mapped is reported *already mapped*, or a *conflict*
when the rules name another product, the mapped product left the channel's slice, or the
mapped item is no longer on the channel. Products of the slice that no item names are
*unmatched* on the hub side, items that name none are *unmatched* on the channel side.

Pure: the caller loads the candidates (the channel's slice) and the mappings.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.errors import InvalidInput
from productsync.domain.identifiers import gtin14, normalize_gtin


class MatchStatus(StrEnum):
    MATCHED = "matched"
    AMBIGUOUS = "ambiguous"
    UNMATCHED_CHANNEL = "unmatched_channel"
    UNMATCHED_HUB = "unmatched_hub"
    ALREADY_MAPPED = "already_mapped"
    CONFLICT = "conflict"


class MatchRule(StrEnum):
    SKU = "sku"
    GTIN = "gtin"
    ALIAS = "alias"
    MAPPING = "mapping"  # an existing SKU mapping, not a rule


@dataclass(frozen=True)
class HubProduct:
    """A hub product a channel item may be matched to (one of the channel's slice)."""

    id: uuid.UUID
    sku: str
    owner_partner_id: uuid.UUID | None = None
    gtins: tuple[str, ...] = ()  # as stored; compared in the GTIN-14 form
    aliases: tuple[tuple[str, str], ...] = ()  # (scheme, code)
    name: str = ""


@dataclass(frozen=True)
class MatchRow:
    """One line of the report: a channel item, a hub product, or both."""

    status: MatchStatus
    external_id: str | None
    product_id: uuid.UUID | None = None
    rule: MatchRule | None = None
    candidates: tuple[uuid.UUID, ...] = ()
    reason: str | None = None
    item: ChannelItem | None = None


@dataclass(frozen=True)
class MatchReport:
    rows: tuple[MatchRow, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    def of(self, status: MatchStatus) -> list[MatchRow]:
        return [r for r in self.rows if r.status is status]


def sku_key(raw: str | None) -> str | None:
    """A SKU as the hub stores it (``normalize_sku`` trims and upper-cases); no
    validation here: a channel SKU the hub would refuse simply matches nothing."""
    key = (raw or "").strip().upper()
    return key or None


def gtin_key(raw: str | None) -> str | None:
    """The GTIN-14 form of a barcode, or None when it is no valid GTIN."""
    if raw is None or not raw.strip():
        return None
    try:
        return gtin14(normalize_gtin(raw))
    except InvalidInput:
        return None


@dataclass
class _Index:
    by_sku: dict[str, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))
    by_gtin: dict[str, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))
    by_alias: dict[str, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))


def _index(
    hub: Iterable[HubProduct], schemes: Collection[str] | None
) -> tuple[_Index, dict[uuid.UUID, HubProduct]]:
    index, products = _Index(), {}
    for p in hub:
        products[p.id] = p
        index.by_sku[p.sku.strip().upper()].add(p.id)
        for g in p.gtins:  # stored barcodes were validated on the way in: no second check
            index.by_gtin[gtin14(g.strip())].add(p.id)
        for scheme, code in p.aliases:
            if schemes is None or scheme in schemes:
                index.by_alias[code.strip()].add(p.id)
    return index, products


def _by_sku(item: ChannelItem, index: _Index) -> set[uuid.UUID]:
    key = sku_key(item.sku)
    return set(index.by_sku.get(key, ())) if key else set()


def _by_gtin(item: ChannelItem, index: _Index) -> set[uuid.UUID]:
    key = gtin_key(item.barcode)
    return set(index.by_gtin.get(key, ())) if key else set()


def _by_alias(item: ChannelItem, index: _Index) -> set[uuid.UUID]:
    code = (item.sku or "").strip()
    return set(index.by_alias.get(code, ())) if code else set()


# The rules in the order they are tried (strategy table: adding one is one line).
RULES: tuple[tuple[MatchRule, Callable[[ChannelItem, _Index], set[uuid.UUID]]], ...] = (
    (MatchRule.SKU, _by_sku),
    (MatchRule.GTIN, _by_gtin),
    (MatchRule.ALIAS, _by_alias),
)


def _sorted(ids: Iterable[uuid.UUID], products: Mapping[uuid.UUID, HubProduct]) -> tuple[uuid.UUID, ...]:
    return tuple(sorted(ids, key=lambda i: (products[i].sku if i in products else "", str(i))))


def _own(
    rule: MatchRule, ids: set[uuid.UUID], products: Mapping[uuid.UUID, HubProduct], owner: uuid.UUID | None
) -> set[uuid.UUID]:
    """A GTIN or alias naming several partners' products: the channel owner's own ones."""
    if owner is None or rule not in (MatchRule.GTIN, MatchRule.ALIAS):
        return set()
    return {i for i in ids if products[i].owner_partner_id == owner}


def _apply_rules(
    item: ChannelItem,
    index: _Index,
    products: Mapping[uuid.UUID, HubProduct],
    owner: uuid.UUID | None = None,
) -> MatchRow:
    """The first rule that names anything decides; several names are narrowed by the
    later rules, then (GTIN, alias) by the channel owner's own product; a later rule
    naming another product is noted, not obeyed."""
    found = [(rule, fn(item, index)) for rule, fn in RULES]
    for i, (rule, ids) in enumerate(found):
        if not ids:
            continue
        later = [(r, s) for r, s in found[i + 1 :] if s]
        if len(ids) == 1:
            (pid,) = ids
            others = [f"{r.value} names {products[next(iter(s))].sku}" for r, s in later if pid not in s]
            return MatchRow(
                MatchStatus.MATCHED,
                item.external_id,
                pid,
                rule,
                (pid,),
                reason="; ".join(others) or None,
                item=item,
            )
        for narrowing, subset in later:
            chosen = ids & subset
            if len(chosen) == 1:
                (pid,) = chosen
                return MatchRow(
                    MatchStatus.MATCHED,
                    item.external_id,
                    pid,
                    narrowing,
                    (pid,),
                    reason=f"{rule.value} names {len(ids)} products; {narrowing.value} chose one",
                    item=item,
                )
        own = _own(rule, ids, products, owner)
        if len(own) == 1:
            (pid,) = own
            return MatchRow(
                MatchStatus.MATCHED,
                item.external_id,
                pid,
                rule,
                (pid,),
                reason=f"{rule.value} names {len(ids)} products; the channel owner's own chosen",
                item=item,
            )
        return MatchRow(
            MatchStatus.AMBIGUOUS,
            item.external_id,
            None,
            rule,
            _sorted(ids, products),
            reason=f"{rule.value} names {len(ids)} products",
            item=item,
        )
    return MatchRow(MatchStatus.UNMATCHED_CHANNEL, item.external_id, item=item, reason=_why_unmatched(item))


def _why_unmatched(item: ChannelItem) -> str:
    if not sku_key(item.sku) and not (item.barcode or "").strip():
        return "the item has neither SKU nor barcode"
    if (item.barcode or "").strip() and gtin_key(item.barcode) is None:
        return f"no product has this SKU; barcode {item.barcode!r} is not a valid GTIN"
    return "no product of the channel's slice has this SKU, barcode or alias"


def _with_mapping(row: MatchRow, mapped: uuid.UUID, products: Mapping[uuid.UUID, HubProduct]) -> MatchRow:
    """An item the channel already maps: the mapping stands unless the rules disagree."""
    if mapped not in products:
        return replace(
            row,
            status=MatchStatus.CONFLICT,
            product_id=mapped,
            rule=MatchRule.MAPPING,
            candidates=row.candidates,
            reason="mapped to a product outside the channel's slice",
        )
    disagree = row.status in (MatchStatus.MATCHED, MatchStatus.AMBIGUOUS) and mapped not in row.candidates
    if disagree:
        assert row.rule is not None
        names = ", ".join(products[c].sku for c in row.candidates)
        return replace(
            row,
            status=MatchStatus.CONFLICT,
            product_id=mapped,
            rule=MatchRule.MAPPING,
            reason=f"mapped to {products[mapped].sku}, but {row.rule.value} names {names}",
        )
    return replace(
        row,
        status=MatchStatus.ALREADY_MAPPED,
        product_id=mapped,
        rule=MatchRule.MAPPING,
        candidates=(mapped,),
        reason=None,
    )


def _claimed_twice(rows: list[MatchRow], products: Mapping[uuid.UUID, HubProduct]) -> list[MatchRow]:
    """New matches on a product another item also holds (matched or mapped) are ambiguous."""
    holders: dict[uuid.UUID, list[str]] = defaultdict(list)
    for r in rows:
        if r.status in (MatchStatus.MATCHED, MatchStatus.ALREADY_MAPPED) and r.product_id is not None:
            holders[r.product_id].append(r.external_id or "")
    out = []
    for r in rows:
        if r.status is MatchStatus.MATCHED and r.product_id is not None and len(holders[r.product_id]) > 1:
            others = [x for x in holders[r.product_id] if x != r.external_id]
            r = replace(
                r,
                status=MatchStatus.AMBIGUOUS,
                product_id=None,
                candidates=(r.product_id,),
                reason=f"{products[r.product_id].sku} is also claimed by channel item(s) {', '.join(others)}",
            )
        out.append(r)
    return out


def match_catalog(
    items: Iterable[ChannelItem],
    hub: Iterable[HubProduct],
    mapped: Mapping[str, uuid.UUID],
    *,
    alias_schemes: Collection[str] | None = None,
    owner: uuid.UUID | None = None,
) -> MatchReport:
    """Match the channel's ``items`` to the ``hub`` products of its slice, given the
    channel's existing mappings (external id -> product); ``owner``: the channel's
    partner, whose own product a GTIN or alias naming several partners' means."""
    index, products = _index(hub, alias_schemes)
    rows: list[MatchRow] = []
    seen: set[str] = set()
    for item in items:
        if item.external_id in seen:  # a platform listing an item twice: once is enough
            continue
        seen.add(item.external_id)
        row = _apply_rules(item, index, products, owner)
        if item.external_id in mapped:
            row = _with_mapping(row, mapped[item.external_id], products)
        rows.append(row)
    rows = _claimed_twice(rows, products)
    for external_id, pid in sorted(mapped.items()):
        if external_id not in seen:
            rows.append(
                MatchRow(
                    MatchStatus.CONFLICT,
                    external_id,
                    pid,
                    MatchRule.MAPPING,
                    (pid,),
                    reason="mapped, but the channel no longer has this item",
                )
            )
    named = {r.product_id for r in rows if r.product_id} | {c for r in rows for c in r.candidates}
    for pid in _sorted(set(products) - named, products):
        rows.append(
            MatchRow(MatchStatus.UNMATCHED_HUB, None, pid, reason="no channel item names this product")
        )
    counts = Counter(r.status.value for r in rows)
    return MatchReport(tuple(rows), {s.value: counts.get(s.value, 0) for s in MatchStatus})
