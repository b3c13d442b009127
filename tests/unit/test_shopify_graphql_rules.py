"""Shopify GraphQL Admin API rules: ids, documents, variables, answers, throttle math."""

from __future__ import annotations

from decimal import Decimal

import pytest

from productsync.domain import shopify_graphql as gql

THROTTLED_ANSWER = {
    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
    "extensions": {
        "cost": {
            "requestedQueryCost": 202,
            "actualQueryCost": None,
            "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 118, "restoreRate": 50.0},
        }
    },
}


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("ProductVariant", "808950810", "gid://shopify/ProductVariant/808950810"),
        ("ProductVariant", 808950810, "gid://shopify/ProductVariant/808950810"),
        ("ProductVariant", "gid://shopify/ProductVariant/7", "gid://shopify/ProductVariant/7"),
        ("Location", " 655441491 ", "gid://shopify/Location/655441491"),
    ],
)
def test_ids_become_gids_of_their_kind(kind: str, value: object, expected: str) -> None:
    assert gql.gid(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("ProductVariant", "gid://shopify/Product/7"),
        ("Location", None),
        ("Location", "abc"),
        ("Location", "-1"),
    ],
)
def test_a_gid_of_another_kind_or_garbage_is_refused(kind: str, value: object) -> None:
    with pytest.raises(ValueError, match=kind):
        gql.gid(kind, value)


def test_the_number_of_a_gid_is_what_rest_era_mappings_name() -> None:
    assert gql.gid_number("gid://shopify/ProductVariant/42") == "42"
    assert gql.gid_number(" 42 ") == "42"


def test_stock_is_set_by_compare_and_set_with_the_event_as_reference_and_key() -> None:
    variables = gql.set_quantities_variables(
        key="e-1",
        inventory_item="gid://shopify/InventoryItem/3",
        location="gid://shopify/Location/4",
        quantity=8,
        change_from=None,
        event_id="e-1",
    )
    assert variables == {
        "key": "e-1",
        "input": {
            "name": "available",
            "reason": "correction",
            "referenceDocumentUri": "productsync://events/e-1",
            "quantities": [
                {
                    "inventoryItemId": "gid://shopify/InventoryItem/3",
                    "locationId": "gid://shopify/Location/4",
                    "quantity": 8,
                    "changeFromQuantity": None,  # present even when null: mandatory from 2026-04
                }
            ],
        },
    }
    assert "@idempotent(key: $key)" in gql.SET_QUANTITIES
    assert "ignoreCompareQuantity" not in gql.SET_QUANTITIES


def test_documents_name_their_operation_and_root_field() -> None:
    for document, root in [
        (gql.SET_QUANTITIES, "inventorySetQuantities"),
        (gql.VARIANT_PRICES, "productVariantsBulkUpdate"),
        (gql.PRODUCT_TEXTS, "productUpdate"),
        (gql.VARIANTS_PAGE, "productVariants"),
        (gql.BULK_RUN, "bulkOperationRunQuery"),
    ]:
        assert root + "(" in document
        assert document.count("{") == document.count("}")
    bulk = gql.bulk_query("gid://shopify/Location/4")
    assert 'locationId: "gid://shopify/Location/4"' in bulk and "$" not in bulk
    # one connection, the product inline: each line stands alone whatever the output order
    assert bulk.count("edges") == 1 and "product { id title descriptionHtml }" in bulk
    assert bulk.count("{") == bulk.count("}")


def test_a_throttled_answer_is_recognised_with_its_cost() -> None:
    answer = gql.parse_answer(THROTTLED_ANSWER)
    assert answer.throttled and answer.errors == ("Throttled (THROTTLED)",)
    assert answer.cost == gql.Cost(202, None, 1000, 118, 50)
    assert gql.throttled_wait(answer.cost, 10) == pytest.approx((202 - 118) / 50)


@pytest.mark.parametrize(
    ("body", "errors", "has_cost"),
    [
        ({"data": {"x": 1}}, (), False),
        (
            {"errors": "[API] Invalid API key or access token"},
            ("[API] Invalid API key or access token",),
            False,
        ),
        (
            {"errors": [{"message": "Field 'x' doesn't exist"}], "extensions": {"cost": {}}},
            ("Field 'x' doesn't exist",),
            False,
        ),
        ([], ("answer is not a JSON object",), False),
        ({"data": None, "extensions": {"cost": {"throttleStatus": "bad"}}}, (), False),
    ],
)
def test_answers_are_split_into_data_errors_and_cost(
    body: object, errors: tuple[str, ...], has_cost: bool
) -> None:
    answer = gql.parse_answer(body)
    assert answer.errors == errors and not answer.throttled and (answer.cost is not None) == has_cost


