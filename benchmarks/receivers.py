"""Receivers for the benchmarks: nginx when installed, else a small Python one.

Each runs in its own process, so that it never competes with the harness for
the interpreter; all listen on 127.0.0.1 on a free port and stop by
themselves when the benchmark ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NGINX_CONF = textwrap.dedent(
    """
    worker_processes 1;
    daemon off;
    pid {folder}/nginx.pid;
    error_log {folder}/error.log;
    events {{ worker_connections 4096; }}
    http {{
        access_log off;
        client_body_temp_path {folder};
        keepalive_requests 1000000;
        server {{
            listen 127.0.0.1:{port};
            location / {{ return 200 "OK"; }}
        }}
    }}
    """
)

# Answers 200 after DELAY seconds; one thread per connection.
PYTHON_RECEIVER = textwrap.dedent(
    """
    import socket, sys, threading, time
    delay = float(sys.argv[1])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    print(server.getsockname()[1], flush=True)

    def serve(connection):
        with connection:
            buffer = b""
            while True:
                while b"\\r\\n\\r\\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\\r\\n\\r\\n")
                length = 0
                for line in head.split(b"\\r\\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                buffer = buffer[length:]
                started = time.perf_counter()
                if delay:
                    # Sleep, then spin the last 5 ms: a plain sleep overshoots by
                    # milliseconds on a busy machine, and this one must be exact.
                    due = started + delay
                    time.sleep(max(delay - 0.005, 0))
                    while time.perf_counter() < due:
                        pass
                answer = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nOK"
                connection.sendall(answer)

    while True:
        connection, _ = server.accept()
        threading.Thread(target=serve, args=(connection,), daemon=True).start()
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


@contextmanager
def nginx() -> Iterator[str]:
    """nginx answering 200 to everything; the URL of its hook path."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(folder=folder, port=port))
        process = subprocess.Popen(
            [binary, "-p", folder, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(port)
            yield f"http://127.0.0.1:{port}/hooks"
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def python_receiver(delay_s: float = 0.0) -> Iterator[str]:
    """A Python receiver answering 200 after ``delay_s``; the URL of its hook path."""
    process = subprocess.Popen(
        [sys.executable, "-c", PYTHON_RECEIVER, str(delay_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int((process.stdout.readline() if process.stdout else "").strip())
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def has_nginx() -> bool:
    return bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists())


@contextmanager
def fast_receiver() -> Iterator[tuple[str, str]]:
    """The fastest receiver available: (name, url)."""
    if has_nginx():
        with nginx() as url:
            yield "nginx", url
    else:
        with python_receiver() as url:
            yield "python", url
