"""The body guard's depth check and its assumptions about the route table."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fastapi.routing import APIRoute

from productsync.api.guard import KEYLESS_WRITES, MAX_JSON_DEPTH, WRITES, too_deep


def _reference_depth(body: bytes) -> int:
    """The obvious byte loop (what the guard used to run on every body)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _nest(depth: int, *, obj: bool = False) -> bytes:
    if obj:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "deep"),
    [
        (b"", False),
        (b'{"sku": "SE-1", "qty": 3}', False),
        (_nest(MAX_JSON_DEPTH), False),
        (_nest(MAX_JSON_DEPTH + 1), True),
        (_nest(MAX_JSON_DEPTH, obj=True), False),
        (_nest(MAX_JSON_DEPTH + 1, obj=True), True),
        (b"[" + b"[]," * 100_000 + b"[]]", False),  # wide, not deep
        (json.dumps(["[" * 500]).encode(), False),  # brackets inside a string
        (json.dumps(['\\"[[[[' * 100, "\\\\", '"']).encode(), False),  # escapes around them
        (b'["\\\\"' + b"," + _nest(MAX_JSON_DEPTH + 1) + b"]", True),  # an escaped backslash ends the string
        (b"[" * 10_000, True),  # unbalanced: still refused, without recursion
    ],
)
def test_depth_check_table(body: bytes, deep: bool) -> None:
    assert too_deep(body) is deep


def _random_json(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(
            [
                rng.randint(-5, 5),
                "".join(rng.choice('ab[]{}"\\\n\u00e9') for _ in range(rng.randint(0, 6))),
                None,
                True,
            ]
        )
    if rng.random() < 0.5:
        return [_random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}[": _random_json(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_depth_check_agrees_with_the_byte_loop_on_random_documents() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        doc = _random_json(rng, rng.randint(0, 12))
        body = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
        expected = _reference_depth(body)
        for limit in (max(0, expected - 1), expected, expected + 1):
            assert too_deep(body, limit) is (expected > limit), (body, limit)


def test_every_write_route_outside_the_signed_webhooks_takes_an_api_key() -> None:
    """The guard authenticates writes before reading their bodies; a write route that
    takes no key must be listed in KEYLESS_WRITES, or the guard would refuse its callers."""
    from productsync.api.app import create_app
    from productsync.api.deps import current_actor
    from productsync.config import Settings

    def needs_key(dependant: Any) -> bool:
        return any(d.call is current_actor or needs_key(d) for d in dependant.dependencies)

    def flat(routes: list[Any]) -> list[Any]:
        out = []
        for r in routes:  # included routers appear as one entry each in recent FastAPI
            out += flat(r.original_router.routes) if hasattr(r, "original_router") else [r]
        return out

    app = create_app(Settings(database_url="sqlite:///unused.db"))
    writes = [r for r in flat(app.routes) if isinstance(r, APIRoute) and r.methods & WRITES]
    assert any(r.path.startswith(KEYLESS_WRITES) for r in writes)
    assert writes
    for route in writes:
        keyless = route.path.startswith(KEYLESS_WRITES)
        assert needs_key(route.dependant) is not keyless, route.path
