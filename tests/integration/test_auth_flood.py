"""Made-up API keys cost no database connection each (review of issue 10, finding 5).

The pool is small and has no overflow, so anonymous writes carrying invented bearer
tokens must not each check out a connection before their 401: a token that cannot be a
key is refused before any transaction, an unknown well-formed one is remembered as a
miss for a few seconds (one lookup however many ask at once), and lookups in flight are
capped. Counted on both databases with a spy on ``transaction`` and on pool checkouts,
through the body guard that authenticates writes and through ``authenticate_token``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from productsync.api import deps
from productsync.api.deps import LOOKUPS_AT_ONCE, AuthCache, authenticate_token
from productsync.api.guard import BodyGuardMiddleware
from productsync.domain.access import Scope
from productsync.domain.keys import looks_like_key
from productsync.services import access
from productsync.store.uow import transaction


@dataclass
class Spy:
    transactions: int = 0
    checkouts: int = 0
    in_use: int = 0
    most_in_use: int = 0


@pytest.fixture
def spy(database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:  # type: ignore[no-untyped-def]
    """Counts ``transaction`` calls made by the auth path and connections checked out."""
    counts = Spy()
    real = deps.transaction

    async def counting(db: Any, fn: Callable[[Any], Awaitable[Any]], **kw: Any) -> Any:
        counts.transactions += 1
        counts.in_use += 1
        counts.most_in_use = max(counts.most_in_use, counts.in_use)
        try:
            await asyncio.sleep(0.01)  # long enough for concurrent askers to pile up
            return await real(db, fn, **kw)
        finally:
            counts.in_use -= 1

    def checkout(*_: Any) -> None:
        counts.checkouts += 1

    monkeypatch.setattr(deps, "transaction", counting)
    pool = database.engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    try:
        yield counts
    finally:
        event.remove(pool, "checkout", checkout)


def _state(database, *, miss_ttl: float | None = None) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    return SimpleNamespace(hub=SimpleNamespace(db=database), auth_cache=AuthCache(10, miss_ttl=miss_ttl))


def _unknown_key() -> str:
    token = f"psk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    assert looks_like_key(token)
    return token


MALFORMED = [
    "x",
    "Bearer",
    "psk_",
    "psk_abcdefgh_short",
    "psk_ABCDEFGH_" + "A" * 43,  # upper-case prefix
    "psk_abcdefgh_" + "A" * 44,
    "a" * 4096,
    "psk_abcdefgh_" + "A" * 42 + "!",
]


@pytest.fixture
async def guarded(database) -> AsyncIterator[tuple[httpx.AsyncClient, SimpleNamespace]]:  # type: ignore[no-untyped-def]
    """The body guard in front of an app that must never be reached without a key."""
    state = _state(database)
    reached: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = BodyGuardMiddleware(inner, max_body_bytes=1 << 20)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = SimpleNamespace(state=state)
        await guard(scope, receive, send)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield client, state
    assert reached == []


async def test_a_thousand_malformed_tokens_open_no_transaction(guarded, spy: Spy) -> None:  # type: ignore[no-untyped-def]
    client, state = guarded
    tokens = [MALFORMED[i % len(MALFORMED)] + (str(i) if i % 3 else "") for i in range(1000)]
    for start in range(0, 1000, 100):  # through the body guard, as anonymous writes arrive
        replies = await asyncio.gather(
            *(
                client.post("/v1/products", json={"sku": "X"}, headers={"authorization": f"Bearer {t}"})
                for t in tokens[start : start + 100]
            )
        )
        assert {r.status_code for r in replies} == {401}
    assert [await authenticate_token(state, t) for t in tokens[:100]] == [None] * 100
    assert spy.transactions == 0 and spy.checkouts == 0


async def test_one_unknown_key_asked_a_thousand_times_is_looked_up_once(guarded, spy: Spy) -> None:  # type: ignore[no-untyped-def]
    client, state = guarded
    token = _unknown_key()
    headers = {"authorization": f"Bearer {token}"}
    replies = await asyncio.gather(
        *(client.post("/v1/products", json={}, headers=headers) for _ in range(500))
    )
    assert {r.status_code for r in replies} == {401}
    assert await asyncio.gather(*(authenticate_token(state, token) for _ in range(250))) == [None] * 250
    for _ in range(250):  # one after another too, once the first answer is in
        assert await authenticate_token(state, token) is None
    assert spy.transactions <= 1 and spy.checkouts <= 1


async def test_lookups_of_many_unknown_keys_hold_few_connections_at_once(database, spy: Spy) -> None:  # type: ignore[no-untyped-def]
    state = _state(database)
    tokens = [_unknown_key() for _ in range(200)]
    assert await asyncio.gather(*(authenticate_token(state, t) for t in tokens)) == [None] * 200
    assert spy.transactions == 200  # each distinct key once ...
    assert spy.most_in_use <= LOOKUPS_AT_ONCE  # ... but never more than a few at a time
    assert await asyncio.gather(*(authenticate_token(state, t) for t in tokens)) == [None] * 200
    assert spy.transactions == 200  # and remembered as misses


async def test_a_key_created_after_a_miss_works_once_the_miss_expires(
    database,  # type: ignore[no-untyped-def]
    world,  # type: ignore[no-untyped-def]
    spy: Spy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = _state(database, miss_ttl=0.3)
    token = _unknown_key()
    assert await authenticate_token(state, token) is None  # tried before it exists: a miss
    prefix = token.split("_")[1]
    monkeypatch.setattr(access, "new_key", lambda: (prefix, token))
    await transaction(
        database,
        lambda uow: access.create_key(
            uow, world.admin, partner_id=world.a.id, scopes=(Scope.CATALOG_READ,), name="late"
        ),
    )
    assert await authenticate_token(state, token) is None  # still the remembered miss
    assert spy.transactions == 1
    await asyncio.sleep(0.35)
    actor = await authenticate_token(state, token)
    assert actor is not None and actor.partner_id == world.a.id and spy.transactions == 2
    assert await authenticate_token(state, token) is actor and spy.transactions == 2  # cached now
    # Revocation is not delayed by the negative cache: only misses are remembered there.
    await transaction(database, lambda uow: access.revoke_key(uow, world.admin, prefix))
    state.auth_cache.clear()
    assert await authenticate_token(state, token) is None and spy.transactions == 3


def test_the_miss_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = AuthCache(10, max_misses=3)
    for digest in "abcde":
        cache.miss(digest)
    assert [d for d in "abcde" if cache.missed(d)] == ["c", "d", "e"]
    cache.miss("c")  # asked again: the newest now
    cache.miss("f")
    assert [d for d in "cdef" if cache.missed(d)] == ["c", "e", "f"]
    assert AuthCache(10).miss_ttl == deps.MISS_SECONDS and AuthCache(0).miss_ttl == 0
    off = AuthCache(0)
    off.miss("a")
    assert not off.missed("a")  # with the auth cache off, misses are not remembered either
