"""Posting to a URL given by an admin, safely: public addresses only, time limits, no redirects, capped reads.

The host is resolved once and every address it resolves to must be public (or inside
LEADCAPTURE_WEBHOOK_ALLOW_NETWORKS); the connection then goes to that checked address, with
the host name kept for the Host header and TLS, so a second DNS answer cannot point the
request at the internal network (DNS rebinding).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from leadcapture.settings.parse import IPNetwork

MAX_RESPONSE_BYTES = 64 * 1024  # what is read of a response; the rest is dropped


class Refused(ValueError):
    """The URL may not be posted to: its scheme, its form, or an address it resolves to."""


@dataclass(frozen=True)
class Response:
    """A receiver's answer: its status code and the start of its body."""

    status: int
    body: bytes


def check_url(url: str, *, require_https: bool) -> SplitResult:
    """The URL's parts if it is one we may post to (http(s), a host, no user info); Refused says why not."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise Refused(f"not a URL: {exc}") from exc
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed:
        raise Refused("the URL must start with https://" if require_https else "the URL must be http:// or https://")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL must not carry a user name or password (the payload is signed instead)")
    if parts.fragment:
        raise Refused("the URL must not have a #fragment")
    return parts


def _allowed(address: str, networks: Iterable[IPNetwork]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global or any(ip in network for network in networks)


def resolve(host: str, port: int, networks: Iterable[IPNetwork]) -> str:
    """The address to connect to; Refused if the host does not resolve or resolves to a non-public address."""
    networks = list(networks)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"{host} does not resolve ({exc})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if not _allowed(a, networks)]
    if refused or not addresses:
        raise Refused(
            f"{host} resolves to {', '.join(refused) or 'nothing'}: private, loopback and link-local addresses "
            "are refused unless LEADCAPTURE_WEBHOOK_ALLOW_NETWORKS allows them"
        )
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    networks: Iterable[IPNetwork],
    require_https: bool,
) -> Response:
    """POST body to url; Refused for a URL or address we may not use, OSError/HTTPException on failure.

    Redirects are not followed (a 3xx is an answer like any other); the whole exchange must
    finish within about twice the timeout, however slowly the receiver sends its answer.
    """
    parts = check_url(url, require_https=require_https)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(parts.hostname, port, networks)
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    conn = kind(parts.hostname, port, address, timeout)
    deadline = time.monotonic() + 2 * timeout
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = conn.getresponse()
        data = b""
        while len(data) <= MAX_RESPONSE_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the receiver took longer than {2 * timeout:g}s to answer")
            chunk = response.read1(8192)
            if not chunk:
                break
            data += chunk
        return Response(response.status, data[:MAX_RESPONSE_BYTES])
    finally:
        conn.close()
