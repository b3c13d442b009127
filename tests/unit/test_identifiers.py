import pytest

from productsync.domain.errors import ErrorCode, InvalidInput
from productsync.domain.identifiers import gtin14, normalize_gtin, normalize_sku


@pytest.mark.parametrize(
    ("raw", "prefix", "expected"),
    [
        (" cos-np-001 ", "COS-", "COS-NP-001"),
        ("alc-gin_7.b", "ALC-", "ALC-GIN_7.B"),
        ("SE-1", None, "SE-1"),
    ],
)
def test_skus_are_trimmed_and_upper_cased(raw: str, prefix: str | None, expected: str) -> None:
    assert normalize_sku(raw, prefix=prefix) == expected


@pytest.mark.parametrize("raw", ["", "a", "COS NP 1", "COS-NP-1/2", "-COS", "x" * 65, "ÄBC-1"])
def test_skus_with_characters_channels_cannot_carry_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_sku(raw)
    assert err.value.code is ErrorCode.INVALID_SKU


def test_a_sku_must_carry_its_category_prefix() -> None:
    with pytest.raises(InvalidInput, match="must start with the category prefix COS-"):
        normalize_sku("ALC-1", prefix="COS-")


@pytest.mark.parametrize(
    "raw",
    ["4006381333931", "40063812", "036000291452", "10036000291459", "4006-3813-33931", "96385074"],
)
def test_valid_gtins_of_every_length_pass(raw: str) -> None:
    assert normalize_gtin(raw) == raw.replace("-", "")


@pytest.mark.parametrize(
    "raw", ["4006381333932", "40063814", "036000291453", "123", "abcdefghijklm", "400638133393"]
)
def test_gtins_with_a_wrong_check_digit_or_length_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_gtin(raw)
    assert err.value.code is ErrorCode.INVALID_GTIN


def test_gtin14_pads_so_one_item_has_one_key() -> None:
    assert gtin14("4006381333931") == gtin14("04006381333931") == "04006381333931"
