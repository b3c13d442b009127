"""Table definitions. Constraints are the last line of defence for the stock invariants."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from productsync.store.types import ExactDecimal, Quantity, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT autoincrement is INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")

partners = Table(
    "partners",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

partner_shares = Table(
    "partner_shares",
    metadata,
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), primary_key=True),
    Column("grantee_partner_id", Uuid, ForeignKey("partners.id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("owner_partner_id <> grantee_partner_id", name="not_self"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("partner_id", Uuid, ForeignKey("partners.id"), nullable=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

categories = Table(
    "categories",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("sku_prefix", String(9), nullable=True),
    Column("attribute_schema", JSON, nullable=False),
    Column("lot_tracked", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Unique per owner partner (uq_products_owner_sku), not hub-wide: the id is the
    # hub-wide identity, and two partners may use the same SKU (migration 0014).
    Column("sku", String(64), nullable=False),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("category_id", Uuid, ForeignKey("categories.id"), nullable=False),
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), nullable=False),
    Column("base_unit", String(16), nullable=False),
    Column("barcodes", JSON, nullable=False),
    Column("texts", JSON, nullable=False),
    Column("tax_class", String(20), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False, server_default="simple"),
    # Read copy of bundle_components (the index), like barcodes.
    Column("components", JSON, nullable=False, server_default="[]"),
    Column("allow_backorders", Boolean, nullable=False, server_default=text("false")),
    Column("packs", JSON, nullable=False, server_default="{}"),
    UniqueConstraint("owner_partner_id", "sku", name="uq_products_owner_sku"),
    Index("ix_products_sku", "sku"),
    Index("ix_products_updated_at", "updated_at"),
)

# The uniqueness index for barcodes (GTIN-14 form); products.barcodes is the read copy.
product_barcodes = Table(
    "product_barcodes",
    metadata,
    # Unique per owner partner (migration 0021): a GTIN names the item, not its seller.
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), primary_key=True),
    Column("gtin14", String(14), primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False, index=True),
    Index("ix_product_barcodes_gtin14", "gtin14"),
)

# Which bundles contain a product: a component's stock change re-announces them.
bundle_components = Table(
    "bundle_components",
    metadata,
    Column("bundle_id", Uuid, ForeignKey("products.id"), primary_key=True),
    Column("component_id", Uuid, ForeignKey("products.id"), primary_key=True, index=True),
    Column("quantity", Quantity, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

locations = Table(
    "locations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # IANA name; lots stocked here expire at the end of their date in this zone.
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("product_id", Uuid, ForeignKey("products.id"), primary_key=True),
    Column("location_id", Uuid, ForeignKey("locations.id"), primary_key=True),
    Column("on_hand", Quantity, nullable=False),
    Column("reserved", Quantity, nullable=False),
    Column("safety_stock", Quantity, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("location_id", Uuid, ForeignKey("locations.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("quantity", Quantity, nullable=False),
    Column("on_hand_after", Quantity, nullable=False),
    Column("expected", Quantity, nullable=True),
    Column("reason", String(500), nullable=True),
    Column("actor_key_id", Uuid, nullable=True),
    Column("actor_partner_id", Uuid, nullable=True),
    Column("origin", String(100), nullable=False),
    Column("request_id", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # A return names the sale it returns; a transfer's two halves name each other's
    # transfer id; a committed reservation's sales name it.
    Column("sale_movement_id", BigInteger, nullable=True),
    Column("transfer_id", Uuid, nullable=True),
    Column("reservation_id", Uuid, nullable=True),
    Column("restockable", Boolean, nullable=True),
    Column("lot_id", Uuid, nullable=True),
    Index("ix_stock_movements_level", "product_id", "location_id", "id"),
    Index("ix_stock_movements_lot", "lot_id"),
    Index("ix_stock_movements_sale", "sale_movement_id"),
)

# Stock per lot inside a level (lot-tracked categories). ``reserved`` is what holds pin
# to the lot; the ledger rows with this lot_id sum to ``quantity``.
lots = Table(
    "lots",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("location_id", Uuid, ForeignKey("locations.id"), nullable=False),
    Column("lot_number", String(60), nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("quantity", Quantity, nullable=False),
    Column("reserved", Quantity, nullable=False),
    Column("near_expiry_announced", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("product_id", "location_id", "lot_number", name="uq_lots_level_number"),
    Index("ix_lots_level", "product_id", "location_id"),
    Index("ix_lots_expires_on", "expires_on"),
    CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    CheckConstraint("reserved >= 0 AND reserved <= quantity", name="reserved_within_quantity"),
)

# A hold on stock. ``lines`` is the request as allocated: per line the product asked
# for, the quantity, what is backordered, and the holds (product, location, quantity)
# that raised ``stock_levels.reserved``; the integrity check recomputes reserved from it.
reservations = Table(
    "reservations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("partner_id", Uuid, ForeignKey("partners.id"), nullable=True),
    Column("channel_id", Uuid, nullable=True),
    Column("external_ref", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("lines", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_reservations_due", "status", "expires_at"),
    Index("ix_reservations_ref", "external_ref"),
)

price_lists = Table(
    "price_lists",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("region", String(40), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per (list, product): its tier set, replaced as a whole on PUT; the
# version orders price events for one product on one list.
product_prices = Table(
    "product_prices",
    metadata,
    Column("price_list_id", Uuid, ForeignKey("price_lists.id"), primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id"), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

price_entries = Table(
    "price_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("price_list_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("min_quantity", Quantity, nullable=False),
    Column("amount", ExactDecimal, nullable=False),
    Column("valid_from", UTCDateTime, nullable=True),
    Column("valid_to", UTCDateTime, nullable=True),
    Index("ix_price_entries_list_product", "price_list_id", "product_id"),
    CheckConstraint("min_quantity > 0", name="min_quantity_positive"),
)

# Instants ahead where a (list, product)'s price in force changes by itself (an entry's
# valid_from or valid_to), written with the tier set; the scheduler announces each due
# one once (announced_at), under the (list, product) header lock.
price_boundaries = Table(
    "price_boundaries",
    metadata,
    Column("price_list_id", Uuid, primary_key=True),
    Column("product_id", Uuid, primary_key=True),
    Column("at", UTCDateTime, primary_key=True),
    Column("announced_at", UTCDateTime, nullable=True),
    Index("ix_price_boundaries_due", "announced_at", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_key_id", Uuid, nullable=True),
    Column("actor_partner_id", Uuid, nullable=True),
    Column("owner_partner_id", Uuid, nullable=True),
    Column("origin", String(100), nullable=False),
    Column("action", String(60), nullable=False),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(100), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("request_id", String(100), nullable=True),
    # The product a record concerns, and for a pair record its price list or location:
    # asking for an id then reads three index ranges, never the whole log.
    Column("product_id", Uuid, nullable=True),
    Column("scope_id", Uuid, nullable=True),
    Index("ix_audit_entity", "entity_type", "entity_id", "id"),
    Index("ix_audit_entity_id", "entity_id", "id"),
    Index("ix_audit_product", "product_id", "id"),
    Index("ix_audit_scope", "scope_id", "id"),
)

# The transactional outbox. ``seq`` is stamped after commit by one sequencer at a
# time, so readers following ``seq`` see events in commit order with no gaps
# (an autoincrement id is allocated at insert, not at commit, and can be
# overtaken by a later-committing transaction).
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=True, unique=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("type", String(80), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Column("partner_id", Uuid, nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("version", Integer, nullable=False),
    Column("origin", String(100), nullable=False),
    # Set for events meant for one channel only (a new channel's snapshot, a correction
    # pushed after an inbound change lost its conflict); not part of the public feed.
    Column("channel_id", Uuid, nullable=True),
    Index(
        "ix_outbox_unsequenced",
        "id",
        postgresql_where=text("seq IS NULL"),
        sqlite_where=text("seq IS NULL"),
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("response_headers", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), nullable=True, index=True),
    Column("url", String(2000), nullable=True),
    Column("config", JSON, nullable=False),
    Column("partner_ids", JSON, nullable=False),
    Column("category_ids", JSON, nullable=False),
    Column("location_ids", JSON, nullable=False),
    Column("price_list_id", Uuid, ForeignKey("price_lists.id"), nullable=True),
    Column("locale", String(20), nullable=True),
    Column("buffer_stock", Quantity, nullable=False),
    Column("conflict_policy", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    # Signing secrets, encrypted at rest (store/secrets.py); the previous one keeps
    # signing beside the new one until previous_secret_expires_at.
    Column("secret_sealed", Text, nullable=False),
    Column("previous_secret_sealed", Text, nullable=True),
    Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    Column("secret_rotated_at", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("failing_since", UTCDateTime, nullable=True),
    # Set when the channel is created or re-enabled: the dispatcher then sends it a full
    # snapshot of its slice before live changes.
    Column("backfill_requested_at", UTCDateTime, nullable=True),
    # Platform credentials (access tokens, consumer keys), sealed like the secrets.
    Column("credentials_sealed", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("buffer_stock >= 0", name="buffer_not_negative"),
)

# A channel's own identifiers for hub products (its product ids, variant ids, SKUs).
sku_mappings = Table(
    "sku_mappings",
    metadata,
    Column("channel_id", Uuid, ForeignKey("channels.id"), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("external_sku", String(200), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_sku_mappings_product", "channel_id", "product_id"),
)

# Other codes a product is known by (supplier, warehouse, marketplace), hub-wide.
product_aliases = Table(
    "product_aliases",
    metadata,
    # Unique per owner partner (migration 0021), like SKUs.
    Column("owner_partner_id", Uuid, ForeignKey("partners.id"), primary_key=True),
    Column("scheme", String(40), primary_key=True),
    Column("code", String(200), primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_product_aliases_scheme_code", "scheme", "code"),
)

# Literal predicates of the deliveries' partial indexes; queries that should use those
# indexes repeat them as literals (a bound parameter cannot prove a partial predicate).
DELIVERY_PENDING = "status = 'pending'"
DELIVERY_WAITING = "status IN ('pending', 'in_flight')"

# One row per (event, channel): the unit of retry, ordering and observability.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("channel_id", Uuid, ForeignKey("channels.id"), nullable=False),
    Column("aggregate", String(120), nullable=True),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("event_time", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    UniqueConstraint("event_id", "channel_id", name="uq_deliveries_event_channel"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_channel_aggregate", "channel_id", "aggregate", "event_seq"),
    # The claim's two probes, over waiting rows only (a dead channel's backlog of not-due
    # rows is never walked): a channel's due head, and a (channel, thing)'s queue.
    Index(
        "ix_deliveries_channel_due",
        "channel_id",
        "next_attempt_at",
        postgresql_where=text(DELIVERY_PENDING),
        sqlite_where=text(DELIVERY_PENDING),
    ),
    Index(
        "ix_deliveries_waiting_pair",
        "channel_id",
        "aggregate",
        "event_seq",
        postgresql_where=text(DELIVERY_WAITING),
        sqlite_where=text(DELIVERY_WAITING),
    ),
)

# Payloads of snapshot deliveries (a channel's backfill). Kept out of the outbox: the
# outbox is the commit-ordered stream every channel reads, and a snapshot is not a
# change; putting it through the sequencer is what stalled every channel's events.
snapshot_events = Table(
    "snapshot_events",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("channel_id", Uuid, nullable=False),
    Column("type", String(80), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    Column("partner_id", Uuid, nullable=True),
    Column("product_id", Uuid, nullable=True),
    Column("version", Integer, nullable=False),
    Column("origin", String(100), nullable=False),
)

# A channel's backfill in progress: the outbox position it was subscribed at (every
# later event reaches it live) and how far its snapshot pages have got (by SKU).
channel_backfills = Table(
    "channel_backfills",
    metadata,
    Column("channel_id", Uuid, ForeignKey("channels.id"), primary_key=True),
    Column("from_seq", BigInteger, nullable=False),
    Column("after_sku", String(64), nullable=True),
    Column("pages", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# How far the fan-out has read the outbox (one row per dispatcher role).
dispatcher_cursors = Table(
    "dispatcher_cursors",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Inbound changes waiting for a person (channels with the manual_review policy).
conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("channel_id", Uuid, ForeignKey("channels.id"), nullable=False),
    Column("owner_partner_id", Uuid, nullable=True, index=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=True),  # null: unknown external id
    Column("kind", String(20), nullable=False),
    Column("change", JSON, nullable=False),
    Column("hub_value", JSON, nullable=True),
    Column("hub_version", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("resolution", String(20), nullable=True),
    Column("resolved_value", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Index("ix_conflicts_status", "status", "created_at"),
)

# Channel sales beyond the stock the hub had: the sale was recorded for what there was,
# this row keeps the missing quantity until a person resolves it. One per source event
# (the unique key makes a resent sale unable to record a second one).
oversells = Table(
    "oversells",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id"), nullable=False),
    Column("location_id", Uuid, ForeignKey("locations.id"), nullable=False),
    Column("owner_partner_id", Uuid, nullable=False),
    Column("channel_id", Uuid, nullable=True),
    Column("source", String(80), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("order_ref", String(255), nullable=True),
    Column("sold", Quantity, nullable=False),
    Column("quantity", Quantity, nullable=False),
    Column("movement_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("resolution", String(16), nullable=True),
    Column("note", String(500), nullable=True),
    Column("substitute_product_id", Uuid, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolved_by", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "event_id", name="uq_oversells_source_event"),
    Index("ix_oversells_status_created", "status", "created_at", "id"),  # the list, oldest first
    Index("ix_oversells_owner", "owner_partner_id", "status"),
    Index("ix_oversells_product", "product_id"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("sold >= quantity", name="sold_covers_missing"),
    CheckConstraint("status IN ('open', 'resolved')", name="status_known"),
)

# External events already taken in (a channel's inbound event ids, Stripe event ids):
# each is applied once, and a repeat gets the first answer.
inbound_receipts = Table(
    "inbound_receipts",
    metadata,
    Column("source", String(80), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

# Tables of later areas live in their own modules on this metadata; importing them here
# registers them wherever ``metadata`` is used (Alembic, the schema tests).
from productsync.store import (  # noqa: E402, F401 - registration import, see above
    tables_channel_state,
    tables_jobs,
    tables_onboarding,
    tables_payments,
    tables_reconcile,
    tables_schedules,
)
