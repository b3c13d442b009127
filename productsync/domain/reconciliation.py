"""Reconciliation rules: what a channel holds against what the hub says it should hold.

Pure: the expected side is anything shaped like ``services.channel_slices.ExpectedItem``
(``Expected``), the channel side a ``ChannelItem``. Items are matched by external id (the
channel's SKU mappings) and, for an expected product the channel has no mapping for
(feeds, ``state_url`` channels), by SKU ignoring case. Each matched pair is compared
field by field (``compare``):

- ``wrong_stock``: the quantities differ by more than the channel's tolerance
  (``config.reconcile_stock_tolerance``, default 0);
- ``wrong_price``: the prices differ by more than ``config.reconcile_price_tolerance``
  (default 0), or both sides name a currency and they differ;
- ``wrong_text``: title or description differ once normalized (Unicode NFC, whitespace
  collapsed; for storefronts also HTML tags dropped and entities decoded, since a
  storefront keeps descriptions as HTML).

A field the channel does not report (``None``) is never compared, nor a price the hub has
none for. An expected item the channel does not hold is ``missing``; a channel item no
expected item claims is ``extra``. A SKU matches when it has no finding; the consistency
rate is matching SKUs / SKUs the channel should hold (1.0 when it should hold none).
"""

from __future__ import annotations

import html
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.errors import InvalidInput


class FindingKind(StrEnum):
    MISSING = "missing"
    EXTRA = "extra"
    WRONG_STOCK = "wrong_stock"
    WRONG_PRICE = "wrong_price"
    WRONG_TEXT = "wrong_text"


class RepairMode(StrEnum):
    REPORT = "report"  # store the report only
    PUSH = "push"  # also send the hub's current state of every drifted product to the channel


class Expected(Protocol):
    """What the hub says the channel should hold for one product (``ExpectedItem``)."""

    @property
    def product_id(self) -> uuid.UUID: ...
    @property
    def sku(self) -> str: ...
    @property
    def external_ids(self) -> tuple[str, ...]: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str | None: ...


@dataclass(frozen=True)
class Finding:
    """One difference for one SKU: the hub's value and the channel's, as text."""

    kind: FindingKind
    sku: str | None
    product_id: uuid.UUID | None
    external_id: str | None
    hub_value: str | None
    channel_value: str | None


@dataclass(frozen=True)
class Tolerances:
    stock: Decimal = Decimal(0)
    price: Decimal = Decimal(0)
    html: bool = False  # texts are HTML on this channel: compare what a shopper reads


def _non_negative(config: Mapping[str, Any], key: str) -> Decimal:
    raw = config.get(key)
    if raw is None:
        return Decimal(0)
    try:
        value = Decimal(str(raw)) if not isinstance(raw, bool) else Decimal(-1)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"config.{key} must be a non-negative number", field="config")
    return value


def tolerances(config: Mapping[str, Any], *, storefront: bool) -> Tolerances:
    """The channel's tolerances from its config (a bad value is a 422, not a guess)."""
    return Tolerances(
        stock=_non_negative(config, "reconcile_stock_tolerance"),
        price=_non_negative(config, "reconcile_price_tolerance"),
        html=storefront,
    )


def repair_mode(config: Mapping[str, Any]) -> RepairMode:
    raw = config.get("reconcile_repair") or RepairMode.REPORT.value
    try:
        return RepairMode(raw)
    except ValueError:
        raise InvalidInput("config.reconcile_repair must be 'report' or 'push'", field="config") from None


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str | None, *, strip_html: bool) -> str:
    """The text as a reader perceives it: NFC, whitespace collapsed (and, for HTML, tags
    replaced by a space and entities decoded), so markup or spacing alone is no drift."""
    if not text:
        return ""
    if strip_html:
        text = html.unescape(_TAG.sub(" ", text))
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


