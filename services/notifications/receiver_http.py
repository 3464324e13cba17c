"""Posting to an integrator's webhook receiver at a bounded cost, only where it may be reached.

What is guaranteed, for every delivery attempt:

- **Only allowed addresses.** The receiver's name is resolved and *every* address it resolves
  to must pass ``ReceiverPolicy`` (domain/receivers.py); the connection is then opened to one
  of those checked addresses, never by resolving the name a second time. This happens inside
  the HTTP client's connection step (``CheckedNetworkBackend``), so a DNS answer that changes
  between a check and the connection (rebinding) cannot slip in; TLS still verifies the
  certificate against the name, and the Host header still carries it. Environment proxies
  are ignored (a proxy would be the peer checked, not the receiver) and redirects are not
  followed.
- **A wall-clock deadline.** Resolution, connection, TLS, sending and reading the answer
  together take at most ``deadline`` seconds, however slowly the receiver trickles bytes.
- **A bounded answer.** Only the status matters; at most ``ANSWER_LIMIT_BYTES`` of the body
  are read (to let a small answer keep the connection alive), then the connection is dropped.
  The HTTP/1.1 parser bounds the status line and headers (h11: 16 KiB).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping
from ipaddress import ip_address

import httpcore
import httpx

from services.notifications.domain.receivers import Address, ReceiverPolicy

ANSWER_LIMIT_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ReceiverRefused(Exception):
    """The receiver's URL or one of its addresses is not allowed; ``reason`` says which rule
    (``https_required``, ``loopback``, ``private``, ``link_local``, ...). Nothing was sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReceiverUnresolvable(Exception):
    """The receiver's name resolves to no address (now)."""


async def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ReceiverUnresolvable(host) from None
    found: list[Address] = []
    for family, *_, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])  # no IPv6 zone index
        if address not in found:
            found.append(address)
    if not found:
        raise ReceiverUnresolvable(host)
    return found


async def checked_addresses(host: str, port: int, policy: ReceiverPolicy) -> list[Address]:
    """The addresses of ``host``, all of them allowed; else ``ReceiverRefused`` naming the rule
    the first refused one breaks (one bad address refuses the name: which one a client
    would pick is not ours to choose)."""
    addresses = await resolve(host, port)
    for address in addresses:
        refusal = policy.address_refusal(address)
        if refusal is not None:
            raise ReceiverRefused(refusal)
    return addresses


async def check_receiver(url: str, policy: ReceiverPolicy) -> None:
    """At registration: the URL's scheme, and every address its host resolves to now."""
    parsed = httpx.URL(url)
    refusal = policy.scheme_refusal(parsed.scheme)
    if refusal is not None:
        raise ReceiverRefused(refusal)
    await checked_addresses(parsed.raw_host.decode("ascii"),
                            parsed.port or _DEFAULT_PORTS[parsed.scheme], policy)


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's connection step, checking the addresses it connects to."""

    def __init__(self, policy: ReceiverPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    # The signatures are httpcore's (hence ``timeout`` parameters).
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await checked_addresses(host, port, self._policy)
        except ReceiverUnresolvable:
            raise httpcore.ConnectError(f"{host} does not resolve") from None
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # every one is allowed: take the first that answers
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise ReceiverRefused("unix_socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request mapping and error types), over the checked backend.

    httpx 0.28 takes no network backend, so its connection pool is replaced by the same pool
    given one; httpx is pinned, and the integration tests prove the check is on that path."""

    def __init__(self, policy: ReceiverPolicy) -> None:
        super().__init__(http2=False)
        assert isinstance(self._pool, httpcore.AsyncConnectionPool)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=100,
            max_keepalive_connections=20, keepalive_expiry=5.0,
            network_backend=CheckedNetworkBackend(policy))


def receiver_client(policy: ReceiverPolicy) -> httpx.AsyncClient:
    """The client that posts to receivers: checked connections, no proxies from the
    environment, no redirects followed."""
    return httpx.AsyncClient(transport=CheckedTransport(policy), trust_env=False,
                             follow_redirects=False, timeout=None)


async def post(client: httpx.AsyncClient, policy: ReceiverPolicy, url: str, *, body: bytes,
               headers: Mapping[str, str], deadline: float) -> int:
    """POST ``body`` to ``url`` and answer the status. Raises ``ReceiverRefused`` before any
    connection if the URL or an address of it is not allowed, ``TimeoutError`` when
    ``deadline`` seconds pass, and httpx's errors when the receiver cannot be reached."""
    refusal = policy.scheme_refusal(httpx.URL(url).scheme)
    if refusal is not None:
        raise ReceiverRefused(refusal)
    async with asyncio.timeout(deadline), \
            client.stream("POST", url, content=body, headers=dict(headers)) as response:
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= ANSWER_LIMIT_BYTES:
                break  # leaving the block drops the connection with the rest unread
        return response.status_code
