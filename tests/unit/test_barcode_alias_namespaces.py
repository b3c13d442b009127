"""Per-partner barcodes and aliases in pure code: onboarding prefers the channel owner's
own product when a GTIN or alias names several partners' (domain/matching.py), and
``choose_alias`` resolves an alias like a SKU with its own 409 (domain/alias_namespaces.py)."""

from __future__ import annotations

import uuid

import pytest

from productsync.domain.alias_namespaces import choose_alias
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.errors import Conflict, ErrorCode, NotFound
from productsync.domain.matching import HubProduct, MatchRule, MatchStatus, match_catalog
from productsync.domain.sku_namespaces import SkuCandidate

A, B = uuid.UUID(int=100), uuid.UUID(int=200)
OWN, SHARED = uuid.UUID(int=1), uuid.UUID(int=2)
GTIN = "4006381333931"
HUB = (
    HubProduct(OWN, "SE-ROPE-A", A, gtins=(GTIN,), aliases=(("supplier", "acme-7"),)),
    HubProduct(SHARED, "SE-ROPE-B", B, gtins=(GTIN,), aliases=(("supplier", "acme-7"),)),
)


@pytest.mark.parametrize(
    ("item", "owner", "status", "product", "rule"),
    [
        (ChannelItem("1", None, GTIN), A, MatchStatus.MATCHED, OWN, MatchRule.GTIN),
        (ChannelItem("1", None, GTIN), B, MatchStatus.MATCHED, SHARED, MatchRule.GTIN),
        (ChannelItem("1", "acme-7", None), A, MatchStatus.MATCHED, OWN, MatchRule.ALIAS),
        (ChannelItem("1", None, GTIN), None, MatchStatus.AMBIGUOUS, None, MatchRule.GTIN),
        (ChannelItem("1", None, GTIN), uuid.UUID(int=300), MatchStatus.AMBIGUOUS, None, MatchRule.GTIN),
    ],
)
def test_a_gtin_or_alias_of_several_partners_means_the_channel_owners_own(
    item: ChannelItem,
    owner: uuid.UUID | None,
    status: MatchStatus,
    product: uuid.UUID | None,
    rule: MatchRule,
) -> None:
    (row, *_) = match_catalog([item], HUB, {}, owner=owner).rows
    assert (row.status, row.product_id, row.rule) == (status, product, rule)


def test_a_sku_two_partners_use_stays_ambiguous_for_the_owner() -> None:
    hub = (HubProduct(OWN, "SE-X", A), HubProduct(SHARED, "SE-X", B))
    (row, *_) = match_catalog([ChannelItem("1", "SE-X", None)], hub, {}, owner=A).rows
    assert row.status is MatchStatus.AMBIGUOUS  # the SKU rule is unchanged (domain/sku_namespaces)


C_A = SkuCandidate(OWN, A, "alpha")
C_B = SkuCandidate(SHARED, B, "beta")


def test_choose_alias() -> None:
    assert choose_alias("supplier:x", [C_A, C_B], readable={A}) == C_A
    assert choose_alias("supplier:x", [C_A, C_B], readable=None, partner="beta") == C_B
    assert choose_alias("supplier:x", [C_A, C_B], readable=None, writer=A) == C_A
    with pytest.raises(NotFound) as missing:
        choose_alias("supplier:x", [C_B], readable={A})
    assert "beta" not in missing.value.detail
    with pytest.raises(Conflict) as caught:
        choose_alias("supplier:x", [C_B, C_A], readable=None)
    assert caught.value.code is ErrorCode.AMBIGUOUS_ALIAS
    assert caught.value.data["alias"] == "supplier:x"
    assert [c["partner"] for c in caught.value.data["candidates"]] == ["alpha", "beta"]
