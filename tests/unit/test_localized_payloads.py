"""A channel's locale picks the texts of the product payloads it is sent."""

from __future__ import annotations

from typing import Any

import pytest

from productsync.domain.projection import localized_product_data

PRODUCT = {
    "sku": "COS-NP-001",
    "name": "Nail polish",
    "description": "Glossy red",
    "texts": {
        "de": {"name": "Nagellack", "description": "Glänzend rot"},
        "fr-CA": {"name": "Vernis à ongles"},
        "it": {"description": "no name: not a translation to use"},
    },
}


@pytest.mark.parametrize(
    ("locale", "name", "description", "tag"),
    [
        ("de", "Nagellack", "Glänzend rot", "de"),
        ("de-AT", "Nagellack", "Glänzend rot", "de"),  # the language when the region is missing
        ("fr-CA", "Vernis à ongles", "Glossy red", "fr-CA"),  # no description there: the default
        ("fr", "Vernis à ongles", "Glossy red", "fr-CA"),
        ("it", "Nail polish", "Glossy red", None),
        ("ja", "Nail polish", "Glossy red", None),
    ],
)
def test_the_locale_picks_name_and_description_with_fallback_to_the_default(
    locale: str, name: str, description: str, tag: str | None
) -> None:
    out = localized_product_data({"product": PRODUCT}, locale)["product"]
    assert (out["name"], out["description"], out["locale"]) == (name, description, tag)
    assert out["sku"] == "COS-NP-001" and out["texts"] == PRODUCT["texts"]
    assert PRODUCT["name"] == "Nail polish"  # the event's own data is not changed


@pytest.mark.parametrize(
    "data",
    [
        {"level": {"on_hand": "3"}},  # a stock event has no product texts
        {"product": "not an object"},
        None,
        [],
    ],
)
def test_other_payloads_and_channels_without_a_locale_are_left_alone(data: Any) -> None:
    assert localized_product_data(data, "de") == data
    assert localized_product_data({"product": PRODUCT}, None) == {"product": PRODUCT}
