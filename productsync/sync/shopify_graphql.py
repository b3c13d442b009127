"""Shopify GraphQL Admin API client: ``POST {shop}/admin/api/{version}/graphql.json``.

The client goes through the caller's pinned httpx client (the SSRF guard's), sends
``X-Shopify-Access-Token``, and keeps one leaky bucket per shop from the
``extensions.cost.throttleStatus`` every answer carries (never a plan's numbers):

- before a call, when the bucket (as last reported, refilled at ``restoreRate`` since)
  holds less than the call is expected to cost, it waits for the difference — or, when
  that wait is longer than ``max_wait``, gives the try back with ``retry_after``;
- a ``THROTTLED`` answer (HTTP 200, ``errors[].extensions.code``) waits the points it
  lacked over the restore rate and tries once more, then gives the try back the same way.

Failures come out as ``PlatformError`` carrying the ``Attempt`` the dispatcher records:
transport errors are ``unreachable``; HTTP errors keep their status (and ``Retry-After``);
top-level GraphQL ``errors`` carry the platform's message.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from productsync.domain import shopify_graphql as gql
from productsync.domain.deliveries import parse_retry_after
from productsync.services.dispatch import Attempt
from productsync.sync.guard import TargetRefused

USER_AGENT = "productsync-connector/1"
MAX_WAIT = 5.0  # seconds a call may wait in place for the bucket; longer: retry later


class PlatformError(Exception):
    """A try that failed, with what the dispatcher should record about it."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.error)
        self.attempt = attempt


class Throttle:
    """The buckets of every shop this process calls, by shop origin."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.buckets: dict[str, gql.Bucket] = {}

    def wait_for(self, shop: str, cost: float) -> float:
        bucket = self.buckets.get(shop)
        return bucket.wait_for(cost, self._clock()) if bucket else 0.0

    def spend(self, shop: str, cost: float) -> None:
        bucket = self.buckets.get(shop)
        if bucket is not None:
            self.buckets[shop] = bucket.spend(cost, self._clock())

    def observe(self, shop: str, cost: gql.Cost | None) -> None:
        if cost is not None:
            self.buckets[shop] = gql.bucket_of(cost, self._clock())


def _retry(seconds: float) -> timedelta:
    return timedelta(seconds=max(1.0, seconds))


@dataclass
class Shop:
    """One shop as the connector talks to it: client, address, token, version, bucket."""

    client: httpx.AsyncClient
    base: str
    token: str
    version: str
    throttle: Throttle
    timeout: float
    max_wait: float = MAX_WAIT

    @property
    def endpoint(self) -> str:
        return f"{self.base.rstrip('/')}/admin/api/{self.version}/graphql.json"

    async def run(
        self, document: str, variables: dict[str, Any], *, cost: float | None = None
    ) -> dict[str, Any]:
        """The answer's ``data``; ``PlatformError`` for anything that is not an answer."""
        expected = cost if cost is not None else gql.EXPECTED_COST.get(document, 10)
        for tries in range(3):
            wait = self.throttle.wait_for(self.base, expected)
            if wait > self.max_wait:
                raise PlatformError(
                    Attempt(
                        False,
                        error=f"shop's query budget is low: {wait:.1f} s to refill",
                        retry_after=_retry(wait),
                    )
                )
            if wait > 0:
                await asyncio.sleep(wait)
            self.throttle.spend(self.base, expected)
            answer = await self._post(document, variables)
            self.throttle.observe(self.base, answer.cost)
            if answer.throttled:
                wait = gql.throttled_wait(answer.cost, expected)
                if answer.cost is not None:
                    expected = answer.cost.requested or expected
                if tries < 2 and wait <= self.max_wait:
                    await asyncio.sleep(wait)
                    continue
                raise PlatformError(
                    Attempt(False, status_code=429, error="THROTTLED by the shop", retry_after=_retry(wait))
                )
            if answer.errors:
                raise PlatformError(Attempt(False, status_code=200, error="; ".join(answer.errors)[:300]))
            return answer.data
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _post(self, document: str, variables: dict[str, Any]) -> gql.Answer:
        try:
            response = await self.client.post(
                self.endpoint,
                json={"query": document, "variables": variables},
                headers={"user-agent": USER_AGENT, "x-shopify-access-token": self.token},
                timeout=self.timeout,
            )
        except TargetRefused as exc:  # the pinned transport refused: the verdict changed
            raise PlatformError(Attempt(False, error=exc.reason, unreachable=exc.unreachable)) from exc
        except httpx.TimeoutException as exc:
            raise PlatformError(
                Attempt(False, error=f"no answer within {self.timeout:g} s", unreachable=True)
            ) from exc
        except httpx.HTTPError as exc:
            raise PlatformError(
                Attempt(False, error=f"{type(exc).__name__}: {exc}"[:300], unreachable=True)
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not 200 <= response.status_code < 300:
            answer = gql.parse_answer(body)
            self.throttle.observe(self.base, answer.cost)
            code = response.status_code
            detail = "; ".join(answer.errors) or response.text[:200]
            raise PlatformError(
                Attempt(
                    False,
                    status_code=code,
                    error=f"HTTP {code}: {detail}"[:300],
                    retry_after=parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC)),
                    gone=code == 410,
                )
            )
        return gql.parse_answer(body)
