"""Scheduled work on channels, as pure rules: what a channel's config asks the scheduler to
do, when a job runs next, and what a pull feed's rows say.

- **Schedules from config.** A ``file_feed`` channel's ``config.feed`` asks for exports on
  a schedule; a ``pull_feed`` channel's ``config.pull`` for polls of its URL; any channel's
  ``config.reconcile_every_minutes`` for reconciliations. ``wanted_schedules`` turns a
  channel's config into the schedule rows it needs (key, kind, interval), so the
  scheduler keeps its rows in step with channels by comparing two lists.
- **Next run.** After a run (or a claim) the next one is ``now + every``: a job missed
  while everything was down runs once on start, never once per missed interval.
- **Pull feed rows.** CSV, JSON (an array or ``{"items": [...]}``) or JSONL; each row is
  parsed on its own, and a bad one becomes a ``RowError`` with its line number and the
  reason, never an exception that stops the feed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from productsync.domain.errors import InvalidInput

FEED_KINDS = ("products", "stock", "prices")
FEED_FORMATS = ("csv", "jsonl")
PULL_FORMATS = ("csv", "json", "jsonl")
ROW_TYPES = ("sale", "return", "restock", "stock_count", "price", "content")
DEFAULT_ROW_TYPE = "stock_count"
MAX_MINUTES = 60 * 24 * 31  # a month: longer intervals are a typo, not a schedule
FILE_FEED = "file_feed"
PULL_FEED = "pull_feed"
RECONCILE = "reconcile"
JOB_KINDS = (FILE_FEED, PULL_FEED, RECONCILE)


@dataclass(frozen=True)
class FeedConfig:
    """A file feed: exports of ``kinds`` every ``every_minutes`` (a delta since the last
    cursor), and a full export on the first run and every ``full_every_minutes``."""

    every_minutes: int
    full_every_minutes: int
    kinds: tuple[str, ...]
    format: str
    target: str


@dataclass(frozen=True)
class PullConfig:
    every_minutes: int
    format: str


@dataclass(frozen=True)
class WantedSchedule:
    """A schedule row a channel's config asks for."""

    key: str
    kind: str
    every_seconds: int


