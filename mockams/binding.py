"""Binding a Broadcast JSON body the way AMS's Jackson binds it.

AMS rejects a property its class does not have (``anyoneWatching`` included,
so a GET result cannot be posted back), a value of the wrong JSON type and a
null ``streamId``, each with 400 and Jackson's message as plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request

from mockams.broadcasts import BROADCAST_DEFAULTS
from mockams.web import BadBody, raw_body, read_json

__all__ = ["bind_broadcast", "invalid_source"]

_REDACTED = "REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled)"
_JAVA_TYPES = {
    "Broadcast": "io.antmedia.datastore.db.types.Broadcast",
    "BroadcastUpdate": "io.antmedia.datastore.db.types.BroadcastUpdate",
}
_STRUCTURED = {
    "endPointList",
    "playListItemList",
    "encoderSettingsList",
    "hlsParameters",
    "subTrackStreamIds",
}
_SOURCES = (
    "http://",
    "https://",
    "rtmp://",
    "rtmps://",
    "rtsp://",
    "rtsps://",
    "udp://",
    "srt://",
)
_CAMERA_PROTOCOLS = ("http://", "https://", "rtmp://", "rtmps://", "srt://", "rtsp://")
# AMS's IPv4 pattern, or its loopback one for an address of four parts.
_IPV4 = re.compile(
    r"(?:(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])\.){3}"
    r"(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])"
    r"|127(?:\.[0-9]+){3}"
)


def _where(body_text: str, name: str) -> str:
    """Jackson's location suffix for the property ``name``."""
    column = body_text.find(f'"{name}"')
    column = column + len(name) + 3 if column >= 0 else 1

    return f"\n at [Source: {_REDACTED}; line: 1, column: {column}]"


def bind_broadcast(
    request: Request,
    type_name: str,
    properties: Mapping[str, Any] = BROADCAST_DEFAULTS,
) -> dict[str, Any] | None:
    """The body as ``Broadcast`` or ``BroadcastUpdate``; ``None`` if empty or null.

    ``properties`` are those of the imitated release's class, with their
    defaults. Raises :class:`BadBody` with AMS's status and message otherwise.
    """
    if request.mimetype and request.mimetype != "application/json":
        raise BadBody(415, "Unsupported Media Type")
    body = read_json(request)
    if body is None:
        return None
    java_type = _JAVA_TYPES[type_name]
    text = raw_body(request).decode("utf-8", "replace")
    if not isinstance(body, dict):
        kind = "Array" if isinstance(body, list) else type(body).__name__.capitalize()
        raise BadBody(
            400,
            f"Cannot deserialize value of type `{java_type}` from {kind} value"
            f"\n at [Source: {_REDACTED}; line: 1, column: 1]",
        )

    for name, value in body.items():
        if name not in properties or name == "anyoneWatching":
            known = [item for item in properties if item != "anyoneWatching"]
            listed = ", ".join(f'"{item}"' for item in known)
            raise BadBody(
                400,
                f'Unrecognized field "{name}" (class {java_type}), '
                f"not marked as ignorable "
                f"({len(known)} known properties: {listed}]){_where(text, name)} "
                f'(through reference chain: {java_type}["{name}"])',
            )
        _check_type(java_type, name, properties[name], value, text)
    if type_name == "Broadcast" and "streamId" in body and body["streamId"] is None:
        raise BadBody(
            400,
            f"stream id cannot be null{_where(text, 'streamId')} "
            f'(through reference chain: {java_type}["streamId"])',
        )

    return body


def _check_type(java_type: str, name: str, default: Any, value: Any, text: str) -> None:
    if value is None:
        return
    if name == "hlsParameters":
        expected, ok = (
            "io.antmedia.datastore.db.types.Broadcast$HLSParameters",
            isinstance(value, dict),
        )
    elif name in _STRUCTURED:
        expected, ok = "java.util.ArrayList", isinstance(value, list)
    elif isinstance(default, bool):
        expected, ok = "boolean", isinstance(value, bool)
    elif isinstance(default, int | float):
        expected = "double" if isinstance(default, float) else "long"
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        expected = "java.lang.String"
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
    if not ok:
        kind = {dict: "Object", list: "Array", str: "String", bool: "Boolean"}.get(
            type(value), "Number"
        )
        raise BadBody(
            400,
            f"Cannot deserialize value of type `{expected}` from {kind} value"
            f'{_where(text, name)} (through reference chain: {java_type}["{name}"])',
        )


def _camera_address_valid(address: Any) -> bool:
    """AMS's check of an IP camera's address: a stream URL, or an IPv4 host."""
    if not isinstance(address, str):
        return False
    if address.startswith(_CAMERA_PROTOCOLS):
        return True
    host = address.split("@", 1)[-1]
    for end in (":", "/", "?"):
        host = host.split(end, 1)[0]

    return _IPV4.fullmatch(host) is not None


def invalid_source(body: dict[str, Any]) -> str | None:
    """AMS's checks of a create for IP cameras, stream sources and sub-folders."""
    kind = body.get("type")
    if kind == "ipCamera" and not _camera_address_valid(body.get("ipAddr")):
        return "Stream url is not valid. "
    if kind == "streamSource" and not str(body.get("streamUrl") or "").startswith(
        _SOURCES
    ):
        return "Stream url is not valid. "
    if ".." in str(body.get("subFolder") or ""):
        return "Subfolder is not valid. "

    return None
