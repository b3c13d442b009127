import io
from datetime import date
from decimal import Decimal

import pytest

from productsync.domain.import_formats import (
    CsvFile,
    JsonlFile,
    ShopifyDefaults,
    guess_format,
    is_shopify,
    shopify_rows,
)
from productsync.domain.import_rows import PriceRow, ProductRow, StockRow, parse_row
from productsync.domain.imports import (
    FileFormat,
    ImportKind,
    RawRow,
    RowError,
    RowRejected,
    check_header,
    infer_kind,
)


def lines(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (["sku", "name", "category", "location", "on_hand", "price_list", "price"], ImportKind.PRODUCTS),
        (["sku", "location", "on_hand", "lot_number", "expires_on"], ImportKind.STOCK),
        (["sku", "price_list", "amount", "min_quantity"], ImportKind.PRICES),
        (["channel", "external_id", "sku"], ImportKind.MAPPINGS),
        (["scheme", "code", "sku", "partner"], ImportKind.ALIASES),
    ],
)
def test_the_kind_is_inferred_from_the_header(header: list[str], kind: ImportKind) -> None:
    assert infer_kind(header) is kind


def test_a_header_missing_a_required_column_names_it_on_line_1() -> None:
    errors = check_header(ImportKind.STOCK, ["sku", "location", "onhand"])
    assert RowError(1, "on_hand", "required column is missing") in errors
    assert RowError(1, "onhand", "unknown column") in errors


def test_csv_records_carry_the_line_they_start_on_even_across_quoted_newlines() -> None:
    f = CsvFile(lines('sku,name\nA-1,"two\nlines"\nA-2,plain\n'))
    records = list(f.records())
    assert [r.line for r in records] == [2, 4]
    assert isinstance(records[0], RawRow) and records[0].values["name"] == "two\nlines"


def test_malformed_csv_quoting_and_wrong_field_counts_are_row_errors_with_lines() -> None:
    f = CsvFile(lines('sku,name\nA-1,"bad"quote\nA-2\nA-3,ok\n'))
    records = list(f.records())
    assert isinstance(records[0], RowError) and records[0].line == 2 and "malformed CSV" in records[0].reason
    assert isinstance(records[1], RowError) and records[1].line == 3 and "1 fields" in records[1].reason
    assert isinstance(records[2], RawRow) and records[2].line == 4


def test_a_bad_json_line_is_a_row_error_and_the_next_lines_still_read() -> None:
    f = JsonlFile(lines('{"sku": "A-1"}\n{"sku": \n\n[1]\n{"sku": "A-2"}\n'))
    records = list(f.records())
    assert [(type(r).__name__, r.line) for r in records] == [
        ("RawRow", 1),
        ("RowError", 2),
        ("RowError", 4),
        ("RawRow", 5),
    ]


def _rejected(kind: ImportKind, values: dict[str, object]) -> list[RowError]:
    with pytest.raises(RowRejected) as err:
        parse_row(kind, RawRow(7, values))
    return err.value.errors


@pytest.mark.parametrize(
    ("kind", "values", "column", "reason"),
    [
        (ImportKind.STOCK, {"sku": "A", "location": "L", "on_hand": "-1"}, "on_hand", "negative"),
        (ImportKind.STOCK, {"sku": "A", "location": "L", "on_hand": "1,5"}, "on_hand", "not a decimal"),
        (
            ImportKind.STOCK,
            {"sku": "A", "location": "L", "on_hand": "1", "lot_number": "L1", "expires_on": "2027-13-01"},
            "expires_on",
            "not a date",
        ),
        (
            ImportKind.STOCK,
            {"sku": "A", "location": "L", "on_hand": "1", "lot_number": "L1"},
            "expires_on",
            "both",
        ),
        (ImportKind.STOCK, {"sku": "", "location": "L", "on_hand": "1"}, "sku", "required"),
        (ImportKind.PRICES, {"sku": "A", "price_list": "P", "amount": "x"}, "amount", "not a decimal"),
        (
            ImportKind.PRICES,
            {"sku": "A", "price_list": "P", "amount": "1", "valid_from": "2027-01-01T00:00"},
            "valid_from",
            "UTC offset",
        ),
        (
            ImportKind.PRODUCTS,
            {"sku": "A", "name": "n", "category": "c", "attributes": "{bad"},
            "attributes",
            "not valid JSON",
        ),
        (
            ImportKind.PRODUCTS,
            {"sku": "A", "name": "n", "category": "c", "attributes": "[1]"},
            "attributes",
            "JSON object",
        ),
        (ImportKind.PRODUCTS, {"sku": "A", "name": "n", "category": "c", "location": "L"}, "on_hand", "both"),
        (
            ImportKind.PRODUCTS,
            {"sku": "A", "name": "n", "category": "c", "allow_backorders": "maybe"},
            "allow_backorders",
            "true or false",
        ),
    ],
)
def test_each_bad_value_is_named_by_line_column_and_reason(
    kind: ImportKind, values: dict[str, object], column: str, reason: str
) -> None:
    errors = _rejected(kind, values)
    assert errors[0].line == 7
    assert errors[0].column == column
    assert reason in errors[0].reason


