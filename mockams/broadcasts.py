"""The broadcast store of one application, with AMS's rules.

Broadcasts are kept as the JSON objects AMS serialises: every property of its
``Broadcast`` class, nulls included, in declaration order. That class changed
over releases, so the property list follows the AMS version imitated. The
store is safe to use from many threads at once; each call is atomic.
"""

from __future__ import annotations

import itertools
import random
import re
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mockams.errors import ConfigError, CreateRejected, StreamStateError
from mockams.settings import CURRENT_VERSION, AmsVersion

__all__ = [
    "BROADCAST_DEFAULTS",
    "STALE_AFTER_MS",
    "BroadcastStore",
    "CreateRejected",
    "Publisher",
    "broadcast_defaults",
    "is_valid_stream_id",
]

# Every property AMS's Broadcast class has had since 2.10, in the order AMS
# writes them, with its default.
_ALL_PROPERTIES: dict[str, Any] = {
    "streamId": None,
    "status": None,
    "playListStatus": None,
    "type": "liveStream",
    "publishType": None,
    "name": None,
    "description": None,
    "publish": True,
    "date": 0,
    "plannedStartDate": 0,
    "plannedEndDate": 0,
    "duration": 0,
    "endPointList": None,
    "playListItemList": None,
    "publicStream": True,
    "is360": False,
    "listenerHookURL": None,
    "category": None,
    "ipAddr": None,
    "username": None,
    "password": None,
    "quality": None,
    "speed": 0.0,
    "streamUrl": None,
    "originAdress": None,
    "mp4Enabled": 0,
    "webMEnabled": 0,
    "seekTimeInMs": 0,
    "conferenceMode": None,
    "subtracksLimit": -1,
    "expireDurationMS": 0,
    "rtmpURL": None,
    "zombi": False,
    "pendingPacketSize": 0,
    "hlsViewerCount": 0,
    "dashViewerCount": 0,
    "webRTCViewerCount": 0,
    "rtmpViewerCount": 0,
    "startTime": 0,
    "receivedBytes": 0,
    "bitrate": 0,
    "width": 0,
    "height": 0,
    "encoderQueueSize": 0,
    "dropPacketCountInIngestion": 0,
    "dropFrameCountInEncoding": 0,
    "packetLostRatio": 0.0,
    "packetsLost": 0,
    "jitterMs": 0,
    "rttMs": 0,
    "userAgent": "N/A",
    "remoteIp": None,
    "latitude": None,
    "longitude": None,
    "altitude": None,
    "mainTrackStreamId": None,
    "subTrackStreamIds": [],
    "absoluteStartTimeMs": 0,
    "webRTCViewerLimit": -1,
    "hlsViewerLimit": -1,
    "dashViewerLimit": -1,
    "subFolder": None,
    "currentPlayIndex": 0,
    "metaData": None,
    "playlistLoopEnabled": True,
    "updateTime": 0,
    "role": None,
    "hlsParameters": None,
    "autoStartStopEnabled": False,
    "encoderSettingsList": None,
    "virtual": False,
    "maxIdleTime": 0,
    "anyoneWatching": False,
}
_PUBLISHER_STATS = (
    "width",
    "height",
    "encoderQueueSize",
    "dropPacketCountInIngestion",
    "dropFrameCountInEncoding",
    "packetLostRatio",
    "packetsLost",
    "jitterMs",
    "rttMs",
    "remoteIp",
    "virtual",
)
# The release that added a property, and the one that removed it, for those
# that were not there all along. Releases before 2.10 get 2.10's list.
_SINCE: dict[str, tuple[int, int, int]] = {
    "role": (2, 10, 1),
    **dict.fromkeys(_PUBLISHER_STATS, (2, 13, 0)),
    "maxIdleTime": (2, 15, 0),
}
_UNTIL: dict[str, tuple[int, int, int]] = {
    "conferenceMode": (3, 0, 0),
    "subTrackStreamIds": (3, 0, 0),
}


def broadcast_defaults(version: AmsVersion) -> dict[str, Any]:
    """The properties of a Broadcast of AMS ``version`` and their defaults.

    From 2.13 a broadcast carries its publisher's statistics (``width``,
    ``jitterMs``...), from 2.15 ``maxIdleTime``; 3.0 dropped ``conferenceMode``
    and ``subTrackStreamIds``.
    """
    return {
        name: default
        for name, default in _ALL_PROPERTIES.items()
        if version.parts >= _SINCE.get(name, (0, 0, 0))
        and version.parts < _UNTIL.get(name, (99, 0, 0))
    }


BROADCAST_DEFAULTS = broadcast_defaults(CURRENT_VERSION)

