"""Running a write use case for an HTTP request: one transaction, idempotent by key.

With an ``Idempotency-Key`` header, the reply is stored in the same transaction
as the mutation it describes, so "changed but reply not stored" cannot happen.
A twin request racing with the same key fails on the key's primary key, its
whole transaction rolls back, and it replays the winner's reply. The same key
with a different request is refused with 422. Only successful replies are
stored: a refused request changed nothing and may be sent again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response

from productsync.api.deps import request_id
from productsync.api.problems import ApiProblem
from productsync.bootstrap import Hub
from productsync.domain.access import Actor
from productsync.domain.errors import Conflict
from productsync.store.uow import UnitOfWork, transaction

T = TypeVar("T")

_REPLAY_HEADERS = ("etag", "location")


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # What an idempotent replay returns instead of ``body``, when the body carries a
    # secret that must not be stored (channel signing secrets are shown once).
    stored_body: Any = None

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

    def encode_for_storage(self) -> bytes:
        body = self.body if self.stored_body is None else self.stored_body
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def _request_hash(request: Request) -> str:
    raw = await request.body()
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = raw
    h = hashlib.sha256()
    h.update(request.method.encode() + b" " + request.url.path.encode() + b"?" + request.url.query.encode())
    h.update(b"\n" + canonical)
    return h.hexdigest()


def _response(reply: Reply, *, replayed: bool = False) -> Response:
    headers = dict(reply.headers)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(reply.encode(), status_code=reply.status, headers=headers, media_type="application/json")


def _replay(row: Any, request_hash: str) -> Response:
    if row.request_hash != request_hash:
        raise ApiProblem(
            422,
            "idempotency-key-reused",
            "this Idempotency-Key was already used with a different request",
        )
    headers = dict(row.response_headers)
    headers["Idempotent-Replayed"] = "true"
    return Response(
        row.response_body, status_code=row.status_code, headers=headers, media_type="application/json"
    )


async def execute(
    request: Request,
    hub: Hub,
    actor: Actor,
    use_case: Callable[[UnitOfWork], Awaitable[T]],
    render: Callable[[T], Reply],
) -> Response:
    key = request.headers.get("idempotency-key")
    rid = request_id(request)

    async def _plain(uow: UnitOfWork) -> Reply:
        return render(await use_case(uow))

    if key is None:
        return _response(await transaction(hub.db, _plain, request_id=rid))
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ApiProblem(400, "invalid-idempotency-key", "Idempotency-Key must be 1-255 printable characters")
    key_owner = str(actor.key_id or "system")
    request_hash = await _request_hash(request)

    async def _lookup(uow: UnitOfWork) -> Any:
        row = await uow.idempotency.get(key_owner, key)
        ttl = timedelta(hours=hub.settings.idempotency_ttl_hours)
        if row is not None and row.created_at < uow.now - ttl:
            return None  # expired: treated as new (purged by the scheduler)
        return row

    existing = await transaction(hub.db, _lookup, readonly=True)
    if existing is not None:
        return _replay(existing, request_hash)

    async def _remembered(uow: UnitOfWork) -> Reply:
        reply = render(await use_case(uow))
        stored_headers = {k: v for k, v in reply.headers.items() if k.lower() in _REPLAY_HEADERS}
        # An expired record with this key may still be there: replace it.
        ttl = timedelta(hours=hub.settings.idempotency_ttl_hours)
        await uow.idempotency.purge_expired_key(key_owner, key, uow.now - ttl)
        await uow.idempotency.add(
            key_id=key_owner,
            idempotency_key=key,
            request_hash=request_hash,
            status_code=reply.status,
            body=reply.encode_for_storage().decode(),
            headers=stored_headers,
            at=uow.now,
        )
        return reply

    try:
        return _response(await transaction(hub.db, _remembered, request_id=rid))
    except Conflict as exc:
        if not exc.data.get("concurrent"):
            raise
        winner = await transaction(hub.db, _lookup, readonly=True)
        if winner is None:
            raise
        return _replay(winner, request_hash)
