"""Many hook exchanges at once on one event-loop thread.

AMS's worker pool lets a fixed number of hooks be on the wire at once; each
opens its own connection, as :func:`mockams.exchange.post` does. Running those
exchanges as non-blocking sockets on one thread, instead of one blocking
thread each, keeps Python threads from fighting over the interpreter lock:
hooks go out several times faster and the first response byte is seen as soon
as it arrives. Every exchange is judged exactly as ``post`` judges it, with
the same timeouts, redirect rule and error messages. ``https`` URLs, rare
against a local receiver, run the blocking ``post`` on a helper thread.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urljoin, urlsplit

from mockams.exchange import (
    _MAX_HEAD,
    _MAX_REDIRECTS,
    Outcome,
    _Failure,
    _literal_family,
    _parse_head,
    check_hook_url,
    follow,
    post,
)
from mockams.wire import request_head

__all__ = ["Done", "Transport"]

logger = logging.getLogger("mockams")

Done = Callable[[Outcome, float, float], None]
"""Called with the outcome and the wall-clock start and end of the exchange."""

_CONNECT, _SEND, _READ = "connect", "send", "read"
_TIMEOUT_MESSAGES = {
    _CONNECT: "connect timed out after {ms:.0f} ms",
    _SEND: "send timed out: the receiver does not read",
    _READ: "read timed out after {ms:.0f} ms",
}


@dataclass
class _Job:
    url: str
    body: bytes
    content_type: str
    timeout_s: float
    done: Done


@dataclass
class _Exchange:
    """One hook on the wire: its request, socket, state and timings."""

    job: _Job
    outcome: Outcome
    started: float
    sent_at: float
    url: str = ""
    method: str = "POST"
    parts: SplitResult | None = None
    addresses: list[tuple[socket.AddressFamily, tuple[str, int]]] = field(
        default_factory=list
    )
    last_error: str = ""
    sock: socket.socket | None = None
    state: str = _CONNECT
    deadline: float = 0.0
    attempt_started: float = 0.0
    sent: float = 0.0
    request: memoryview = field(default_factory=lambda: memoryview(b""))
    buffer: bytes = b""
    first_byte_at: float = 0.0
    redirects: int = 0


class Transport:
    """Runs up to ``limit`` exchanges at once; queues the rest in order."""

    def __init__(
        self, limit: int, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        self.limit = limit
        self._on_error = on_error
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: deque[_Job] = deque()
        self._running = 0
        self._closed = False
        self._stop = False
        self._sleeping = False
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_read: socket.socket | None = None
        self._wake_write: socket.socket | None = None
        self._helpers: ThreadPoolExecutor | None = None
        self._active: dict[socket.socket, _Exchange] = {}

    def submit(
        self, url: str, body: bytes, content_type: str, timeout_s: float, done: Done
    ) -> None:
        """Queue one exchange; ``done`` is called when it ends, on the loop thread."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the transport is closed")
            if self._thread is None:
                self._start_thread()
            self._queue.append(_Job(url, body, content_type, timeout_s, done))
        self._wake()

    def drop_queued(self) -> int:
        """Forget the exchanges not started yet, without calling them back.

        Returns how many were dropped; those already on the wire go on.
        """
        with self._lock:
            dropped = len(self._queue)
            self._queue.clear()
            self._idle.notify_all()

        return dropped

    def close(self, wait: bool = False) -> None:
        """Stop; with ``wait``, once every queued and running exchange has ended."""
        with self._lock:
            self._closed = True
            if wait:
                while self._queue or self._running:
                    self._idle.wait()
            self._stop = True
            self._queue.clear()
            thread = self._thread
        if self._wake_write is not None:
            self._wake_write.send(b"\0")
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if self._helpers is not None:
            self._helpers.shutdown(wait=wait, cancel_futures=not wait)

    def _start_thread(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._thread = threading.Thread(
            target=self._loop, name="mockams-transport", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        selector = self._selector
        assert selector is not None
        try:
            while True:
                timeout = self._next_timeout()
                if timeout is False:
                    break
                ready = selector.select(timeout)
                with self._lock:
                    self._sleeping = False
                for key, _ in ready:
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._guarded(key.data, self._advance)
                self._expire()
        finally:
            for exchange in list(self._active.values()):
                self._release(exchange)
            selector.close()
            for end in (self._wake_read, self._wake_write):
                if end is not None:
                    end.close()

    def _next_timeout(self) -> float | bool | None:
        """Start what may start; how long to wait, or ``False`` to stop."""
        with self._lock:
            if self._stop:
                return False
            jobs = []
            while self._queue and self._running < self.limit:
                jobs.append(self._queue.popleft())
                self._running += 1
        for job in jobs:
            self._begin(job)
        with self._lock:
            if self._stop:
                return False
            if self._queue and self._running < self.limit:
                return 0.0
            self._sleeping = True
        if not self._active:
            return None

        soonest = min(exchange.deadline for exchange in self._active.values())
        return max(soonest - time.perf_counter(), 0.0)

    def _drain_wake(self) -> None:
        assert self._wake_read is not None
        with contextlib.suppress(BlockingIOError):
            while self._wake_read.recv(4096):
                pass

    def _begin(self, job: _Job) -> None:
        exchange = _Exchange(
            job=job, outcome=Outcome(), started=time.perf_counter(), sent_at=time.time()
        )
        reason, parts = _target(job.url)
        if reason:
            exchange.outcome.error = reason
            self._finish(exchange, timed=False)
        elif parts.scheme == "https":
            self._hand_over(exchange)
        else:
            self._guarded(exchange, lambda ex: self._open(ex, job.url, "POST"))

    def _open(self, exchange: _Exchange, url: str, method: str) -> None:
        """Start the exchange with ``url``: resolve it and connect."""
        parts = _target(url)[1]
        host, port, family = _endpoint(url)
        exchange.url, exchange.method, exchange.parts = url, method, parts
        exchange.buffer, exchange.first_byte_at = b"", 0.0
        exchange.attempt_started = time.perf_counter()
        if family is not None:
            exchange.addresses = [(family, (host, port))]
        else:
            try:
                found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as error:
                raise _Failure(f"cannot connect: {error.strerror or error}") from error
            exchange.addresses = [
                (info[0], (str(info[4][0]), int(info[4][1]))) for info in found
            ]
        self._connect_next(exchange)

    def _connect_next(self, exchange: _Exchange) -> None:
        """Connect to the next address of the host, as ``create_connection`` does."""
        assert self._selector is not None
        while exchange.addresses:
            family, address = exchange.addresses.pop(0)
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code in (0, errno.EINPROGRESS):
                exchange.sock = sock
                exchange.state = _CONNECT
                exchange.deadline = time.perf_counter() + exchange.job.timeout_s
                self._active[sock] = exchange
                self._selector.register(sock, selectors.EVENT_WRITE, exchange)
                return
            sock.close()
            exchange.last_error = _connect_error(code)

        raise _Failure(exchange.last_error or "cannot connect: no address")

    def _advance(self, exchange: _Exchange) -> None:
        """Take the exchange one step on from what its socket is ready for."""
        if exchange.state == _CONNECT:
            self._connected(exchange)
        elif exchange.state == _SEND:
            self._send(exchange)
        else:
            self._read(exchange)

    def _connected(self, exchange: _Exchange) -> None:
        sock = exchange.sock
        assert sock is not None
        assert exchange.parts is not None
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._release(exchange)
            exchange.last_error = _connect_error(code)
            self._connect_next(exchange)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        outcome = exchange.outcome
        if outcome.connect_ms is None:
            outcome.connect_ms = (time.perf_counter() - exchange.attempt_started) * 1000
        payload = exchange.job.body if exchange.method == "POST" else b""
        head = _head(
            exchange.url, exchange.method, len(payload), exchange.job.content_type
        )
        exchange.request = memoryview(head + payload)
        exchange.state = _SEND
        # Timed from the start of the send, as the blocking exchange is.
        exchange.sent = time.perf_counter()
        self._send(exchange)

    def _send(self, exchange: _Exchange) -> None:
        sock = exchange.sock
        assert sock is not None
        assert self._selector is not None
        try:
            written = sock.send(exchange.request)
        except BlockingIOError:
            written = 0
        except OSError as error:
            raise _Failure(f"send failed: {error.strerror or error}") from error
        exchange.request = exchange.request[written:]
        exchange.deadline = time.perf_counter() + exchange.job.timeout_s
        if exchange.request:
            self._selector.modify(sock, selectors.EVENT_WRITE, exchange)
            return
        exchange.state = _READ
        self._selector.modify(sock, selectors.EVENT_READ, exchange)

    def _read(self, exchange: _Exchange) -> None:
        sock = exchange.sock
        assert sock is not None
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError as error:
            raise _Failure("connection reset by the receiver") from error
        except OSError as error:
            raise _Failure(f"read failed: {error.strerror or error}") from error
        if not exchange.first_byte_at:
            exchange.first_byte_at = time.perf_counter()
        if not chunk:
            raise _Failure("connection closed before a complete response")
        exchange.buffer += chunk
        if len(exchange.buffer) > _MAX_HEAD:
            raise _Failure("response head larger than 64 KiB")
        exchange.deadline = time.perf_counter() + exchange.job.timeout_s
        if b"\r\n\r\n" not in exchange.buffer:
            return

        status, headers, rest = _parse_head(exchange.buffer)
        while 100 <= status < 200 and status != 101:
            if b"\r\n\r\n" not in rest:
                exchange.buffer = rest
                return
            status, headers, rest = _parse_head(rest)
        outcome = exchange.outcome
        if outcome.ttfb_ms is None:
            outcome.ttfb_ms = (exchange.first_byte_at - exchange.sent) * 1000
        self._release(exchange)
        if status == 303 and "location" in headers:
            self._redirect(exchange, headers["location"])
            return
        outcome.status = status
        self._finish(exchange)

    def _redirect(self, exchange: _Exchange, location: str) -> None:
        """Follow a 303 with a GET, as AMS's client does."""
        url = urljoin(exchange.url, location)
        reason = check_hook_url(url)
        if reason:
            raise _Failure(f"redirected to an unusable URL: {reason}")
        exchange.outcome.redirected_to = url
        exchange.redirects += 1
        if exchange.redirects > _MAX_REDIRECTS:
            raise _Failure(f"more than {_MAX_REDIRECTS} redirects")
        if urlsplit(url).scheme == "https":
            self._hand_over(exchange, url)
            return
        self._open(exchange, url, "GET")

    def _expire(self) -> None:
        now = time.perf_counter()
        for exchange in [ex for ex in self._active.values() if ex.deadline <= now]:
            self._guarded(exchange, self._time_out)

    def _time_out(self, exchange: _Exchange) -> None:
        state = exchange.state
        message = _TIMEOUT_MESSAGES[state].format(ms=exchange.job.timeout_s * 1000)
        self._release(exchange)
        if state == _CONNECT and exchange.addresses:
            exchange.last_error = message
            self._connect_next(exchange)
            return
        raise _Failure(message)

    def _guarded(self, exchange: _Exchange, step: Callable[[_Exchange], None]) -> None:
        """Run one step; a failure ends the exchange as ``post`` would end it."""
        try:
            step(exchange)
        except _Failure as failure:
            exchange.outcome.error = str(failure)
        except (OSError, ValueError) as error:
            exchange.outcome.error = f"{type(error).__name__}: {error}"
        except BaseException as error:  # the loop must outlive any one exchange
            exchange.outcome.error = f"internal error: {error!r}"
            self._report(error)
        else:
            return
        self._release(exchange)
        self._finish(exchange)

    def _release(self, exchange: _Exchange) -> None:
        sock = exchange.sock
        if sock is None:
            return
        exchange.sock = None
        self._active.pop(sock, None)
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
        sock.close()

    def _hand_over(self, exchange: _Exchange, url: str | None = None) -> None:
        """Run the rest of an ``https`` exchange on a helper thread."""
        with self._lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(self.limit, "mockams-tls")
            helpers = self._helpers

        def blocking() -> None:
            if url is None:
                job = exchange.job
                exchange.outcome = post(
                    job.url, job.body, job.content_type, job.timeout_s
                )
            else:
                _follow(exchange, url)
            self._finish(exchange, timed=url is not None)
            self._wake()

        helpers.submit(blocking)

    def _wake(self) -> None:
        with self._lock:
            wake = self._sleeping
            self._sleeping = False
        if wake and self._wake_write is not None:
            with contextlib.suppress(OSError):
                self._wake_write.send(b"\0")

    def _finish(self, exchange: _Exchange, timed: bool = True) -> None:
        if timed:
            exchange.outcome.elapsed_ms = (
                time.perf_counter() - exchange.started
            ) * 1000
        finished_at = time.time()
        try:
            exchange.job.done(exchange.outcome, exchange.sent_at, finished_at)
        except BaseException as error:  # the caller's own failure, reported
            self._report(error)
        finally:
            with self._lock:
                self._running -= 1
                self._idle.notify_all()

    def _report(self, error: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(error)
        else:
            logger.error("hook exchange failed inside mockams: %r", error)


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> tuple[str | None, SplitResult]:
    """Why ``url`` cannot take hooks (or ``None``), and its parts; worked out once."""
    reason = check_hook_url(url)

    return reason, urlsplit(url) if reason is None else urlsplit("")


@functools.lru_cache(maxsize=1024)
def _endpoint(url: str) -> tuple[str, int, socket.AddressFamily | None]:
    """Host, port and, for an IP literal, its address family; worked out once."""
    parts = _target(url)[1]
    host = parts.hostname or ""

    return host, parts.port or 80, _literal_family(host)


@functools.lru_cache(maxsize=1024)
def _head(url: str, method: str, length: int, content_type: str) -> bytes:
    return request_head(_target(url)[1], method, length, content_type)


def _follow(exchange: _Exchange, url: str) -> None:
    """Go on from a redirect to ``url`` with blocking exchanges (for ``https``)."""
    job = exchange.job
    exchanges = _MAX_REDIRECTS + 1 - exchange.redirects
    follow(
        url,
        "GET",
        job.body,
        job.content_type,
        job.timeout_s,
        exchange.outcome,
        exchanges,
    )


def _connect_error(code: int) -> str:
    if code == errno.ECONNREFUSED:
        return "connection refused"
    if code == errno.ETIMEDOUT:
        return "connect timed out"

    return f"cannot connect: {os.strerror(code)}"