# Properties the server computes; a request cannot set them.
_COMPUTED = {"anyoneWatching"}
# Properties an update (AMS's BroadcastUpdate) silently leaves alone.
_NOT_UPDATED = {
    "streamId",
    "type",
    "category",
    "publishType",
    "publish",
    "date",
    "publicStream",
    "is360",
    "mp4Enabled",
    "webMEnabled",
    "expireDurationMS",
    "rtmpURL",
    "zombi",
    "rtmpViewerCount",
    "hlsParameters",
    "anyoneWatching",
}
_SEARCH_BLANKS = re.compile(r"[\n|\r\t]")
_VIEWER_COUNTS = (
    "hlsViewerCount",
    "dashViewerCount",
    "webRTCViewerCount",
    "rtmpViewerCount",
)

STALE_AFTER_MS = 20_000
# ASCII only: Java's CASE_INSENSITIVE folds ASCII letters, while Python's
# would also let the Kelvin sign or a dotless i pass as a letter.
_ID_CHARACTERS = re.compile(r"[^a-z0-9\-_.]", re.IGNORECASE | re.ASCII)
# Java's String.trim() drops every character up to U+0020, and only those.
_JAVA_TRIMMED = "".join(map(chr, range(0x21)))
_ALPHANUMERIC = string.ascii_letters + string.digits
_nano_counter = itertools.count(time.monotonic_ns())


@dataclass(frozen=True)
class Publisher:
    """What AMS keeps of a live stream's publisher: its subscriber id and query."""

    subscriber_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)


def is_valid_stream_id(stream_id: str) -> bool:
    """AMS accepts letters, digits, ``-``, ``_`` and ``.`` in a stream id."""
    return not _ID_CHARACTERS.search(stream_id)


