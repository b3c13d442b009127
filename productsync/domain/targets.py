"""Which network addresses the hub may deliver to (SSRF guard).

A webhook URL is chosen by whoever administers a channel; without a guard it could make
the hub call its own admin ports, a cloud metadata service (169.254.169.254) or other
machines on the private network. The check runs on the *resolved* addresses at delivery
time, because a name can be re-pointed after the channel was created.
"""

from __future__ import annotations

import ipaddress

from productsync.domain.errors import ErrorCode, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: str, *, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """Why ``address`` may not be a delivery target, or None when it may."""
    ip: IPAddress = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback and ip.version == 4 else "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "not a unicast host address"
    if ip.is_private and not allow_private:
        return "private network"
    return None


def check_targets(addresses: list[str], *, allow_loopback: bool = False, allow_private: bool = False) -> None:
    """Every address a name resolves to must be allowed: an attacker needs only one."""
    if not addresses:
        raise InvalidInput("the target host does not resolve", code=ErrorCode.INVALID_INPUT)
    for address in addresses:
        why = refusal(address, allow_loopback=allow_loopback, allow_private=allow_private)
        if why:
            raise InvalidInput(f"delivery to {address} is not allowed: {why}", address=address, reason=why)
