"""What happens to a stream over its life, and the hooks each step sends.

A publisher connects (``liveStreamStarted``), may send status while live
(``liveStreamStatus``), stops (``liveStreamEnded``, and ``vodReady`` for each
recorded file, sent independently so their order is not fixed), and may leave
the stream idle (``idleTimeIsExpired``). Any other action can be fired on
demand with the fields AMS gives it.
"""

from __future__ import annotations

import logging
import random
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mockams.broadcasts import BroadcastStore, Publisher
from mockams.errors import ConfigError, MockAMSError, did_you_mean
from mockams.payloads import (
    HookDropped,
    HookInputs,
    build_fields,
    check_action,
    inputs_for,
    status_fields,
)
from mockams.sender import Hook, HookSink, Scheduler
from mockams.settings import CURRENT_VERSION, FORM, AmsVersion, AppSettings
from mockams.wire import HookValue, java_hashmap_order

__all__ = [
    "PUBLISH_TYPES",
    "Application",
    "Lifecycle",
    "UnknownAppError",
    "check_app_name",
    "new_application",
    "parse_rendition",
]

logger = logging.getLogger("mockams")

_ALPHANUMERIC = string.ascii_letters + string.digits
# AMS looks these streams up in its datastore first and sends nothing without one.
_STORED_STREAMS_ONLY = frozenset(
    {"publishTimeoutError", "encoderNotOpenedError", "endpointFailed"}
)
# The only values AMS itself writes into a broadcast's publishType.
PUBLISH_TYPES = ("RTMP", "WebRTC", "SRT", "Pull")


class UnknownAppError(MockAMSError, LookupError):
    """No application of that name runs on this server."""


@dataclass
class Application:
    """One AMS application: its settings and its broadcasts."""

    name: str
    settings: AppSettings
    defaults: AppSettings
    broadcasts: BroadcastStore


def parse_rendition(value: str | int) -> str:
    """``720`` or ``"720p"`` or ``"720p2500kbps"`` as AMS names the file suffix."""
    text = str(value).strip()
    if text.isdigit():
        return f"{text}p"
    height, sep, rest = text.partition("p")
    if (
        sep
        and height.isdigit()
        and (not rest or (rest[:-4].isdigit() and rest.endswith("kbps")))
    ):
        return text

    raise ConfigError(
        f"rendition {value!r} is not a height like 720, '720p' or '720p2500kbps'"
    )


def check_app_name(name: str) -> str:
    """Return ``name`` if it can be an application's path segment, else raise."""
    if not name or "/" in name:
        raise ConfigError(f"application name {name!r} is not a single path segment")

    return name


def _check_publish_type(publish_type: str) -> str:
    if publish_type not in PUBLISH_TYPES:
        hint = did_you_mean(publish_type, PUBLISH_TYPES)
        raise ConfigError(
            f"publish type {publish_type!r} is not one AMS sets "
            f"({', '.join(PUBLISH_TYPES)}){hint}"
        )

    return publish_type


def _random_id(length: int, rng: random.Random | None = None) -> str:
    choice = rng.choice if rng is not None else secrets.choice
    return "".join(choice(_ALPHANUMERIC) for _ in range(length))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _params_as_json(params: Mapping[str, str]) -> str:
    """The metadata AMS stores for an RTMP publisher's query: JSON-like, unescaped."""
    members = (f'"{key}":"{params[key]}"' for key in java_hashmap_order(params))

    return "{" + ",".join(members) + "}"


