"""The control API under ``/mockams/``: what an encoder or a player would cause.

AMS has no such API. It lets a test or a person publish and stop streams, fire
any hook, and read every delivery attempt. ``GET /mockams/openapi.json``
describes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import resources
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from mockams.errors import ConfigError, StreamStateError
from mockams.lifecycle import Lifecycle, UnknownAppError
from mockams.sender import DeliveryLog, HookSender
from mockams.web import BadBody, http_error_response, json_response, read_json

__all__ = ["MAX_WAIT_S", "ControlApi"]

MAX_WAIT_S = 300.0
_LONG = 2**63
_STREAM = "/mockams/apps/<app>/streams/<stream_id>"


def _error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def _object_body(request: Request) -> dict[str, Any]:
    body = read_json(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadBody(400, "the body must be a JSON object")

    return body


def _optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is int)
    ):
        expected = (
            kind.__name__
            if isinstance(kind, type)
            else " or ".join(k.__name__ for k in kind)
        )
        raise BadBody(400, f"'{name}' must be {expected}, not {value!r}")

    return value


def _string_map(body: dict[str, Any], name: str) -> dict[str, str]:
    value = _optional(body, name, dict) or {}
    if not all(isinstance(item, str | int | float) for item in value.values()):
        raise BadBody(400, f"'{name}' must map names to strings")

    return {str(key): _text(item) for key, item in value.items()}


def _text(value: Any) -> str:
    """A JSON scalar as the text a query parameter would carry."""
    if isinstance(value, bool):
        return "true" if value else "false"

    return str(value)


def _number_map(body: dict[str, Any], name: str) -> dict[str, float]:
    # The statistics become Java longs and doubles in the hook: text, booleans,
    # NaN or a number out of range would make that conversion fail.
    value = _optional(body, name, dict) or {}
    if not all(
        (
            isinstance(item, int)
            and not isinstance(item, bool)
            and -_LONG <= item < _LONG
        )
        or (isinstance(item, float) and math.isfinite(item))
        for item in value.values()
    ):
        raise BadBody(400, f"'{name}' must map names to finite numbers")

    return dict(value)


# Compiled once: building a werkzeug Map costs milliseconds.
_URL_MAP = Map(
    [
        Rule("/mockams/", endpoint="info", methods=["GET"]),
        Rule("/mockams/openapi.json", endpoint="openapi", methods=["GET"]),
        Rule(f"{_STREAM}/publish", endpoint="publish", methods=["POST"]),
        Rule(f"{_STREAM}/unpublish", endpoint="unpublish", methods=["POST"]),
        Rule(f"{_STREAM}/stall", endpoint="stall", methods=["POST"]),
        Rule("/mockams/apps/<app>/hooks", endpoint="fire", methods=["POST"]),
        Rule("/mockams/deliveries", endpoint="deliveries", methods=["GET"]),
        Rule("/mockams/deliveries", endpoint="clear", methods=["DELETE"]),
        Rule("/mockams/deliveries/wait", endpoint="wait", methods=["GET"]),
        Rule("/mockams/reset", endpoint="reset", methods=["POST"]),
    ]
)


class ControlApi:
    """WSGI routes of the control API."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        log: DeliveryLog,
        sender: HookSender,
        reset: Callable[[], None],
    ) -> None:
        self.lifecycle = lifecycle
        self.log = log
        self.sender = sender
        self._reset_server = reset
        self.url_map = _URL_MAP

    def handle(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as error:
            return http_error_response(error)

        handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
        try:
            return handler(request, **args)
        except BadBody as error:
            return _error(error.message, error.status)
        except UnknownAppError as error:
            return _error(str(error), 404)
        except StreamStateError as error:
            return _error(str(error), 409)
        except ConfigError as error:
            return _error(str(error), 400)

    def _info(self, request: Request) -> Response:
        from mockams import __version__

        return json_response(
            {
                "mockams": __version__,
                "ams_version": str(self.lifecycle.version),
                "apps": sorted(self.lifecycle.apps),
                "deliveries": len(self.log),
                "pending": self.sender.pending(),
            }
        )

    def _openapi(self, request: Request) -> Response:
        spec = resources.files("mockams").joinpath("openapi.json").read_text("utf-8")

        return Response(spec, content_type="application/json")

    def _publish(self, request: Request, app: str, stream_id: str) -> Response:
        body = _object_body(request)
        broadcast = self.lifecycle.publish(
            app,
            stream_id,
            subscriber_id=_optional(body, "subscriberId", str),
            params=_string_map(body, "params"),
            publish_type=_optional(body, "publishType", str) or "RTMP",
        )

        return json_response(broadcast)

    def _unpublish(self, request: Request, app: str, stream_id: str) -> Response:
        body = _object_body(request)
        renditions = _optional(body, "renditions", list) or []
        broadcast, vods = self.lifecycle.unpublish(
            app,
            stream_id,
            record=_optional(body, "record", bool),
            renditions=renditions,
            duration_ms=_optional(body, "durationMs", int),
            subscriber_id=_optional(body, "subscriberId", str),
            # Absent, the publisher's own, as given at publish, are sent.
            params=None if body.get("params") is None else _string_map(body, "params"),
        )

        return json_response({"broadcast": broadcast, "vods": vods})

    def _stall(self, request: Request, app: str, stream_id: str) -> Response:
        body = _object_body(request)
        silent_for = _optional(body, "silentForMs", int) or 0
        broadcast = self.lifecycle.app(app).broadcasts.stall(stream_id, silent_for)

        return json_response(broadcast)

    def _fire(self, request: Request, app: str) -> Response:
        body = _object_body(request)
        action = _optional(body, "action", str)
        stream_id = _optional(body, "id", str)
        if not action or not stream_id:
            raise BadBody(400, "'action' and 'id' are required")
        hook = self.lifecycle.fire(
            app,
            action,
            stream_id,
            fields=_optional(body, "fields", dict),
            subscriber_id=_optional(body, "subscriberId", str),
            params=_string_map(body, "params"),
            stats=_number_map(body, "stats"),
        )
        if hook is None:
            return json_response(
                {"queued": False, "reason": "no hook URL, or AMS would not send it"}
            )

        return json_response(
            {
                "queued": True,
                "url": hook.url,
                "content_type": hook.content_type,
                "body": hook.body.decode("utf-8", "replace"),
                "fields": hook.fields,
            }
        )

    def _deliveries(self, request: Request) -> Response:
        found = self.log.select(request.args.get("action"), request.args.get("stream"))

        return json_response([delivery.to_json() for delivery in found])

    def _wait(self, request: Request) -> Response:
        try:
            count = int(request.args.get("count", "1"))
            timeout = float(request.args.get("timeout", "5"))
        except ValueError as error:
            raise BadBody(400, f"count and timeout must be numbers: {error}") from error
        if count < 0 or not 0 <= timeout <= MAX_WAIT_S:
            raise BadBody(
                400, f"count must be 0 or more and timeout 0 to {MAX_WAIT_S:.0f} s"
            )
        complete, found = self.log.wait(
            count, timeout, request.args.get("action"), request.args.get("stream")
        )
        payload = {
            "complete": complete,
            "deliveries": [item.to_json() for item in found],
        }

        return json_response(payload, 200 if complete else 408)

    def _clear(self, request: Request) -> Response:
        return json_response({"cleared": self.log.clear()})

    def _reset(self, request: Request) -> Response:
        self._reset_server()

        return json_response({"reset": True})
