"""The SSRF guard end to end: names come from a stubbed resolver, servers listen on
127.0.0.1, and ``loopback_only`` refuses (and fails the test on) any connect beyond
loopback before a packet leaves; the public addresses a stub answers are blackholed
there, so "the client connected to the checked address" is observable without sending.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.channels import create_channel as new_channel
from productsync.domain.errors import ErrorCode, InvalidInput
from productsync.domain.projection import ChannelView
from productsync.domain.targets import STRICT, TargetPolicy
from productsync.services import channels
from productsync.services.dispatch import Claimed
from productsync.store.uow import transaction
from productsync.sync import webhook
from productsync.sync.connectors import Connectors, reachable
from productsync.sync.guard import (
    TargetGuard,
    TargetRefused,
    _agreed,
    aiohttp_target,
    httpx_target,
    pinned_client,
    pinned_session,
)
from productsync.sync.pools import OriginPools
from tests.netguard import Net, loopback_only  # noqa: F401 - the fixture
from tests.platforms import FakeWooCommerce
from tests.receiver import Receiver

PUBLIC = "93.184.216.34"  # answered by stubs only; connects to it are blackholed by loopback_only

pytestmark = pytest.mark.usefixtures("loopback_only")


class StubResolver:
    """Answers ``answers`` in turn (the last one from then on) and counts the lookups."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [self.answers[min(len(self.calls), len(self.answers)) - 1]]


def _claimed(url: str, kind: ChannelKind = ChannelKind.WEBHOOK, view: ChannelView | None = None) -> Claimed:
    channel = new_channel(
        NewChannel(name="t", kind=kind, owner_partner_id=None, url=url), now=dt.datetime.now(dt.UTC)
    )
    event_id = uuid.uuid4()
    event = {"id": str(event_id), "type": "productsync.stock.changed", "subject": "SE-1", "data": {}}
    return Claimed(1, channel, ["whsec_" + "A" * 32], event_id, event, dt.datetime.now(dt.UTC), 1, view)


async def _close(session: aiohttp.ClientSession) -> None:
    await session.close()


async def test_the_network_guard_sits_in_every_client_path(loopback_only: Net) -> None:  # noqa: F811
    """The guarantee that nothing leaves loopback holds only if each client's connect
    passes through the patched socket layer: aiohttp, httpx (anyio) and asyncio streams."""
    guard = TargetGuard(TargetPolicy(allow_loopback=True), resolve=StubResolver("127.0.0.1"))
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        async with pinned_session(guard) as session, session.get(f"http://hooks.test:{port}/") as r:
            assert r.status in (404, 501)  # the receiver only takes POST
        assert loopback_only.seen == ["127.0.0.1"]
        async with pinned_client(guard) as client:
            await client.get(f"http://hooks.test:{port}/")
        assert loopback_only.seen == ["127.0.0.1"] * 2
        assert await reachable(guard, f"http://hooks.test:{port}/", timeout=2)
        assert loopback_only.seen == ["127.0.0.1"] * 3


@pytest.mark.parametrize("client_kind", ["aiohttp", "httpx"])
async def test_a_name_rebound_to_loopback_after_the_check_is_never_connected(
    loopback_only: Net,  # noqa: F811
    client_kind: str,
) -> None:
    """Check time: a public address. Connect time: 127.0.0.1. The client connects to the
    checked address or to nothing, never to the loopback server."""
    loopback_only.blackholed.add(PUBLIC)
    with Receiver() as receiver:
        url = f"http://rebind.test:{receiver.server.server_address[1]}/hooks"
        # Within a verdict's lifetime the checked address is the one used: one lookup.
        stub = StubResolver(PUBLIC, "127.0.0.1")
        guard = TargetGuard(STRICT, resolve=stub)
        await guard.addresses("rebind.test", receiver.server.server_address[1])  # the check
        with pytest.raises((aiohttp.ClientConnectorError, httpx.ConnectError)):
            await _get(client_kind, guard, url)
        assert stub.calls == ["rebind.test"] and loopback_only.attempts == [PUBLIC]
        # A client that looks the name up again gets the new answer judged again: refused.
        stub = StubResolver(PUBLIC, "127.0.0.1")
        guard = TargetGuard(STRICT, resolve=stub, ttl=0)
        await guard.addresses("rebind.test", receiver.server.server_address[1])
        with pytest.raises(TargetRefused, match="loopback"):
            await _get(client_kind, guard, url)
        assert stub.calls == ["rebind.test"] * 2
        assert loopback_only.attempts == [PUBLIC]  # nothing connected the second time
    assert receiver.requests == 0