class Lifecycle:
    """Drives broadcasts through their life and sends the hooks AMS sends."""

    def __init__(
        self,
        apps: dict[str, Application],
        sender: HookSink,
        scheduler: Scheduler,
        version: AmsVersion,
    ) -> None:
        self.apps = apps
        self.sender = sender
        self.scheduler = scheduler
        self.version = version
        # Factor on every delay the mock waits by itself (retries, idle and
        # status timers): a replay sped up 10 times sets 0.1, an instant one 0.
        self.time_scale = 1.0
        self.rng: random.Random | None = None

    def app(self, name: str) -> Application:
        try:
            return self.apps[name]
        except KeyError:
            raise UnknownAppError(f"no application {name!r} on this server") from None

    def hook_url(self, app: Application, broadcast: Mapping[str, Any] | None) -> str:
        """The stream's own hook URL when set, else the application's."""
        own = (broadcast or {}).get("listenerHookURL")
        if own and str(own).strip():
            return str(own)

        return app.settings.hook_url

    def publish(
        self,
        app_name: str,
        stream_id: str,
        *,
        subscriber_id: str | None = None,
        params: Mapping[str, str] | None = None,
        publish_type: str = "RTMP",
    ) -> dict[str, Any]:
        """A publisher connects: it goes live, ``liveStreamStarted`` leaves.

        ``subscriber_id`` (by default ``params["subscriberId"]``) and
        ``params`` are the publisher's; ``liveStreamEnded`` carries them too.
        """
        app = self.app(app_name)
        _check_publish_type(publish_type)
        query = dict(params or {})
        metadata = None
        # AMS 2.16+ stores an RTMP publisher's query as the broadcast's
        # metaData whatever it held, before liveStreamStarted reads it (done
        # where its MuxAdaptor prepares an RTMP stream; WebRTC, SRT and Pull
        # publishers do not go through there).
        if query and publish_type == "RTMP" and self.version.stores_publish_params:
            metadata = _params_as_json(query)
        publisher = Publisher(subscriber_id or query.get("subscriberId"), query)
        broadcast = app.broadcasts.start(
            stream_id, publish_type, app.settings.hook_url, metadata, publisher
        )
        inputs = inputs_for(
            "liveStreamStarted",
            stream_id,
            broadcast,
            subscriber_id=publisher.subscriber_id,
            params=query,
        )
        self._notify(app, "liveStreamStarted", inputs, broadcast)
        self._schedule_status(app, stream_id, broadcast["startTime"])

        return broadcast

    def unpublish(
        self,
        app_name: str,
        stream_id: str,
        *,
        record: bool | None = None,
        renditions: Sequence[str | int] = (),
        duration_ms: int | None = None,
        subscriber_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The publisher stops: ``liveStreamEnded``, and ``vodReady`` per recording.

        ``record`` ``None`` follows the broadcast's ``mp4Enabled`` and then the
        application's setting, as AMS does. ``liveStreamEnded`` carries the
        publisher's subscriber id and query, as given at publish, unless
        ``subscriber_id`` or ``params`` replace them. Returns the broadcast as
        it was when it ended and the VoD records made.
        """
        app = self.app(app_name)
        suffixes = [""] + ["_" + parse_rendition(item) for item in renditions]
        broadcast, publisher = app.broadcasts.finish(stream_id)
        inputs = inputs_for(
            "liveStreamEnded",
            stream_id,
            broadcast,
            subscriber_id=publisher.subscriber_id
            if subscriber_id is None
            else subscriber_id,
            params=publisher.params if params is None else params,
        )
        self._notify(app, "liveStreamEnded", inputs, broadcast)
        vods = []
        if self._records(app, broadcast, record):
            duration = (
                duration_ms if duration_ms is not None else int(broadcast["duration"])
            )
            for suffix in suffixes:
                vods += self._record(app, broadcast, suffix, duration)
        self._schedule_idle(app, broadcast)

        return broadcast, vods

    def delete(
        self, app_name: str, stream_id: str, *, subtracks: bool = True
    ) -> str | None:
        """Delete a broadcast as AMS does; a live one is stopped first.

        Returns AMS's message, or ``None`` when there is no such broadcast.
        """
        app = self.app(app_name)
        if app.broadcasts.get(stream_id) is None:
            return None
        # Checked and finished in one step: a publisher leaving meanwhile
        # leaves nothing to stop, rather than a stream that cannot be stopped.
        finished = app.broadcasts.finish_live(stream_id)
        stopped = finished is not None
        if finished is not None:
            ended, _ = finished
            if self.version.ends_on_delete:
                # AMS's REST delete sends this hook itself, from the stored
                # broadcast alone: no subscriber id, no query parameters.
                inputs = inputs_for("liveStreamEnded", stream_id, ended)
                self._notify(app, "liveStreamEnded", inputs, ended)
            if self._records(app, ended, None):
                self._record(app, ended, "", int(ended["duration"]))
        app.broadcasts.delete(stream_id, subtracks=subtracks)
        if stopped:
            return "broadcast is deleted and stopped successfully"

        return "broadcast is deleted but could not stopped "

    def fire(
        self,
        app_name: str,
        action: str,
        stream_id: str,
        *,
        fields: Mapping[str, HookValue] | None = None,
        subscriber_id: str | None = None,
        params: Mapping[str, str] | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> Hook | None:
        """Send ``action`` for ``stream_id`` with the fields AMS gives it.

        ``fields`` are put on top: a value replaces AMS's, ``None`` removes the
        field. Returns the queued hook, or ``None`` when there is no hook URL or
        AMS would fail before sending.
        """
        check_action(action)
        app = self.app(app_name)
        broadcast = app.broadcasts.get(stream_id)
        if broadcast is None and action in _STORED_STREAMS_ONLY:
            logger.warning(
                "hook %s for %s not sent: AMS sends it only for a stream it stores",
                action,
                stream_id,
            )
            return None
        if action == "liveStreamStatus":
            name = broadcast.get("name") if broadcast else None
            typed = status_fields(stream_id, name, stats or {})
            return self._send(app, self.hook_url(app, broadcast), typed, fields)

        room = None
        if broadcast and broadcast.get("mainTrackStreamId"):
            room = app.broadcasts.get(str(broadcast["mainTrackStreamId"]))
        inputs = inputs_for(
            action,
            stream_id,
            broadcast,
            room=room,
            subscriber_id=subscriber_id,
            params=params,
        )
        if action == "vodReady":
            inputs.vod_name = stream_id
            inputs.vod_id = _random_id(24, self.rng)
            inputs.metadata = broadcast.get("metaData") if broadcast else None
            if self.version.sends_vod_duration:
                inputs.params = {"duration": "0", **inputs.params}

        return self._notify(
            app,
            action,
            inputs,
            broadcast if action != "firstActiveTrackAddedInMainTrack" else room,
            fields,
        )

    def _notify(
        self,
        app: Application,
        action: str,
        inputs: HookInputs,
        broadcast: Mapping[str, Any] | None,
        overrides: Mapping[str, HookValue] | None = None,
    ) -> Hook | None:
        url = self.hook_url(app, broadcast)
        if not url.strip():
            return None
        try:
            fields = build_fields(action, inputs, app=app.name, version=self.version)
        except HookDropped as dropped:
            logger.warning(
                "hook %s for %s not sent: %s", action, inputs.stream_id, dropped
            )
            return None

        return self._send(app, url, fields, overrides)

    def _send(
        self,
        app: Application,
        url: str,
        fields: dict[str, HookValue],
        overrides: Mapping[str, HookValue] | None,
    ) -> Hook | None:
        if not url.strip():
            return None
        for name, value in (overrides or {}).items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        content_type = (
            app.settings.content_type if self.version.has_json_hooks else FORM
        )
        if content_type == FORM and any(value is None for value in fields.values()):
            logger.warning(
                "hook %s for %s not sent: AMS fails to form-encode a null field",
                fields.get("action"),
                fields.get("id"),
            )
            return None
        retries = app.settings.retry_count if self.version.has_retries else 0
        hook = Hook.build(
            app=app.name,
            url=url,
            fields=fields,
            content_type=content_type,
            retry_count=retries,
            retry_delay_ms=round(app.settings.retry_delay_ms * self.time_scale),
        )
        self.sender.send(hook)

        return hook

    def _records(
        self, app: Application, broadcast: Mapping[str, Any], record: bool | None
    ) -> bool:
        if record is not None:
            return record
        wanted = int(broadcast.get("mp4Enabled") or 0)

        return wanted == 1 or (wanted == 0 and app.settings.mp4_muxing)

    def _record(
        self,
        app: Application,
        broadcast: Mapping[str, Any],
        suffix: str,
        duration_ms: int,
    ) -> list[dict[str, Any]]:
        stream_id = str(broadcast["streamId"])
        extensions = ["mp4"] + (["webm"] if app.settings.webm_muxing else [])
        vods = []
        for extension in extensions:
            vod = app.broadcasts.add_vod(
                broadcast, stream_id + suffix, extension, duration_ms, self.rng
            )
            vods.append(vod)
            inputs = HookInputs(
                stream_id,
                vod_name=vod["vodName"].rsplit(".", 1)[0],
                vod_id=vod["vodId"],
                metadata=broadcast.get("metaData"),
            )
            if self.version.sends_vod_duration:
                inputs.params = {"duration": str(duration_ms)}
            self._notify(app, "vodReady", inputs, broadcast)

        return vods

    def _schedule_status(self, app: Application, stream_id: str, session: Any) -> None:
        period = app.settings.status_period_ms
        if period <= 0 or not self.version.has_status_hooks:
            return

        def tick() -> None:
            current = app.broadcasts.get(stream_id)
            if (
                not current
                or current["status"] != "broadcasting"
                or current["startTime"] != session
            ):
                return
            self.fire(app.name, "liveStreamStatus", stream_id)
            self.scheduler.call_later(period / 1000 * self.time_scale, tick)

        self.scheduler.call_later(period / 1000 * self.time_scale, tick)

    def _schedule_idle(self, app: Application, broadcast: Mapping[str, Any]) -> None:
        idle_s = int(broadcast.get("maxIdleTime") or 0)
        if idle_s <= 0:
            return
        stream_id = str(broadcast["streamId"])
        ended_at = broadcast.get("updateTime")

        def expire() -> None:
            current = app.broadcasts.get(stream_id)
            if (
                current
                and current["status"] != "broadcasting"
                and current.get("updateTime") == ended_at
            ):
                self.fire(app.name, "idleTimeIsExpired", stream_id)

        self.scheduler.call_later(idle_s * self.time_scale, expire)


def new_application(
    name: str,
    settings: AppSettings,
    host: str,
    version: AmsVersion = CURRENT_VERSION,
) -> Application:
    """A fresh application with no broadcasts, as AMS ``version`` keeps them."""
    check_app_name(name)

    return Application(name, settings, settings, BroadcastStore(name, host, version))
