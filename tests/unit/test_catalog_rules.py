import uuid
from datetime import UTC, datetime

import pytest

from productsync.domain import catalog as rules
from productsync.domain.catalog import Category, NewProduct, ProductStatus
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CATS = {c["code"]: Category(id=uuid.uuid4(), created_at=NOW, **c) for c in rules.default_categories()}
OWNER = uuid.uuid4()


def polish(**over: object) -> NewProduct:
    values: dict[str, object] = dict(
        sku="cos-np-1",
        name=" Gel Polish ",
        category_id=CATS["cosmetics"].id,
        owner_partner_id=OWNER,
        barcodes=["4006381333931"],
        texts={"de_DE": {"name": "Nagellack"}},
        attributes={"ingredients": ["butyl acetate"], "volume_ml": 12, "pao_months": 24},
    )
    values.update(over)
    return NewProduct(**values)  # type: ignore[arg-type]


def test_a_new_product_is_normalized_and_starts_at_version_1() -> None:
    p = rules.create_product(polish(), CATS["cosmetics"], now=NOW)
    assert (p.sku, p.name, p.version, p.status) == ("COS-NP-1", "Gel Polish", 1, ProductStatus.ACTIVE)
    assert p.texts == {"de-DE": {"name": "Nagellack"}}


@pytest.mark.parametrize(
    ("category", "attributes", "message"),
    [
        ("cosmetics", {"ingredients": [], "volume_ml": 12, "pao_months": 24}, "should be non-empty"),
        ("cosmetics", {"ingredients": ["x"], "volume_ml": "12", "pao_months": 24}, "is not of type 'number'"),
        ("cosmetics", {"ingredients": ["x"], "volume_ml": 12}, "'pao_months' is a required property"),
        (
            "alcohol",
            {"abv": 140, "volume_ml": 700, "age_restricted": True},
            "140 is greater than the maximum",
        ),
        ("alcohol", {"abv": 40, "volume_ml": 700, "age_restricted": "yes"}, "is not of type 'boolean'"),
        ("sports", {"size": "M"}, "'material' is a required property"),
        ("sports", {"size": "M", "material": "x", "colour": "red"}, "Additional properties"),
    ],
)
def test_attributes_are_validated_against_the_category_schema(
    category: str, attributes: dict, message: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        rules.validate_attributes(CATS[category].attribute_schema, attributes)
    assert err.value.code is ErrorCode.INVALID_ATTRIBUTES
    assert any(message in e["message"] for e in err.value.data["errors"])


def test_a_category_schema_must_be_valid_json_schema_for_an_object() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON Schema"):
        rules.check_attribute_schema({"type": "object", "properties": {"a": {"type": "nonsense"}}})
    with pytest.raises(InvalidInput, match='"type": "object"'):
        rules.check_attribute_schema({"type": "array"})


@pytest.mark.parametrize("tag", ["xx-YY-ZZ", "klingon", "", "de-QQ1"])
def test_unknown_locales_are_refused(tag: str) -> None:
    with pytest.raises(InvalidInput):
        rules.normalize_locale(tag)


def test_the_same_barcode_twice_in_one_product_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        rules.normalize_barcodes(["4006381333931", "04006381333931"])


def test_a_patch_bumps_the_version_and_keeps_identity() -> None:
    p = rules.create_product(polish(), CATS["cosmetics"], now=NOW)
    patched = rules.patch_product(p, {"name": "New", "tax_class": "reduced"}, CATS["cosmetics"], now=NOW)
    assert (patched.name, patched.version, patched.sku, patched.id) == ("New", 2, p.sku, p.id)
    with pytest.raises(InvalidInput, match="cannot be changed"):
        rules.patch_product(p, {"sku": "COS-OTHER"}, CATS["cosmetics"], now=NOW)
    with pytest.raises(InvalidInput):
        rules.patch_product(p, {"attributes": {"ingredients": ["x"]}}, CATS["cosmetics"], now=NOW)


def test_an_archived_product_cannot_be_edited_and_archiving_twice_changes_nothing() -> None:
    p = rules.archive_product(rules.create_product(polish(), CATS["cosmetics"], now=NOW), now=NOW)
    assert p.status is ProductStatus.ARCHIVED and p.version == 2
    assert rules.archive_product(p, now=NOW) is p
    with pytest.raises(Conflict):
        rules.patch_product(p, {"name": "x"}, CATS["cosmetics"], now=NOW)


def test_the_base_unit_cannot_change_once_stock_may_be_counted_in_it() -> None:
    p = rules.create_product(polish(), CATS["cosmetics"], now=NOW)
    with pytest.raises(InvalidInput, match="cannot be changed"):
        rules.patch_product(p, {"base_unit": "ml"}, CATS["cosmetics"], now=NOW)


def test_a_patch_may_clear_the_description_but_not_null_required_fields() -> None:
    p = rules.create_product(polish(description="shiny"), CATS["cosmetics"], now=NOW)
    assert rules.patch_product(p, {"description": None}, CATS["cosmetics"], now=NOW).description == ""
    for field in ("name", "attributes", "barcodes", "tax_class", "texts"):
        with pytest.raises(InvalidInput, match="cannot be null"):
            rules.patch_product(p, {field: None}, CATS["cosmetics"], now=NOW)
