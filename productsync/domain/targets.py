"""Which network addresses the hub may connect to (SSRF guard).

A channel URL is chosen by whoever administers a channel; without a guard it could make
the hub call its own admin ports, a cloud metadata service (169.254.169.254) or other
machines on the private network. The rule: only globally routable unicast addresses,
unless the operator opted in to loopback or private networks (``TargetPolicy``).

The rule is applied twice. When a channel is created or changed, a URL whose host is an
address literal is judged at once (``url_refusal``: a 422, nothing is sent). At delivery
time every address the name resolves to is judged, and the connection is made to exactly
an address that was judged (see ``productsync.sync.guard``), so re-pointing the name
between the check and the connect (DNS rebinding) gains nothing.

Python's ``is_global`` has holes (3.11 calls ``64:ff9b::7f00:1``, the NAT64 form of
127.0.0.1, global), so addresses that embed an IPv4 address (IPv4-mapped, NAT64, 6to4)
are judged by the address they embed, and a table of special-purpose ranges is checked
before ``is_global``.

Hosts are judged in the form the HTTP clients connect to, not as typed: yarl (aiohttp)
and httpx map a Unicode host through IDNA, so ``１２７．０．０．１`` (full-width) and
``①②⑦.0.0.1`` become the literal 127.0.0.1, which the clients connect to without asking
any resolver. ``client_host`` does the same mapping (NFKC, the ideographic full stops,
IDNA) before anything here decides whether a host is a literal.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from productsync.domain.errors import ErrorCode, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TargetPolicy:
    """What the operator allows beyond the public internet. Default: nothing."""

    allow_loopback: bool = False  # 127.0.0.0/8 and ::1 (tests, a receiver on the same host)
    allow_private: bool = False  # RFC 1918, shared address space 100.64/10, IPv6 unique-local


STRICT = TargetPolicy()

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_PRIVATE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, also Tailscale and the like
# Special-purpose ranges with their own reason; whatever else is not ``is_global`` is refused too.
_SPECIAL: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "'this network' (reaches the hub itself)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation range"),
        ("198.51.100.0/24", "documentation range"),
        ("203.0.113.0/24", "documentation range"),
        ("2001:db8::/32", "documentation range"),
        ("198.18.0.0/15", "benchmarking range"),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("::/96", "IPv4-compatible IPv6 (deprecated)"),
        ("100::/64", "discard-only range"),
        ("2001::/23", "IETF protocol assignments (Teredo, ORCHID)"),
        ("fec0::/10", "site-local (deprecated)"),
    )
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 form leads to, and the form's name."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    return None


def address_refusal(address: str | IPAddress, policy: TargetPolicy = STRICT) -> str | None:
    """Why ``address`` may not be connected to, or None when it may."""
    try:
        ip: IPAddress = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # fe80::1%eth0: the zone only makes sense on a local link
            return "link-local (cloud metadata lives here)"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner, form = embedded
            if form == "IPv4-mapped":  # the kernel connects to the IPv4 address itself
                ip = inner
            else:  # a translator on the way would reach it: only a public one is acceptable
                why = address_refusal(inner, STRICT)
                return f"{form} form of {inner}: {why}" if why else None
    if ip.is_loopback:
        return None if policy.allow_loopback else "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if (
        ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or ip == ipaddress.IPv4Address("255.255.255.255")
    ):
        return "not a unicast host address"
    if any(ip in net for net in _PRIVATE):
        return None if policy.allow_private else "private network"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return None if policy.allow_private else "shared address space (carrier-grade NAT), a private network"
    for net, why in _SPECIAL:
        if ip in net:
            return f"not globally routable: {why}"
    if not ip.is_global:
        return "not globally routable"
    return None


def refusal(address: str, *, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """``address_refusal`` with the policy spelled as flags."""
    return address_refusal(address, TargetPolicy(allow_loopback=allow_loopback, allow_private=allow_private))


def check_targets(addresses: Iterable[str], policy: TargetPolicy = STRICT) -> list[str]:
    """Every address a name resolves to must be allowed (an attacker needs only one);
    returns them, the only addresses that may then be connected to."""
    checked = list(addresses)
    if not checked:
        raise InvalidInput("the target host does not resolve", code=ErrorCode.TARGET_NOT_ALLOWED)
    for address in checked:
        why = address_refusal(address, policy)
        if why:
            raise InvalidInput(
                f"connecting to {address} is not allowed: {why}",
                code=ErrorCode.TARGET_NOT_ALLOWED,
                address=address,
                reason=why,
            )
    return checked


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``127.1``, ``0x7f.0.0.1``, ``2130706433``: numeric forms ``inet_aton`` (and so the
    system resolver) turns into an address although they are not dotted quads."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10) if part.isdigit() else -1)
        except ValueError:
            return None
    if any(v < 0 for v in values):
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


class BadHost(ValueError):
    """A host no HTTP client here would connect to (IDNA cannot encode it)."""


def client_host(host: str) -> str:
    """``host`` as yarl (aiohttp) and httpx connect to it: an IP address in its canonical
    text, or a lower-case ASCII name (IDNA for Unicode, after NFKC and with the ideographic
    full stops as dots). Raises ``BadHost`` for a Unicode name IDNA refuses (an empty or
    over-long label: the clients refuse or mangle those too). ASCII names keep their form
    (only lower-cased) so what was accepted before still is."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare)).lower()
    except ValueError:
        pass
    name = unicodedata.normalize("NFKC", bare)
    if not name.isascii():
        try:  # the stdlib codec maps U+3002, U+FF0E, U+FF61 to dots and runs nameprep
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise BadHost(f"not a valid host name: {exc}") from None
    return name.lower()


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names without any lookup, if it is an address literal
    once written as the clients write it (``client_host``)."""
    try:
        host = client_host(host)
    except BadHost:
        return None  # no client connects to it: not an address either
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _legacy_ipv4(host)


def url_refusal(url: str, policy: TargetPolicy = STRICT) -> str | None:
    """Why a channel URL can be refused before anything is resolved or sent: its host is
    an address literal the policy refuses, or a ``localhost`` name (RFC 6761 keeps those
    on the local host whatever DNS says), both judged as the clients will read the host
    (``client_host``), or a host the clients cannot encode. Other names are judged at
    delivery time."""
    try:
        raw = urlsplit(url).hostname or ""
    except ValueError:
        return "the URL cannot be parsed"
    if not raw:
        return None
    try:
        host = client_host(raw).rstrip(".")
    except BadHost as exc:
        return str(exc)
    if host == "localhost" or host.endswith(".localhost"):
        return None if policy.allow_loopback else "loopback (localhost)"
    ip = literal_address(host)
    return address_refusal(ip, policy) if ip is not None else None


def check_url_target(url: str | None, policy: TargetPolicy = STRICT) -> None:
    """422 (``target-not-allowed``) for a channel URL that names a refused address."""
    if url is None:
        return
    why = url_refusal(url, policy)
    if why:
        raise InvalidInput(
            f"url points at an address the hub may not connect to: {why}",
            code=ErrorCode.TARGET_NOT_ALLOWED,
            field="url",
            reason=why,
        )
