"""Fixtures shared by the integration and end-to-end tiers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import settings

from tests import services

# Hypothesis' per-example deadline (200 ms) measures the machine, not the code: on two busy
# cores a first pint conversion or a database round trip can pass it. Correctness is what
# the properties check; speed is measured in bench/.
settings.register_profile("productsync", deadline=None)
settings.load_profile("productsync")


def pytest_configure(config: pytest.Config) -> None:
    """Servers and workers on PostgreSQL refuse to start without a secret key: one for
    the whole run, shared by every process the tests start (SQLite servers in the e2e
    tier drop it to exercise their key file)."""
    import os

    from cryptography.fernet import Fernet

    os.environ.setdefault("PRODUCTSYNC_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A freshly created, migrated PostgreSQL database for this test run."""
    from productsync.store import migrate

    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported
        services.unavailable("PostgreSQL", exc)
    migrate.upgrade(url)
    yield url
    asyncio.run(services.drop_postgres_database(url))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from productsync.store import migrate

    path: Path = tmp_path_factory.mktemp("sqlite") / "hub.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same tests run against SQLite and PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[object]:
    from cryptography.fernet import Fernet

    from productsync.services.catalog import ensure_default_categories
    from productsync.store.database import create_database
    from productsync.store.secrets import SecretBox
    from productsync.store.uow import transaction

    db = create_database(database_url, pool_size=30)
    db.secret_box = SecretBox(Fernet.generate_key())
    await transaction(db, ensure_default_categories)
    yield db
    await db.dispose()


def ref(prefix: str = "") -> str:
    """A unique reference so tests can share one database."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class World:
    """Two partners (A shares with B), a third unrelated one, locations, a product of A."""

    a: object
    b: object
    c: object
    loc_a: object
    loc_hub: object
    product: object
    admin: object
    actor_a: object
    actor_b: object
    actor_c: object


@pytest.fixture
async def world(database) -> World:  # type: ignore[no-untyped-def]
    from productsync.domain.access import Actor, Scope, system_actor
    from productsync.domain.catalog import NewProduct
    from productsync.domain.inventory import LocationKind
    from productsync.services import catalog, locations, partners
    from productsync.store.uow import transaction

    admin = system_actor("test")

    async def build(uow):  # type: ignore[no-untyped-def]
        a = await partners.create_partner(uow, admin, code=ref("pa-"), name="Partner A")
        b = await partners.create_partner(uow, admin, code=ref("pb-"), name="Partner B")
        c = await partners.create_partner(uow, admin, code=ref("pc-"), name="Partner C")
        await partners.share_catalog(uow, admin, owner_id=a.id, grantee_id=b.id)
        loc_a = await locations.create_location(
            uow, admin, code=ref("LA-"), name="A store", kind=LocationKind.STORE, owner_partner_id=a.id
        )
        loc_hub = await locations.create_location(
            uow,
            admin,
            code=ref("HUB-"),
            name="Hub warehouse",
            kind=LocationKind.WAREHOUSE,
            owner_partner_id=None,
        )
        sports = await uow.categories.get_by_code("sports")
        product = await catalog.create_product(
            uow,
            admin,
            NewProduct(
                sku=ref("SE-"),
                name="Test racket",
                category_id=sports.id,
                owner_partner_id=a.id,
                attributes={"size": "L2", "material": "carbon"},
            ),
        )
        return a, b, c, loc_a, loc_hub, product

    a, b, c, loc_a, loc_hub, product = await transaction(database, build)
    scopes = frozenset({Scope.CATALOG_READ, Scope.CATALOG_WRITE, Scope.STOCK_WRITE, Scope.PRICES_WRITE})

    def actor(p, readable=frozenset()):  # type: ignore[no-untyped-def]
        return Actor(
            key_id=uuid.uuid4(), partner_id=p.id, scopes=scopes, readable_partners=readable, origin="test"
        )

    return World(a, b, c, loc_a, loc_hub, product, admin, actor(a), actor(b, frozenset({a.id})), actor(c))


D = Decimal


async def count_rows(db, table, **where) -> int:  # type: ignore[no-untyped-def]
    """Rows of ``table`` matching column=value filters, read in its own transaction."""
    from sqlalchemy import func, select

    from productsync.store.uow import transaction

    async def q(uow):  # type: ignore[no-untyped-def]
        stmt = select(func.count()).select_from(table)
        for column, value in where.items():
            stmt = stmt.where(table.c[column] == value)
        return (await uow.stock.conn.execute(stmt)).scalar_one()

    return int(await transaction(db, q, readonly=True))
