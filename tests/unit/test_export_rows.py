"""Export encodings and cursors: pure, table-driven."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from productsync.domain.errors import InvalidInput
from productsync.services import export_rows as rows
from productsync.services.exports import Cursor

COLUMNS: rows.Columns = (
    ("text", "text"),
    ("json", "json"),
    ("gtins", "gtins"),
    ("list", "list"),
    ("bool", "bool"),
    ("qty", "qty"),
    ("scaled", "scaled"),
    ("amount", "amount"),
    ("date", "date"),
)
ROW = (
    'a "quoted", comma\nnewline ü',
    '{"k":[1,2.5,{"x":null}]}',
    '["4006381333931","96385074"]',
    ("v-1", "v-2"),
    True,
    Decimal("1E+1"),
    12500,
    Decimal("19.90"),
    datetime(2030, 1, 1, 12, 30, tzinfo=UTC),
)
EMPTY = (None, "{}", "[]", (), False, None, None, None, None)


def test_csv_cells_are_the_import_format() -> None:
    encoder = rows.CsvEncoder(COLUMNS)
    text = (encoder.header() + encoder.encode([ROW, EMPTY])).decode()
    assert "\r\n" in text  # RFC 4180 line ends
    first, second = csv.DictReader(io.StringIO(text, newline=""))
    assert first == {
        "text": 'a "quoted", comma\nnewline ü',
        "json": '{"k":[1,2.5,{"x":null}]}',
        "gtins": "4006381333931|96385074",
        "list": "v-1|v-2",
        "bool": "true",
        "qty": "10",
        "scaled": "12.5",
        "amount": "19.90",
        "date": "2030-01-01T12:30:00+00:00",
    }
    assert second == {
        "text": "",
        "json": "{}",
        "gtins": "",
        "list": "",
        "bool": "false",
        "qty": "",
        "scaled": "",
        "amount": "",
        "date": "",
    }


def test_jsonl_values_are_native_json() -> None:
    encoder = rows.JsonlEncoder(COLUMNS)
    assert encoder.header() == b""
    first, second = (json.loads(line) for line in encoder.encode([ROW, EMPTY]).decode().splitlines())
    assert first == {
        "text": 'a "quoted", comma\nnewline ü',
        "json": {"k": [1, 2.5, {"x": None}]},
        "gtins": ["4006381333931", "96385074"],
        "list": ["v-1", "v-2"],
        "bool": True,
        "qty": 10,
        "scaled": 12.5,
        "amount": 19.9,
        "date": "2030-01-01T12:30:00+00:00",
    }
    assert (
        second["text"] is None and second["json"] == {} and second["gtins"] == [] and second["bool"] is False
    )


def test_stored_json_spanning_lines_is_put_on_one_line() -> None:
    encoder = rows.JsonlEncoder((("json", "json"),))
    line = encoder.encode([('{\n  "a": 1\n}',)]).decode()
    assert line.count("\n") == 1 and json.loads(line) == {"json": {"a": 1}}


def test_stock_rows_are_one_per_lot_plus_the_untracked_rest() -> None:
    pid, lid = uuid.uuid4(), uuid.uuid4()
    level = (pid, lid, "COS-1", "nailco", "WH", 20000, 1000)
    lots = [(pid, lid, "L1", date(2030, 1, 1), 12000), (pid, lid, "L2", date(2030, 6, 1), 5500)]
    assert rows.stock_rows(level, lots) == [
        ("COS-1", "nailco", "WH", 12000, 1000, "L1", date(2030, 1, 1)),
        ("COS-1", "nailco", "WH", 5500, 1000, "L2", date(2030, 6, 1)),
        ("COS-1", "nailco", "WH", 2500, 1000, None, None),
    ]
    assert rows.stock_rows(level, []) == [("COS-1", "nailco", "WH", 20000, 1000, None, None)]


@pytest.mark.parametrize(
    "cursor",
    [Cursor(0), Cursor(123456789), Cursor(5, uuid.uuid4(), 3)],
)
def test_a_cursor_survives_its_encoding(cursor: Cursor) -> None:
    token = cursor.encode()
    assert token.isascii() and "=" not in token
    assert Cursor.decode(token) == cursor


@pytest.mark.parametrize(
    "token",
    ["", "x", "!!!", "e30", "eyJ2IjoyLCJzIjoxfQ", "eyJ2IjoxLCJzIjotMX0", "eyJ2IjoxLCJzIjp0cnVlfQ", "a" * 300],
)
def test_anything_else_is_not_a_cursor(token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Cursor.decode(token)
    assert caught.value.data.get("field") == "since"
