"""The webhook connector: CloudEvents JSON signed per the Standard Webhooks spec.

Headers: ``webhook-id`` (the event's stable id, for receivers to de-duplicate),
``webhook-timestamp`` and ``webhook-signature`` (one ``v1,…`` per active secret, so
during a rotation receivers holding either secret verify). Redirects are not
followed (a redirect could point past the address check), and foreign exceptions
become an ``Attempt`` saying what happened, never an exception out of here.

Connections go only to addresses the SSRF guard judged (``sync/guard.py``), one
session per receiver origin (``sync/pools.py``). Sent with aiohttp rather than httpx:
at hundreds of deliveries per second httpx's async stack was half of the hub's CPU
(measured with py-spy in bench/propagation.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from productsync.domain.deliveries import parse_retry_after
from productsync.services.dispatch import Attempt, Claimed
from productsync.sync.guard import TargetGuard, TargetRefused, aiohttp_target
from productsync.sync.pools import OriginPools, origin

Sessions = OriginPools[aiohttp.ClientSession]


def sign(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


async def send(sessions: Sessions, guard: TargetGuard, claimed: Claimed, *, timeout: float) -> Attempt:
    """One try. The target is judged first (aiohttp never asks a resolver about address
    literals, so this is where they are checked), then posted through a session whose
    resolver hands out only judged addresses. A transport failure retires the origin's
    session and forgets its addresses, so the next try starts from a clean slate."""
    url = claimed.channel.url or ""
    try:
        host, port = aiohttp_target(url)  # the host aiohttp connects to, not urllib's reading
        await guard.addresses(host, port)
    except TargetRefused as exc:
        return Attempt(False, error=exc.reason, unreachable=exc.unreachable)
    body = json.dumps(claimed.event, separators=(",", ":"), ensure_ascii=False)
    now = datetime.now(UTC)
    msg_id = str(claimed.event_id)
    headers = {
        "content-type": "application/json",
        "user-agent": "productsync-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(claimed.secrets, msg_id, now, body),
    }
    key = origin(url)
    async with sessions.lease(key) as lease:
        try:
            async with lease.client.post(
                url,
                data=body.encode(),
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                code = response.status
                retry_header = response.headers.get("retry-after")
                await response.read()
        except TargetRefused as exc:  # the verdict changed since the check above
            return Attempt(False, error=exc.reason, unreachable=exc.unreachable)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            sessions.retire(key, lease)
            guard.forget(host, port)
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError):
                error = f"no answer within {timeout:g} s"
            return Attempt(False, error=error[:300], unreachable=True)
    if 200 <= code < 300:
        return Attempt(True, status_code=code)
    retry_after = parse_retry_after(retry_header, datetime.now(UTC))
    return Attempt(False, status_code=code, error=f"HTTP {code}", retry_after=retry_after, gone=code == 410)
