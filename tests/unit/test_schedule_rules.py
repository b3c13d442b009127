"""Scheduling rules: next-run arithmetic, feed and pull config checks, pull feed rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.domain.channels import ChannelKind, NewChannel, create_channel
from productsync.domain.errors import InvalidInput
from productsync.domain.feeds import (
    FeedRow,
    RowContext,
    RowError,
    check_schedule_config,
    default_event_id,
    feed_config,
    is_due,
    needs_full,
    next_run,
    parse_feed,
    wanted_schedules,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CTX = RowContext(url="https://feeds.example/stock.csv", read_at=T0)


def test_a_job_missed_for_hours_runs_once_then_one_interval_later() -> None:
    missed_since = T0 - timedelta(hours=10)
    assert is_due(missed_since, None, T0)
    after = next_run(T0, 900)
    assert after == T0 + timedelta(minutes=15)
    assert not is_due(after, None, T0 + timedelta(minutes=1))  # no catch-up run


@pytest.mark.parametrize(
    ("next_at", "lease_until", "due"),
    [
        (T0, None, True),
        (T0 + timedelta(seconds=1), None, False),
        (T0 - timedelta(hours=1), T0 + timedelta(seconds=30), False),  # a live lease holds it
        (T0 - timedelta(hours=1), T0 - timedelta(seconds=1), True),  # its process died: runs again
    ],
)
def test_due_when_its_time_came_and_no_live_lease_holds_it(
    next_at: datetime, lease_until: datetime | None, due: bool
) -> None:
    assert is_due(next_at, lease_until, T0) is due


def test_full_export_on_first_run_and_every_full_interval() -> None:
    assert needs_full(None, 1440, T0)
    assert not needs_full(T0 - timedelta(hours=23), 1440, T0)
    assert needs_full(T0 - timedelta(hours=24), 1440, T0)


def test_feed_config_defaults_and_fields() -> None:
    feed = feed_config({"feed": {"target": "dir:///tmp/out"}})
    assert feed is not None
    assert (feed.every_minutes, feed.full_every_minutes, feed.kinds, feed.format) == (
        15,
        1440,
        ("products", "stock", "prices"),
        "csv",
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"feed": {}}, "target"),
        ({"feed": {"target": "ftp://host/x"}}, "target"),
        ({"feed": {"target": "dir://relative/x"}}, "absolute"),
        ({"feed": {"target": "https://user:pw@host/x"}}, "credentials"),
        ({"feed": {"target": "https://host/{nope}.csv"}}, "placeholders"),
        ({"feed": {"target": "dir:///x", "every_minutes": 0}}, "every_minutes"),
        ({"feed": {"target": "dir:///x", "every_minutes": True}}, "every_minutes"),
        ({"feed": {"target": "dir:///x", "every_minutes": 60, "full_every_minutes": 30}}, "full_every"),
        ({"feed": {"target": "dir:///x", "kinds": ["stock", "stock"]}}, "kinds"),
        ({"feed": {"target": "dir:///x", "kinds": ["mappings"]}}, "kinds"),
        ({"feed": {"target": "dir:///x", "format": "xml"}}, "format"),
        ({"feed": {"target": "dir:///x", "colour": "red"}}, "unknown"),
        ({"feed": "dir:///x"}, "object"),
        ({}, "needs config.feed"),
    ],
)
def test_bad_file_feed_configs_are_refused_with_a_reason(config: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_schedule_config("file_feed", config)  # type: ignore[arg-type]
    assert fragment in err.value.detail
    assert err.value.data.get("field") == "config"


@pytest.mark.parametrize(
    ("kind", "config", "fragment"),
    [
        ("pull_feed", {"pull": {"every_minutes": -1}}, "every_minutes"),
        ("pull_feed", {"pull": {"format": "xml"}}, "format"),
        ("webhook", {"pull": {"every_minutes": 5}}, "pull_feed channels"),
        ("webhook", {"feed": {"target": "dir:///x"}}, "file_feed channels"),
        ("webhook", {"reconcile_every_minutes": 0}, "reconcile_every_minutes"),
    ],
)
def test_pull_and_reconcile_configs_are_checked(kind: str, config: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_schedule_config(kind, config)  # type: ignore[arg-type]
    assert fragment in err.value.detail


def test_channel_create_refuses_a_file_feed_without_its_feed_and_a_pull_feed_without_url() -> None:
    with pytest.raises(InvalidInput):
        create_channel(NewChannel(name="f", kind=ChannelKind.FILE_FEED, owner_partner_id=None), now=T0)
    with pytest.raises(InvalidInput) as err:
        create_channel(NewChannel(name="p", kind=ChannelKind.PULL_FEED, owner_partner_id=None), now=T0)
    assert err.value.data.get("field") == "url"


def test_wanted_schedules_follow_the_config() -> None:
    cfg = {"feed": {"target": "dir:///x", "every_minutes": 5}, "reconcile_every_minutes": 60}
    wanted = wanted_schedules("c1", "file_feed", cfg)
    assert [(w.key, w.kind, w.every_seconds) for w in wanted] == [
        ("file_feed:c1", "file_feed", 300),
        ("reconcile:c1", "reconcile", 3600),
    ]
    assert [w.every_seconds for w in wanted_schedules("c2", "pull_feed", {})] == [900]
    assert wanted_schedules("c3", "webhook", {}) == []
    assert wanted_schedules("c4", "file_feed", {"feed": {"target": 7}}) == []  # stored before the checks


def test_csv_rows_parsed_with_line_numbers_and_reasons() -> None:
    text = (
        "sku,external_id,type,quantity,price,fields,changed_at\n"
        "SKU-1,,stock_count,5,,,2026-11-23T10:00:00Z\n"
        ",,stock_count,5,,,\n"
        "SKU-2,,teleport,1,,,\n"
        "SKU-3,,sale,,,,\n"
        "SKU-4,,price,,abc,,\n"
        '"SKU-5",,content,,,"{""name"": ""Gin""}",\n'
        "SKU-6,,,7,,,yesterday\n"
        "SKU-7,,stock_count,3,,,2026-11-23T10:00:00\n"
        "\n"
        "SKU-8,,restock,2,,,,extra,values\n"
        ",E-9,,4,9.50,,\n"
    )
    rows = list(parse_feed(text, "csv", CTX))
    errors = {r.line: r.reason for r in rows if isinstance(r, RowError)}
    good = [r for r in rows if isinstance(r, FeedRow)]
    assert errors == {
        3: "the row names neither sku nor external_id",
        4: "type 'teleport' is not one of sale, return, restock, stock_count, price, content",
        5: "a sale row needs a quantity",
        6: "price 'abc' is not a number",
        8: "changed_at 'yesterday' is not an ISO 8601 time",
        9: "changed_at '2026-11-23T10:00:00' has no UTC offset",
        11: "9 values for 7 columns",
    }
    assert [(r.line, r.key, r.type) for r in good] == [
        (2, "SKU-1", "stock_count"),
        (7, "SKU-5", "content"),
        (12, "E-9", "stock_count"),
    ]
    assert good[0].quantity == Decimal(5) and good[0].changed_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert good[1].fields == {"name": "Gin"} and good[1].title == "Gin"
    assert good[2].price == Decimal("9.50") and good[2].changed_at == T0  # defaults to the read time


def test_a_row_read_again_gets_the_same_event_id_and_a_given_one_is_kept() -> None:
    text = "sku,quantity\nSKU-1,5\nSKU-1,6\n"
    first = [r for r in parse_feed(text, "csv", CTX) if isinstance(r, FeedRow)]
    again = [r for r in parse_feed(text, "csv", CTX) if isinstance(r, FeedRow)]
    assert [r.event_id for r in first] == [r.event_id for r in again]
    assert first[0].event_id != first[1].event_id
    other_feed = RowContext(url="https://other.example/f.csv", read_at=T0)
    assert default_event_id(other_feed.url, {"sku": "SKU-1", "quantity": "5"}) != first[0].event_id
    given = next(parse_feed("sku,quantity,event_id\nA,1,ev-7\n", "csv", CTX))
    assert isinstance(given, FeedRow) and given.event_id == "ev-7"


def test_jsonl_and_json_rows() -> None:
    jsonl = (
        '{"sku": "A", "quantity": 2}\nnot json\n[1]\n\n{"external_id": "X", "type": "price", "price": 3.5}\n'
    )
    rows = list(parse_feed(jsonl, "jsonl", CTX))
    assert [(r.line, type(r).__name__) for r in rows] == [
        (1, "FeedRow"),
        (2, "RowError"),
        (3, "RowError"),
        (5, "FeedRow"),
    ]
    last = rows[-1]
    assert isinstance(last, FeedRow) and last.price == Decimal("3.5")
    doc = '{"items": [{"sku": "A", "quantity": 1}, {"sku": "B", "fields": [1]}]}'
    parsed = list(parse_feed(doc, "json", CTX))
    assert isinstance(parsed[0], FeedRow)
    assert parsed[1] == RowError(2, "fields must be a JSON object")
    assert list(parse_feed("{oops", "json", CTX))[0].line == 1  # type: ignore[union-attr]