def _minutes(value: Any, name: str, *, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
        raise InvalidInput(
            f"config.{name} must be a whole number of minutes, 1-{MAX_MINUTES}", field="config"
        )
    return value


def _choice(value: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(f"config.{name} must be one of {', '.join(allowed)}", field="config")
    return value


def check_target(target: Any) -> str:
    """``dir:///absolute/path`` or an http(s) URL (PUT); the URL may name ``{kind}``,
    ``{stamp}`` and ``{mode}`` (full or delta). Where an URL may point is checked when it
    is used (the SSRF guard), as for every outbound connection."""
    if not isinstance(target, str) or not target.strip():
        raise InvalidInput("config.feed.target must be dir:///path or an http(s) URL", field="config")
    parts = urlsplit(target)
    if parts.scheme == "dir":
        if parts.netloc or not parts.path.startswith("/") or "\x00" in parts.path:
            raise InvalidInput(
                "config.feed.target dir:// must name an absolute path (dir:///path)", field="config"
            )
        return target
    if parts.scheme in ("http", "https") and parts.hostname:
        if parts.username or parts.password:
            raise InvalidInput("config.feed.target must not carry credentials", field="config")
        try:
            target.format(kind="k", stamp="s", mode="m")
        except (KeyError, IndexError, ValueError):
            raise InvalidInput(
                "config.feed.target may only use the placeholders {kind}, {stamp} and {mode}", field="config"
            ) from None
        return target
    raise InvalidInput("config.feed.target must be dir:///path or an http(s) URL", field="config")


def feed_config(config: dict[str, Any]) -> FeedConfig | None:
    """The file feed a channel's ``config.feed`` asks for (None: none); a bad one is a 422."""
    raw = config.get("feed")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("config.feed must be an object", field="config")
    unknown = set(raw) - {"every_minutes", "full_every_minutes", "kinds", "format", "target"}
    if unknown:
        raise InvalidInput(f"config.feed has unknown fields {sorted(unknown)}", field="config")
    kinds = raw.get("kinds", list(FEED_KINDS))
    if (
        not isinstance(kinds, list)
        or not kinds
        or any(k not in FEED_KINDS for k in kinds)
        or len(set(kinds)) != len(kinds)
    ):
        raise InvalidInput(f"config.feed.kinds must be a list of {', '.join(FEED_KINDS)}", field="config")
    every = _minutes(raw.get("every_minutes"), "feed.every_minutes", default=15)
    full = _minutes(raw.get("full_every_minutes"), "feed.full_every_minutes", default=1440)
    if full < every:
        raise InvalidInput("config.feed.full_every_minutes must not be below every_minutes", field="config")
    return FeedConfig(
        every_minutes=every,
        full_every_minutes=full,
        kinds=tuple(kinds),
        format=_choice(raw.get("format"), "feed.format", FEED_FORMATS, "csv"),
        target=check_target(raw.get("target")),
    )


def pull_config(config: dict[str, Any]) -> PullConfig | None:
    raw = config.get("pull")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("config.pull must be an object", field="config")
    unknown = set(raw) - {"every_minutes", "format"}
    if unknown:
        raise InvalidInput(f"config.pull has unknown fields {sorted(unknown)}", field="config")
    return PullConfig(
        every_minutes=_minutes(raw.get("every_minutes"), "pull.every_minutes", default=15),
        format=_choice(raw.get("format"), "pull.format", PULL_FORMATS, "csv"),
    )


def check_schedule_config(kind: str, config: dict[str, Any]) -> None:
    """What channel create/patch checks: the settings the scheduler reads (422 if bad).
    A file feed needs ``config.feed``; a pull feed's ``config.pull`` may be left out
    (every 15 minutes, CSV)."""
    feed = feed_config(config)
    if kind == FILE_FEED and feed is None:
        raise InvalidInput("a file_feed channel needs config.feed with a target", field="config")
    if feed is not None and kind != FILE_FEED:
        raise InvalidInput("config.feed is for file_feed channels", field="config")
    if config.get("pull") is not None and kind != PULL_FEED:
        raise InvalidInput("config.pull is for pull_feed channels", field="config")
    pull_config(config)
    every = config.get("reconcile_every_minutes")
    if every is not None:
        _minutes(every, "reconcile_every_minutes")


def wanted_schedules(channel_id: str, kind: str, config: dict[str, Any]) -> list[WantedSchedule]:
    """The schedule rows a channel's config asks for. A config the checks would refuse
    (stored before they existed) asks for nothing rather than failing the sync pass."""
    wanted: list[WantedSchedule] = []
    try:
        if kind == FILE_FEED and (feed := feed_config(config)) is not None:
            wanted.append(WantedSchedule(f"{FILE_FEED}:{channel_id}", FILE_FEED, feed.every_minutes * 60))
        if kind == PULL_FEED:
            pull = pull_config(config) or PullConfig(15, "csv")
            wanted.append(WantedSchedule(f"{PULL_FEED}:{channel_id}", PULL_FEED, pull.every_minutes * 60))
    except InvalidInput:
        pass
    every = config.get("reconcile_every_minutes")
    if isinstance(every, int) and not isinstance(every, bool) and 1 <= every <= MAX_MINUTES:
        wanted.append(WantedSchedule(f"{RECONCILE}:{channel_id}", RECONCILE, every * 60))
    return wanted


# --- time ---------------------------------------------------------------------------------


def next_run(now: datetime, every_seconds: int) -> datetime:
    """The next run after one at ``now``: one interval later, whatever was missed before."""
    return now + timedelta(seconds=every_seconds)


def is_due(next_run_at: datetime, lease_expires_at: datetime | None, now: datetime) -> bool:
    """Due when its time has come and no live lease holds it (a run whose process died
    holds it only until the lease runs out)."""
    return next_run_at <= now and (lease_expires_at is None or lease_expires_at <= now)


def needs_full(last_full_at: datetime | None, full_every_minutes: int, now: datetime) -> bool:
    return last_full_at is None or now - last_full_at >= timedelta(minutes=full_every_minutes)


def stamp(now: datetime) -> str:
    """A file-name-safe UTC timestamp that sorts in time order."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


# --- pull feed rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedRow:
    line: int
    event_id: str
    type: str
    sku: str | None = None
    external_id: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fields: dict[str, Any] | None = None
    changed_at: datetime | None = None
    location_id: str | None = None
    partner: str | None = None
    title: str | None = None

    @property
    def key(self) -> str:
        return self.external_id or self.sku or ""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass
class RowContext:
    """What a row's defaults come from: the feed's URL (its event ids) and the time it was read."""

    url: str
    read_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any, name: str) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    if isinstance(value, float):
        text = repr(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} {text!r} is not a number")
    return number


def _instant(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"changed_at {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError(f"changed_at {text!r} has no UTC offset")
    return at.astimezone(UTC)


def default_event_id(url: str, raw: dict[str, Any]) -> str:
    """A re-read row is taken once: its id is a hash of the feed URL and its content."""
    body = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "feed-" + hashlib.sha256(f"{url}\n{body}".encode()).hexdigest()[:40]


def parse_row(line: int, raw: dict[str, Any], ctx: RowContext) -> FeedRow | RowError:
    """One row of a pull feed, or why it cannot be taken."""
    try:
        sku, external_id = _text(raw.get("sku")), _text(raw.get("external_id"))
        if sku is None and external_id is None:
            return RowError(line, "the row names neither sku nor external_id")
        kind = (_text(raw.get("type")) or DEFAULT_ROW_TYPE).lower()
        if kind not in ROW_TYPES:
            return RowError(line, f"type {kind!r} is not one of {', '.join(ROW_TYPES)}")
        fields = raw.get("fields")
        if isinstance(fields, str):
            fields = json.loads(fields) if fields.strip() else None
        if fields is not None and not isinstance(fields, dict):
            return RowError(line, "fields must be a JSON object")
        row = FeedRow(
            line=line,
            event_id=_text(raw.get("event_id")) or default_event_id(ctx.url, raw),
            type=kind,
            sku=sku,
            external_id=external_id,
            quantity=_decimal(raw.get("quantity"), "quantity"),
            price=_decimal(raw.get("price"), "price"),
            fields=fields,
            changed_at=_instant(raw.get("changed_at")) or ctx.read_at,
            location_id=_text(raw.get("location_id")),
            partner=_text(raw.get("partner")),
            title=_text(raw.get("title")) or (_text(fields.get("name")) if fields else None),
        )
    except json.JSONDecodeError as exc:
        return RowError(line, f"fields is not JSON: {exc.msg}")
    except ValueError as exc:
        return RowError(line, str(exc))
    if kind in ("sale", "return", "restock", "stock_count") and row.quantity is None:
        return RowError(line, f"a {kind} row needs a quantity")
    if kind == "price" and row.price is None:
        return RowError(line, "a price row needs a price")
    if kind == "content" and not row.fields:
        return RowError(line, "a content row needs fields")
    return row


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.reader(lines)
    header: list[str] | None = None
    try:
        for values in reader:
            line = reader.line_num
            if header is None:
                header = [h.strip().lower().lstrip("\ufeff") for h in values]
                if "sku" not in header and "external_id" not in header:
                    yield line, RowError(line, "the header names neither sku nor external_id")
                    return
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                yield line, RowError(line, f"{len(values)} values for {len(header)} columns")
                continue
            yield line, dict(zip(header, values, strict=False))
    except csv.Error as exc:
        yield reader.line_num, RowError(reader.line_num, f"not CSV: {exc}")


def _jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, RowError(line, f"not JSON: {exc.msg}")
            continue
        yield line, value if isinstance(value, dict) else RowError(line, "a row must be a JSON object")


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """A JSON document: its rows are numbered by position (1-based) in the array."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        yield exc.lineno, RowError(exc.lineno, f"not JSON: {exc.msg}")
        return
    items = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        yield 1, RowError(1, "a JSON feed is an array of rows or an object with items")
        return
    for n, value in enumerate(items, start=1):
        yield n, value if isinstance(value, dict) else RowError(n, "a row must be a JSON object")


def parse_feed(text: str, fmt: str, ctx: RowContext) -> Iterator[FeedRow | RowError]:
    """Every row of a feed body, parsed, or the reason it cannot be (with its line; for a
    JSON array, its position)."""
    if fmt == "json":
        raw_rows = _json_rows(text)
    elif fmt == "jsonl":
        raw_rows = _jsonl_rows(io.StringIO(text))
    else:
        raw_rows = _csv_rows(io.StringIO(text, newline=""))
    for line, raw in raw_rows:
        yield raw if isinstance(raw, RowError) else parse_row(line, raw, ctx)
