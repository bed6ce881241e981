"""Download a share link without letting it reach inside our network (no SSRF).

The host is resolved here (``socket.getaddrinfo``) and refused if *any* of its addresses is
not a public unicast one (private, loopback, link-local and so the metadata server, multicast,
reserved, unspecified, shared 100.64/10, or an IPv6 form embedding one of those). The
connection then goes to that checked address, never to the name again, so a DNS answer that
changes between check and connect (rebinding) cannot move it: urllib3's connection pool is
opened on the IP with ``server_hostname`` (SNI) and ``assert_hostname`` set to the name, so TLS
still verifies the certificate against the name, and the ``Host`` header carries the name.

Redirects are followed by hand and every hop is checked again (scheme, credentials, address).
The body is streamed: a declared ``Content-Length`` over the limit is refused before reading,
and reading stops as soon as the limit is passed. One deadline covers the whole download
(every connect and every read gets only the time that is left), not each read alone.

Errors and logs name the host only: a share link's path and query are often its secret.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

log = logging.getLogger(__name__)

MiB = 1024 * 1024
CHUNK = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({408, 425, 429})
_INTERNAL_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_PARAM_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf';\s*({_PARAM_NAME})\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_EXT_VALUE = re.compile(r"^([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)$")
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")

Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True)
class Fetched:
    url: str  # as asked for
    final_url: str  # after redirects (full: hand it on, do not log it)
    content_type: str | None  # the Content-Type header as sent, parameters included
    filename: str | None  # from Content-Disposition, else the last segment of the URL path
    data: bytes


class LinkRefused(Exception):
    """The link itself is not acceptable (a 4xx for the user; retrying cannot help)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LinkFailed(Exception):
    """The remote end failed: `retryable` for 5xx, timeouts and broken connections."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def address_refusal(address: str) -> str | None:
    """Why we will not connect to this IP address, or None for a public unicast address.

    IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by
    the IPv4 address inside as well.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_refusal(str(ip.ipv4_mapped))
        inner: list[ipaddress.IPv4Address] = []
        if ip in _NAT64:
            inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            inner.append(ip.sixtofour)
        if ip.teredo is not None:
            inner.extend(ip.teredo)
        for embedded in inner:
            reason = address_refusal(str(embedded))
            if reason is not None:
                return reason
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "a shared (CGNAT) address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "an address that is not public"),
    )
    return next((reason for refused, reason in checks if refused), None)


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to, in the resolver's order, without duplicates."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def _size(limit: int) -> str:
    if limit >= MiB:
        return f"{limit / MiB:g} MB"
    if limit >= 1024:
        return f"{limit / 1024:g} KB"
    return f"{limit} bytes"


def _safe_filename(name: str) -> str | None:
    name = _UNSAFE_NAME_CHARS.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or set(name) == {"."}:
        return None
    return name[:255]


def filename_from_disposition(value: str | None) -> str | None:
    """The file name in a Content-Disposition header (RFC 6266): ``filename*`` (RFC 8187,
    e.g. ``UTF-8''%E2%82%AC%20rates.pdf``) before ``filename``; path parts are dropped."""
    if not value:
        return None
    params: dict[str, str] = {}
    _disposition, _, rest = value.partition(";")
    for name, raw in _PARAM.findall(";" + rest):
        text = raw.strip()
        if text.startswith('"') and text.endswith('"') and len(text) >= 2:
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        params.setdefault(name.lower(), text)
    extended = params.get("filename*")
    if extended is not None:
        match = _EXT_VALUE.match(extended)
        if match is not None:
            charset = match.group(1).lower()
            if charset in ("utf-8", "iso-8859-1"):
                try:
                    decoded = unquote(match.group(2), encoding=charset, errors="strict")
                except UnicodeDecodeError:
                    decoded = ""
                if _safe_filename(decoded):
                    return _safe_filename(decoded)
    plain = params.get("filename")
    return _safe_filename(plain) if plain else None


def filename_from_url(url: str) -> str | None:
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segment = path.rsplit("/", 1)[-1]
    return _safe_filename(unquote(segment)) if segment else None


