"""Unit of work: one connection, one transaction, all repositories on it.

Use cases run inside ``transaction(db, fn)``, which opens the unit of work,
calls ``fn(uow)``, commits, and retries the whole thing a bounded number of
times when the database reports a deadlock, a serialization failure or (on
SQLite) a busy database. Integrity errors that a client can cause (a duplicate
SKU raced in by another request) come out as domain ``Conflict``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from productsync.domain.errors import Conflict, ErrorCode, InvalidInput
from productsync.store.database import Database
from productsync.store.repositories.access import KeyRepository
from productsync.store.repositories.backfills import BackfillRepository
from productsync.store.repositories.catalog import (
    CategoryRepository,
    LocationRepository,
    PartnerRepository,
    ProductRepository,
)
from productsync.store.repositories.channel_state import ChannelQuantityRepository
from productsync.store.repositories.channels import AliasRepository, ChannelRepository, MappingRepository
from productsync.store.repositories.deliveries import DeliveryRepository
from productsync.store.repositories.exports import ExportRepository
from productsync.store.repositories.inbound import ConflictRepository, ReceiptRepository
from productsync.store.repositories.log import (
    AuditRepository,
    IdempotencyRepository,
    JournalRepository,
    OutboxRepository,
)
from productsync.store.repositories.lots import LotRepository
from productsync.store.repositories.onboarding import OnboardingRepository
from productsync.store.repositories.oversells import OversellRepository
from productsync.store.repositories.payments import PaymentRepository
from productsync.store.repositories.pricing import PriceRepository
from productsync.store.repositories.reconciliations import ReconciliationRepository
from productsync.store.repositories.reservations import ReservationRepository
from productsync.store.repositories.schedules import ScheduleRepository
from productsync.store.repositories.stock import StockRepository
from productsync.store.secrets import SecretBox

T = TypeVar("T")

_RETRYABLE_PG = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
MAX_ATTEMPTS = 5


class UnitOfWork:
    partners: PartnerRepository
    categories: CategoryRepository
    products: ProductRepository
    locations: LocationRepository
    stock: StockRepository
    prices: PriceRepository
    keys: KeyRepository
    audit: AuditRepository
    outbox: OutboxRepository
    idempotency: IdempotencyRepository
    journal: JournalRepository
    channels: ChannelRepository
    mappings: MappingRepository
    deliveries: DeliveryRepository
    backfills: BackfillRepository
    receipts: ReceiptRepository
    aliases: AliasRepository
    conflicts: ConflictRepository
    reservations: ReservationRepository
    lots: LotRepository
    oversells: OversellRepository
    onboarding: OnboardingRepository
    reconciliations: ReconciliationRepository
    exports: ExportRepository
    payments: PaymentRepository
    channel_quantities: ChannelQuantityRepository
    schedules: ScheduleRepository

    def __init__(self, db: Database, *, readonly: bool = False, request_id: str | None = None) -> None:
        self.db = db
        self.readonly = readonly
        self.request_id = request_id
        self.now = datetime.now(UTC)
        self._conn: AsyncConnection | None = None
        self._lock: asyncio.Lock | None = None
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self.now = datetime.now(UTC)
        self._lock = None if self.readonly else self.db.write_lock()
        if self._lock is not None:
            await self._lock.acquire()
        try:
            conn = await self.db.engine.connect()
            if self.readonly:
                conn = await conn.execution_options(readonly=True)
            await conn.begin()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self._conn = conn
        self.partners = PartnerRepository(conn)
        self.categories = CategoryRepository(conn)
        self.products = ProductRepository(conn)
        self.locations = LocationRepository(conn)
        self.stock = StockRepository(conn)
        self.prices = PriceRepository(conn)
        self.keys = KeyRepository(conn)
        self.audit = AuditRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.idempotency = IdempotencyRepository(conn)
        self.journal = JournalRepository(conn)
        self.channels = ChannelRepository(conn)
        self.mappings = MappingRepository(conn)
        self.deliveries = DeliveryRepository(conn)
        self.backfills = BackfillRepository(conn)
        self.receipts = ReceiptRepository(conn)
        self.aliases = AliasRepository(conn)
        self.conflicts = ConflictRepository(conn)
        self.reservations = ReservationRepository(conn, self.journal)
        self.lots = LotRepository(conn)
        self.oversells = OversellRepository(conn)
        self.onboarding = OnboardingRepository(conn)
        self.reconciliations = ReconciliationRepository(conn)
        self.exports = ExportRepository(conn)
        self.payments = PaymentRepository(conn)
        self.channel_quantities = ChannelQuantityRepository(conn)
        self.schedules = ScheduleRepository(conn)
        return self

    @property
    def secrets(self) -> SecretBox:
        """The box that seals secrets the hub must use again (set up by bootstrap)."""
        if self.db.secret_box is None:
            raise RuntimeError("no secret box configured for this database")
        return self.db.secret_box

    async def ping(self) -> None:
        """A trivial round trip, for health checks."""
        assert self._conn is not None
        await self._conn.exec_driver_sql("SELECT 1")

    async def commit(self) -> None:
        assert self._conn is not None
        await self.journal.flush()
        await self._conn.commit()
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._conn is not None:
                if not self._committed:
                    await self._conn.rollback()
                await self._conn.close()
        finally:
            self._conn = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def _sqlstate(exc: DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return str(code) if code else None


def is_data_exception(exc: DBAPIError) -> bool:
    """SQLSTATE class 22 ("data exception": NUL in text, out-of-range number): the
    value came from the client, whatever exception class the driver chose for it."""
    return isinstance(exc, DataError) or (_sqlstate(exc) or "").startswith("22")


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, DBAPIError):
        code = _sqlstate(exc)
        if code in _RETRYABLE_PG:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


async def transaction(
    db: Database,
    fn: Callable[[UnitOfWork], Awaitable[T]],
    *,
    request_id: str | None = None,
    readonly: bool = False,
) -> T:
    """Run ``fn`` in one committed transaction, retrying transient conflicts.

    ``fn`` must not commit; it is the body of one use case. Retries re-run it
    from the start, so it must not have side effects outside the transaction.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with UnitOfWork(db, readonly=readonly, request_id=request_id) as uow:
                result = await fn(uow)
                await uow.commit()
                return result
        except IntegrityError as exc:
            raise Conflict(
                "the change conflicts with data written at the same time",
                code=ErrorCode.DUPLICATE,
                concurrent=True,
            ) from exc
        except UnicodeEncodeError as exc:
            # Lone surrogates survive JSON decoding but no driver can encode them.
            raise InvalidInput("text contains characters that cannot be stored") from exc
        except DBAPIError as exc:
            if is_data_exception(exc):
                # Input the rules let through but the database cannot store (a NUL byte
                # in text, a number out of range): the client's fault, so a 4xx.
                raise InvalidInput("a value cannot be stored (out of range or not representable)") from exc
            if attempt == MAX_ATTEMPTS or not is_retryable(exc):
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")
