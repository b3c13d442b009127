"""Request and response shapes of the HTTP API (separate from domain objects and tables).

Input types are strict where JSON is ambiguous: a boolean is not a number, a
timestamp must carry its offset, quantities are exact decimals.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictStr,
)

from productsync.domain.catalog import Category, Partner, Product, ProductKind, ProductStatus, TaxClass
from productsync.domain.channels import Channel, ChannelKind, ChannelStatus, ConflictPolicy
from productsync.domain.conflicts import InboundType, Resolution
from productsync.domain.inventory import Location, LocationKind, MovementKind, StockLevel, StockTotals
from productsync.domain.lots import Lot
from productsync.domain.oversells import Oversell, OversellResolution, OversellStatus
from productsync.domain.pricing import PriceEntry, PriceList, PriceListKind
from productsync.domain.quantities import BaseUnit, format_quantity
from productsync.domain.reservations import Reservation, ReservationStatus


def _decimal_in(value: Any) -> Any:
    """JSON numbers or numeric strings; never booleans (Python's True == 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float) and value != value:
        raise ValueError("must be a finite number")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise ValueError("must be a number or a numeric string")


def _quantity_out(q: Decimal) -> int | float:
    return int(q) if q == q.to_integral_value() else float(format_quantity(q))


QuantityIn = Annotated[Decimal, BeforeValidator(_decimal_in), Field(allow_inf_nan=False)]
AmountIn = Annotated[Decimal, BeforeValidator(_decimal_in), Field(allow_inf_nan=False)]
QuantityOut = Annotated[Decimal, PlainSerializer(_quantity_out, return_type=int | float)]
AmountOut = Annotated[Decimal, PlainSerializer(lambda d: str(d), return_type=str)]


class Problem(BaseModel):
    """RFC 9457 problem details; extra members carry the error's data."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(examples=["/problems/insufficient-stock"])
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None


_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text, "content": _PROBLEM_CONTENT}
    for status, text in (
        (400, "Malformed JSON, header or cursor"),
        (401, "Missing, unknown or revoked API key"),
        (403, "Readable but not writable, or the key lacks a scope"),
        (404, "Absent, or invisible to this key"),
        (409, "The current state does not allow the change"),
        (412, "If-Match names a stale version"),
        (413, "Body too large"),
        (415, "Body is not JSON"),
        (422, "Invalid input"),
    )
}


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


# --- partners -------------------------------------------------------------------------


class PartnerIn(Input):
    code: StrictStr = Field(min_length=3, max_length=40, examples=["nailco"])
    name: StrictStr = Field(min_length=1, max_length=200, examples=["NailCo Lacquers"])


class PartnerOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, p: Partner) -> PartnerOut:
        return cls(id=p.id, code=p.code, name=p.name, created_at=p.created_at)


class ShareIn(Input):
    grantee_partner_id: uuid.UUID


class ShareOut(BaseModel):
    owner_partner_id: uuid.UUID
    grantee_partner_id: uuid.UUID
    created: bool


# --- categories -----------------------------------------------------------------------


class CategoryIn(Input):
    code: StrictStr = Field(min_length=2, max_length=40)
    name: StrictStr = Field(min_length=1, max_length=200)
    sku_prefix: StrictStr | None = Field(default=None, max_length=9, examples=["COS-"])
    attribute_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) for product attributes.")
    lot_tracked: StrictBool = False


class CategoryOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    sku_prefix: str | None
    attribute_schema: dict[str, Any]
    lot_tracked: bool

    @classmethod
    def of(cls, c: Category) -> CategoryOut:
        return cls(
            id=c.id,
            code=c.code,
            name=c.name,
            sku_prefix=c.sku_prefix,
            attribute_schema=c.attribute_schema,
            lot_tracked=c.lot_tracked,
        )


# --- products -------------------------------------------------------------------------


class LocalizedText(Input):
    name: StrictStr | None = Field(default=None, max_length=300)
    description: StrictStr | None = None


class ComponentIn(Input):
    product_id: uuid.UUID
    quantity: QuantityIn = Field(description="Base units of the component in one bundle.")


class ProductIn(Input):
    sku: StrictStr = Field(min_length=1, max_length=64, examples=["COS-NP-001"])
    name: StrictStr = Field(min_length=1, max_length=300)
    category: StrictStr = Field(description="Category code (e.g. `cosmetics`) or id.", examples=["cosmetics"])
    owner_partner_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the key's partner; required for admin keys."
    )
    description: StrictStr = ""
    base_unit: BaseUnit = BaseUnit.PIECE
    barcodes: list[StrictStr] = Field(default_factory=list, max_length=20)
    texts: dict[str, LocalizedText] = Field(default_factory=dict, description="Texts per locale (BCP 47).")
    tax_class: TaxClass = TaxClass.STANDARD
    attributes: dict[str, Any] = Field(default_factory=dict)
    kind: ProductKind = ProductKind.SIMPLE
    components: list[ComponentIn] = Field(
        default_factory=list,
        max_length=20,
        description="A bundle's parts (product, quantity per bundle); components of other partners "
        "must be shared with the bundle's owner.",
    )
    allow_backorders: StrictBool = Field(
        default=False, description="Reservations beyond stock are recorded as backordered (never negative)."
    )
    packs: dict[str, QuantityIn] = Field(
        default_factory=dict, description='Pack sizes in base units, e.g. `{"6-pack": 6}`.', max_length=20
    )


class ProductPatch(Input):
    """SKU, category, owner and base unit are fixed at creation."""

    name: StrictStr | None = Field(default=None, min_length=1, max_length=300)
    description: StrictStr | None = None
    barcodes: list[StrictStr] | None = Field(default=None, max_length=20)
    texts: dict[str, LocalizedText] | None = None
    tax_class: TaxClass | None = None
    attributes: dict[str, Any] | None = None
    allow_backorders: StrictBool | None = None
    packs: dict[str, QuantityIn] | None = Field(default=None, max_length=20)


class ComponentOut(BaseModel):
    product_id: uuid.UUID
    quantity: QuantityOut


class ProductOut(BaseModel):
    id: uuid.UUID
    sku: str
    name: str
    description: str
    category_id: uuid.UUID
    owner_partner_id: uuid.UUID
    base_unit: BaseUnit
    barcodes: list[str]
    texts: dict[str, dict[str, str]]
    tax_class: TaxClass
    attributes: dict[str, Any]
    status: ProductStatus
    version: int
    created_at: datetime
    updated_at: datetime
    kind: ProductKind
    components: list[ComponentOut]
    allow_backorders: bool
    packs: dict[str, QuantityOut]

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        return cls(
            id=p.id,
            sku=p.sku,
            name=p.name,
            description=p.description,
            category_id=p.category_id,
            owner_partner_id=p.owner_partner_id,
            base_unit=p.base_unit,
            barcodes=list(p.barcodes),
            texts=p.texts,
            tax_class=p.tax_class,
            attributes=p.attributes,
            status=p.status,
            version=p.version,
            created_at=p.created_at,
            updated_at=p.updated_at,
            kind=p.kind,
            components=[ComponentOut(product_id=c.product_id, quantity=c.quantity) for c in p.components],
            allow_backorders=p.allow_backorders,
            packs=p.packs,
        )


class ProductPage(Page):
    items: list[ProductOut]


# --- locations and stock --------------------------------------------------------------


class LocationIn(Input):
    code: StrictStr = Field(min_length=2, max_length=40, examples=["WH-BERLIN"])
    name: StrictStr = Field(min_length=1, max_length=200)
    kind: LocationKind = LocationKind.WAREHOUSE
    owner_partner_id: uuid.UUID | None = Field(
        default=None,
        description="Defaults to the key's partner; admins may leave it empty for a hub-wide location.",
    )
    time_zone: StrictStr = Field(
        default="UTC",
        max_length=64,
        examples=["Europe/Berlin"],
        description="IANA time zone; lots stocked here expire at the end of their expiry date in it.",
    )


class LocationOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    kind: LocationKind
    owner_partner_id: uuid.UUID | None
    time_zone: str

    @classmethod
    def of(cls, loc: Location) -> LocationOut:
        return cls(
            id=loc.id,
            code=loc.code,
            name=loc.name,
            kind=loc.kind,
            owner_partner_id=loc.owner_partner_id,
            time_zone=loc.time_zone,
        )


class StockTarget(Input):
    sku: StrictStr | None = Field(default=None, max_length=64)
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID


class AdjustmentIn(StockTarget):
    delta: QuantityIn = Field(description="Signed change in `unit` (default: the product's base unit).")
    unit: StrictStr | None = Field(
        default=None, max_length=24, description="Any unit of the same kind as the base unit, or a pack name."
    )
    reason: StrictStr | None = Field(default=None, max_length=500)
    lot_number: StrictStr | None = Field(
        default=None, max_length=60, description="Required on receipts of lot-tracked categories (cosmetics)."
    )
    expires_on: date | None = Field(default=None, description="The lot's expiry date (with lot_number).")
    kind: Literal["adjustment", "receipt", "sale", "return"] = Field(
        default="adjustment", description="A return linked to its sale goes to `POST /v1/stock/returns`."
    )


class SetIn(StockTarget):
    quantity: QuantityIn
    compare_quantity: QuantityIn | None = Field(
        default=None, description="Only set if on_hand still equals this (compare-and-set); else 409."
    )
    safety_stock: QuantityIn | None = None
    reason: StrictStr | None = Field(default=None, max_length=500)


class TransferIn(Input):
    sku: StrictStr | None = Field(default=None, max_length=64)
    product_id: uuid.UUID | None = None
    from_location_id: uuid.UUID
    to_location_id: uuid.UUID
    quantity: QuantityIn
    unit: StrictStr | None = Field(default=None, max_length=24)
    reason: StrictStr | None = Field(default=None, max_length=500)


class ReturnIn(Input):
    sale_movement_id: int = Field(ge=1, le=2**62, description="The ledger id of the sale being returned.")
    quantity: QuantityIn
    unit: StrictStr | None = Field(default=None, max_length=24)
    restockable: StrictBool = Field(description="False: recorded and written off at once (damaged, opened).")
    reason: StrictStr = Field(min_length=1, max_length=500)


class AccuracyOut(BaseModel):
    """Cycle-count accuracy: counts that found what the hub expected, out of all counts."""

    location_id: uuid.UUID | None
    counts: int
    matched: int
    accuracy_percent: float | None = Field(description="one decimal; null before the first count")
    open_oversells: int = Field(
        default=0, description="Channel sales the hub had no stock for, open (`GET /v1/oversells`)."
    )
    oversold_quantity: QuantityOut = Field(default=Decimal(0), description="What those oversells lack.")


class LotOut(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    lot_number: str
    expires_on: date
    quantity: QuantityOut
    reserved: QuantityOut
    expires_at: datetime = Field(
        description="When it stops being usable: the end of expires_on at its location (its time zone)."
    )
    days_left: int = Field(description="Whole days after today there: 0 on the expiry date, below 0 expired.")
    expired: bool

    @classmethod
    def of(cls, lot: Lot, now: datetime) -> LotOut:
        return cls(
            id=lot.id,
            product_id=lot.product_id,
            location_id=lot.location_id,
            lot_number=lot.lot_number,
            expires_on=lot.expires_on,
            quantity=lot.quantity,
            reserved=lot.reserved,
            expires_at=lot.expires_at,
            days_left=lot.days_left(now),
            expired=lot.expired(now),
        )


class LevelOut(BaseModel):
    location_id: uuid.UUID
    location_code: str
    on_hand: QuantityOut
    reserved: QuantityOut
    safety_stock: QuantityOut
    available: QuantityOut
    version: int

    @classmethod
    def of(cls, level: StockLevel, code: str) -> LevelOut:
        return cls(
            location_id=level.location_id,
            location_code=code,
            on_hand=level.on_hand,
            reserved=level.reserved,
            safety_stock=level.safety_stock,
            available=level.available,
            version=level.version,
        )


class TotalsOut(BaseModel):
    on_hand: QuantityOut
    reserved: QuantityOut
    safety_stock: QuantityOut
    available: QuantityOut

    @classmethod
    def of(cls, t: StockTotals) -> TotalsOut:
        return cls(on_hand=t.on_hand, reserved=t.reserved, safety_stock=t.safety_stock, available=t.available)


class StockOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    base_unit: BaseUnit
    locations: list[LevelOut]
    totals: TotalsOut
    derived: bool = Field(
        default=False,
        description="A bundle: whole bundles its components make (per location; totals as channels "
        "count them), reserved = held back by the components' holds and safety stock.",
    )


class TransferOut(BaseModel):
    transfer_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    quantity: QuantityOut
    source: LevelOut
    destination: LevelOut


class ReturnOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    sale_movement_id: int
    movement_id: int | None
    quantity: QuantityOut
    restockable: bool
    level: LevelOut


class StockChangeOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    movement_id: int | None
    kind: MovementKind
    quantity: QuantityOut
    level: LevelOut


# --- prices ---------------------------------------------------------------------------


class PriceListIn(Input):
    name: StrictStr = Field(min_length=1, max_length=200)
    currency: StrictStr = Field(min_length=3, max_length=3, examples=["EUR"])
    kind: PriceListKind = PriceListKind.RETAIL
    region: StrictStr | None = Field(default=None, max_length=40)
    owner_partner_id: uuid.UUID | None = None


class PriceListOut(BaseModel):
    id: uuid.UUID
    name: str
    owner_partner_id: uuid.UUID | None
    currency: str
    kind: PriceListKind
    region: str | None

    @classmethod
    def of(cls, pl: PriceList) -> PriceListOut:
        return cls(
            id=pl.id,
            name=pl.name,
            owner_partner_id=pl.owner_partner_id,
            currency=pl.currency,
            kind=pl.kind,
            region=pl.region,
        )


class PriceEntryIn(Input):
    amount: AmountIn = Field(description='Unit price as a decimal string, e.g. "12.90".', examples=["12.90"])
    min_quantity: QuantityIn = Field(default=Decimal(1), description="Tier: applies from this quantity on.")
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None

    def entry(self) -> PriceEntry:
        return PriceEntry(self.min_quantity, self.amount, self.valid_from, self.valid_to)


class PricesIn(Input):
    prices: list[PriceEntryIn] = Field(
        max_length=200, description="The full tier set; replaces the current one."
    )


class PriceEntryOut(BaseModel):
    amount: AmountOut
    min_quantity: QuantityOut
    valid_from: datetime | None
    valid_to: datetime | None

    @classmethod
    def of(cls, e: PriceEntry) -> PriceEntryOut:
        return cls(amount=e.amount, min_quantity=e.min_quantity, valid_from=e.valid_from, valid_to=e.valid_to)


class PricesOut(BaseModel):
    price_list_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    currency: str
    version: int
    prices: list[PriceEntryOut]


class ResolvedPriceOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    price_list_id: uuid.UUID
    currency: str
    quantity: QuantityOut
    at: datetime
    unit_amount: AmountOut
    total: AmountOut
    tier_min_quantity: QuantityOut
    promotion: bool
    regular_unit_amount: AmountOut | None


# --- audit and events -----------------------------------------------------------------


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_key_id: uuid.UUID | None
    actor_partner_id: uuid.UUID | None
    origin: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditPage(Page):
    items: list[AuditOut]


class EventPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="CloudEvents 1.0 (structured JSON), in commit order.")
    next_cursor: str = Field(description="Pass as `after` to continue; unchanged when nothing new.")


# --- channels -------------------------------------------------------------------------


class ChannelIn(Input):
    name: StrictStr = Field(min_length=1, max_length=200, examples=["NailCo Shopify store"])
    kind: ChannelKind
    url: StrictStr | None = Field(
        default=None, max_length=2000, description="Required for webhook and storefronts."
    )
    owner_partner_id: uuid.UUID | None = Field(
        default=None, description="Admins only; a partner key always creates channels of its own partner."
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="Kind-specific settings (e.g. exchange)."
    )
    partner_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="Whose products it sees; default: the owner's."
    )
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100, description="Empty: all.")
    location_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="Locations that make up its stock."
    )
    price_list_id: uuid.UUID | None = None
    locale: StrictStr | None = Field(default=None, max_length=20, examples=["de-DE"])
    buffer_stock: QuantityIn = Field(default=Decimal(0), description="Stock held back from this channel.")
    conflict_policy: ConflictPolicy = ConflictPolicy.MASTER_WINS
    credentials: dict[StrictStr, StrictStr] | None = Field(
        default=None,
        max_length=10,
        description="Platform credentials (Shopify `access_token`, `webhook_secret`; WooCommerce "
        "`consumer_key`, `consumer_secret`). Write-only: sealed at rest, never returned.",
    )


class ChannelPatch(Input):
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    url: StrictStr | None = Field(default=None, max_length=2000)
    config: dict[str, Any] | None = None
    partner_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    category_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    location_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    price_list_id: uuid.UUID | None = None
    locale: StrictStr | None = Field(default=None, max_length=20)
    buffer_stock: QuantityIn | None = None
    conflict_policy: ConflictPolicy | None = None
    status: ChannelStatus | None = None
    credentials: dict[StrictStr, StrictStr] | None = Field(
        default=None,
        max_length=10,
        description="Platform credentials (Shopify `access_token`, `webhook_secret`; WooCommerce "
        "`consumer_key`, `consumer_secret`). Write-only: sealed at rest, never returned.",
    )


class ChannelOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: ChannelKind
    owner_partner_id: uuid.UUID | None
    url: str | None
    config: dict[str, Any]
    partner_ids: list[uuid.UUID]
    category_ids: list[uuid.UUID]
    location_ids: list[uuid.UUID]
    price_list_id: uuid.UUID | None
    locale: str | None
    buffer_stock: QuantityOut
    conflict_policy: ConflictPolicy
    status: ChannelStatus
    version: int
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None
    has_credentials: bool = Field(description="Whether platform credentials are stored (never shown).")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Channel) -> ChannelOut:
        return cls(
            id=c.id,
            name=c.name,
            kind=c.kind,
            owner_partner_id=c.owner_partner_id,
            url=c.url,
            config=c.config,
            partner_ids=list(c.partner_ids),
            category_ids=list(c.category_ids),
            location_ids=list(c.location_ids),
            price_list_id=c.price_list_id,
            locale=c.locale,
            buffer_stock=c.buffer_stock,
            conflict_policy=c.conflict_policy,
            status=c.status,
            version=c.version,
            secret_rotated_at=c.secret_rotated_at,
            previous_secret_expires_at=c.previous_secret_expires_at,
            has_credentials=c.has_credentials,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        description="The signing secret (whsec_…), shown once; null on idempotent replays."
    )


class RotateIn(Input):
    grace_seconds: Annotated[int, Field(ge=0, le=30 * 24 * 3600)] = Field(
        default=24 * 3600, description="How long the old secret keeps signing beside the new one."
    )


class RotateOut(BaseModel):
    channel_id: uuid.UUID
    secret: str | None = Field(description="The new secret, shown once; null on idempotent replays.")
    previous_valid_until: datetime | None


class MappingItemIn(Input):
    external_id: StrictStr = Field(
        min_length=1, max_length=200, description="The channel's id for the product."
    )
    sku: StrictStr | None = Field(default=None, max_length=64)
    product_id: uuid.UUID | None = None
    external_sku: StrictStr | None = Field(default=None, max_length=200)


class MappingsIn(Input):
    mappings: list[MappingItemIn] = Field(min_length=1, max_length=5000)


class MappingOut(BaseModel):
    external_id: str
    product_id: uuid.UUID
    sku: str
    external_sku: str | None


class MappingPage(Page):
    items: list[MappingOut]


# --- inbound changes and conflicts --------------------------------------------------------


class InboundIn(Input):
    event_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The channel's id for this change; taken once (or give an Idempotency-Key header).",
    )
    type: InboundType = Field(description="sale and return are stock deltas; stock_count is absolute.")
    external_id: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    external_sku: StrictStr | None = Field(
        default=None, min_length=1, max_length=200, description="The channel's SKU, as mapped."
    )
    alias: StrictStr | None = Field(
        default=None, min_length=3, max_length=250, description="A product alias, `scheme:code`."
    )
    sku: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    quantity: QuantityIn | None = Field(
        default=None, description="Positive for deltas; the count for stock_count."
    )
    price: AmountIn | None = Field(
        default=None, description="The new unit price on the channel's price list."
    )
    fields: dict[StrictStr, Any] | None = Field(
        default=None, description="Content edits: name, description, texts, attributes."
    )
    based_on_version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    based_on_quantity: QuantityIn | None = Field(
        default=None, description="For merge: the quantity the channel saw before its count."
    )
    changed_at: datetime | None = Field(default=None, description="UTC; default: when the hub receives it.")
    reason: StrictStr | None = Field(default=None, max_length=500)
    order_ref: StrictStr | None = Field(
        default=None,
        max_length=255,
        description="The channel's order, named on an oversell if stock was short.",
    )


class InboundOut(BaseModel):
    event_id: str
    channel_id: uuid.UUID
    outcome: str = Field(description="applied, kept_hub (the channel is corrected), queued, rejected")
    product_id: uuid.UUID | None = None
    sku: str | None = None
    reason: str | None = None
    conflict_id: uuid.UUID | None = None
    replayed: bool = False
    oversold: str | None = Field(
        default=None, description="A sale beyond stock: what the hub lacked (the rest is sold)."
    )
    oversell_id: uuid.UUID | None = Field(default=None, description="Its oversell (`GET /v1/oversells`).")
    model_config = ConfigDict(extra="allow")


class ConflictOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    product_id: uuid.UUID | None
    kind: str
    change: dict[str, Any]
    hub_value: Any
    hub_version: int
    status: str
    resolution: str | None
    resolved_value: Any
    created_at: datetime
    resolved_at: datetime | None


class ConflictPage(BaseModel):
    items: list[ConflictOut]
    next_cursor: str | None


class ResolveIn(Input):
    resolution: Resolution
    value: Any = Field(default=None, description="For custom: the stock level, price or fields to write.")
    product_id: uuid.UUID | None = Field(
        default=None,
        description="For a change with an unmapped external id: the product it meant (mapped now).",
    )


class AliasIn(Input):
    scheme: StrictStr = Field(min_length=1, max_length=40, examples=["supplier-acme"])
    code: StrictStr = Field(min_length=1, max_length=200, examples=["AC-99812"])


class AliasesIn(Input):
    aliases: list[AliasIn] = Field(max_length=100, description="The full set; replaces the current one.")


class AliasesOut(BaseModel):
    product_id: uuid.UUID
    aliases: list[AliasIn]


class AliasLookupOut(BaseModel):
    scheme: str
    code: str
    product_id: uuid.UUID


class AvailabilityOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    channel_id: uuid.UUID
    available: QuantityOut = Field(
        description="What the channel may sell: its locations minus its buffer, >= 0."
    )
    locations: list[LevelOut] = Field(description="The levels that count for this channel.")


class AvailabilityPage(BaseModel):
    items: list[AvailabilityOut]


# --- reservations ---------------------------------------------------------------------


class ReservationLineIn(Input):
    sku: StrictStr | None = Field(default=None, max_length=64)
    product_id: uuid.UUID | None = None
    quantity: QuantityIn = Field(description="In `unit` (default: the product's base unit).")
    unit: StrictStr | None = Field(
        default=None, max_length=24, description="Any unit of the same kind as the base unit, or a pack name."
    )
    location_id: uuid.UUID | None = Field(
        default=None,
        description="Hold here only; without it the hub allocates (fewest splits, then most stock).",
    )


class ReservationIn(Input):
    lines: list[ReservationLineIn] = Field(min_length=1, max_length=100)
    ttl_seconds: float | None = Field(
        default=None, allow_inf_nan=False, description="Default 900; at most 7 days."
    )
    channel_id: uuid.UUID | None = Field(
        default=None, description="Allocate from this channel's locations (it must sell every line)."
    )
    external_ref: StrictStr | None = Field(
        default=None,
        max_length=200,
        description="Order or checkout reference (payment webhooks commit by it).",
    )


class ExtendIn(Input):
    ttl_seconds: float = Field(allow_inf_nan=False, description="The hold lives this long from now.")


class CommitIn(Input):
    reason: StrictStr | None = Field(default=None, max_length=500)


class HoldOut(BaseModel):
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: QuantityOut


class ReservationLineOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    quantity: QuantityOut
    location_id: uuid.UUID | None
    backordered: QuantityOut
    holds: list[HoldOut]


class ReservationOut(BaseModel):
    id: uuid.UUID
    status: ReservationStatus
    expires_at: datetime
    channel_id: uuid.UUID | None
    external_ref: str | None
    lines: list[ReservationLineOut]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Reservation) -> ReservationOut:
        return cls(
            id=r.id,
            status=r.status,
            expires_at=r.expires_at,
            channel_id=r.channel_id,
            external_ref=r.external_ref,
            lines=[
                ReservationLineOut(
                    product_id=line.product_id,
                    sku=line.sku,
                    quantity=line.quantity,
                    location_id=line.location_id,
                    backordered=line.backordered,
                    holds=[
                        HoldOut(product_id=h.product_id, location_id=h.location_id, quantity=h.quantity)
                        for h in line.holds
                    ],
                )
                for line in r.lines
            ],
            version=r.version,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


# --- oversells -------------------------------------------------------------------------------


class OversellOut(BaseModel):
    """A channel sale beyond the hub's stock: the sale of what there was is in the ledger
    (``movement_id``); ``quantity`` is what was missing, open until resolved."""

    id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    channel_id: uuid.UUID | None = Field(description="null for a payment gateway (see `source`).")
    source: str = Field(examples=["channel:5f0c…", "stripe"])
    event_id: str
    order_ref: str | None
    sold: QuantityOut = Field(description="What the channel reported sold.")
    quantity: QuantityOut = Field(description="What the hub did not have.")
    movement_id: int | None = Field(description="The sale's ledger row; its reason names this oversell.")
    status: OversellStatus
    resolution: OversellResolution | None
    note: str | None
    substitute_product_id: uuid.UUID | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    @classmethod
    def of(cls, o: Oversell) -> OversellOut:
        return cls.model_validate(o, from_attributes=True)


class OversellPage(Page):
    items: list[OversellOut]


class OversellResolveIn(Input):
    resolution: OversellResolution = Field(
        description="restock: the missing quantity is sold now (receive=true receives it first); "
        "cancel: the missing part was cancelled at the channel, nothing moves; "
        "substitute: substitute_product_id went out instead and is sold."
    )
    note: StrictStr | None = Field(default=None, max_length=500)
    substitute_product_id: uuid.UUID | None = None
    receive: StrictBool = Field(default=False, description="restock: the goods just arrived; receive them.")
    lot_number: StrictStr | None = Field(
        default=None, max_length=60, description="restock with receive, lot-tracked products."
    )
    expires_on: date | None = None


class OversellResolvedOut(OversellOut):
    movement_ids: list[int] = Field(description="Ledger rows the resolution wrote (none for cancel).")
