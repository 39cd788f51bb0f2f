"""The AMS REST API: broadcasts of each application and application settings.

Paths, status codes, messages and JSON shapes follow AMS 3.x:
``/{app}/rest/v2/broadcasts/...``, the REST v1 ``/{app}/rest/broadcast/create``
of the original webhook guide, and ``/rest/v2/applications/settings/{app}``.
Errors that AMS leaves to its Tomcat container come back as Tomcat's HTML page.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from typing import Any

import jwt
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from mockams.binding import bind_broadcast, invalid_source
from mockams.errors import ConfigError, CreateRejected
from mockams.lifecycle import Application, Lifecycle, UnknownAppError
from mockams.web import (
    BadBody,
    http_error_response,
    json_response,
    read_json,
    text_response,
    tomcat_error,
)

__all__ = ["MAX_PAGE", "RestApi", "result"]

logger = logging.getLogger("mockams")

MAX_PAGE = 250
_BROADCASTS = "/<app>/rest/v2/broadcasts"
_SETTINGS = "/rest/v2/applications/settings/<app>"
_SEARCH_BLANKS = re.compile(r"[\n|\r\t]")


class _StreamIdConverter(BaseConverter):
    """A stream id in a path, but none of the names AMS routes elsewhere.

    Jersey picks the most literal path before it looks at the method, so
    ``GET .../broadcasts/create`` is 405, not a read of a stream named ``create``.
    """

    regex = r"(?!(?:create|count|active-live-stream-count)$)[^/]+"


_PAGE = f"{_BROADCASTS}/list/<int(signed=True):offset>/<int(signed=True):size>"
_ONE = f"{_BROADCASTS}/<stream:stream_id>"
# Compiled once: building a werkzeug Map costs milliseconds.
_URL_MAP = Map(
    [
        Rule(f"{_BROADCASTS}/create", endpoint="create", methods=["POST"]),
        Rule(
            "/<app>/rest/broadcast/create",
            endpoint="create_v1",
            methods=["POST"],
        ),
        Rule(_PAGE, endpoint="list", methods=["GET"]),
        Rule(f"{_BROADCASTS}/count", endpoint="count", methods=["GET"]),
        Rule(f"{_BROADCASTS}/count/<search>", endpoint="count", methods=["GET"]),
        Rule(
            f"{_BROADCASTS}/active-live-stream-count",
            endpoint="active",
            methods=["GET"],
        ),
        Rule(_ONE, endpoint="get", methods=["GET"]),
        Rule(_ONE, endpoint="update", methods=["PUT"]),
        Rule(_ONE, endpoint="delete", methods=["DELETE"]),
        Rule(
            _BROADCASTS,
            endpoint="delete_bulk",
            methods=["DELETE"],
            strict_slashes=False,
        ),
        Rule(_SETTINGS, endpoint="get_settings", methods=["GET"]),
        Rule(_SETTINGS, endpoint="set_settings", methods=["POST"]),
    ],
    converters={"stream": _StreamIdConverter},
)


def result(
    success: bool, message: str = "", data_id: str | None = ""
) -> dict[str, Any]:
    """AMS's ``Result`` object."""
    return {"success": success, "message": message, "dataId": data_id, "errorId": 0}


