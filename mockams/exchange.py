"""One HTTP exchange of a hook, timed and judged as AMS's HTTP client does.

AMS opens a new connection for every hook, waits at most 2 s to connect and at
most 2 s for each read, reads the status line and headers, and closes without
reading the body. A ``303`` is followed with a ``GET``; every other status is
final. Timing is taken on the socket itself, so it measures the receiver:
``ttfb_ms`` runs from handing the whole request (head and body, in one send)
to the kernel until the first response byte arrives. A receiver that is slow
to read its socket is slow by this measure too, as it is to AMS, which waits
for it in the same way.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from mockams.wire import request_head

__all__ = ["TIMEOUT_S", "Outcome", "check_hook_url", "follow", "post"]

TIMEOUT_S = 2.0
_MAX_HEAD = 64 * 1024
_MAX_REDIRECTS = 50


@dataclass
class Outcome:
    """The result of one attempt: a status, or an error, and its timings.

    ``ttfb_ms`` is the receiver's time: from handing the request to the
    kernel to the first byte of the answer. ``elapsed_ms`` is the whole
    attempt, connection and redirects included.
    """

    status: int | None = None
    error: str | None = None
    connect_ms: float | None = None
    ttfb_ms: float | None = None
    elapsed_ms: float = 0.0
    redirected_to: str | None = None


class _Failure(Exception):
    pass


def check_hook_url(url: str) -> str | None:
    """Why ``url`` cannot receive hooks, or ``None`` when it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        return f"hook URL {url!r} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https"):
        return f"hook URL {url!r} is not http or https"
    if not parts.hostname:
        return f"hook URL {url!r} has no host"

    return None


@functools.lru_cache(maxsize=256)
def _literal_family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP literal, or ``None`` for a name to resolve."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None

    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def _open(host: str, port: int, timeout: float) -> socket.socket:
    family = _literal_family(host)
    if family is None:
        return socket.create_connection((host, port), timeout=timeout)
    # An IP literal needs no lookup; skipping it saves a good part of a hook's cost.
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise

    return sock


def _connect(parts: SplitResult, timeout: float) -> socket.socket:
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        sock = _open(parts.hostname or "", port, timeout)
    except TimeoutError as error:
        raise _Failure(f"connect timed out after {timeout * 1000:.0f} ms") from error
    except ConnectionRefusedError as error:
        raise _Failure("connection refused") from error
    except OSError as error:
        raise _Failure(f"cannot connect: {error.strerror or error}") from error

    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if parts.scheme == "https":
        context = ssl.create_default_context()
        try:
            sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        except (OSError, ssl.SSLError) as error:
            sock.close()
            raise _Failure(f"TLS handshake failed: {error}") from error

    return sock


def _read_head(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Read up to the end of the response head; return it and the first byte time."""
    buffer = b""
    first_byte_at = 0.0
    while b"\r\n\r\n" not in buffer:
        try:
            chunk = sock.recv(65536)
        except TimeoutError as error:
            raise _Failure(f"read timed out after {timeout * 1000:.0f} ms") from error
        except ConnectionResetError as error:
            raise _Failure("connection reset by the receiver") from error
        except OSError as error:
            raise _Failure(f"read failed: {error.strerror or error}") from error
        if not first_byte_at:
            first_byte_at = time.perf_counter()
        if not chunk:
            raise _Failure("connection closed before a complete response")
        buffer += chunk
        if len(buffer) > _MAX_HEAD:
            raise _Failure("response head larger than 64 KiB")

    return buffer, first_byte_at


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and what follows the head; 1xx heads are skipped."""
    lines_end = head.index(b"\r\n\r\n")
    lines = head[:lines_end].decode("latin-1").split("\r\n")
    rest = head[lines_end + 4 :]
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise _Failure(f"not an HTTP response: {lines[0][:60]!r}")
    try:
        status = int(status_line[1])
    except ValueError as error:
        raise _Failure(f"not an HTTP status line: {lines[0][:60]!r}") from error

    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()

    return status, headers, rest


def _exchange(
    url: str,
    method: str,
    body: bytes,
    content_type: str,
    timeout: float,
    outcome: Outcome,
) -> tuple[int, dict[str, str]]:
    parts = urlsplit(url)
    started = time.perf_counter()
    sock = _connect(parts, timeout)
    try:
        connected = time.perf_counter()
        if outcome.connect_ms is None:
            outcome.connect_ms = (connected - started) * 1000
        payload = body if method == "POST" else b""
        request = request_head(parts, method, len(payload), content_type) + payload
        # The clock starts as the request is handed to the kernel, not when
        # sendall() returns: this thread may be descheduled after the send
        # while a fast receiver has already answered, which would under-report.
        # A body the kernel cannot buffer makes sendall() wait for the receiver
        # to read; that wait is the receiver's, and counts, as it does for AMS.
        sent = time.perf_counter()
        try:
            sock.sendall(request)
        except TimeoutError as error:
            raise _Failure("send timed out: the receiver does not read") from error
        except OSError as error:
            raise _Failure(f"send failed: {error.strerror or error}") from error

        head, first_byte_at = _read_head(sock, timeout)
        status, headers, rest = _parse_head(head)
        while 100 <= status < 200 and status != 101:
            if b"\r\n\r\n" not in rest:
                more, _ = _read_head(sock, timeout)
                rest += more
            status, headers, rest = _parse_head(rest)
        if outcome.ttfb_ms is None:
            outcome.ttfb_ms = (first_byte_at - sent) * 1000
    finally:
        sock.close()

    return status, headers


def post(
    url: str, body: bytes, content_type: str, timeout: float = TIMEOUT_S
) -> Outcome:
    """POST ``body`` to ``url`` the way AMS does; never raises for a bad receiver."""
    outcome = Outcome()
    started = time.perf_counter()
    reason = check_hook_url(url)
    if reason:
        outcome.error = reason
        return outcome
    follow(url, "POST", body, content_type, timeout, outcome)
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000

    return outcome


def follow(
    url: str,
    method: str,
    body: bytes,
    content_type: str,
    timeout: float,
    outcome: Outcome,
    exchanges: int = _MAX_REDIRECTS + 1,
) -> None:
    """Exchange with ``url``, following a 303 with a GET, ``exchanges`` at most.

    Sets ``outcome.status`` or ``outcome.error``; never raises for a bad receiver.
    """
    try:
        for _ in range(exchanges):
            status, headers = _exchange(
                url, method, body, content_type, timeout, outcome
            )
            if status != 303 or "location" not in headers:
                outcome.status = status
                return
            url = urljoin(url, headers["location"])
            reason = check_hook_url(url)
            if reason:
                raise _Failure(f"redirected to an unusable URL: {reason}")
            outcome.redirected_to = url
            method = "GET"
        raise _Failure(f"more than {_MAX_REDIRECTS} redirects")
    except _Failure as failure:
        outcome.error = str(failure)
    except (OSError, ValueError) as error:
        outcome.error = f"{type(error).__name__}: {error}"
