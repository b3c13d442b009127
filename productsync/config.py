"""Settings from the environment (``PRODUCTSYNC_*``). Built by the app factory, never at import."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRODUCTSYNC_", extra="ignore")

    database_url: str = "sqlite:///./productsync.db"
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 10
    # How long an authenticated key is trusted before it is looked up again.
    # Revocation and new shares take effect within this time in other processes.
    auth_cache_seconds: float = 10.0
    idempotency_ttl_hours: int = 24
    log_level: str = "info"
    auto_migrate: bool = True
    # Fernet key that seals channel signing secrets at rest. Empty: an embedded hub
    # keeps a generated key file beside its database (see store/secrets.py).
    secret_key: str = ""
    # The dispatcher runs inside `serve` unless turned off (then run `productsync worker`).
    embedded_dispatcher: bool = True
    webhook_timeout_seconds: float = 10.0
    # How long a claimed delivery belongs to its worker; a worker killed mid-send gives
    # its deliveries back after this (they are sent again: at-least-once).
    dispatcher_lease_seconds: float = 60.0
    # Delivery targets are checked after name resolution: loopback, link-local and
    # private addresses are refused unless allowed here (tests allow loopback).
    webhook_allow_loopback: bool = False
    webhook_allow_private: bool = False
    # The broker rabbitmq channels publish to (each channel names its exchange).
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Stripe's endpoint secret (whsec_…) for POST /v1/webhooks/stripe; empty: endpoint off.
    stripe_webhook_secret: str = ""
    # How far a Stripe-Signature timestamp may be from now (Stripe's libraries use 300 s).
    stripe_tolerance_seconds: int = 300
    # How often expired reservations are looked for (and their stock given back).
    reservation_sweep_seconds: float = 1.0
