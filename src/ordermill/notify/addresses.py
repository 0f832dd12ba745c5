"""Where a webhook may point: the guard against server-side request forgery.

A webhook URL is http or https, names a host without credentials, and the host
must not be, or resolve to, an address of the store's own network: loopback,
private, link-local, unspecified, multicast, reserved or otherwise not global,
IPv4-mapped IPv6 included. The check runs when a webhook is registered or changed
and again before each delivery; the delivery's HTTP connection also checks the
address it actually reached, so a name that resolves differently the second time
(DNS rebinding) still gets nowhere. ``ORDERMILL_WEBHOOK_ALLOW_PRIVATE`` lifts the
address rule (receivers on the store's own network), never the URL's shape.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(Exception):
    """A URL or address a webhook may not use; the message says why."""


def parse(url: str) -> SplitResult:
    """The URL's parts, if its shape is one a webhook may have."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedAddress(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise RefusedAddress("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedAddress(f"the URL is not valid: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedAddress("the URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RefusedAddress("the URL must not carry credentials (user:password@)")
    if not parts.hostname:
        raise RefusedAddress("the URL has no host")
    if port == 0:
        raise RefusedAddress("the URL's port must not be 0")
    return parts


def blocked(address: IPAddress) -> bool:
    """Whether an address belongs to a network a webhook may not reach."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return blocked(address.ipv4_mapped)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or not address.is_global
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedAddress(f"the host {host} does not resolve ({exc})") from None
    found: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0)
        found.append(ipaddress.ip_address(text))
    if not found:
        raise RefusedAddress(f"the host {host} does not resolve")
    return found


def check(url: str, *, allow_private: bool) -> None:
    """Refuse (``RefusedAddress``) a URL a webhook may not use: its shape, its host's
    resolution and, unless ``allow_private``, the addresses it leads to."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if allow_private:
        return
    for address in addresses:
        if blocked(address):
            raise RefusedAddress(
                f"the host {host} leads to {address}, a loopback, private, link-local or"
                " reserved address"
            )


# ---------------------------------------------------------------- the connection


def _check_peer(sock: socket.socket) -> None:
    peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
    if blocked(peer):
        sock.close()
        raise RefusedAddress(f"the connection reached {peer}, a private or reserved address")


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock)
        return sock


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def pool(*, allow_private: bool) -> PoolManager:
    """Connections for deliveries, kept between messages: no proxies from the
    environment, no retries or redirects of its own, and (unless ``allow_private``) only
    to addresses a webhook may reach."""
    manager = PoolManager(retries=False)
    if not allow_private:
        manager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
    return manager
