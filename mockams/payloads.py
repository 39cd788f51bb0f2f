"""The fields of each hook action, as AMS assembles them.

AMS builds every hook but ``liveStreamStatus`` through one routine: ``id`` and
``action`` always, then each other value only when it is not blank, then the
publisher's or player's query parameters on top. Which values an action
passes, and which fields a release knows, are decided here; how the fields
become bytes is :mod:`mockams.wire`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockams.errors import ConfigError, did_you_mean
from mockams.settings import AmsVersion
from mockams.wire import HookValue

__all__ = [
    "ACTIONS",
    "HookDropped",
    "HookInputs",
    "actions_sent_by",
    "build_fields",
    "check_action",
    "inputs_for",
    "status_fields",
]

ACTIONS: dict[str, str] = {
    "liveStreamStarted": "a publisher started; the broadcast is live",
    "liveStreamEnded": "the publisher stopped or timed out, or the stream was deleted",
    "vodReady": "a recording file is finished",
    "liveStreamStatus": "periodic statistics of a live stream",
    "publishTimeoutError": "a publisher registered but media never arrived",
    "encoderNotOpenedError": "the encoder of an adaptive rendition could not open",
    "endpointFailed": "re-streaming to an RTMP endpoint failed",
    "idleTimeIsExpired": "maxIdleTime passed with no new publish",
    "playStarted": "a viewer started playing",
    "playStopped": "a viewer stopped playing",
    "subtrackAddedInTheMainTrack": "a participant joined a room",
    "subtrackLeftTheMainTrack": "a participant left a room",
    "firstActiveTrackAddedInMainTrack": "the first participant of a room became active",
    "noActiveSubtracksLeftInMainTrack": "the last participant left a room",
}


class HookDropped(Exception):
    """AMS fails while building this hook and sends nothing; says why."""


def actions_sent_by(version: str | AmsVersion) -> list[str]:
    """The actions AMS ``version`` sends, sorted: ``liveStreamStatus`` from 2.12."""
    release = version if isinstance(version, AmsVersion) else AmsVersion.parse(version)

    return sorted(
        action
        for action in ACTIONS
        if action != "liveStreamStatus" or release.has_status_hooks
    )


def check_action(action: str) -> str:
    """Return ``action`` if AMS has it, else raise a :class:`ConfigError`."""
    if action not in ACTIONS:
        hint = did_you_mean(action, ACTIONS)
        raise ConfigError(f"unknown action {action!r}{hint}")

    return action


@dataclass
class HookInputs:
    """What AMS hands to its hook routine for one event, before any encoding."""

    stream_id: str
    stream_name: str | None = None
    category: str | None = None
    vod_name: str | None = None
    vod_id: str | None = None
    main_track_id: str | None = None
    metadata: str | None = None
    subscriber_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def _blank(value: object) -> bool:
    return value is None or not str(value).strip()


def _parse_metadata(metadata: str) -> HookValue:
    """AMS sends metadata that parses as a JSON object as an object.

    Metadata that is valid JSON but not an object makes AMS's cast fail and
    the hook is never sent; anything else goes as text.
    """
    try:
        parsed = json.loads(metadata)
    except ValueError:
        return metadata
    if not isinstance(parsed, dict):
        raise HookDropped(
            f"metadata {metadata[:40]!r} is JSON but not an object, "
            "which makes AMS fail before sending"
        )

    return parsed


def build_fields(
    action: str,
    inputs: HookInputs,
    *,
    app: str,
    version: AmsVersion,
    now_ms: int | None = None,
) -> dict[str, HookValue]:
    """The fields AMS puts in a hook, in AMS's insertion order.

    Raises :class:`HookDropped` where AMS fails before sending.
    """
    extended = version.sends_extended_fields
    candidates: list[tuple[str, HookValue]] = [
        ("streamName", inputs.stream_name),
        ("category", inputs.category),
        ("vodName", inputs.vod_name),
        ("vodId", inputs.vod_id),
    ]
    if extended:
        candidates.append(("mainTrackId", inputs.main_track_id))
        # AMS's one hook routine writes roomId beside every mainTrackId, so
        # every action that names the main track names it twice.
        if version.sends_room_id:
            candidates.append(("roomId", inputs.main_track_id))
        candidates.append(("subscriberId", inputs.subscriber_id))
    if version.sends_app:
        candidates.append(("app", app))
    if extended and not _blank(inputs.metadata):
        metadata = inputs.metadata or ""
        as_object = version.metadata_as_object
        candidates.append(
            ("metadata", _parse_metadata(metadata) if as_object else metadata)
        )
    if version.sends_timestamp:
        stamp = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        candidates.append(("timestamp", str(stamp)))
    if extended:
        candidates.extend(inputs.params.items())

    fields: dict[str, HookValue] = {"id": inputs.stream_id, "action": action}
    for name, value in candidates:
        if not _blank(value):
            fields[name] = value

    return fields


def status_fields(
    stream_id: str,
    stream_name: str | None,
    stats: Mapping[str, Any],
    *,
    now_ms: int | None = None,
) -> dict[str, HookValue]:
    """The typed fields of a ``liveStreamStatus`` hook (numbers stay numbers)."""
    return {
        "id": stream_id,
        "action": "liveStreamStatus",
        "width": int(stats.get("width", 1280)),
        "height": int(stats.get("height", 720)),
        "totalByteReceived": int(stats.get("totalByteReceived", 0)),
        "inputQueueSize": int(stats.get("inputQueueSize", 0)),
        "speed": float(stats.get("speed", 1.0)),
        "timestamp": now_ms if now_ms is not None else time.time_ns() // 1_000_000,
        "streamName": stream_name,
        "encodingQueueSize": int(stats.get("encodingQueueSize", 0)),
        "dropFrameCountInEncoding": int(stats.get("dropFrameCountInEncoding", 0)),
        "dropPacketCountInIngestion": int(stats.get("dropPacketCountInIngestion", 0)),
    }


def inputs_for(
    action: str,
    stream_id: str,
    broadcast: Mapping[str, Any] | None,
    *,
    room: Mapping[str, Any] | None = None,
    subscriber_id: str | None = None,
    params: Mapping[str, str] | None = None,
) -> HookInputs:
    """What AMS passes for ``action`` on ``stream_id``, taken from its broadcast.

    ``room`` is the main track for the room actions; ``params`` are the
    publisher's or player's query parameters.
    """
    stored = broadcast or {}
    name = stored.get("name")
    category = stored.get("category")
    metadata = stored.get("metaData")
    main_track = stored.get("mainTrackStreamId")
    query = dict(params or {})
    inputs = HookInputs(stream_id)

    if action in ("liveStreamStarted", "liveStreamEnded"):
        inputs = HookInputs(
            stream_id,
            name,
            category,
            None,
            None,
            main_track,
            metadata,
            subscriber_id,
            query,
        )
    elif action == "encoderNotOpenedError":
        inputs = HookInputs(stream_id, name, category, None, None, main_track, metadata)
    elif action == "publishTimeoutError":
        inputs = HookInputs(stream_id, name, category, main_track_id=main_track)
        inputs.metadata = json.dumps(
            {"subscriberId": subscriber_id}, separators=(",", ":")
        )
    elif action == "endpointFailed":
        inputs = HookInputs(stream_id, name, category, main_track_id=main_track)
        rtmp_url = query.pop("rtmp-url", "rtmp://127.0.0.1/LiveApp/endpoint")
        inputs.metadata = json.dumps({"rtmp-url": rtmp_url}, separators=(",", ":"))
    elif action == "idleTimeIsExpired":
        inputs = HookInputs(stream_id, name, category, main_track_id=main_track)
    elif action in ("playStarted", "playStopped"):
        # AMS passes no subscriber id of its own here: a player's arrives as
        # one of its query parameters.
        if subscriber_id is not None:
            query.setdefault("subscriberId", subscriber_id)
        inputs = HookInputs(stream_id, metadata=metadata, params=query)
    elif action in ("subtrackAddedInTheMainTrack", "subtrackLeftTheMainTrack"):
        inputs = HookInputs(
            stream_id,
            name,
            category,
            main_track_id=main_track,
            subscriber_id=subscriber_id,
        )
    elif action == "firstActiveTrackAddedInMainTrack":
        room_fields = room or {}
        inputs = HookInputs(
            stream_id,
            room_fields.get("name"),
            room_fields.get("category"),
            main_track_id=main_track or room_fields.get("streamId"),
        )
    elif action == "noActiveSubtracksLeftInMainTrack":
        inputs = HookInputs(stream_id, name, category)

    return inputs
