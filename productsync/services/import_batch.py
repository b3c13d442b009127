"""The state one import carries from batch to batch: who imports, what was rejected,
counts, and the audit and outbox rows waiting to be written with the batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from productsync.domain import catalog as rules
from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Category, NewProduct, Product
from productsync.domain.events import DomainEvent
from productsync.domain.imports import ErrorPolicy, ImportReport, RowError, RowRejected
from productsync.services.import_refs import References
from productsync.store.repositories.import_writes import ImportWrites
from productsync.store.repositories.log import audit_row, event_row
from productsync.store.uow import UnitOfWork

T = TypeVar("T")
_ANY_OBJECT: dict[str, Any] = {}
_SCHEMA_CACHE = 10_000
MAX_REPORTED = 100  # errors kept in the report; every one goes to the rejected file


@dataclass
class BatchContext:
    uow: UnitOfWork
    writes: ImportWrites
    actor: Actor
    refs: References
    report: ImportReport
    columns: frozenset[str]
    on_reject: Callable[[int, Any, list[RowError]], None]
    now: datetime
    request_id: str | None = None
    writing: bool = True
    audit: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    _schema_ok: dict[tuple[uuid.UUID, str], bool] = field(default_factory=dict)
    _audit_keys: dict[str, Any] | None = None

    def reject(self, line: int, source: Any, errors: list[RowError]) -> None:
        self.report.rejected += 1
        room = MAX_REPORTED - len(self.report.errors)
        if room > 0:
            self.report.errors.extend(errors[:room])
        if self.report.error_policy is ErrorPolicy.REJECT_ALL:
            self.writing = False  # nothing will be kept: stop writing, keep checking
        self.on_reject(line, source, errors)

    def count(self, entity: str, outcome: str) -> None:
        counts = self.report.count(entity)
        setattr(counts, outcome, getattr(counts, outcome) + 1)

    def need_scope(self, scope: str, line: int, column: str) -> None:
        if not self.actor.has(Scope(scope)):
            raise RowRejected([RowError(line, column, f"this key lacks the {scope} scope")])

    def create_product(self, new: NewProduct, category: Category) -> Product:
        """The catalog's own rule. Attribute sets repeat across a file (one per product
        line, not per row), so a set the category's schema already accepted in this
        import is not validated again: the rule runs with a schema that accepts
        anything for it, everything else (SKU prefix, GTINs, texts, packs) as always."""
        key = (category.id, json.dumps(new.attributes, sort_keys=True, default=str))
        if self._schema_ok.get(key):
            return rules.create_product(new, replace(category, attribute_schema=_ANY_OBJECT), now=self.now)
        product = rules.create_product(new, category, now=self.now)
        if len(self._schema_ok) < _SCHEMA_CACHE:
            self._schema_ok[key] = True
        return product

    def record(
        self,
        action: str,
        entity_type: str,
        entity_id: object,
        owner: uuid.UUID | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        event: DomainEvent | None = None,
        *,
        product_id: uuid.UUID | None = None,
        scope_id: uuid.UUID | None = None,
    ) -> None:
        """One audit record (before/after) and its event, as the API's use cases write them.
        The record is ``audit_row``'s, with the product (and the list or location of a
        pair) given rather than parsed back out of the entity id: at a million rows
        that parsing was a tenth of the import's time."""
        if self._audit_keys is None:
            self._audit_keys = audit_row(
                actor=self.actor,
                action="",
                entity_type="",
                entity_id="",
                owner_partner_id=None,
                before=None,
                after=None,
                request_id=self.request_id,
                at=self.now,
            )
        row = dict(self._audit_keys)
        row.update(
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            owner_partner_id=owner,
            before=before,
            after=after,
            product_id=product_id,
            scope_id=scope_id,
        )
        self.audit.append(row)
        if event is not None:
            self.events.append(event_row(event, self.now))

    def extra_events(self, events: list[DomainEvent]) -> None:
        self.events.extend(event_row(e, self.now) for e in events)

    async def flush_journal(self) -> None:
        audit, events = self.audit, self.events
        self.audit, self.events = [], []
        if self.writing:
            await self.writes.journal(audit, events)


class Batch(Generic[T]):
    """How one kind merges a batch of prepared rows (and finishes after the last one)."""

    async def merge(self, ctx: BatchContext, rows: list[T]) -> None:
        raise NotImplementedError

    async def finish(self, ctx: BatchContext) -> None:
        return None
