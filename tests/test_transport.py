"""The event-loop transport judges every exchange exactly as ``post`` does."""

from __future__ import annotations

import queue
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from mockams.exchange import Outcome, post
from mockams.settings import FORM
from mockams.transport import Transport

pytestmark = pytest.mark.network

WAIT_S = 10.0
BODY = b"id=stream1&action=liveStreamStarted"
SHORT_TIMEOUT_S = 0.3

Behaviour = Callable[[socket.socket, bytes], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk

    return data


@contextmanager
def raw_server(behaviour: Behaviour) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that hands each request to ``behaviour``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    port = listener.getsockname()[1]
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(WAIT_S)
            held.append(conn)
            behaviour(conn, _read_request(conn))

    thread = threading.Thread(target=serve, name="raw-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        stop.set()
        thread.join(WAIT_S)
        listener.close()
        for conn in held:
            conn.close()


def _answer(raw: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, request: bytes) -> None:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)

    return behaviour


def _hang(conn: socket.socket, request: bytes) -> None:
    """Read the request and never answer."""


def _reset(conn: socket.socket, request: bytes) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _see_other(conn: socket.socket, request: bytes) -> None:
    if request.startswith(b"GET /done"):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    else:
        conn.sendall(b"HTTP/1.1 303 See Other\r\nLocation: /done\r\n\r\n")
    conn.shutdown(socket.SHUT_WR)


def _through(transport: Transport, url: str, timeout_s: float = 2.0) -> Outcome:
    """One exchange through ``transport``, waited for."""
    outcomes: queue.Queue[Outcome] = queue.Queue()
    transport.submit(url, BODY, FORM, timeout_s, lambda o, a, b: outcomes.put(o))

    return outcomes.get(timeout=WAIT_S)


@pytest.fixture
def transport() -> Iterator[Transport]:
    sender = Transport(4)
    yield sender
    sender.close()


@pytest.mark.parametrize(
    "behaviour",
    [
        _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"),
        _answer(b"HTTP/1.1 204 No Content\r\n\r\n"),
        _answer(b"HTTP/1.1 500 Server Error\r\nContent-Length: 0\r\n\r\n"),
        _answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
        _answer(b"HTTP/1.1 301 Moved\r\nLocation: /elsewhere\r\n\r\n"),
        _see_other,
        _answer(b"SSH-2.0-OpenSSH_9.0\r\n\r\n"),
        _answer(b"HTTP/1.1 abc Bad\r\n\r\n"),
        _answer(b"HTTP/1.1 200 OK\r\n"),
        _answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n"),
        _reset,
        _hang,
    ],
    ids=[
        "200",
        "204",
        "500",
        "continue-then-200",
        "301-not-followed",
        "303-followed-with-get",
        "not-http",
        "bad-status",
        "closed-mid-head",
        "head-too-large",
        "reset",
        "hang",
    ],
)
def test_an_exchange_ends_as_the_blocking_post_ends_it(
    transport: Transport, behaviour: Behaviour
) -> None:
    with raw_server(behaviour) as url:
        expected = post(url, BODY, FORM, SHORT_TIMEOUT_S)
        got = _through(transport, url, SHORT_TIMEOUT_S)

    assert (got.status, got.error, got.redirected_to) == (
        expected.status,
        expected.error,
        expected.redirected_to,
    )
    assert got.elapsed_ms >= (got.connect_ms or 0)


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/hooks", "http://", "not a url"],
    ids=["ftp", "no-host", "words"],
)
def test_an_unusable_url_ends_as_the_blocking_post_ends_it(
    transport: Transport, url: str
) -> None:
    assert _through(transport, url).error == post(url, BODY, FORM).error


def test_a_refused_connection_is_said_so_for_a_name_too(transport: Transport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    for host in ("127.0.0.1", "localhost"):
        assert _through(transport, f"http://{host}:{port}/hooks").error == (
            "connection refused"
        )


def test_a_fast_answer_is_timed_from_the_send_to_the_first_byte(
    transport: Transport,
) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(_answer(ok)) as url:
        outcome = _through(transport, url)

    assert outcome.status == 200
    assert outcome.connect_ms is not None
    assert outcome.ttfb_ms is not None
    assert 0 < outcome.ttfb_ms <= outcome.elapsed_ms


def test_no_more_than_the_limit_are_on_the_wire_at_once() -> None:
    open_now = 0
    most = 0
    lock = threading.Lock()
    released = threading.Event()

    def count_then_answer(conn: socket.socket, request: bytes) -> None:
        nonlocal open_now, most
        with lock:
            open_now += 1
            most = max(most, open_now)

        def answer() -> None:
            released.wait(WAIT_S)
            nonlocal open_now
            with lock:
                open_now -= 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=answer).start()

    outcomes: queue.Queue[Outcome] = queue.Queue()
    sender = Transport(3)
    with raw_server(count_then_answer) as url:
        for _ in range(12):
            sender.submit(url, BODY, FORM, WAIT_S, lambda o, a, b: outcomes.put(o))
        with pytest.raises(queue.Empty):
            outcomes.get(timeout=0.3)
        released.set()
        statuses = [outcomes.get(timeout=WAIT_S).status for _ in range(12)]
    sender.close()

    assert statuses == [200] * 12
    assert most == 3


def test_a_failing_callback_is_reported_and_the_loop_goes_on() -> None:
    errors: list[BaseException] = []
    outcomes: queue.Queue[Outcome] = queue.Queue()
    sender = Transport(2, on_error=errors.append)

    def explode(outcome: Outcome, started: float, ended: float) -> None:
        raise RuntimeError("a listener broke")

    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(_answer(ok)) as url:
        sender.submit(url, BODY, FORM, WAIT_S, explode)
        sender.submit(url, BODY, FORM, WAIT_S, lambda o, a, b: outcomes.put(o))
        assert outcomes.get(timeout=WAIT_S).status == 200
    sender.close()

    assert [str(error) for error in errors] == ["a listener broke"]


def test_closing_drops_what_is_queued_and_refuses_more() -> None:
    called: list[Outcome] = []
    sender = Transport(1)
    with raw_server(_hang) as url:
        for _ in range(5):
            sender.submit(url, BODY, FORM, WAIT_S, lambda o, a, b: called.append(o))
        sender.close()

        with pytest.raises(RuntimeError, match="closed"):
            sender.submit(url, BODY, FORM, WAIT_S, lambda o, a, b: None)

    assert called == []


def test_closing_with_wait_lets_every_exchange_end() -> None:
    called: list[Outcome] = []
    sender = Transport(2)
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    with raw_server(_answer(ok)) as url:
        for _ in range(6):
            sender.submit(url, BODY, FORM, WAIT_S, lambda o, a, b: called.append(o))
        sender.close(wait=True)

    assert [outcome.status for outcome in called] == [200] * 6
