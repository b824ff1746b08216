"""Where a partner's webhook may go (issue 20 point 2), pure: no I/O.

A webhook URL is chosen by a partner, so without rules the service would POST wherever it is
told: into the cluster's databases and services, the cloud's metadata endpoint, the town's
intranet. The rules:

- outside the local stack only `https`; never credentials in the URL;
- an address is allowed only if it is none of the special-purpose ranges (RFC 6890 and
  successors: loopback, private, link-local, CGNAT, documentation, benchmarking, multicast,
  reserved), also when an IPv6 address embeds an IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo):
  the embedded address is judged as well;
- an operator's allow-list (`NOTIFICATIONS_WEBHOOK_ALLOWED_NETWORKS`) opens the networks it
  names (a partner reached over a private link);
- the local stack (`COWORK_ENV=local`) also allows loopback, so the examples keep working,
  and still refuses everything else above.

The address that counts is the one the name resolves to when delivering, and the connection
is made to that address (webhook_transport.py); a literal address in the URL is refused at
once, at subscription.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = [ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "255.255.255.255/32")]
# ::/96 (IPv4-compatible, deprecated) and ::ffff:0:0:0/96 (IPv4-translated, SIIT) carry an
# IPv4 address too, but no public host is reached that way: refused whatever they embed.
_V6 = [ipaddress.IPv6Network(n) for n in (
    "::/96", "::1/128", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
    "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16",
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8")]
# Transition prefixes whose address carries an IPv4 one: allowed if the IPv4 is.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_LOOPBACK = (ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128"))


@dataclass(frozen=True)
class AddressPolicy:
    local: bool = False  # the local stack: plain http and loopback allowed
    allowed_networks: tuple[Network, ...] = ()

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("http", "https") if self.local else ("https",)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, NAT64, 6to4, Teredo client)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _listed(address: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def _special(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in n for n in _V4) or not address.is_global
    return any(address in n for n in _V6) or not address.is_global or address.is_multicast


def address_allowed(address: IPAddress, policy: AddressPolicy) -> bool:
    """May a webhook connect to this address?"""
    inner = embedded_ipv4(address)
    if inner is not None and not address_allowed(inner, policy):
        return False
    candidates = [address] if inner is None else [address, inner]
    allowed = policy.allowed_networks + (_LOOPBACK if policy.local else ())
    if any(_listed(a, allowed) for a in candidates):
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return True  # the same host as the IPv4 address, which was allowed above
    if inner is not None and (address in _NAT64 or address in _SIX_TO_FOUR):
        return True  # a public IPv4 host reached through a translator or relay
    return not _special(address)


def url_problem(url: str, policy: AddressPolicy) -> str | None:
    """Why a subscription's URL is refused, or None. A name is not resolved here (its address
    is checked at every delivery); a literal address is judged at once."""
    parts = urlsplit(url)
    if parts.scheme not in policy.schemes:
        return "must use https" if not policy.local else "must use http or https"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry credentials (user:password@)"
    host = (parts.hostname or "").strip("[]")
    if not host:
        return "must name a host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address_allowed(address, policy):
        return "points to an address webhooks may not reach (internal or reserved)"
    return None


def without_credentials(url: str) -> str:
    """The URL as shown back: a subscription made before these rules may carry
    `user:password@`, which is never echoed."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
