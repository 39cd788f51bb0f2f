"""Application settings and AMS version profiles.

An :class:`AppSettings` holds the hook-related settings of one AMS application
(``LiveApp``, ``WebRTCAppEE``...). An :class:`AmsVersion` decides which fields
and behaviours of the hook sender exist: AMS added them release by release.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from mockams.errors import ConfigError, did_you_mean

__all__ = [
    "CONTENT_TYPES",
    "CURRENT_VERSION",
    "FORM",
    "JSON",
    "PROFILES",
    "AmsVersion",
    "AppSettings",
    "content_type_from_name",
]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CONTENT_TYPES = {"form": FORM, "json": JSON}


def content_type_from_name(value: str) -> str:
    """Accept ``form``, ``json`` or a full media type; return the media type."""
    if value in CONTENT_TYPES:
        return CONTENT_TYPES[value]
    if "/" in value:
        return value

    hint = did_you_mean(value, CONTENT_TYPES)
    raise ConfigError(
        f"content type {value!r} is not 'form', 'json' or a media type{hint}"
    )


@dataclass(frozen=True, order=True)
class AmsVersion:
    """An AMS release, and what its hook sender does.

    ``AmsVersion.parse("2.10")``, ``AmsVersion.parse("current")`` or
    ``AmsVersion.parse("seed")`` (the form-encoded hooks of the original
    webhook guide, before REST v2).
    """

    parts: tuple[int, int, int]
    label: str = dataclasses.field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> AmsVersion:
        name = text.strip().lower()
        if name in PROFILES:
            return PROFILES[name]

        match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", name)
        if not match:
            hint = did_you_mean(name, PROFILES)
            raise ConfigError(
                f"AMS version {text!r} is not a profile name "
                f"({', '.join(PROFILES)}) or a version like 2.10 or 3.0.2{hint}"
            )

        major, minor, patch = match.groups()
        parts = (int(major), int(minor), int(patch or 0))

        return cls(parts, ".".join(map(str, parts)))

    def at_least(self, major: int, minor: int, patch: int = 0) -> bool:
        return self.parts >= (major, minor, patch)

    @property
    def sends_extended_fields(self) -> bool:
        """``metadata``, ``subscriberId``, ``mainTrackId`` and query parameters."""
        return self.at_least(2, 0)

    @property
    def sends_timestamp(self) -> bool:
        return self.at_least(2, 9)

    @property
    def has_retries(self) -> bool:
        return self.at_least(2, 9)

    @property
    def sends_room_id(self) -> bool:
        return self.at_least(2, 10)

    @property
    def metadata_as_object(self) -> bool:
        return self.at_least(2, 10)

    @property
    def has_json_hooks(self) -> bool:
        return self.at_least(2, 10)

    @property
    def unordered(self) -> bool:
        """Hooks leave from a worker pool, so their arrival order is not fixed."""
        return self.at_least(2, 11)

    @property
    def has_status_hooks(self) -> bool:
        return self.at_least(2, 12)

    @property
    def sends_app(self) -> bool:
        return self.at_least(2, 15)

    @property
    def sends_vod_duration(self) -> bool:
        return self.at_least(2, 15)

    @property
    def stores_publish_params(self) -> bool:
        """An RTMP publisher's query parameters replace the broadcast's metadata."""
        return self.at_least(2, 16)

    @property
    def ends_on_delete(self) -> bool:
        """Deleting a live broadcast over REST sends ``liveStreamEnded``."""
        return self.at_least(3, 0, 2)

    def __str__(self) -> str:
        return self.label or ".".join(map(str, self.parts))


CURRENT_VERSION = AmsVersion((3, 0, 2), "current")
PROFILES = {
    "current": CURRENT_VERSION,
    "seed": AmsVersion((1, 9, 0), "seed"),
}

# Setting name as AMS spells it on the wire, attribute name here.
_WIRE_NAMES = {
    "listenerHookURL": "hook_url",
    "webhookContentType": "content_type",
    "webhookRetryCount": "retry_count",
    "webhookRetryDelay": "retry_delay_ms",
    "webhookStreamStatusUpdatePeriodMs": "status_period_ms",
    "webhookAuthenticateURL": "authenticate_url",
    "webhookPlayAuthUrl": "play_auth_url",
    "ipFilterEnabled": "ip_filter_enabled",
    "remoteAllowedCIDR": "allowed_cidr",
    "jwtControlEnabled": "jwt_enabled",
    "jwtSecretKey": "jwt_secret",
    "mp4MuxingEnabled": "mp4_muxing",
    "webMMuxingEnabled": "webm_muxing",
}


@dataclass
class AppSettings:
    """The settings of one application that shape its hooks and REST access.

    Defaults are AMS's, except ``content_type``: the mock sends the form
    encoding of the original webhook guide unless told otherwise.
    """

    hook_url: str = ""
    content_type: str = FORM
    retry_count: int = 0
    retry_delay_ms: int = 1000
    status_period_ms: int = -1
    authenticate_url: str = ""
    play_auth_url: str = ""
    ip_filter_enabled: bool = True
    allowed_cidr: str = "127.0.0.1"
    jwt_enabled: bool = False
    jwt_secret: str = ""
    mp4_muxing: bool = False
    webm_muxing: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = _FIELD_TYPES[field.name]
            if type(value) is not expected:
                raise ConfigError(
                    f"setting {_ATTR_TO_WIRE[field.name]!r} must be "
                    f"{expected.__name__}, not {value!r}"
                )
        if self.retry_count < 0:
            raise ConfigError(
                f"webhookRetryCount must be 0 or more, not {self.retry_count}"
            )
        if self.retry_delay_ms < 0:
            raise ConfigError(
                f"webhookRetryDelay must be 0 or more, not {self.retry_delay_ms}"
            )

    def to_wire(self) -> dict[str, Any]:
        """The settings as AMS's settings JSON names them."""
        return {wire: getattr(self, attr) for wire, attr in _WIRE_NAMES.items()}

    def replaced(self, wire: dict[str, Any], defaults: AppSettings) -> AppSettings:
        """Settings as after AMS's settings POST: omitted names take ``defaults``.

        Unknown names are ignored, as AMS ignores settings it does not model.
        """
        values = dataclasses.asdict(defaults)
        for name, value in wire.items():
            attr = _WIRE_NAMES.get(name)
            if attr is not None:
                values[attr] = value

        return AppSettings(**values)

    def with_changes(self, **changes: Any) -> AppSettings:
        return dataclasses.replace(self, **changes)


_ATTR_TO_WIRE = {attr: wire for wire, attr in _WIRE_NAMES.items()}
_FIELD_TYPES: dict[str, type] = {
    "hook_url": str,
    "content_type": str,
    "retry_count": int,
    "retry_delay_ms": int,
    "status_period_ms": int,
    "authenticate_url": str,
    "play_auth_url": str,
    "ip_filter_enabled": bool,
    "allowed_cidr": str,
    "jwt_enabled": bool,
    "jwt_secret": str,
    "mp4_muxing": bool,
    "webm_muxing": bool,
}