def _where(url: str) -> str:
    """The host of a URL: all an error or a log line may say about it."""
    try:
        return urlsplit(url).hostname or "the link"
    except ValueError:
        return "the link"


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, no brackets
    port: int
    address: str  # the checked IP address we connect to
    request_target: str  # path and query
    host_header: str


class LinkFetcher:
    """Downloads one link at a time; safe to share between threads (no state between calls).

    `allow_hosts` ("host:port") lets tests and the devstack reach local servers, over http
    too; production leaves it empty. `resolver` and `ca_certs` exist for tests (a local name,
    a local certificate authority); by default the system resolver and certifi's roots.
    """

    def __init__(
        self,
        *,
        max_bytes: int = 20 * MiB,
        timeout: float = 30.0,
        max_redirects: int = 5,
        allow_hosts: tuple[str, ...] = (),
        resolver: Resolver | None = None,
        ca_certs: str | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
        self._resolve: Resolver = resolver or resolve
        self._ca_certs = ca_certs

    def __repr__(self) -> str:
        return f"LinkFetcher(max_bytes={self.max_bytes}, timeout={self.timeout})"

    def fetch(self, url: str) -> Fetched:
        """The body behind `url`, following up to `max_redirects` redirects.

        Raises LinkRefused (bad link, forbidden address, too many redirects, too large) or
        LinkFailed (the far end failed; `retryable` says whether trying later may help).
        """
        deadline = time.monotonic() + self.timeout
        current = url
        for redirects in range(self.max_redirects + 1):
            target = self._target(current)
            pool, response = self._open(target, deadline)
            try:
                if response.status in REDIRECTS:
                    location = (response.headers.get("Location") or "").strip()
                    if not location:
                        raise LinkFailed(
                            f"{target.host} answered {response.status} without a Location",
                            retryable=False,
                        )
                    current = urljoin(current, location)
                    continue
                self._check_status(response.status, target)
                data = self._read(response, deadline, target)
            finally:
                response.close()
                pool.close()
            filename = filename_from_disposition(response.headers.get("Content-Disposition"))
            content_type = (response.headers.get("Content-Type") or "").strip() or None
            log.info(
                "link downloaded",
                extra={"fields": {"host": target.host, "bytes": len(data), "redirects": redirects}},
            )
            return Fetched(
                url=url,
                final_url=current,
                content_type=content_type,
                filename=filename or filename_from_url(current) or filename_from_url(url),
                data=data,
            )
        too_many = f"the link redirects more than {self.max_redirects} times"
        raise self._refused(too_many, _where(url))

    # ------------------------------------------------------------------------- checks

    @staticmethod
    def _refused(reason: str, host: str) -> LinkRefused:
        log.warning("link refused", extra={"fields": {"host": host, "reason": reason}})
        return LinkRefused(reason)

    def _allowed(self, host: str, port: int) -> bool:
        return f"{host}:{port}" in self.allow_hosts or f"[{host}]:{port}" in self.allow_hosts

    def _target(self, url: str) -> _Target:
        """Where to connect for `url`, after every check; raises LinkRefused or LinkFailed."""
        try:
            parts = urlsplit(url)
            port_given = parts.port
        except ValueError:
            raise self._refused("this is not a link we can read", _where(url)) from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise self._refused("only https links can be downloaded", _where(url))
        if "@" in parts.netloc:
            raise self._refused("the link must not contain a user name or password", _where(url))
        host = (parts.hostname or "").rstrip(".")
        try:
            host = host.encode("idna").decode("ascii").lower() if host else ""
        except UnicodeError:
            raise self._refused("the link's host name is not valid", _where(url)) from None
        if not host:
            raise self._refused("the link has no host", _where(url))
        literal = _ip_literal(host)
        if literal is None and not _HOST_NAME.match(host):
            raise self._refused("the link's host name is not valid", _where(url))
        port = port_given or (443 if scheme == "https" else 80)
        allowed = self._allowed(host, port)
        if scheme == "http" and not allowed:
            raise self._refused("only https links can be downloaded", _where(url))
        if not allowed and (host in _INTERNAL_HOSTS or host.endswith(".internal")):
            raise self._refused("the link points at an internal address", _where(url))
        addresses = [literal] if literal is not None else self._addresses(host, port)
        if not allowed:
            for address in addresses:
                reason = address_refusal(address)
                if reason is not None:
                    raise self._refused(f"the link points at {reason}", _where(url))
        request_target = parts.path or "/"
        if parts.query:
            request_target += "?" + parts.query
        shown = f"[{host}]" if ":" in host else host
        default_port = 443 if scheme == "https" else 80
        return _Target(
            scheme=scheme,
            host=host,
            port=port,
            address=addresses[0],
            request_target=request_target,
            host_header=shown if port == default_port else f"{shown}:{port}",
        )

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            addresses = [str(a) for a in self._resolve(host, port)]
        except socket.gaierror as exc:
            temporary = exc.errno == socket.EAI_AGAIN
            raise LinkFailed(f"{host} could not be found", retryable=temporary) from None
        except OSError:
            raise LinkFailed(f"{host} could not be found", retryable=True) from None
        if not addresses:
            raise LinkFailed(f"{host} could not be found", retryable=False)
        return addresses

    @staticmethod
    def _check_status(status: int, target: _Target) -> None:
        if 200 <= status < 300:
            return
        if status in (404, 410):
            raise LinkFailed(f"{target.host} has no such file ({status})", retryable=False)
        if status in (401, 403):
            raise LinkFailed(
                f"{target.host} refused access ({status}); is the file shared publicly?",
                retryable=False,
            )
        if status >= 500 or status in RETRYABLE_STATUSES:
            raise LinkFailed(f"{target.host} failed ({status})", retryable=True)
        raise LinkFailed(f"{target.host} answered {status}", retryable=False)

    # ------------------------------------------------------------------------- transfer

    def _remaining(self, deadline: float, target: _Target) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LinkFailed(
                f"the download from {target.host} took longer than {self.timeout:g} s",
                retryable=True,
            )
        return left

    def _open(self, target: _Target, deadline: float) -> tuple[Any, Any]:
        """Send the GET to the checked address; the name goes in SNI, the certificate check
        and the Host header only."""
        import urllib3
        from urllib3.exceptions import HTTPError, SSLError
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        left = self._remaining(deadline, target)
        timeout = urllib3.Timeout(connect=left, read=left)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address,
                target.port,
                timeout=timeout,
                maxsize=1,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs or _default_ca_certs(),
                server_hostname=target.host,
                assert_hostname=target.host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                target.address, target.port, timeout=timeout, maxsize=1, retries=False
            )
        headers = {
            "Host": target.host_header,
            "User-Agent": "sales-agent/1 (voice training download)",
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        }
        try:
            response = pool.urlopen(
                "GET",
                target.request_target,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
                timeout=timeout,
                release_conn=False,
            )
        except SSLError:
            pool.close()
            raise LinkFailed(
                f"{target.host}'s certificate could not be verified", retryable=False
            ) from None
        except Urllib3Timeout:
            pool.close()
            self._remaining(deadline, target)
            raise LinkFailed(f"{target.host} did not answer in time", retryable=True) from None
        except (HTTPError, OSError):
            pool.close()
            raise LinkFailed(f"{target.host} could not be reached", retryable=True) from None
        return pool, response

    def _read(self, response: Any, deadline: float, target: _Target) -> bytes:
        from urllib3.exceptions import HTTPError
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        too_large = f"the file is larger than {_size(self.max_bytes)}"
        declared = (response.headers.get("Content-Length") or "").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._refused(too_large, target.host)
        chunks: list[bytes] = []
        total = 0
        while True:
            left = self._remaining(deadline, target)
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(left)
            try:
                chunk = response.read1(CHUNK)
            except Urllib3Timeout:
                self._remaining(deadline, target)
                raise LinkFailed(f"{target.host} stopped sending", retryable=True) from None
            except (HTTPError, OSError):
                self._remaining(deadline, target)
                broke = f"the download from {target.host} broke off"
                raise LinkFailed(broke, retryable=True) from None
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > self.max_bytes:
                raise self._refused(too_large, target.host)
            chunks.append(chunk)


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def _default_ca_certs() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return str(certifi.where())