def compare(expected: Expected, item: ChannelItem, tol: Tolerances) -> list[Finding]:
    """The differences between one expected item and the channel item matched to it."""
    out: list[Finding] = []

    def finding(kind: FindingKind, hub: str | None, channel: str | None) -> None:
        out.append(Finding(kind, expected.sku, expected.product_id, item.external_id, hub, channel))

    if item.quantity is not None and abs(item.quantity - expected.quantity) > tol.stock:
        finding(FindingKind.WRONG_STOCK, _text(expected.quantity), _text(item.quantity))
    if expected.price is not None and item.price is not None:
        currencies_differ = (
            expected.currency is not None
            and item.currency is not None
            and expected.currency.upper() != item.currency.upper()
        )
        if currencies_differ or abs(item.price - expected.price) > tol.price:
            hub = (
                f"{_text(expected.price)} {expected.currency}" if expected.currency else _text(expected.price)
            )
            channel = f"{_text(item.price)} {item.currency}" if item.currency else _text(item.price)
            finding(FindingKind.WRONG_PRICE, hub, channel)
    for name, hub_text, channel_text in (
        ("title", expected.title, item.title),
        ("description", expected.description, item.description),
    ):
        if channel_text is None:
            continue
        if normalize_text(hub_text, strip_html=tol.html) != normalize_text(channel_text, strip_html=tol.html):
            finding(
                FindingKind.WRONG_TEXT, f"{name}: {hub_text or ''}"[:2000], f"{name}: {channel_text}"[:2000]
            )
    return out


def missing(expected: Expected, external_id: str | None) -> Finding:
    return Finding(
        FindingKind.MISSING, expected.sku, expected.product_id, external_id, _text(expected.quantity), None
    )


def extra(item: ChannelItem) -> Finding:
    return Finding(FindingKind.EXTRA, item.sku, None, item.external_id, None, _text(item.quantity))


def sku_key(sku: str | None) -> str | None:
    """SKUs compare case-insensitively (the hub stores them upper-case)."""
    return sku.strip().upper() if sku and sku.strip() else None


@dataclass
class Tally:
    """Counts of a run: expected SKUs, matching SKUs and findings per kind."""

    expected: int = 0
    matched: int = 0
    read: int = 0  # items the channel reported
    counts: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.counts is None:
            self.counts = {k.value: 0 for k in FindingKind}

    def add(self, findings: Iterable[Finding]) -> None:
        assert self.counts is not None
        for f in findings:
            self.counts[f.kind.value] += 1

    @property
    def rate(self) -> float:
        return consistency_rate(self.matched, self.expected)


def consistency_rate(matched: int, expected: int) -> float:
    """Matching SKUs / SKUs the channel should hold; 1.0 when it should hold none."""
    if expected <= 0:
        return 1.0
    return max(0.0, min(1.0, matched / expected))


def reconcile_page(
    expected: Iterable[Expected],
    held: Mapping[str, ChannelItem],
    by_sku: Mapping[str, ChannelItem],
    tol: Tolerances,
) -> tuple[list[Finding], set[str], int]:
    """Compare one page of expected items with the channel items found for them.

    ``held`` are the channel's items by external id, ``by_sku`` its items by SKU key (for
    expected items without a mapping). Returns the findings, the external ids of the
    channel items that were claimed (so they are not extra) and how many SKUs matched.
    """
    findings: list[Finding] = []
    claimed: set[str] = set()
    matched = 0
    for e in expected:
        own: list[Finding] = []
        if e.external_ids:
            for external_id in e.external_ids:
                item = held.get(external_id)
                if item is None:
                    own.append(missing(e, external_id))
                else:
                    claimed.add(item.external_id)
                    own += compare(e, item, tol)
        else:
            key = sku_key(e.sku)
            item = by_sku.get(key) if key else None
            if item is None or item.external_id in claimed:
                own.append(missing(e, None))
            else:
                claimed.add(item.external_id)
                own += compare(e, item, tol)
        if not own:
            matched += 1
        findings += own
    return findings, claimed, matched