async def _get(client_kind: str, guard: TargetGuard, url: str) -> None:
    if client_kind == "aiohttp":
        async with pinned_session(guard) as session, session.get(url) as r:
            await r.read()
    else:
        async with pinned_client(guard) as client:
            await client.get(url)


async def test_a_webhook_delivery_to_a_rebinding_name_never_reaches_loopback(loopback_only: Net) -> None:  # noqa: F811
    loopback_only.blackholed.add(PUBLIC)
    stub = StubResolver(PUBLIC, "127.0.0.1")
    connectors = Connectors(Settings(webhook_timeout_seconds=2), resolve=stub)
    try:
        with Receiver() as receiver:
            claimed = _claimed(f"http://rebind.test:{receiver.server.server_address[1]}/hooks")
            first = await connectors.send(claimed)  # checked public, connected there (blackholed)
            again = await connectors.send(claimed)  # the failure dropped the verdict: looked up anew
    finally:
        await connectors.aclose()
    assert not first.ok and first.unreachable and loopback_only.attempts == [PUBLIC]
    assert not again.ok and "loopback" in again.error and not again.unreachable
    assert receiver.requests == 0 and stub.calls == ["rebind.test"] * 2


async def test_a_storefront_delivery_to_a_rebinding_name_never_reaches_loopback(loopback_only: Net) -> None:  # noqa: F811
    loopback_only.blackholed.add(PUBLIC)
    stub = StubResolver(PUBLIC, "127.0.0.1")
    connectors = Connectors(Settings(webhook_timeout_seconds=2), resolve=stub)
    view = ChannelView(
        sku="SE-1", external_ids=("7",), available=Decimal(3), credentials={"consumer_key": "k"}
    )
    try:
        with FakeWooCommerce(key="k", secret="") as woo:
            woo.add_product("7")
            port = woo.server.server_address[1]
            claimed = _claimed(f"http://shop.test:{port}", ChannelKind.WOOCOMMERCE, view)
            first = await connectors.send(claimed)
            again = await connectors.send(claimed)
    finally:
        await connectors.aclose()
    assert not first.ok and first.unreachable and loopback_only.attempts == [PUBLIC]
    assert not again.ok and "loopback" in again.error
    assert woo.requests == [] and stub.calls == ["shop.test"] * 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://[64:ff9b::7f00:1]/",
        "http://2130706433/",
        "http://10.0.0.7/",
        "http://localhost:9/",
    ],
)
async def test_literal_internal_targets_are_refused_at_delivery_without_a_lookup_or_connect(
    loopback_only: Net,  # noqa: F811
    url: str,
) -> None:
    stub = StubResolver(PUBLIC)
    connectors = Connectors(Settings(webhook_timeout_seconds=2), resolve=stub)
    try:
        attempt = await connectors.send(_claimed(url))
    finally:
        await connectors.aclose()
    assert not attempt.ok and "not allowed" in attempt.error
    assert stub.calls == [] and loopback_only.seen == []


FULL_WIDTH_LOOPBACK = "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11"  # 127.0.0.1 to yarl
IDEOGRAPHIC_LOOPBACK = "127\u30020\u30020\u30021"  # 127.0.0.1 to yarl and httpx


@pytest.mark.parametrize(
    ("kind", "host", "why"),
    [
        (ChannelKind.WEBHOOK, FULL_WIDTH_LOOPBACK, "loopback"),
        (ChannelKind.WEBHOOK, "\u2460\u2461\u2466.0.0.1", "loopback"),
        (ChannelKind.WEBHOOK, IDEOGRAPHIC_LOOPBACK, "loopback"),
        (ChannelKind.WEBHOOK, "\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3", "loopback"),
        (ChannelKind.WOOCOMMERCE, IDEOGRAPHIC_LOOPBACK, "loopback"),
        (ChannelKind.WOOCOMMERCE, FULL_WIDTH_LOOPBACK, "cannot be used"),  # httpx refuses it
    ],
)
async def test_a_unicode_spelling_of_loopback_is_judged_as_the_client_reads_it(
    loopback_only: Net,  # noqa: F811
    kind: ChannelKind,
    host: str,
    why: str,
) -> None:
    """The resolver would answer a public address for the name as typed; the clients
    connect to the literal 127.0.0.1 it maps to (without asking a resolver). The host is
    judged as the client reads it: refused, nothing looked up, nothing connected."""
    loopback_only.blackholed.add(PUBLIC)
    stub = StubResolver(PUBLIC)
    connectors = Connectors(Settings(webhook_timeout_seconds=2), resolve=stub)
    view = ChannelView(
        sku="SE-1", external_ids=("7",), available=Decimal(3), credentials={"consumer_key": "k"}
    )
    try:
        with Receiver() as receiver, FakeWooCommerce(key="k", secret="") as woo:
            woo.add_product("7")
            port = (receiver if kind is ChannelKind.WEBHOOK else woo).server.server_address[1]
            attempt = await connectors.send(_claimed(f"http://{host}:{port}/hooks", kind, view))
    finally:
        await connectors.aclose()
    assert not attempt.ok and why in (attempt.error or ""), attempt.error
    assert stub.calls == [] and loopback_only.seen == [] and loopback_only.attempts == []
    assert receiver.requests == 0 and woo.requests == []