def test_user_errors_carry_code_and_message() -> None:
    data = {
        "inventorySetQuantities": {"userErrors": [{"code": gql.STALE, "message": "m", "field": ["input"]}]}
    }
    [error] = gql.user_errors(data, "inventorySetQuantities")
    assert error == gql.UserError(gql.STALE, "m", ("input",))
    assert gql.describe([error]) == "CHANGE_FROM_QUANTITY_STALE: m"
    assert gql.user_errors({"inventorySetQuantities": None}, "inventorySetQuantities") == []


def test_variant_state_and_catalog_rows_read_available_at_the_location() -> None:
    item = {
        "id": "gid://shopify/InventoryItem/3",
        "inventoryLevel": {"quantities": [{"name": "available", "quantity": 5}]},
    }
    data = {"productVariant": {"id": "V", "product": {"id": "P"}, "inventoryItem": item}}
    assert gql.parse_variant_state(data) == gql.VariantState("V", "P", "gid://shopify/InventoryItem/3", 5)
    not_stocked = {
        "productVariant": {
            "id": "V",
            "product": {"id": "P"},
            "inventoryItem": {"id": "I", "inventoryLevel": None},
        }
    }
    assert gql.parse_variant_state(not_stocked) == gql.VariantState("V", "P", "I", None)
    assert gql.parse_variant_state({"productVariant": None}) is None
    row = gql.catalog_row(
        {
            "id": "V",
            "sku": "",
            "barcode": "4006381333931",
            "price": "9.50",
            "compareAtPrice": None,
            "inventoryItem": item,
        },
        {"id": "P", "title": "T", "descriptionHtml": "<p>d</p>"},
    )
    assert (row.sku, row.barcode, row.quantity, row.price, row.compare_at_price) == (
        None, "4006381333931", 5, Decimal("9.50"), None,
    )  # fmt: skip


def test_bulk_variant_lines_carry_their_product_in_any_order() -> None:
    lines = [
        {"id": "V2", "sku": "B", "price": "2.00", "product": {"id": "P2", "title": "Two"}},
        {"id": "V1", "sku": "A", "price": "1.00", "product": {"id": "P1", "title": "One"}},
    ]
    products: dict[str, dict[str, object]] = {}
    rows = gql.bulk_rows(lines, products)
    assert [(r.variant, r.product, r.title) for r in rows] == [("V2", "P2", "Two"), ("V1", "P1", "One")]
    assert not products  # nothing held between lines


def test_bulk_lines_join_variants_to_the_product_line_before_them() -> None:
    products: dict[str, dict[str, object]] = {}
    lines = [
        {"id": "P1", "title": "One", "descriptionHtml": "d1"},
        {"id": "V1", "sku": "A", "price": "1.00", "__parentId": "P1"},
        {"id": "P2", "title": "Two", "descriptionHtml": "d2"},
        {"id": "V2", "sku": "B", "price": "2.00", "compareAtPrice": "3.00", "__parentId": "P2"},
        {"id": "V3", "sku": "C", "price": "x", "__parentId": "P9"},  # parent unseen: kept, untitled
    ]
    rows = gql.bulk_rows(lines[:2], products) + gql.bulk_rows(lines[2:], products)
    assert [(r.variant, r.product, r.title, r.price, r.compare_at_price) for r in rows] == [
        ("V1", "P1", "One", Decimal("1.00"), None),
        ("V2", "P2", "Two", Decimal("2.00"), Decimal("3.00")),
        ("V3", "P9", None, None, None),
    ]


@pytest.mark.parametrize(
    ("available", "seconds_later", "cost", "wait"),
    [
        (100, 0, 10, 0.0),  # enough: go
        (5, 0, 10, 0.1),  # 5 points short at 50/s
        (5, 0.1, 10, 0.0),  # refilled meanwhile
        (0, 0, 5000, 20.0),  # more than the bucket holds: wait for a full bucket (1000 / 50)
        (990, 100, 10, 0.0),  # never above the maximum
    ],
)
def test_the_bucket_waits_for_the_points_a_call_lacks(
    available: float, seconds_later: float, cost: float, wait: float
) -> None:
    bucket = gql.Bucket(maximum=1000, available=available, restore_rate=50, at=0.0)
    assert bucket.wait_for(cost, seconds_later) == pytest.approx(wait)
    assert bucket.now(1000) == 1000


def test_spending_is_seen_by_the_next_call_and_the_answer_resets_the_bucket() -> None:
    bucket = gql.Bucket(maximum=100, available=20, restore_rate=10, at=0.0).spend(15, 0.0)
    assert bucket.available == 5 and bucket.wait_for(10, 0.0) == pytest.approx(0.5)
    reported = gql.bucket_of(gql.Cost(10, 4, 100, 80, 10), 3.0)
    assert reported == gql.Bucket(100, 80, 10, 3.0)


def test_a_throttled_call_without_cost_waits_a_second() -> None:
    assert gql.throttled_wait(None, 10) == 1.0
    assert gql.throttled_wait(gql.Cost(10, None, 100, 9.99, 50), 10) == pytest.approx(0.05)
