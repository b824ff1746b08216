"""The HTTP client webhooks are POSTed with: it connects only to addresses the policy allows,
and to the very address it checked (issue 20 point 2).

Checking a name and then letting the HTTP library resolve it again would leave a window for
DNS rebinding (the first answer public, the second 127.0.0.1). So the check is made where the
connection is: an httpcore network backend resolves the host once, checks every address it
resolves to (one internal address among public ones refuses the name), and opens the TCP
connection to the checked address. The URL keeps the partner's name, so the Host header, the
TLS SNI and the certificate check are the partner's name as usual. No proxy from the
environment is used (it would connect elsewhere than to the checked address).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import httpcore
import httpx

from cowork.notifications.addresses import AddressPolicy, address_allowed

Resolve = Callable[[str, int], Awaitable[list[str]]]


class AddressNotAllowed(httpcore.ConnectError):
    """The host resolves to an address webhooks may not reach (httpx: a ConnectError)."""


# Partners' names are resolved in threads of their own. `getaddrinfo` holds its thread until
# the resolver gives up (tens of seconds for a name whose DNS drops queries), long after the
# attempt's deadline: in the loop's default executor (a handful of threads) a partner's names
# would hold up every other lookup of the process, the SMTP server's and the database's.
_WEBHOOK_DNS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


async def resolve_with_dns(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().run_in_executor(
        _WEBHOOK_DNS, functools.partial(socket.getaddrinfo, host, port,
                                        type=socket.SOCK_STREAM))
    return [str(info[4][0]) for info in infos]


class CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: AddressPolicy, resolve: Resolve) -> None:
        self._policy = policy
        self._resolve = resolve
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        address = await self.checked_address(host, port)
        return await self._backend.connect_tcp(address, port, timeout=timeout,
                                               local_address=local_address,
                                               socket_options=socket_options)

    async def checked_address(self, host: str, port: int) -> str:
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            answers = [str(literal)]
        except ValueError:
            try:
                answers = await self._resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve the host: {exc}") from exc
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in answers]
        if not addresses:
            raise httpcore.ConnectError("the host resolves to no address")
        refused = [a for a in addresses if not address_allowed(a, self._policy)]
        if refused:
            raise AddressNotAllowed(f"the host resolves to {refused[0]}, which webhooks "
                                    "may not reach")
        return str(addresses[0])

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("webhooks do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def guarded_client(policy: AddressPolicy, *, timeout: float,
                   resolve: Resolve = resolve_with_dns) -> httpx.AsyncClient:
    """An httpx client whose connections go only where `policy` allows (see the module)."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    transport._pool = httpcore.AsyncConnectionPool(  # the same pool, with the checked backend
        ssl_context=httpx.create_ssl_context(), max_connections=100,
        max_keepalive_connections=20, keepalive_expiry=5.0,
        network_backend=CheckedBackend(policy, resolve))
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                             trust_env=False)