async def test_a_unicode_name_is_looked_up_as_the_client_sends_it(loopback_only: Net) -> None:  # noqa: F811
    """The guard asks about (and pins) the IDNA name aiohttp connects to, the only one."""
    loopback_only.blackholed.add(PUBLIC)
    stub = StubResolver(PUBLIC)
    connectors = Connectors(Settings(webhook_timeout_seconds=2), resolve=stub)
    try:
        attempt = await connectors.send(_claimed("http://B\u00fccher.example:9/hooks"))
    finally:
        await connectors.aclose()
    assert not attempt.ok and attempt.unreachable  # connected to the judged public address: blackholed
    assert stub.calls == ["xn--bcher-kva.example"] and loopback_only.attempts == [PUBLIC]


def test_urls_the_parsers_read_differently_are_refused_before_any_lookup() -> None:
    # urllib and httpx read evil.example; yarl (aiohttp) refuses the backslash outright.
    with pytest.raises(TargetRefused, match="cannot be used"):
        aiohttp_target("http://127.0.0.1:80\\@evil.example/")
    assert httpx_target("http://127.0.0.1:80\\@evil.example/") == ("evil.example", 80)
    with pytest.raises(TargetRefused, match="would connect to"):
        _agreed("http://a.example/", "127.0.0.1", 80, "aiohttp")
    with pytest.raises(TargetRefused, match="would connect to"):
        _agreed("http://a.example:8080/", "a.example", 80, "httpx")
    assert aiohttp_target(f"http://{FULL_WIDTH_LOOPBACK}:9/") == ("127.0.0.1", 9)
    assert httpx_target("https://B\u00fccher.example/") == ("xn--bcher-kva.example", 443)


# --- TLS: the connection goes to the pinned address, SNI and Host stay the URL's host ---


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[dict[str, object]]:
    """An HTTPS server on 127.0.0.1 for ``shop.test``; records SNI names and Host headers."""
    cert, key = _certificate(tmp_path, "shop.test")
    seen: dict[str, object] = {"sni": [], "host": [], "cafile": str(cert)}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)  # type: ignore[attr-defined, func-returns-value]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("host:"):
                seen["host"].append(line.split(":", 1)[1].strip())  # type: ignore[attr-defined]
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    seen["port"] = server.sockets[0].getsockname()[1]
    async with server:
        yield seen


@pytest.mark.parametrize("client_kind", ["aiohttp", "httpx"])
async def test_the_pinned_connection_keeps_the_names_tls_and_host_header(
    tls_server: dict[str, object],
    loopback_only: Net,  # noqa: F811
    client_kind: str,
) -> None:
    stub = StubResolver("127.0.0.1")
    guard = TargetGuard(TargetPolicy(allow_loopback=True), resolve=stub)
    trust = ssl.create_default_context(cafile=str(tls_server["cafile"]))
    url = f"https://shop.test:{tls_server['port']}/x"
    if client_kind == "aiohttp":
        async with pinned_session(guard) as session, session.get(url, ssl=trust) as r:
            body = await r.text()
    else:
        async with pinned_client(guard, verify=trust) as client:
            body = (await client.get(url)).text
    assert body == "ok"  # the certificate for shop.test verified: the client asked for shop.test
    assert tls_server["sni"] == ["shop.test"]
    assert tls_server["host"] == [f"shop.test:{tls_server['port']}"]
    assert loopback_only.seen == ["127.0.0.1"] and stub.calls == ["shop.test"]


