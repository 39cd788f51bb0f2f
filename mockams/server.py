"""``MockAMS``: the mock Ant Media Server, in a thread or as a WSGI app.

::

    with MockAMS(hook_url=receiver_url) as ams:
        ams.create_broadcast(streamId="stream1", name="Demo")
        ams.publish("stream1")
        [started] = ams.wait_for_deliveries(1)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from mockams.control import ControlApi
from mockams.errors import ConfigError, MockAMSError
from mockams.exchange import check_hook_url
from mockams.lifecycle import Application, Lifecycle, new_application
from mockams.payloads import check_action
from mockams.rest import RestApi
from mockams.sender import (
    DEFAULT_WORKERS,
    Delivery,
    DeliveryLog,
    Hook,
    HookSender,
    Scheduler,
)
from mockams.settings import FORM, AmsVersion, AppSettings, content_type_from_name
from mockams.web import listen
from mockams.wire import HookValue

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["DEFAULT_APPS", "DeliveryTimeout", "MockAMS"]

logger = logging.getLogger("mockams")

DEFAULT_APPS = ("LiveApp",)


class DeliveryTimeout(MockAMSError, TimeoutError):
    """Fewer deliveries than awaited arrived in time."""


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own access log: mockams logs each call."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug(message, *args)


class MockAMS:
    """A mock AMS: its REST API, its hook sender and a control API.

    Run it with :meth:`start` (or as a context manager) to serve on
    ``host:port`` in a thread, port 0 picking a free one; or mount
    :meth:`wsgi_app` in any WSGI server or test client.

    Raises :class:`ConfigError` for a ``hook_url`` that is neither empty nor
    an http(s) URL, and for any other value it cannot use.
    """

    def __init__(
        self,
        *,
        apps: Iterable[str] = DEFAULT_APPS,
        host: str = "127.0.0.1",
        port: int = 0,
        hook_url: str = "",
        content_type: str = FORM,
        retry_count: int = 0,
        retry_delay_ms: int = 1000,
        ams_version: str | AmsVersion = "current",
        workers: int = DEFAULT_WORKERS,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.version = (
            ams_version
            if isinstance(ams_version, AmsVersion)
            else AmsVersion.parse(ams_version)
        )
        self.app_names = tuple(dict.fromkeys(apps)) or DEFAULT_APPS
        self.initial_settings = AppSettings(
            hook_url=hook_url,
            content_type=content_type_from_name(content_type),
            retry_count=retry_count,
            retry_delay_ms=retry_delay_ms,
        ).with_changes(**dict(settings or {}))
        problem = self.initial_settings.hook_url and check_hook_url(
            self.initial_settings.hook_url
        )
        if problem:
            raise ConfigError(f"MockAMS(hook_url=...): {problem}")
        self.log = DeliveryLog()
        self.scheduler = Scheduler(on_error=lambda error: self.errors.append(error))
        self.sender = HookSender(
            self.log,
            workers=workers,
            ordered=not self.version.unordered,
            scheduler=self.scheduler,
        )
        self.lifecycle = Lifecycle(
            self._fresh_apps(), self.sender, self.scheduler, self.version
        )
        self.rest = RestApi(self.lifecycle)
        self.control = ControlApi(self.lifecycle, self.log, self.sender, self.reset)
        self.errors: list[BaseException] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _fresh_apps(self) -> dict[str, Application]:
        return {
            name: new_application(name, self.initial_settings, self.host, self.version)
            for name in self.app_names
        }

    # Serving

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise MockAMSError("the server is not running: call start() first")
        host = self.host if ":" not in self.host else f"[{self.host}]"

        return f"http://{host}:{self._server.port}"

    def start(self) -> MockAMS:
        """Serve in a background thread; returns once the port is bound.

        Raises :class:`OSError` when ``host:port`` cannot be listened on.
        """
        if self._server is not None:
            return self
        listener = listen(self.host, self.port)
        try:
            self._server = make_server(
                self.host,
                self.port,
                self.wsgi_app,
                threaded=True,
                request_handler=_QuietHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server keeps its own duplicate
        self.port = self._server.port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="mockams-server",
            daemon=True,
        )
        self._thread.start()
        logger.info(
            "mock AMS listening on %s (apps: %s)", self.url, ", ".join(self.app_names)
        )

        return self

    def stop(self) -> int:
        """Stop serving and sending; return how many deliveries were still pending."""
        pending = self.sender.close(wait=False)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

        return pending

    def __enter__(self) -> MockAMS:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def wsgi_app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """The WSGI application: AMS's REST API and the ``/mockams/`` control API."""
        request = Request(environ)
        started = time.perf_counter()
        try:
            if request.path == "/mockams" or request.path.startswith("/mockams/"):
                response = self.control.handle(request)
            else:
                response = self.rest.handle(request)
        except Exception as error:  # the server must outlive any one request
            self.errors.append(error)
            logger.exception(
                "%s %s failed inside mockams", request.method, request.path
            )
            response = Response("Internal error in mockams", status=500)
        elapsed = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s %s -> %d in %.1f ms",
            request.remote_addr,
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            elapsed,
        )

        return response(environ, start_response)

    # The same operations from Python

    def app(self, name: str = "LiveApp") -> Application:
        return self.lifecycle.app(name)

    def settings(self, app: str = "LiveApp") -> AppSettings:
        return self.lifecycle.app(app).settings

    def configure(self, app: str = "LiveApp", **changes: Any) -> AppSettings:
        """Change settings of ``app``: ``configure(hook_url=..., retry_count=2)``."""
        application = self.lifecycle.app(app)
        if "content_type" in changes:
            changes["content_type"] = content_type_from_name(changes["content_type"])
        application.settings = application.settings.with_changes(**changes)

        return application.settings

    def create_broadcast(self, app: str = "LiveApp", **fields: Any) -> dict[str, Any]:
        """Create a broadcast as ``POST /{app}/rest/v2/broadcasts/create`` does.

        Raises :class:`CreateRejected` where AMS answers 400: a stream id that
        is taken or has a character AMS refuses.
        """
        application = self.lifecycle.app(app)

        return application.broadcasts.create(fields, application.settings.hook_url)

    def broadcast(self, stream_id: str, app: str = "LiveApp") -> dict[str, Any] | None:
        return self.lifecycle.app(app).broadcasts.get(stream_id)

    def publish(
        self,
        stream_id: str,
        app: str = "LiveApp",
        *,
        subscriber_id: str | None = None,
        params: Mapping[str, str] | None = None,
        publish_type: str = "RTMP",
    ) -> dict[str, Any]:
        """A publisher connects to ``stream_id``; sends ``liveStreamStarted``."""
        return self.lifecycle.publish(
            app,
            stream_id,
            subscriber_id=subscriber_id,
            params=params,
            publish_type=publish_type,
        )

    def unpublish(
        self,
        stream_id: str,
        app: str = "LiveApp",
        *,
        record: bool | None = None,
        renditions: Sequence[str | int] = (),
        duration_ms: int | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The publisher stops; sends ``liveStreamEnded`` and ``vodReady`` per file.

        ``liveStreamEnded`` carries the subscriber id and query parameters the
        stream was published with, as AMS keeps them from the connection.
        """
        return self.lifecycle.unpublish(
            app,
            stream_id,
            record=record,
            renditions=renditions,
            duration_ms=duration_ms,
        )

    def delete_broadcast(self, stream_id: str, app: str = "LiveApp") -> bool:
        """Delete as ``DELETE /{app}/rest/v2/broadcasts/{id}`` does."""
        return self.lifecycle.delete(app, stream_id) is not None

    def fire(
        self,
        action: str,
        stream_id: str,
        app: str = "LiveApp",
        *,
        fields: Mapping[str, HookValue] | None = None,
        subscriber_id: str | None = None,
        params: Mapping[str, str] | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> Hook | None:
        """Send any action with the fields AMS gives it, ``fields`` on top."""
        return self.lifecycle.fire(
            app,
            check_action(action),
            stream_id,
            fields=fields,
            subscriber_id=subscriber_id,
            params=params,
            stats=stats,
        )

    def deliveries(
        self, action: str | None = None, stream_id: str | None = None
    ) -> list[Delivery]:
        """Every delivery attempt so far, oldest first."""
        return self.log.select(action, stream_id)

    def wait_for_deliveries(
        self,
        count: int,
        timeout: float = 5.0,
        *,
        action: str | None = None,
        stream_id: str | None = None,
    ) -> list[Delivery]:
        """Wait until ``count`` matching deliveries exist, or raise DeliveryTimeout."""
        complete, found = self.log.wait(count, timeout, action, stream_id)
        if not complete:
            seen = (
                ", ".join(f"{item.action}({item.stream_id})" for item in found)
                or "none"
            )
            raise DeliveryTimeout(
                f"waited {timeout:g} s for {count} deliveries, got {len(found)}: {seen}"
            )

        return found

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no delivery is queued, in flight or waiting to be retried."""
        return self.sender.wait_idle(timeout)

    def clear_deliveries(self) -> int:
        return self.log.clear()

    def reset(self) -> None:
        """Back to a fresh server: settings, broadcasts, deliveries, pending retries."""
        self.sender.reset()
        self.lifecycle.apps = self._fresh_apps()
        self.log.clear()
        self.errors.clear()
        self.sender.errors.clear()