class RestApi:
    """WSGI routes of the AMS REST API over a :class:`Lifecycle`."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.url_map = _URL_MAP
        self._handlers: dict[str, Callable[..., Response]] = {
            "create": self.create,
            "create_v1": self.create_v1,
            "list": self.list,
            "count": self.count,
            "active": self.active,
            "get": self.get,
            "update": self.update,
            "delete": self.delete,
            "delete_bulk": self.delete_bulk,
            "get_settings": self.get_settings,
            "set_settings": self.set_settings,
        }

    def handle(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, matched = adapter.match()
        except HTTPException as error:
            return http_error_response(error)

        args = dict(matched)
        try:
            app = self.lifecycle.app(args.pop("app"))
        except UnknownAppError:
            return tomcat_error(404)
        if not endpoint.endswith("settings"):
            denied = _access_denied(request, app)
            if denied is not None:
                return denied
        try:
            return self._handlers[endpoint](request, app, **args)
        except BadBody as error:
            if error.status == 415:
                return tomcat_error(415)
            return text_response(error.message, error.status)

    # Broadcasts

    def create(self, request: Request, app: Application) -> Response:
        body = bind_broadcast(request, "Broadcast", app.broadcasts.defaults)
        try:
            # AMS checks the stream id before anything else in the request.
            app.broadcasts.new_stream_id((body or {}).get("streamId"))
        except CreateRejected as error:
            return json_response(result(False, error.message), 400)
        auto_start = request.args.get("autoStart", "").lower() == "true"
        if auto_start:
            return self._create_started(app, body)
        rejected = invalid_source(body or {})
        if rejected:
            return json_response(result(False, rejected), 400)
        try:
            broadcast = app.broadcasts.create(body, app.settings.hook_url)
        except CreateRejected as error:
            return json_response(result(False, error.message), 400)

        return json_response(broadcast)

    def _create_started(
        self, app: Application, body: dict[str, Any] | None
    ) -> Response:
        """``autoStart`` applies to IP cameras and stream sources only."""
        if body is None:
            return json_response(result(False, "unexpected parameters received"))
        if body.get("type") not in ("ipCamera", "streamSource"):
            message = "Auto start query needs an IP camera or stream source."
            return json_response(result(False, message))
        try:
            broadcast = app.broadcasts.create(body, app.settings.hook_url)
        except CreateRejected as error:
            return json_response(result(False, error.message), 400)

        return json_response(result(True, "", broadcast["streamId"]))

    def create_v1(self, request: Request, app: Application) -> Response:
        known = app.broadcasts.defaults
        body = dict(bind_broadcast(request, "Broadcast", known) or {})
        body["streamId"] = ""

        return json_response(app.broadcasts.create(body, app.settings.hook_url))

    def get(self, request: Request, app: Application, stream_id: str) -> Response:
        broadcast = app.broadcasts.get(stream_id)
        if broadcast is None:
            # AMS builds this answer with a status and no entity at all.
            return _empty(404)

        return json_response(broadcast)

    def list(
        self, request: Request, app: Application, offset: int, size: int
    ) -> Response:
        search = request.args.get("search")
        items = app.broadcasts.search(search) if search else app.broadcasts.all()
        type_by = request.args.get("type_by")
        if type_by:
            items = [item for item in items if item["type"] == type_by]

        sort_by = request.args.get("sort_by")
        order_by = request.args.get("order_by")
        if sort_by in ("name", "date", "status") and order_by is not None:
            unnamed = any(item["name"] is None for item in items)
            if sort_by == "name" and unnamed and len(items) > 1:
                # AMS lower-cases each name it compares: a broadcast without one
                # fails, unless it is alone and nothing is compared.
                return tomcat_error(500, "java.lang.NullPointerException")
            items.sort(
                key=lambda item: _sort_key(item, sort_by), reverse=order_by == "desc"
            )

        offset = max(offset, 0)
        end = min(offset + min(size, MAX_PAGE), len(items))

        return json_response(items[offset:end] if offset < end else [])

    def count(
        self, request: Request, app: Application, search: str | None = None
    ) -> Response:
        items = app.broadcasts.search(search) if search else app.broadcasts.all()

        return json_response({"number": len(items)})

    def active(self, request: Request, app: Application) -> Response:
        return json_response({"number": app.broadcasts.active_count()})

    def update(self, request: Request, app: Application, stream_id: str) -> Response:
        changes = bind_broadcast(request, "BroadcastUpdate", app.broadcasts.defaults)
        if changes is None:
            return json_response(result(False))
        if app.broadcasts.update(stream_id, changes):
            return json_response(result(True))
        shown = _SEARCH_BLANKS.sub("_", stream_id)

        return json_response(
            result(False, f"Broadcast with streamId: {shown} does not exist")
        )

    def delete(self, request: Request, app: Application, stream_id: str) -> Response:
        _require_json_or_none(request)
        # A Boolean query parameter: absent or blank is null (AMS then deletes
        # subtracks), anything else is Boolean.valueOf, true only for "true".
        flag = request.args.get("deleteSubtracks", "")
        subtracks = not flag.strip() or flag.lower() == "true"
        message = self.lifecycle.delete(app.name, stream_id, subtracks=subtracks)
        if message is None:
            return json_response(result(False))

        return json_response(result(True, message))

    def delete_bulk(self, request: Request, app: Application) -> Response:
        _require_json_or_none(request)
        ids = request.args.get("ids", "")
        if not ids.strip():
            return json_response(result(False, "ids parameter is blank"))
        answer = result(False)
        # Java's split drops trailing empty strings: "a,b," deletes a and b.
        for stream_id in ids.rstrip(",").split(","):
            message = self.lifecycle.delete(app.name, stream_id, subtracks=False)
            answer = result(message is not None, message or "")
            if message is None:
                break

        return json_response(answer)

    # Application settings

    def get_settings(self, request: Request, app: Application) -> Response:
        return json_response({"appName": app.name, **app.settings.to_wire()})

    def set_settings(self, request: Request, app: Application) -> Response:
        _require_json_or_none(request)
        body = read_json(request)
        if not isinstance(body, dict):
            raise BadBody(400, "Settings must be a JSON object")
        try:
            app.settings = app.settings.replaced(body, app.defaults)
        except (ConfigError, TypeError) as error:
            raise BadBody(400, str(error)) from error

        return json_response(result(True))


def _require_json_or_none(request: Request) -> None:
    if request.mimetype and request.mimetype != "application/json":
        raise BadBody(415, "Unsupported Media Type")


def _sort_key(broadcast: dict[str, Any], field: str) -> Any:
    value = broadcast.get(field)
    if field == "date":
        return int(value or 0)
    if field == "name":
        return str(value).lower()

    return str(value or "")


def _access_denied(request: Request, app: Application) -> Response | None:
    """AMS's REST filters: the JWT check runs first, then the IP filter."""
    settings = app.settings
    if settings.jwt_enabled and not _valid_jwt(request, settings.jwt_secret):
        return tomcat_error(403, "Invalid App JWT Token")
    # A WSGI call without REMOTE_ADDR comes from inside this process (a test
    # client), so it counts as a local caller, like one on 127.0.0.1.
    remote = request.remote_addr or "127.0.0.1"
    if settings.ip_filter_enabled and not _allowed(remote, settings.allowed_cidr):
        return tomcat_error(403, "Not allowed IP")

    return None


def _allowed(remote: str | None, cidrs: str) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    for cidr in cidrs.split(","):
        try:
            if address in ipaddress.ip_network(cidr.strip(), strict=False):
                return True
        except ValueError:
            continue

    return False


def _valid_jwt(request: Request, secret: str) -> bool:
    token = request.headers.get("Authorization", "").strip()
    if token[:6].lower() == "bearer":
        token = token[6:].strip()
    if not token or not secret:
        return False
    # HMAC pads a key shorter than its block size with zero bytes, so padding
    # to 32 bytes changes no signature; it keeps PyJWT from warning about the
    # short secrets AMS accepts.
    key = secret.encode("utf-8").ljust(32, b"\0")
    try:
        jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return False

    return True


def _empty(status: int) -> Response:
    """An answer with ``status`` and nothing else: no body, no content type."""
    response = Response(status=status)
    del response.headers["Content-Type"]

    return response
