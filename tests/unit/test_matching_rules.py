"""Onboarding's matching rules (domain/matching.py), one table of cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.matching import HubProduct, MatchRule, MatchStatus, gtin_key, match_catalog, sku_key

P1, P2, P3 = (uuid.UUID(int=n) for n in (1, 2, 3))
A, B = uuid.UUID(int=100), uuid.UUID(int=200)

HUB = (
    HubProduct(P1, "COS-NP-001", A, gtins=("4006381333931",), aliases=(("supplier", "acme-77"),)),
    HubProduct(P2, "COS-NP-002", A, gtins=("0036000291452",), aliases=(("warehouse", "W-2"),)),
    HubProduct(P3, "SE-BALL", B),
)


@dataclass(frozen=True)
class Case:
    name: str
    items: tuple[ChannelItem, ...]
    expected: dict[str, tuple[MatchStatus, uuid.UUID | None, MatchRule | None]]  # by external id
    hub: tuple[HubProduct, ...] = HUB
    mapped: dict[str, uuid.UUID] = field(default_factory=dict)
    schemes: tuple[str, ...] | None = None
    unmatched_hub: frozenset[uuid.UUID] | None = None


def item(external_id: str, sku: str | None = None, barcode: str | None = None) -> ChannelItem:
    return ChannelItem(external_id=external_id, sku=sku, barcode=barcode)


M, AMB, UC, AM, CF = (
    MatchStatus.MATCHED,
    MatchStatus.AMBIGUOUS,
    MatchStatus.UNMATCHED_CHANNEL,
    MatchStatus.ALREADY_MAPPED,
    MatchStatus.CONFLICT,
)

CASES = [
    Case("sku, trimmed and upper-cased", (item("1", " cos-np-001 "),), {"1": (M, P1, MatchRule.SKU)}),
    Case("ean-13 barcode", (item("1", None, "4006381333931"),), {"1": (M, P1, MatchRule.GTIN)}),
    Case("gtin-14 with leading zero", (item("1", "x-1", "04006381333931"),), {"1": (M, P1, MatchRule.GTIN)}),
    Case("upc-a against an ean-13", (item("1", None, "036000291452"),), {"1": (M, P2, MatchRule.GTIN)}),
    Case("barcode with dashes", (item("1", None, "4006-3813-33931"),), {"1": (M, P1, MatchRule.GTIN)}),
    Case("alias code, case kept", (item("1", "acme-77"),), {"1": (M, P1, MatchRule.ALIAS)}),
    Case("alias code in another case is no alias", (item("1", "ACME-77x"),), {"1": (UC, None, None)}),
    Case(
        "alias outside the allowed schemes",
        (item("1", "acme-77"),),
        {"1": (UC, None, None)},
        schemes=("warehouse",),
    ),
    Case(
        "alias in an allowed scheme",
        (item("1", "W-2"),),
        {"1": (M, P2, MatchRule.ALIAS)},
        schemes=("warehouse",),
    ),
    Case(
        "sku wins over a barcode naming another product",
        (item("1", "COS-NP-001", "036000291452"),),
        {"1": (M, P1, MatchRule.SKU)},
    ),
    Case("a wrong check digit matches nothing", (item("1", None, "4006381333932"),), {"1": (UC, None, None)}),
    Case("neither sku nor barcode", (item("1"),), {"1": (UC, None, None)}),
    Case(
        "two partners share a sku: ambiguous",
        (item("1", "DUP-1"),),
        {"1": (AMB, None, MatchRule.SKU)},
        hub=(HubProduct(P1, "DUP-1", A), HubProduct(P2, "DUP-1", B)),
    ),
    Case(
        "two partners share a sku, the barcode picks one",
        (item("1", "DUP-1", "036000291452"),),
        {"1": (M, P2, MatchRule.GTIN)},
        hub=(HubProduct(P1, "DUP-1", A), HubProduct(P2, "DUP-1", B, gtins=("036000291452",))),
    ),
    Case(
        "two items claim one product: both ambiguous",
        (item("1", "COS-NP-001"), item("2", None, "4006381333931")),
        {"1": (AMB, None, MatchRule.SKU), "2": (AMB, None, MatchRule.GTIN)},
    ),
    Case(
        "an existing mapping the rules agree with",
        (item("1", "COS-NP-001"),),
        {"1": (AM, P1, MatchRule.MAPPING)},
        mapped={"1": P1},
    ),
    Case(
        "an existing mapping on an item the rules cannot place",
        (item("1", "unknown"),),
        {"1": (AM, P2, MatchRule.MAPPING)},
        mapped={"1": P2},
    ),
    Case(
        "an existing mapping the rules disagree with",
        (item("1", "COS-NP-001"),),
        {"1": (CF, P2, MatchRule.MAPPING)},
        mapped={"1": P2},
    ),
    Case(
        "a mapping to a product outside the slice",
        (item("1", "COS-NP-001"),),
        {"1": (CF, uuid.UUID(int=9), MatchRule.MAPPING)},
        mapped={"1": uuid.UUID(int=9)},
    ),
    Case(
        "a new item on a product another item is mapped to",
        (item("1", "whatever"), item("2", "COS-NP-001")),
        {"1": (AM, P1, MatchRule.MAPPING), "2": (AMB, None, MatchRule.SKU)},
        mapped={"1": P1},
    ),
    Case(
        "a mapped item the channel no longer has",
        (item("2", "COS-NP-002"),),
        {"2": (M, P2, MatchRule.SKU), "gone": (CF, P1, MatchRule.MAPPING)},
        mapped={"gone": P1},
        unmatched_hub=frozenset({P3}),
    ),
    Case(
        "hub products no item names are unmatched on the hub side",
        (item("1", "COS-NP-001"), item("2", "nothing")),
        {"1": (M, P1, MatchRule.SKU), "2": (UC, None, None)},
        unmatched_hub=frozenset({P2, P3}),
    ),
    Case(
        "an item listed twice counts once",
        (item("1", "SE-BALL"), item("1", "SE-BALL")),
        {"1": (M, P3, MatchRule.SKU)},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matching_rules(case: Case) -> None:
    report = match_catalog(case.items, case.hub, case.mapped, alias_schemes=case.schemes)
    got = {r.external_id: (r.status, r.product_id, r.rule) for r in report.rows if r.external_id is not None}
    assert got == case.expected
    if case.unmatched_hub is not None:
        assert {r.product_id for r in report.of(MatchStatus.UNMATCHED_HUB)} == case.unmatched_hub
    assert sum(report.counts.values()) == len(report.rows)


def test_ambiguous_rows_name_every_candidate_and_why() -> None:
    hub = (HubProduct(P1, "DUP-1", A), HubProduct(P2, "DUP-1", B))
    (row,) = match_catalog([item("1", "dup-1")], hub, {}).rows
    assert row.candidates == (P1, P2) and row.reason == "sku names 2 products"


def test_candidates_of_an_ambiguous_item_are_not_unmatched_on_the_hub_side() -> None:
    report = match_catalog([item("1", "COS-NP-001"), item("2", None, "4006381333931")], HUB, {})
    assert {r.product_id for r in report.of(MatchStatus.UNMATCHED_HUB)} == {P2, P3}
    assert report.counts["ambiguous"] == 2 and report.counts["unmatched_hub"] == 2


def test_a_disagreeing_lower_rule_is_noted_on_the_match() -> None:
    (row, *_) = match_catalog([item("1", "COS-NP-001", "036000291452")], HUB, {}).rows
    assert row.reason == "gtin names COS-NP-002"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("036000291452", "00036000291452"), ("0036000291452", "00036000291452"), ("bad", None), ("", None)],
)
def test_gtin_keys_are_the_gtin_14_form(raw: str, expected: str | None) -> None:
    assert gtin_key(raw) == expected


def test_sku_keys_are_trimmed_and_upper_cased() -> None:
    assert sku_key("  ab-1 ") == "AB-1" and sku_key("   ") is None and sku_key(None) is None
