"""A test may send packets only to 127.0.0.0/8 and ::1.

``loopback_only`` patches the socket layer every client here ends in (``socket.connect``,
``connect_ex``, ``sendto`` and name resolution): a connect to any other address is
recorded and refused *before* the call reaches the kernel, so nothing is sent, and the
test fails at teardown. Addresses a test routes to on purpose (a stubbed resolver's
public answer) go in ``net.blackholed``: connects to them are recorded in ``net.attempts``
and refused the same way, without failing the test.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


def is_loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass
class Net:
    blackholed: set[str] = field(default_factory=set)
    attempts: list[str] = field(default_factory=list)  # connects to blackholed addresses
    violations: list[str] = field(default_factory=list)
    seen: list[str] = field(
        default_factory=list
    )  # every destination checked (proves the patch is in the path)

    def check(self, address: Any, what: str) -> None:
        if not isinstance(address, tuple):  # a unix socket path
            return
        host = str(address[0])
        self.seen.append(host)
        if is_loopback(host):
            return
        if host in self.blackholed:
            self.attempts.append(host)
            raise ConnectionRefusedError(f"test network guard: {host} is blackholed")
        self.violations.append(f"{what} {address!r}")
        raise ConnectionRefusedError(f"test network guard: {what} to {host} refused (not loopback)")


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Net]:
    net = Net()
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            net.check(address, "connect")
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            net.check(address, "connect")
        return connect_ex(self, address)

    def guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            net.check(args[-1], "sendto")
        return sendto(self, data, *args)  # type: ignore[arg-type]

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # A real lookup of a name may query a DNS server off this host: names must come
        # from a stubbed resolver in these tests.
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not is_loopback(name) and name not in net.blackholed and name != "localhost":
            net.violations.append(f"getaddrinfo {name!r}")
            raise socket.gaierror(socket.EAI_NONAME, "test network guard: real name lookups are off")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield net
    assert not net.violations, f"a test tried to reach beyond loopback: {net.violations}"