# --- Channel URLs naming refused addresses: a 422 when saved, nothing resolved or sent ---


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000/admin", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://localhost/", "localhost"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.5/", "private"),
        ("http://100.64.0.1/", "shared address space"),
        ("http://192.0.0.8/", "IETF"),
        ("http://198.18.0.1/", "benchmarking"),
        ("http://[fc00::1]/", "private"),
        ("http://[64:ff9b::7f00:1]/", "NAT64"),
        ("http://0.0.0.0:8000/", "unicast"),
        (f"http://{FULL_WIDTH_LOOPBACK}:8000/", "loopback"),
        ("http://\u2460\u2461\u2466.0.0.1/", "loopback"),
        ("http://127.0.0.1./", "loopback"),
        ("http://[::FFFF:7F00:1]/", "loopback"),
        ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "localhost"),
        ("http://b\u00fc..example/", "not a valid host name"),
    ],
)
async def test_a_channel_url_naming_an_internal_address_is_refused_when_created(
    database,  # type: ignore[no-untyped-def]
    world,  # type: ignore[no-untyped-def]
    url: str,
    why: str,
) -> None:
    new = NewChannel(name="x", kind=ChannelKind.WEBHOOK, owner_partner_id=None, url=url)
    before = len(
        await transaction(database, lambda uow: channels.list_channels(uow, world.admin), readonly=True)
    )
    with pytest.raises(InvalidInput) as caught:
        await transaction(database, lambda uow: channels.create_channel(uow, _admin(world), new))
    assert caught.value.code is ErrorCode.TARGET_NOT_ALLOWED and why in caught.value.detail
    assert caught.value.data["field"] == "url"
    after = len(
        await transaction(database, lambda uow: channels.list_channels(uow, world.admin), readonly=True)
    )
    assert after == before


async def test_a_changed_url_is_checked_too_and_the_opt_ins_are_explicit(database, world) -> None:  # type: ignore[no-untyped-def]
    actor = _admin(world)
    new = NewChannel(
        name="x", kind=ChannelKind.WEBHOOK, owner_partner_id=None, url="https://hooks.example/in"
    )
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, actor, new))

    async def change(url: str, targets: TargetPolicy = STRICT):  # type: ignore[no-untyped-def]
        return await transaction(
            database,
            lambda uow: channels.update_channel(
                uow, actor, channel.id, {"url": url}, expected_version=None, targets=targets
            ),
        )

    with pytest.raises(InvalidInput, match="link-local"):
        await change("http://169.254.169.254/")
    with pytest.raises(InvalidInput, match="loopback"):
        await change("http://127.0.0.1:9000/")
    loopback_ok = TargetPolicy(allow_loopback=True)
    assert (await change("http://127.0.0.1:9000/", loopback_ok)).url == "http://127.0.0.1:9000/"
    with pytest.raises(InvalidInput, match="private"):
        await change("http://192.168.1.20/", loopback_ok)
    assert (
        await change("http://192.168.1.20/", TargetPolicy(allow_private=True))
    ).url == "http://192.168.1.20/"
    with pytest.raises(InvalidInput, match="link-local"):  # no opt-in reaches cloud metadata
        await change("http://[fe80::1]/", TargetPolicy(allow_loopback=True, allow_private=True))
    assert ipaddress.ip_address("93.184.216.34").is_global  # names and public literals are fine
    assert (await change(f"http://{PUBLIC}/in")).url == f"http://{PUBLIC}/in"


async def test_pools_close_a_retired_client_once_its_last_user_is_done() -> None:
    closed: list[str] = []

    async def close(client: str) -> None:
        closed.append(client)

    made = iter(["first", "second"])
    pools: OriginPools[str] = OriginPools(lambda: next(made), close)
    async with pools.lease("o") as a, pools.lease("o") as b:
        assert a is b
        pools.retire("o", a)
        async with pools.lease("o") as c:
            assert c.client == "second"
        assert closed == []  # "first" is still in use
    assert closed == ["first"] and pools.retirements == 1
    await pools.aclose()
    assert closed == ["first", "second"]


async def test_a_webhook_send_retires_its_session_after_a_transport_failure(loopback_only: Net) -> None:  # noqa: F811
    guard = TargetGuard(TargetPolicy(allow_loopback=True), resolve=StubResolver("127.0.0.1"))
    sessions: OriginPools[aiohttp.ClientSession] = OriginPools(lambda: pinned_session(guard), _close)
    with Receiver() as receiver:
        receiver.secrets.append("whsec_" + "A" * 32)
        claimed = _claimed(f"http://hooks.test:{receiver.server.server_address[1]}/hooks")
        assert (await webhook.send(sessions, guard, claimed, timeout=2)).ok
    # The receiver is gone (its port closed): the session that knew it is thrown away.
    failed = await webhook.send(sessions, guard, claimed, timeout=2)
    assert not failed.ok and failed.unreachable and sessions.retirements == 1
    await sessions.aclose()
