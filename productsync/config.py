"""Settings from the environment (``PRODUCTSYNC_*``). Built by the app factory, never at import."""

from __future__ import annotations

import uuid

from pydantic_settings import BaseSettings, SettingsConfigDict

from productsync.domain.targets import TargetPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRODUCTSYNC_", extra="ignore")

    database_url: str = "sqlite:///./productsync.db"
    host: str = "127.0.0.1"
    port: int = 8000
    # Database connections per process, all kept open and reused (no overflow): size it
    # to the requests one process has in flight at once; processes x size must stay
    # under the database's max_connections.
    db_pool_size: int = 20
    # How long an authenticated key is trusted before it is looked up again.
    # Revocation and new shares take effect within this time in other processes.
    auth_cache_seconds: float = 10.0
    idempotency_ttl_hours: int = 24
    log_level: str = "info"
    auto_migrate: bool = True
    # Fernet key(s) that seal channel signing secrets at rest: several, comma-separated,
    # during a rotation (the first seals, all open; `productsync secrets reseal` moves
    # old secrets to the first). Required on PostgreSQL (`productsync secrets
    # generate-key` makes one); empty on SQLite: a key file beside the database.
    secret_key: str = ""
    # The dispatcher runs inside `serve` unless turned off (then run `productsync worker`).
    embedded_dispatcher: bool = True
    webhook_timeout_seconds: float = 10.0
    # How long a claimed delivery belongs to its worker; a worker killed mid-send gives
    # its deliveries back after this (they are sent again: at-least-once).
    dispatcher_lease_seconds: float = 60.0
    # Where the hub may connect (webhooks, storefronts): only globally routable addresses,
    # judged after name resolution and again on a literal URL when a channel is saved.
    # Loopback and private networks (RFC 1918, 100.64/10, fc00::/7) only when allowed
    # here (tests allow loopback); link-local, documentation and the like never.
    webhook_allow_loopback: bool = False
    webhook_allow_private: bool = False
    # The broker rabbitmq channels publish to (each channel names its exchange).
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Stripe's endpoint secret (whsec_…) for POST /v1/webhooks/stripe; empty: endpoint off.
    stripe_webhook_secret: str = ""
    # How far a Stripe-Signature timestamp may be from now (Stripe's libraries use 300 s).
    stripe_tolerance_seconds: int = 300
    # The price list a Stripe payment's amount is checked against when its metadata names
    # none (payments reconciliation); unset: such amounts are reported as not checked.
    stripe_price_list_id: uuid.UUID | None = None
    # How often expired reservations are looked for (and their stock given back).
    reservation_sweep_seconds: float = 1.0
    # How often expired lots are written off and near-expiry lots announced.
    lot_sweep_seconds: float = 60.0
    # How often an open SSE stream's process looks for events sequenced elsewhere (other
    # processes); events sequenced here wake streams at once.
    stream_poll_seconds: float = 1.0
    # Request bodies larger than this are refused with 413 (before they are read when
    # Content-Length says so, or as soon as a streamed body passes it).
    max_body_bytes: int = 1024 * 1024

    def target_policy(self) -> TargetPolicy:
        """The SSRF rule's operator opt-ins, for channel URLs and every outbound connection."""
        return TargetPolicy(
            allow_loopback=self.webhook_allow_loopback, allow_private=self.webhook_allow_private
        )