def test_every_bad_column_of_a_row_is_reported_not_only_the_first() -> None:
    errors = _rejected(ImportKind.PRODUCTS, {"sku": "", "name": "", "category": "c", "price": "abc"})
    assert {e.column for e in errors} >= {"sku", "name", "price"}


def test_good_rows_parse_into_typed_values() -> None:
    stock = parse_row(
        ImportKind.STOCK,
        RawRow(
            3,
            {"sku": "A-1", "location": "L", "on_hand": "12", "lot_number": "B7", "expires_on": "2027-02-01"},
        ),
    )
    assert stock == StockRow(3, "A-1", None, "L", Decimal(12), None, "B7", date(2027, 2, 1))
    price = parse_row(ImportKind.PRICES, RawRow(4, {"sku": "A-1", "price_list": "P", "amount": "9.90"}))
    assert isinstance(price, PriceRow) and price.min_quantity == 1 and price.amount == Decimal("9.90")
    product = parse_row(
        ImportKind.PRODUCTS,
        RawRow(
            5,
            {
                "sku": "A-1",
                "name": "N",
                "category": "sports",
                "barcodes": "4006381333931| 96385074",
                "attributes": '{"size": "M", "weight_g": 1.5}',
            },
        ),
    )
    assert isinstance(product, ProductRow)
    assert product.barcodes == ["4006381333931", "96385074"]
    assert product.attributes == {"size": "M", "weight_g": 1.5}


def test_jsonl_rows_take_native_json_values() -> None:
    row = parse_row(
        ImportKind.PRODUCTS,
        RawRow(
            1,
            {
                "sku": "A-1",
                "name": "N",
                "category": "c",
                "barcodes": ["4006381333931"],
                "attributes": {"size": "M"},
                "allow_backorders": True,
            },
        ),
    )
    assert isinstance(row, ProductRow)
    assert (
        row.barcodes == ["4006381333931"] and row.attributes == {"size": "M"} and row.allow_backorders is True
    )


def test_format_is_guessed_from_the_name_then_the_content() -> None:
    assert guess_format("x.jsonl", b"sku") is FileFormat.JSONL
    assert guess_format("x.csv", b"{") is FileFormat.CSV
    assert guess_format(None, b'\xef\xbb\xbf{"sku": 1}') is FileFormat.JSONL
    assert guess_format(None, b"sku,name") is FileFormat.CSV


SHOPIFY = (
    "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,"
    "Option2 Value,Variant SKU,Variant Grams,Variant Inventory Qty,Variant Price,Variant Barcode\n"
    "racket,Pro Racket,<p>Fast</p>,Acme,Rackets,,true,Size,L2,Material,carbon,SE-R-L2,300,5,99.00,"
    "4006381333931\n"
    ",,,,,,,,L3,,carbon,SE-R-L3,300,2,109.00,\n"
    ",,,,,,,,,,,,,,,\n"
)


def test_shopify_variants_become_products_and_continuation_rows_keep_the_product() -> None:
    f = CsvFile(lines(SHOPIFY))
    assert is_shopify(f.header)
    rows = [
        r
        for r in shopify_rows(f.records(), ShopifyDefaults("sports", "WH", "retail"))
        if isinstance(r, RawRow)
    ]
    assert [r.values["sku"] for r in rows] == ["SE-R-L2", "SE-R-L3"]
    first, second = rows
    assert first.values["name"] == "Pro Racket (L2 / carbon)" and first.values["description"] == "<p>Fast</p>"
    assert first.values["attributes"] == '{"size": "L2", "material": "carbon"}'
    assert (first.values["location"], first.values["on_hand"]) == ("WH", "5")
    assert (second.values["price_list"], second.values["price"]) == ("retail", "109.00")
    assert second.line == 3 and second.values["category"] == "sports"
    assert second.values["attributes"] == '{"size": "L3", "material": "carbon"}'
