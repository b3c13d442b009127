"""Outbound connections go only to addresses the SSRF rule allowed, and to exactly those.

Checking a name and then letting the HTTP client resolve it again leaves a gap: the
name can answer a public address to the check and 127.0.0.1 to the client (DNS
rebinding). So resolution happens once, here: ``TargetGuard.addresses`` resolves (through
an injectable ``Resolve``, stubbed in tests), judges every address with the pure rule in
``domain.targets``, and returns the judged addresses; the clients connect to nothing else:

- aiohttp (webhooks): ``PinnedResolver`` is the connector's resolver, so aiohttp connects
  to the judged address while the URL's host stays the Host header and the TLS server
  name. aiohttp never asks a resolver about address literals, so ``addresses`` is also
  called before each request (it judges literals without any lookup).
- httpx (storefronts): ``PinnedTransport`` gives httpcore a network backend whose
  ``connect_tcp`` connects to a judged address; TLS and Host still use the URL's host.

Each connector judges the host its client will connect to (``aiohttp_target``,
``httpx_target``: yarl's and httpx's reading of the URL), and refuses a URL those
parsers read differently from ``urllib``: a difference between parsers is where a
check on one host and a connect to another would slip through.

Verdicts are kept ``ttl`` seconds per (host, port) so a busy dispatcher does not resolve
each delivery; within that time the same judged addresses are used, never a new answer.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpcore
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from productsync.domain.errors import InvalidInput
from productsync.domain.targets import (
    STRICT,
    BadHost,
    TargetPolicy,
    check_targets,
    client_host,
    literal_address,
)

Resolve = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT = 5.0
VERDICT_SECONDS = 10.0


# Special-use names (RFC 2606, RFC 6761) that no real receiver can have: they are never
# delegated in the global DNS, so asking a resolver about them only sends a packet
# that cannot find anything. They are refused before any query leaves the host.
_NEVER_RESOLVED = (".invalid", ".example", ".test", ".example.com", ".example.net", ".example.org")
_NEVER_RESOLVED_NAMES = ("invalid", "example", "test", "example.com", "example.net", "example.org")


def is_special_use_name(host: str) -> bool:
    """Whether ``host`` is a documentation/testing name that never resolves (RFC 2606/6761)."""
    name = host.lower().rstrip(".")
    return name in _NEVER_RESOLVED_NAMES or name.endswith(_NEVER_RESOLVED)


async def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host`` (all addresses, both families); a
    special-use name fails as unresolvable without a query."""
    if is_special_use_name(host):
        raise socket.gaierror(socket.EAI_NONAME, f"{host} is a special-use name (RFC 6761): never resolved")
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class TargetRefused(Exception):
    """The target may not be connected to (policy), or its name does not resolve."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable  # a lookup failure, not a verdict: worth probing later


def _key(host: str) -> str:
    """One spelling per host for verdicts: the clients' (``client_host``), no final dot."""
    try:
        return client_host(host).rstrip(".")
    except BadHost:
        return host.lower().rstrip(".")


def _agreed(url: str, host: str | None, port: int | None, client: str) -> tuple[str, int]:
    """``(host, port)`` as ``client`` read them, if ``urllib`` reads the same target."""
    try:
        parts = urlsplit(url)
        typed_host, typed_port = parts.hostname or "", parts.port
        default = 443 if parts.scheme == "https" else 80
        typed, read = client_host(typed_host), client_host(host or "")
    except ValueError as exc:  # BadHost, a bad port or bracket
        raise TargetRefused(f"the URL cannot be used: {exc}") from None
    port = port or default
    if not read or typed != read or (typed_port or default) != port:
        raise TargetRefused(
            f"the URL names {typed or '-'}:{typed_port or default} but {client} would connect to "
            f"{read or '-'}:{port}: refused"
        )
    return host or "", port


@functools.lru_cache(maxsize=4096)  # a channel's URL is parsed once, not per delivery
def aiohttp_target(url: str) -> tuple[str, int]:
    """The host and port aiohttp connects to for ``url`` (yarl's IDNA-encoded host, which
    its resolver is asked about, or which it connects to directly when a literal)."""
    try:
        parsed = yarl.URL(url)
    except ValueError as exc:
        raise TargetRefused(f"the URL cannot be used: {exc}") from None
    return _agreed(url, parsed.raw_host, parsed.port, "aiohttp")


