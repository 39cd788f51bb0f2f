"""A recording webhook receiver on 127.0.0.1 that answers 200 to every hook.

``mockams replay`` fires at it when no ``--target`` is given, so a first run
shows real hooks from one command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from mockams.web import listen
from mockams.wire import decode_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ReceivedHook", "RecordingReceiver"]


@dataclass(frozen=True)
class ReceivedHook:
    """One request the receiver got, decoded as a receiver would decode it."""

    method: str
    path: str
    content_type: str
    body: str
    fields: dict[str, Any]
    received_at: float

    @property
    def action(self) -> str:
        return str(self.fields.get("action", ""))

    @property
    def stream_id(self) -> str:
        return str(self.fields.get("id", ""))


class _Silent(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class RecordingReceiver:
    """Answers every request with 200, keeps it, and tells ``on_hook``."""

    def __init__(
        self,
        on_hook: Callable[[ReceivedHook], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.on_hook = on_hook
        self.host = host
        self.port = port
        self.received: list[ReceivedHook] = []
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def start(self) -> RecordingReceiver:
        listener = listen(self.host, self.port)
        try:
            self._server = make_server(
                self.host,
                self.port,
                self._app,
                threaded=True,
                request_handler=_Silent,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server keeps its own duplicate
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="mockams-receiver",
            daemon=True,
        )
        self._thread.start()

        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RecordingReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        request = Request(environ)
        raw = request.get_data()
        mimetype = request.mimetype or ""
        text, fields = decode_body(raw, mimetype)
        hook = ReceivedHook(
            request.method,
            request.full_path.rstrip("?"),
            request.content_type or "",
            text,
            fields,
            time.time(),
        )
        with self._lock:
            self.received.append(hook)
            if self.on_hook is not None:
                self.on_hook(hook)

        return Response("OK", content_type="text/plain")(environ, start_response)
