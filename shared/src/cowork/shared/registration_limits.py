"""Who an anonymous registration is counted against, and the counting (membership's
self-registrations, community's meeting registrations).

Two counters: the e-mail address (so one inbox cannot be flooded with welcome mails, or one
person's address tried over and over) and the client (so one machine cannot register
thousands). Each is kept as a keyed digest, never as the address or the IP itself, and each is
normalised first so the cheap ways round it count as the same thing:
- `Anna.Verdi+x@Example.org` is `anna.verdi@example.org` (a `+tag` reaches the same inbox);
- at Gmail, `a.nna.verdi@googlemail.com` is `annaverdi@gmail.com` (Gmail ignores dots);
- an IPv6 client is its /64 (one customer's allocation: rotating within it is free);
- `::ffff:203.0.113.7` is `203.0.113.7`, and so are its 6to4 (`2002:cb00:7107::/48`, a whole
  /48 for its holder) and Teredo forms.
The client's address is the TCP peer's, or — only when the peer is a configured trusted proxy —
the rightmost address in X-Forwarded-For that is not itself a trusted proxy.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import asyncpg

Networks = Sequence[IPv4Network | IPv6Network]


# Domains whose mailboxes ignore dots in the local part, and the one domain each is.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def address_identity(email: str) -> str:
    """The inbox an address reaches: lower case, without a `+tag` in the local part (and, at
    Gmail, without dots)."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), _DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def _ip_of(written: str) -> IPv4Address | IPv6Address | None:
    """The address in `203.0.113.7`, `203.0.113.7:5555`, `2001:db8::1` or `[2001:db8::1]:443`
    (some proxies write the client's source port too: it is the client's to choose, so never
    part of who the client is)."""
    text = written.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _carried_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 client an IPv6 address stands for: IPv4-mapped, 6to4 or Teredo."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


def client_identity(address: str) -> str:
    """An IPv4 address as itself, an IPv6 one as its /64, one that carries an IPv4 address
    (IPv4-mapped, 6to4, Teredo) as that IPv4."""
    ip = _ip_of(address)
    if ip is None:
        return f"unparsed:{address.strip()}"
    if isinstance(ip, IPv6Address):
        ip = _carried_ipv4(ip) or ip
    if isinstance(ip, IPv4Address):
        return str(ip)
    return str(IPv6Network((int(ip) >> 64 << 64, 64)))


def trusted_networks(cidrs: Sequence[str]) -> list[IPv4Network | IPv6Network]:
    return [ip_network(c, strict=False) for c in cidrs]


def _is_trusted(address: str, networks: Networks) -> bool:
    ip = _ip_of(address)
    if ip is None:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in n for n in networks)


def client_address(peer: str | None, forwarded_for: str | None, networks: Networks) -> str:
    """The client as far as it can be believed: the peer, unless a trusted proxy forwarded
    the request; then the rightmost X-Forwarded-For entry no trusted proxy wrote (what the
    client itself put further left is its own claim)."""
    if peer is None:
        return "unknown"
    if not forwarded_for or not _is_trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def digest(key: bytes, kind: str, identity: str) -> bytes:
    """A keyed digest: the counts table cannot be turned back into addresses or IPs by
    hashing every IPv4 address or a list of e-mails, without the key."""
    return hmac.new(key, f"{kind}\x00{identity}".encode(), hashlib.sha256).digest()


def limit_key(secret: str, purpose: str = "cowork.membership.registration-limits") -> bytes:
    """The digest key derived from a deployment secret (never the secret itself); one per
    service (`purpose`), so one service's counters say nothing about another's."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def client_of(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[str]
              ) -> str:
    """The client of a request: its TCP peer and every X-Forwarded-For line, in order (RFC
    9110 5.3: a proxy that appends its own line leaves the client's forged one first)."""
    return client_address(peer, ", ".join(forwarded_for), trusted_networks(trusted_proxies))


# One row per counter in the service's `registration_limits` table (digest, window_start,
# attempts): a fixed window per counter, a new one once the last has passed.
_COUNT = """
WITH w AS (SELECT * FROM unnest($1::bytea[], $2::interval[]) AS w (digest, span))
INSERT INTO registration_limits AS l (digest, window_start, attempts)
SELECT digest, $3, 1 FROM w ORDER BY digest
ON CONFLICT (digest) DO UPDATE SET
    attempts = CASE WHEN l.window_start <= $3 - (SELECT span FROM w WHERE w.digest = l.digest)
                    THEN 1 ELSE l.attempts + 1 END,
    window_start = CASE WHEN l.window_start <= $3 - (SELECT span FROM w WHERE w.digest = l.digest)
                        THEN $3 ELSE l.window_start END
RETURNING l.digest, l.attempts, l.window_start
"""

async def retry_after(conn: asyncpg.Connection, limits: Mapping[bytes, tuple[int, timedelta]],
                      now: datetime) -> int | None:
    """One more attempt on each counter (digest -> its limit and window): None when every
    counter is within its limit, else the seconds until the last one over it resets. Counters
    are taken in one order, so concurrent attempts never deadlock; the longest window's
    passed rows are deleted on the way."""
    digests = sorted(limits)
    longest = max(window for _, window in limits.values())
    await conn.execute(
        "DELETE FROM registration_limits WHERE digest IN (SELECT digest FROM registration_limits"
        " WHERE window_start <= $1 LIMIT 100)", now - longest)
    counted = await conn.fetch(_COUNT, digests, [limits[d][1] for d in digests], now)
    over: list[timedelta] = [row["window_start"] + limits[row["digest"]][1] - now for row in counted
            if row["attempts"] > limits[row["digest"]][0]]
    if not over:
        return None
    return max(1, math.ceil(max(over).total_seconds()))