def _java_order(text: str) -> bytes:
    """Sort key of ``String.compareTo``: UTF-16 code units."""
    return text.encode("utf-16-be", "surrogatepass")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def generate_stream_id() -> str:
    """16 random alphanumerics then a nanosecond counter, as AMS makes them."""
    prefix = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(16))
    return f"{prefix}{next(_nano_counter)}"


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON data, several times faster than ``copy.deepcopy``.

    Every read copies a whole broadcast, so this is on the REST API's hot path.
    """
    kind = type(value)
    if kind is dict:
        return {
            name: item if type(item) in _ATOMS else _copy_json(item)
            for name, item in value.items()
        }
    if kind is list:
        return [_copy_json(item) for item in value]

    return value


_ATOMS = {str, int, float, bool, type(None)}


def _as_read(
    broadcast: dict[str, Any], now_ms: int, publishing: bool = False
) -> dict[str, Any]:
    """A copy as a read returns it.

    A connected publisher keeps ``updateTime`` fresh. A stream stored as live
    that has not reported for 20 s reads as ``terminated_unexpectedly``.
    """
    if publishing:
        broadcast["updateTime"] = now_ms
    shown: dict[str, Any] = _copy_json(broadcast)
    shown["anyoneWatching"] = any(shown[name] != 0 for name in _VIEWER_COUNTS)
    stale = now_ms - int(shown["updateTime"] or 0) >= STALE_AFTER_MS
    live = shown["status"] in ("broadcasting", "preparing")
    if live and stale and not shown.get("virtual"):
        shown["status"] = "terminated_unexpectedly"

    return shown


class BroadcastStore:
    """The broadcasts and recordings of one application."""

    def __init__(
        self,
        app: str,
        host: str = "127.0.0.1",
        version: AmsVersion = CURRENT_VERSION,
    ) -> None:
        self.app = app
        self.host = host
        self.defaults = broadcast_defaults(version)
        self._broadcasts: dict[str, dict[str, Any]] = {}
        self._vods: list[dict[str, Any]] = []
        self._files: set[str] = set()
        # Streams whose publisher is connected and reporting.
        self._publishing: set[str] = set()
        # Who published each stream stored as live, kept until it ends.
        self._publishers: dict[str, Publisher] = {}
        self._lock = threading.RLock()

    def create(
        self, request: Mapping[str, Any] | None, hook_url: str
    ) -> dict[str, Any]:
        """Store a broadcast as AMS's create does and return it.

        Raises :class:`CreateRejected` with AMS's message for a taken or
        invalid stream id. ``hook_url`` is the application's at this moment.
        """
        fields = _copy_json(self.defaults)
        for name, value in (request or {}).items():
            if name in fields and name not in _COMPUTED:
                fields[name] = value

        with self._lock:
            stream_id = self.new_stream_id(fields["streamId"]) or generate_stream_id()
            now = _now_ms()
            fields["streamId"] = stream_id
            fields["status"] = "created"
            fields["date"] = now
            fields["originAdress"] = self.host
            fields["rtmpURL"] = f"rtmp://{self.host}/{self.app}/{stream_id}"
            # AMS fills only a null or empty URL here: one of spaces is kept,
            # and the hooks then follow the application's setting of the day.
            if not fields["listenerHookURL"] and hook_url:
                fields["listenerHookURL"] = hook_url
            self._broadcasts[stream_id] = fields

            return _as_read(fields, now)

    def new_stream_id(self, requested: Any) -> str:
        """The stream id a create asks for, trimmed; ``""`` when it asks for none.

        Raises :class:`CreateRejected` for an id that is taken, which AMS
        checks first, or that has a character AMS refuses.
        """
        stream_id = "" if requested is None else str(requested).strip(_JAVA_TRIMMED)
        with self._lock:
            if stream_id and stream_id in self._broadcasts:
                raise CreateRejected(
                    "Stream id is already being used. "
                    "Please change stream id or keep it empty",
                    stream_id,
                )
        if stream_id and not is_valid_stream_id(stream_id):
            raise CreateRejected("Stream id is not valid.", stream_id)

        return stream_id

    def get(self, stream_id: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._broadcasts.get(stream_id)
            if stored is None:
                return None
            return _as_read(stored, _now_ms(), stream_id in self._publishing)

    def all(self) -> list[dict[str, Any]]:
        """Every broadcast as a read returns it, by ascending stream id as AMS lists."""
        now = _now_ms()
        with self._lock:
            return [
                _as_read(
                    self._broadcasts[stream_id], now, stream_id in self._publishing
                )
                for stream_id in sorted(self._broadcasts, key=_java_order)
            ]

    def search(self, text: str) -> list[dict[str, Any]]:
        """Broadcasts whose name or stream id contains ``text``, in any case."""
        needle = _SEARCH_BLANKS.sub("_", text).lower()

        return [
            item
            for item in self.all()
            if needle in str(item["streamId"]).lower()
            or (item["name"] is not None and needle in str(item["name"]).lower())
        ]

    def update(self, stream_id: str, changes: Mapping[str, Any]) -> bool:
        """Apply AMS's partial update; ``False`` for an unknown id.

        ``None`` leaves a property unchanged; some properties are never
        updated; ``status`` changes only on live streams.
        """
        with self._lock:
            stored = self._broadcasts.get(stream_id)
            if stored is None:
                return False
            for name, value in changes.items():
                if value is None or name in _NOT_UPDATED or name not in stored:
                    continue
                if name == "updateTime" and not int(value) > 0:
                    continue
                if name == "listenerHookURL" and not value:
                    continue
                if name == "status" and stored["type"] != "liveStream":
                    continue
                stored[name] = value

            return True

    def delete(self, stream_id: str, subtracks: bool = False) -> dict[str, Any] | None:
        """Remove a broadcast, and with ``subtracks`` every track of its room."""
        with self._lock:
            self._publishing.discard(stream_id)
            self._publishers.pop(stream_id, None)
            removed = self._broadcasts.pop(stream_id, None)
            if removed is not None and subtracks:
                tracks = [
                    track_id
                    for track_id, item in self._broadcasts.items()
                    if item["mainTrackStreamId"] == stream_id
                ]
                for track_id in tracks:
                    self._publishing.discard(track_id)
                    self._publishers.pop(track_id, None)
                    del self._broadcasts[track_id]

            return removed

    def active_count(self) -> int:
        with self._lock:
            return sum(item["status"] == "broadcasting" for item in self.all())

    def is_live(self, stream_id: str) -> bool:
        """A publisher is connected: the stream is broadcasting and reporting."""
        with self._lock:
            return stream_id in self._publishing

    def start(
        self,
        stream_id: str,
        publish_type: str,
        hook_url: str = "",
        metadata: str | None = None,
        publisher: Publisher | None = None,
    ) -> dict[str, Any]:
        """A publisher starts; a stream never created becomes a *zombi* broadcast.

        ``hook_url`` is the application's, for a zombi; ``metadata``, when
        given, replaces the broadcast's. ``publisher`` is kept until the
        stream ends, as AMS keeps the connection's subscriber id and query.
        """
        now = _now_ms()
        with self._lock:
            stored = self._broadcasts.get(stream_id)
            if stored is None:
                if not stream_id or not is_valid_stream_id(stream_id):
                    raise ConfigError(f"stream id {stream_id!r} is not valid")
                stored = _copy_json(self.defaults)
                zombi = {"mainTrackStreamId": "", "metaData": "", "role": ""}
                stored.update(
                    {name: value for name, value in zombi.items() if name in stored},
                    streamId=stream_id,
                    zombi=True,
                    date=now,
                    rtmpURL=f"rtmp://{self.host}/{self.app}/{stream_id}",
                    listenerHookURL=hook_url or None,
                )
                self._broadcasts[stream_id] = stored
            elif stream_id in self._publishing:
                raise StreamStateError(f"stream {stream_id!r} is already broadcasting")

            self._publishing.add(stream_id)
            self._publishers[stream_id] = publisher or Publisher()
            stored.update(
                status="broadcasting",
                publishType=publish_type,
                startTime=now,
                absoluteStartTimeMs=now,
                updateTime=now,
                originAdress=self.host,
                hlsViewerCount=0,
                dashViewerCount=0,
                webRTCViewerCount=0,
            )
            if metadata is not None:
                stored["metaData"] = metadata

            return _as_read(stored, now)

    def finish(self, stream_id: str) -> tuple[dict[str, Any], Publisher]:
        """The publisher stops: the broadcast turns ``finished``; a zombi one goes.

        Returns the broadcast as it ended and who had published it.
        """
        with self._lock:
            stored = self._broadcasts.get(stream_id)
            if stored is None or stored["status"] != "broadcasting":
                state = "does not exist" if stored is None else f"is {stored['status']}"
                raise StreamStateError(
                    f"stream {stream_id!r} is not broadcasting: it {state}"
                )

            return self._finish(stream_id, stored)

    def finish_live(self, stream_id: str) -> tuple[dict[str, Any], Publisher] | None:
        """Finish ``stream_id`` if a publisher is connected, in one step.

        ``None`` when none is, so that a publisher leaving at the same moment
        makes this a no-op rather than an error.
        """
        with self._lock:
            stored = self._broadcasts.get(stream_id)
            if stored is None or stream_id not in self._publishing:
                return None

            return self._finish(stream_id, stored)

    def _finish(
        self, stream_id: str, stored: dict[str, Any]
    ) -> tuple[dict[str, Any], Publisher]:
        now = _now_ms()
        stored.update(
            status="finished",
            updateTime=now,
            duration=max(now - int(stored["startTime"] or now), 0),
            hlsViewerCount=0,
            dashViewerCount=0,
            webRTCViewerCount=0,
        )
        self._publishing.discard(stream_id)
        publisher = self._publishers.pop(stream_id, Publisher())
        shown = _as_read(stored, now)
        if stored["zombi"]:
            del self._broadcasts[stream_id]

        return shown, publisher

    def stall(self, stream_id: str, silent_for_ms: int = 0) -> dict[str, Any]:
        """A live stream stops reporting without ending, as when AMS loses it.

        ``silent_for_ms`` backdates its last report; once that passes 20 s,
        reads show ``terminated_unexpectedly``. No hook is sent.
        """
        now = _now_ms()
        with self._lock:
            stored = self._broadcasts.get(stream_id)
            if stored is None or stored["status"] != "broadcasting":
                raise StreamStateError(f"stream {stream_id!r} is not broadcasting")
            self._publishing.discard(stream_id)
            stored["updateTime"] = now - silent_for_ms

            return _as_read(stored, now)

    def add_vod(
        self,
        broadcast: Mapping[str, Any],
        base_name: str,
        extension: str,
        duration_ms: int,
        rng: random.Random | None = None,
    ) -> dict[str, Any]:
        """Record a finished file: ``stream1.mp4``, then ``stream1_1.mp4``..."""
        now = _now_ms()
        with self._lock:
            name = base_name
            counter = itertools.count(1)
            while f"{name}.{extension}" in self._files:
                name = f"{base_name}_{next(counter)}"
            file_name = f"{name}.{extension}"
            self._files.add(file_name)
            suffix = base_name[len(str(broadcast.get("streamId"))) + 1 :]
            resolution = suffix.split("p", 1)[0] if suffix else ""
            stream_name = broadcast.get("name") or file_name
            if resolution.isdigit() and broadcast.get("name"):
                stream_name += f" ({resolution}p)"
            vod = {
                "streamName": stream_name,
                "vodName": file_name,
                "streamId": broadcast.get("streamId"),
                "creationDate": now,
                "startTime": broadcast.get("startTime") or now,
                "duration": duration_ms,
                "fileSize": max(duration_ms, 0) * 250,
                "filePath": f"streams/{file_name}",
                "vodId": "".join(
                    (rng.choice if rng else secrets.choice)(_ALPHANUMERIC)
                    for _ in range(24)
                ),
                "type": "streamVod",
                "previewFilePath": None,
                "processStatus": None,
                "processStartTime": 0,
                "processEndTime": 0,
                "description": broadcast.get("description"),
                "metadata": broadcast.get("metaData"),
                "latitude": broadcast.get("latitude"),
                "longitude": broadcast.get("longitude"),
                "altitude": broadcast.get("altitude"),
            }
            self._vods.append(vod)

            return dict(vod)

    def vods(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(vod) for vod in self._vods]

    def clear(self) -> None:
        with self._lock:
            self._broadcasts.clear()
            self._vods.clear()
            self._files.clear()
            self._publishing.clear()
            self._publishers.clear()
