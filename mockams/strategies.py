"""Hypothesis strategies for AMS hooks, valid by construction.

::

    from hypothesis import given
    from mockams.strategies import hook_payloads, lifecycles

    @given(hook_payloads(content_type="json"))
    def test_receiver_accepts_any_hook(payload):
        response = client.post("/hooks", data=payload.body,
                               headers={"Content-Type": payload.content_type})
        assert response.status_code == 200

Every payload is built by the same code as the mock's hooks: only actions
the chosen AMS release sends, the fields an action has in that release,
optional ones present or absent, names in any script, and the body encoded
byte for byte as AMS encodes it.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from mockams.errors import ConfigError
from mockams.payloads import (
    HookInputs,
    actions_sent_by,
    build_fields,
    check_action,
    inputs_for,
    status_fields,
)
from mockams.settings import FORM, AmsVersion, content_type_from_name
from mockams.wire import HookValue, encode_body

__all__ = [
    "HookPayload",
    "actions_sent_by",
    "hook_payloads",
    "lifecycles",
    "stream_ids",
]

_ALPHANUMERIC = string.ascii_letters + string.digits
_ID_ALPHABET = _ALPHANUMERIC + "_.-"
# Words the REST API routes itself; a broadcast may not be named so in a path.
_ROUTE_WORDS = {"create", "count", "list", "active-live-stream-count"}
_EPOCH_2025_MS = 1_735_689_600_000


@dataclass(frozen=True)
class HookPayload:
    """One hook as AMS would post it: its fields, encoded body and content type."""

    action: str
    fields: dict[str, HookValue]
    content_type: str
    body: bytes

    @property
    def stream_id(self) -> str:
        return str(self.fields["id"])


def stream_ids() -> st.SearchStrategy[str]:
    """Stream ids AMS accepts, including odd ones like ``.``, ``-a_`` or ``0``."""
    return st.text(_ID_ALPHABET, min_size=1, max_size=64).filter(
        lambda text: text not in _ROUTE_WORDS
    )


_names = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=80).filter(lambda text: text.strip() != ""),
    st.sampled_from(
        ["Demo", "Café", "東京ライブ", "🎥 live", 'a "quoted" / name', "x" * 500]
    ),
)
_categories = st.one_of(st.none(), st.sampled_from(["news", "sport", "ゲーム", "a/b"]))
_metadata = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.dictionaries(
        st.text(string.ascii_letters, min_size=1, max_size=10),
        st.one_of(st.text(max_size=20), st.integers(-1000, 1000), st.booleans()),
        max_size=4,
    ).map(lambda value: json.dumps(value, separators=(",", ":"))),
)
_params = st.dictionaries(
    st.sampled_from(["token", "subscriberCode", "streamName", "extra"]),
    st.text(string.ascii_letters + string.digits, min_size=1, max_size=16),
    max_size=2,
)


def hook_payloads(
    action: str | None = None,
    *,
    version: str = "current",
    content_type: str = "form",
    stream_id: str | None = None,
    timestamp_ms: int | None = None,
) -> st.SearchStrategy[HookPayload]:
    """Hooks of ``action`` (any action the release sends when ``None``).

    ``version`` is an AMS release (``current``, ``seed``, ``2.10``...);
    before 2.10 every body is a form, whatever ``content_type`` asks.
    ``stream_id`` and ``timestamp_ms`` fix those fields instead of drawing
    them. Raises :class:`~mockams.errors.ConfigError` at once for an action
    the release does not send, or an unknown action, version or content type.
    """
    release = AmsVersion.parse(version)
    media_type = content_type_from_name(content_type)
    sent = actions_sent_by(release)
    if action is not None and check_action(action) not in sent:
        raise ConfigError(
            f"hook_payloads: AMS version {version!r} does not send {action!r} "
            "(AMS sends it from 2.12 on)"
        )
    if not release.has_json_hooks:
        media_type = FORM

    return _payloads(
        st.sampled_from(sent) if action is None else st.just(action),
        release,
        media_type,
        stream_id,
        timestamp_ms,
    )


@dataclass(frozen=True)
class _Publisher:
    """Who publishes one session: AMS sends the same to its start and its end."""

    subscriber_id: str | None
    params: dict[str, str]


_publishers = st.builds(_Publisher, st.one_of(st.none(), stream_ids()), _params)


def _broadcasts() -> st.SearchStrategy[dict[str, Any]]:
    """A stored broadcast as far as hooks read it."""
    return st.fixed_dictionaries(
        {
            "name": _names,
            "category": _categories,
            "metaData": _metadata.filter(_is_sendable),
            "mainTrackStreamId": st.one_of(st.none(), stream_ids()),
        }
    )


@st.composite
def _payloads(
    draw: st.DrawFn,
    actions: st.SearchStrategy[str],
    release: AmsVersion,
    media_type: str,
    stream_id: str | None,
    timestamp_ms: int | None,
    broadcast: dict[str, Any] | None = None,
    publisher: _Publisher | None = None,
) -> HookPayload:
    """One hook; ``broadcast`` and ``publisher`` fixed, or drawn when ``None``."""
    chosen = draw(actions)
    identifier = stream_id or draw(stream_ids())
    stamp = timestamp_ms or draw(st.integers(_EPOCH_2025_MS, _EPOCH_2025_MS + 10**11))
    if broadcast is None:
        broadcast = draw(_broadcasts())

    fields: dict[str, HookValue]
    if chosen == "liveStreamStatus":
        name = broadcast["name"]
        if name is None and media_type == FORM:
            name = draw(_names.filter(bool))
        stats: dict[str, Any] = {
            "width": draw(st.sampled_from([640, 1280, 1920])),
            "height": draw(st.sampled_from([360, 720, 1080])),
            "totalByteReceived": draw(st.integers(0, 10**10)),
            "inputQueueSize": draw(st.integers(0, 50)),
            "speed": draw(
                st.floats(0, 2, allow_nan=False).map(lambda value: round(value, 3))
            ),
        }
        fields = status_fields(identifier, name, stats, now_ms=stamp)
    else:
        room = {"streamId": draw(stream_ids()), "name": draw(_names), "category": None}
        if publisher is None:
            publisher = draw(_publishers)
        inputs = inputs_for(
            chosen,
            identifier,
            broadcast,
            room=room,
            subscriber_id=publisher.subscriber_id,
            params=publisher.params,
        )
        if chosen == "vodReady":
            inputs = HookInputs(
                identifier,
                vod_name=identifier
                + draw(st.sampled_from(["", "_1", "_720p2500kbps"])),
                vod_id=draw(st.text(_ALPHANUMERIC, min_size=24, max_size=24)),
                metadata=broadcast["metaData"],
            )
            if release.sends_vod_duration:
                inputs.params = {"duration": str(draw(st.integers(0, 10**8)))}
        fields = build_fields(
            chosen, inputs, app="LiveApp", version=release, now_ms=stamp
        )
    body, header = encode_body(fields, media_type)

    return HookPayload(chosen, fields, header, body)


def _is_sendable(metadata: str | None) -> bool:
    """AMS sends no hook at all for metadata that is JSON but not an object."""
    if metadata is None:
        return True
    try:
        return isinstance(json.loads(metadata), dict)
    except ValueError:
        return True


@st.composite
def lifecycles(
    draw: st.DrawFn,
    *,
    version: str = "current",
    content_type: str = "form",
    max_sessions: int = 3,
) -> list[HookPayload]:
    """The hooks of one stream's life, in an order AMS can deliver them.

    One or more publish sessions (a reconnect starts a new one), each with
    ``liveStreamStarted``, maybe status ticks (AMS 2.12 and later),
    ``liveStreamEnded`` and maybe ``vodReady``, which may arrive before
    ``liveStreamEnded``; maybe a final ``idleTimeIsExpired``. Timestamps grow
    in the order AMS made the events. Every hook names the same broadcast
    (name, category, metadata), and a session's start and end carry the same
    publisher (subscriber id, query parameters), as AMS sends them.
    """
    release = AmsVersion.parse(version)
    media_type = content_type_from_name(content_type)
    if not release.has_json_hooks:
        media_type = FORM
    identifier = draw(stream_ids())
    broadcast = draw(_broadcasts())
    clock = draw(st.integers(_EPOCH_2025_MS, _EPOCH_2025_MS + 10**11))
    most_ticks = 3 if release.has_status_hooks else 0
    hooks: list[HookPayload] = []
    publisher = _Publisher(None, {})

    def make(action: str) -> HookPayload:
        nonlocal clock
        clock += draw(st.integers(1, 60_000))
        payloads = _payloads(
            st.just(action),
            release,
            media_type,
            identifier,
            clock,
            broadcast,
            publisher,
        )
        return draw(payloads)

    for _ in range(draw(st.integers(1, max_sessions))):
        publisher = draw(_publishers)
        hooks.append(make("liveStreamStarted"))
        for _ in range(draw(st.integers(0, most_ticks))):
            hooks.append(make("liveStreamStatus"))
        ended = make("liveStreamEnded")
        if draw(st.booleans()):
            vod = make("vodReady")
            hooks.extend([vod, ended] if draw(st.booleans()) else [ended, vod])
        else:
            hooks.append(ended)
    if draw(st.booleans()):
        hooks.append(make("idleTimeIsExpired"))

    return hooks
