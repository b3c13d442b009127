"""The webhook connector: CloudEvents JSON signed per the Standard Webhooks spec.

Headers: ``webhook-id`` (the event's stable id, for receivers to de-duplicate),
``webhook-timestamp`` and ``webhook-signature`` (one ``v1,…`` per active secret, so
during a rotation receivers holding either secret verify). Redirects are not
followed (a redirect could point past the address check), and foreign exceptions
become an ``Attempt`` saying what happened, never an exception out of here.

Sent with aiohttp rather than httpx: at hundreds of deliveries per second httpx's
async stack was half of the hub's CPU (measured with py-spy in bench/propagation.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from standardwebhooks.webhooks import Webhook

from productsync.domain.deliveries import parse_retry_after
from productsync.domain.errors import InvalidInput
from productsync.domain.targets import check_targets
from productsync.services.dispatch import Attempt, Claimed

RESOLVE_TIMEOUT = 5.0


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    return sorted({str(info[4][0]) for info in infos})


# Verdicts per (host, port, policy), kept briefly: resolving every delivery on the default
# thread pool would make name resolution the bottleneck of a busy dispatcher.
VERDICT_SECONDS = 10.0
_verdicts: dict[tuple[str, int, bool, bool], tuple[float, str | None]] = {}


async def guard(url: str, *, allow_loopback: bool, allow_private: bool) -> str | None:
    """Resolve the target and refuse addresses the operator did not allow (SSRF guard);
    returns why the target is refused, or None when it may be called."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    key = (parts.hostname or "", port, allow_loopback, allow_private)
    known = _verdicts.get(key)
    if known is not None and time.monotonic() - known[0] < VERDICT_SECONDS:
        return known[1]
    verdict: str | None = None
    try:
        addresses = await _resolve(parts.hostname or "", port)
        check_targets(addresses, allow_loopback=allow_loopback, allow_private=allow_private)
    except InvalidInput as exc:
        verdict = exc.detail
    except (OSError, TimeoutError) as exc:
        verdict = f"cannot resolve {parts.hostname}: {type(exc).__name__}"
    _verdicts[key] = (time.monotonic(), verdict)
    return verdict


def sign(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


async def send(
    session: aiohttp.ClientSession,
    claimed: Claimed,
    *,
    timeout: float,
    allow_loopback: bool = False,
    allow_private: bool = False,
) -> Attempt:
    url = claimed.channel.url or ""
    refused = await guard(url, allow_loopback=allow_loopback, allow_private=allow_private)
    if refused:
        return Attempt(False, error=refused)
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
    try:
        async with session.post(
            url,
            data=body.encode(),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            code = response.status
            retry_header = response.headers.get("retry-after")
            await response.read()
    except TimeoutError:
        return Attempt(False, error=f"no answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        return Attempt(False, error=f"{type(exc).__name__}: {exc}"[:300])
    if 200 <= code < 300:
        return Attempt(True, status_code=code)
    retry_after = parse_retry_after(retry_header, datetime.now(UTC))
    return Attempt(False, status_code=code, error=f"HTTP {code}", retry_after=retry_after, gone=code == 410)
