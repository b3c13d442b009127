"""Reconciliation rules (domain/reconciliation.py): one table of cases per rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.errors import InvalidInput
from productsync.domain.reconciliation import (
    FindingKind,
    RepairMode,
    Tolerances,
    compare,
    consistency_rate,
    normalize_text,
    reconcile_page,
    repair_mode,
    tolerances,
)

D = Decimal


@dataclass(frozen=True)
class Exp:
    sku: str = "SE-1"
    quantity: Decimal = D(5)
    price: Decimal | None = D("9.50")
    currency: str | None = "EUR"
    title: str = "Racket"
    description: str | None = "<p>Light &amp; fast</p>"
    external_ids: tuple[str, ...] = ("101",)
    product_id: uuid.UUID = uuid.UUID(int=1)


def item(**kw: object) -> ChannelItem:
    base: dict[str, object] = {
        "external_id": "101",
        "sku": "se-1",
        "quantity": D(5),
        "price": D("9.5"),
        "currency": "EUR",
        "title": "Racket",
        "description": "<p>Light &amp; fast</p>",
    }
    base.update(kw)
    return ChannelItem(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "tol", "kinds", "values"),
    [
        (item(), Tolerances(), [], []),
        (item(quantity=D(4)), Tolerances(), ["wrong_stock"], [("5", "4")]),
        (item(quantity=D(4)), Tolerances(stock=D(1)), [], []),
        (item(quantity=D(3)), Tolerances(stock=D(1)), ["wrong_stock"], [("5", "3")]),
        (item(quantity=None), Tolerances(), [], []),  # not reported: not compared
        (item(price=D("9.99")), Tolerances(), ["wrong_price"], [("9.5 EUR", "9.99 EUR")]),
        (item(price=D("9.51")), Tolerances(price=D("0.01")), [], []),
        (item(currency="USD"), Tolerances(), ["wrong_price"], [("9.5 EUR", "9.5 USD")]),
        (item(currency=None), Tolerances(), [], []),
        (item(price=None), Tolerances(), [], []),
        (item(title="Racket v2"), Tolerances(), ["wrong_text"], [("title: Racket", "title: Racket v2")]),
        (item(title="  Racket \n"), Tolerances(), [], []),  # whitespace is no drift
        (item(title=None, description=None), Tolerances(), [], []),
        (item(description="Light & fast"), Tolerances(html=True), [], []),  # storefront HTML
        (item(description="Light & fast"), Tolerances(html=False), ["wrong_text"], None),
        (item(description="<div>Light &amp;   fast</div>"), Tolerances(html=True), [], []),
        (
            item(quantity=D(0), price=D(1), title="x"),
            Tolerances(),
            ["wrong_stock", "wrong_price", "wrong_text"],
            None,
        ),
    ],
)
def test_a_matched_pair_is_compared_field_by_field(channel, tol, kinds, values) -> None:  # type: ignore[no-untyped-def]
    found = compare(Exp(), channel, tol)
    assert [f.kind.value for f in found] == kinds
    if values is not None:
        assert [(f.hub_value, f.channel_value) for f in found] == values
    assert all(f.sku == "SE-1" and f.external_id == "101" for f in found)


def test_the_hub_without_a_price_compares_no_price() -> None:
    assert compare(Exp(price=None), item(price=D(1)), Tolerances()) == []


def test_a_missing_hub_description_is_an_empty_one() -> None:
    assert compare(Exp(description=None), item(description=""), Tolerances()) == []
    kinds = [f.kind for f in compare(Exp(description=None), item(description="x"), Tolerances())]
    assert kinds == [FindingKind.WRONG_TEXT]


@pytest.mark.parametrize(
    ("raw", "html", "out"),
    [
        (None, True, ""),
        ("  a\t b\n", False, "a b"),
        ("<p>a</p><p>b</p>", True, "a b"),
        ("<p>a</p>", False, "<p>a</p>"),
        ("caf\u0065\u0301", False, "caf\u00e9"),  # NFC
        ("Tom &amp; Jerry", True, "Tom & Jerry"),
    ],
)
def test_texts_are_normalized_before_comparing(raw, html, out) -> None:  # type: ignore[no-untyped-def]
    assert normalize_text(raw, strip_html=html) == out


def test_a_page_names_missing_by_external_id_and_claims_what_it_matches() -> None:
    a = Exp(sku="SE-A", external_ids=("1",), product_id=uuid.UUID(int=1))
    b = Exp(sku="SE-B", external_ids=("2", "3"), product_id=uuid.UUID(int=2))
    held = {"1": item(external_id="1"), "3": item(external_id="3", quantity=D(9))}
    findings, claimed, matched = reconcile_page([a, b], held, {}, Tolerances())
    assert claimed == {"1", "3"}
    assert matched == 1
    assert [(f.kind.value, f.sku, f.external_id) for f in findings] == [
        ("missing", "SE-B", "2"),
        ("wrong_stock", "SE-B", "3"),
    ]


def test_without_a_mapping_the_sku_matches_ignoring_case() -> None:
    a = Exp(sku="SE-A", external_ids=())
    b = Exp(sku="SE-B", external_ids=())
    findings, claimed, matched = reconcile_page(
        [a, b], {}, {"SE-A": item(external_id="row-7", sku="se-a")}, Tolerances()
    )
    assert (claimed, matched) == ({"row-7"}, 1)
    assert [(f.kind, f.sku, f.external_id, f.hub_value) for f in findings] == [
        (FindingKind.MISSING, "SE-B", None, "5")
    ]


@pytest.mark.parametrize(
    ("matched", "expected", "rate"),
    [(0, 0, 1.0), (3, 4, 0.75), (4, 4, 1.0), (0, 7, 0.0), (1, 3, 1 / 3)],
)
def test_the_consistency_rate_is_matching_over_expected(matched, expected, rate) -> None:  # type: ignore[no-untyped-def]
    assert consistency_rate(matched, expected) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("config", "storefront", "out"),
    [
        ({}, False, Tolerances()),
        ({"reconcile_stock_tolerance": 2}, True, Tolerances(stock=D(2), html=True)),
        ({"reconcile_price_tolerance": "0.05"}, False, Tolerances(price=D("0.05"))),
    ],
)
def test_tolerances_come_from_the_channel_config(config, storefront, out) -> None:  # type: ignore[no-untyped-def]
    assert tolerances(config, storefront=storefront) == out


@pytest.mark.parametrize("bad", [-1, "x", True, "NaN"])
def test_a_bad_tolerance_is_refused(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        tolerances({"reconcile_stock_tolerance": bad}, storefront=False)


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        ({}, RepairMode.REPORT),
        ({"reconcile_repair": "push"}, RepairMode.PUSH),
        ({"reconcile_repair": None}, RepairMode.REPORT),
    ],
)
def test_the_repair_mode_defaults_to_report(config, mode) -> None:  # type: ignore[no-untyped-def]
    assert repair_mode(config) is mode


def test_an_unknown_repair_mode_is_refused() -> None:
    with pytest.raises(InvalidInput):
        repair_mode({"reconcile_repair": "fix"})
