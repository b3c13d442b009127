"""Which product a SKU names when SKUs are unique per partner (domain/sku_namespaces.py)."""

from __future__ import annotations

import uuid

import pytest

from productsync.domain.errors import Conflict, ErrorCode, NotFound
from productsync.domain.sku_namespaces import SkuCandidate, choose

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
OF_A = SkuCandidate(uuid.uuid4(), A, "alpha")
OF_B = SkuCandidate(uuid.uuid4(), B, "beta")
OF_C = SkuCandidate(uuid.uuid4(), C, "gamma")
ALL = None  # an admin (or the hub) sees every partner

# (case, candidates, readable, writer, partner, expected: a candidate, "404", or the 409's partner codes)
CASES = [
    ("one visible candidate is the answer", [OF_A], {A}, None, None, OF_A),
    ("others' candidates are invisible, so no ambiguity", [OF_A, OF_B], {A}, None, None, OF_A),
    ("only invisible candidates: not found", [OF_B], {A}, None, None, "404"),
    ("no candidate at all: not found", [], ALL, None, None, "404"),
    ("an admin seeing two is ambiguous", [OF_A, OF_B], ALL, None, None, {"alpha", "beta"}),
    (
        "a partner seeing two through shares is ambiguous",
        [OF_A, OF_B, OF_C],
        {C, A, B},
        None,
        None,
        {"alpha", "beta", "gamma"},
    ),
    ("a partner code narrows to that partner", [OF_A, OF_B], ALL, None, "beta", OF_B),
    ("a partner code is case-insensitive and trimmed", [OF_A, OF_B], ALL, None, "  BETA ", OF_B),
    ("a partner id works like its code", [OF_A, OF_B], ALL, None, str(A), OF_A),
    ("naming an invisible partner finds nothing", [OF_A, OF_B], {A}, None, "beta", "404"),
    ("naming a partner that does not use the SKU finds nothing", [OF_A], ALL, None, "gamma", "404"),
    ("a partner writing means its own product first", [OF_A, OF_B], {B, A}, B, None, OF_B),
    ("a writer without its own falls back to what it sees", [OF_A], {B, A}, B, None, OF_A),
    (
        "a writer without its own, seeing two others, is ambiguous",
        [OF_A, OF_C],
        {B, A, C},
        B,
        None,
        {"alpha", "gamma"},
    ),
    ("a named partner beats the writer's own", [OF_A, OF_B], {B, A}, B, "alpha", OF_A),
    ("a blank partner is not a partner", [OF_A, OF_B], {B, A}, B, "  ", OF_B),
]


@pytest.mark.parametrize(
    ("candidates", "readable", "writer", "partner", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_a_sku_names_the_one_candidate_the_caller_means(
    candidates: list[SkuCandidate],
    readable: set[uuid.UUID] | None,
    writer: uuid.UUID | None,
    partner: str | None,
    expected: object,
) -> None:
    if expected == "404":
        with pytest.raises(NotFound):
            choose("SE-X", candidates, readable=readable, writer=writer, partner=partner)
    elif isinstance(expected, set):
        with pytest.raises(Conflict) as raised:
            choose("SE-X", candidates, readable=readable, writer=writer, partner=partner)
        assert raised.value.code is ErrorCode.AMBIGUOUS_SKU
        listed = raised.value.data["candidates"]
        assert {c["partner"] for c in listed} == expected
        assert [c["partner"] for c in listed] == sorted(expected)  # a stable order
    else:
        assert choose("SE-X", candidates, readable=readable, writer=writer, partner=partner) == expected


def test_the_ambiguity_names_each_candidate_by_product_partner_code_and_partner_id() -> None:
    with pytest.raises(Conflict) as raised:
        choose("SE-X", [OF_B, OF_A], readable=ALL)
    assert raised.value.data == {
        "sku": "SE-X",
        "candidates": [
            {"product_id": str(OF_A.product_id), "partner": "alpha", "partner_id": str(A)},
            {"product_id": str(OF_B.product_id), "partner": "beta", "partner_id": str(B)},
        ],
    }
    assert "alpha" in raised.value.detail and "partner" in raised.value.detail


def test_not_found_does_not_say_who_else_uses_the_sku() -> None:
    with pytest.raises(NotFound) as raised:
        choose("SE-X", [OF_B], readable={A})
    assert "beta" not in raised.value.detail and str(B) not in str(raised.value.data)
