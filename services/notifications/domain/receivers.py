"""Which webhook receivers Songji may post to: the rule, without any I/O.

A webhook URL is chosen by whoever registers it, and Songji then connects to it from inside
the county's network. Left open, that makes the delivery log a scanner of that network (and
of the cloud metadata service at 169.254.169.254). So a receiver must be reached over https,
at an address on the public internet: every address its name resolves to is checked, at
registration and again before every connection (``services/notifications/receiver_http.py``).

``allow_local`` (``SONGJI_WEBHOOK_ALLOW_LOCAL``) is for local runs and tests only: it allows
plain http and loopback addresses (a receiver on the same machine), nothing else. Private,
link-local, multicast and reserved addresses stay refused in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network

Address = IPv4Address | IPv6Address

# NAT64 (RFC 6052): a gateway translates these to the IPv4 address in their last 32 bits.
_NAT64 = IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class ReceiverPolicy:
    allow_local: bool = False

    def scheme_refusal(self, scheme: str) -> str | None:
        """Why a URL with this scheme may not be a receiver, or None."""
        if scheme == "https" or (scheme == "http" and self.allow_local):
            return None
        return "https_required"

    def address_refusal(self, address: Address) -> str | None:
        """Why Songji may not connect to ``address``, or None. An IPv6 address that stands
        for an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that one as well."""
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            return self.address_refusal(address.ipv4_mapped)
        refusal = self._own_refusal(address)
        if refusal is not None:
            return refusal
        for embedded in _embedded_ipv4(address):
            refusal = self._own_refusal(embedded)
            if refusal is not None:
                return refusal
        return None

    def _own_refusal(self, address: Address) -> str | None:
        if address.is_loopback:
            return None if self.allow_local else "loopback"
        if address.is_unspecified:
            return "unspecified"
        if address.is_link_local:
            return "link_local"
        if address.is_multicast:
            return "multicast"
        if address.is_private:
            return "private"
        if address.is_reserved:
            return "reserved"
        if not address.is_global:  # shared (100.64/10), documentation, benchmarking, ...
            return "not_global"
        return None


def _embedded_ipv4(address: Address) -> list[IPv4Address]:
    if not isinstance(address, IPv6Address):
        return []
    found: list[IPv4Address] = []
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.append(address.teredo[1])
    if address in _NAT64:
        found.append(IPv4Address(int(address) & 0xFFFF_FFFF))
    return found