@functools.lru_cache(maxsize=4096)
def httpx_target(url: str) -> tuple[str, int]:
    """The host and port httpx (httpcore) connects to for ``url``."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise TargetRefused(f"the URL cannot be used: {exc}") from None
    return _agreed(url, host, parsed.port, "httpx")


class TargetGuard:
    """Resolves, judges and remembers delivery targets for one dispatcher."""

    def __init__(
        self, policy: TargetPolicy = STRICT, *, resolve: Resolve | None = None, ttl: float = VERDICT_SECONDS
    ) -> None:
        self.policy = policy
        self._resolve = resolve or system_resolve
        self._ttl = ttl
        self._known: dict[tuple[str, int], tuple[float, list[str] | TargetRefused]] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses that may be connected to for ``host``; raises ``TargetRefused``."""
        literal = literal_address(host)
        if literal is not None:
            return self._judge([str(literal)])
        key = (_key(host), port)
        async with self._locks.setdefault(key, asyncio.Lock()):  # one lookup however many ask
            known = self._known.get(key)
            if known is None or time.monotonic() - known[0] >= self._ttl:
                known = (time.monotonic(), await self._lookup(key[0], port))
                self._known[key] = known
        verdict = known[1]
        if isinstance(verdict, TargetRefused):
            raise verdict
        return verdict

    async def _lookup(self, host: str, port: int) -> list[str] | TargetRefused:
        if not host:
            return TargetRefused("the URL names no host")
        if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always this host
            return self._verdict(["127.0.0.1", "::1"])
        try:
            found = await self._resolve(host, port)
        except (OSError, TimeoutError) as exc:
            return TargetRefused(f"cannot resolve {host}: {type(exc).__name__}", unreachable=True)
        return self._verdict(found)

    def _verdict(self, found: Iterable[str]) -> list[str] | TargetRefused:
        try:
            return self._judge(found)
        except TargetRefused as exc:
            return exc

    def _judge(self, found: Iterable[str]) -> list[str]:
        try:
            return check_targets(found, self.policy)
        except InvalidInput as exc:
            raise TargetRefused(exc.detail) from None

    def forget(self, host: str, port: int) -> None:
        """Drop a remembered answer (the target failed: it may have moved)."""
        self._known.pop((_key(host), port), None)


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver: only the addresses the guard judged."""

    def __init__(self, guard: TargetGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in await self._guard.addresses(host, port)
        ]

    async def close(self) -> None:
        return None


def pinned_session(guard: TargetGuard, *, limit: int = 64) -> aiohttp.ClientSession:
    """An aiohttp session that connects only where the guard allows. No environment
    proxies (a proxy would make the checked address meaningless) and no DNS cache of
    its own (the guard's verdicts are the cache)."""
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit, resolver=PinnedResolver(guard), use_dns_cache=False
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the TCP connect pinned to judged addresses."""

    def __init__(self, guard: TargetGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self._guard.addresses(host, port):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # the next judged address, as a resolver-driven client would
        assert last is not None  # addresses() never returns an empty list
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("unix sockets are not a delivery target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over ``PinnedBackend``; no environment proxies."""

    def __init__(
        self, guard: TargetGuard, *, limits: httpx.Limits, verify: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx takes no network backend; its httpcore pool does. Same settings as httpx
        # would use, only the backend differs (tests/integration/test_ssrf.py proves it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(guard),
        )


def pinned_client(
    guard: TargetGuard, *, limits: httpx.Limits | None = None, verify: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """An httpx client that connects only where the guard allows (no redirects followed).
    ``verify`` replaces the system's trust store (tests with their own certificate)."""
    limits = limits or httpx.Limits(max_connections=64, max_keepalive_connections=32)
    return httpx.AsyncClient(
        transport=PinnedTransport(guard, limits=limits, verify=verify),
        follow_redirects=False,
        trust_env=False,
    )
