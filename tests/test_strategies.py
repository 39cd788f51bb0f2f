"""Properties of the hypothesis strategies in :mod:`mockams.strategies`.

The fields a hook may carry are written out here from the AMS reference, per
action and release, and checked twice: against what the mock itself sends for
a broadcast with every optional value set, and against every payload the
strategies draw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from mockams.errors import ConfigError
from mockams.payloads import ACTIONS
from mockams.sender import Hook
from mockams.server import MockAMS
from mockams.settings import AmsVersion
from mockams.strategies import (
    HookPayload,
    actions_sent_by,
    hook_payloads,
    lifecycles,
    stream_ids,
)
from mockams.wire import java_double

VERSIONS = ["current", "2.10", "seed"]
FORM = "application/x-www-form-urlencoded"
JSON_HEADER = "application/json; charset=UTF-8"

_BROADCAST = {"streamName", "category", "metadata", "mainTrackId", "roomId"}
_SUBTRACK = {"streamName", "category", "mainTrackId", "roomId", "subscriberId"}
# Beyond id, action, timestamp and app: every field an action may carry.
FIELDS = {
    "liveStreamStarted": _BROADCAST | {"subscriberId"},
    "liveStreamEnded": _BROADCAST | {"subscriberId"},
    "vodReady": {"vodName", "vodId", "metadata", "duration"},
    "publishTimeoutError": _BROADCAST,
    "encoderNotOpenedError": _BROADCAST,
    "endpointFailed": _BROADCAST,
    "idleTimeIsExpired": {"streamName", "category", "mainTrackId", "roomId"},
    "playStarted": {"metadata"},
    "playStopped": {"metadata"},
    "subtrackAddedInTheMainTrack": _SUBTRACK,
    "subtrackLeftTheMainTrack": _SUBTRACK,
    "firstActiveTrackAddedInMainTrack": {
        "streamName",
        "category",
        "mainTrackId",
        "roomId",
    },
    "noActiveSubtracksLeftInMainTrack": {"streamName", "category"},
}
# The ones an action always carries, whatever the broadcast holds.
ALWAYS = {
    "vodReady": {"vodName", "vodId", "duration"},
    "publishTimeoutError": {"metadata"},
    "endpointFailed": {"metadata"},
    "firstActiveTrackAddedInMainTrack": {"mainTrackId", "roomId"},
}
# Fields a release does not send yet.
NOT_YET = {
    "current": set(),
    "2.10": {"app", "duration"},
    "seed": {"timestamp", "app", "metadata", "mainTrackId", "roomId"}
    | {"subscriberId", "duration"},
}
# Actions that flatten the publisher's or player's query parameters in.
WITH_QUERY = {"liveStreamStarted", "liveStreamEnded", "playStarted", "playStopped"}
# A player's subscriber id reaches its hooks as one of its query parameters.
PLAY = {"playStarted", "playStopped"}
STATUS_NUMBERS = {
    "width",
    "height",
    "totalByteReceived",
    "inputQueueSize",
    "encodingQueueSize",
    "dropFrameCountInEncoding",
    "dropPacketCountInIngestion",
    "timestamp",
}
STATUS_FIELDS = {"id", "action", "speed", "streamName"} | STATUS_NUMBERS
# For find(): any example will do, so no shrinking to the smallest one.
SEARCH = settings(phases=[Phase.generate], max_examples=1000, database=None)


def allowed_fields(action: str, version: str) -> set[str]:
    if action == "liveStreamStatus":
        return STATUS_FIELDS

    return ({"id", "action", "timestamp", "app"} | FIELDS[action]) - NOT_YET[version]


def required_fields(action: str, version: str) -> set[str]:
    if action == "liveStreamStatus":
        return STATUS_FIELDS - {"streamName"}
    always = {"id", "action", "timestamp", "app"} | ALWAYS.get(action, set())

    return always - NOT_YET[version]


def payloads(action: str, version: str) -> st.SearchStrategy[HookPayload]:
    """Payloads of ``action`` for ``version`` in either encoding."""
    return st.sampled_from(["form", "json"]).flatmap(
        lambda content_type: hook_payloads(
            action, version=version, content_type=content_type
        )
    )


class _Collector:
    """A hook sink that keeps the hooks instead of posting them."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []

    def send(self, hook: Hook) -> None:
        self.hooks.append(hook)


def fields_the_mock_sends(action: str, version: str) -> dict[str, Any]:
    """The fields of ``action`` for a subtrack with every optional value set."""
    collector = _Collector()
    mock = MockAMS(ams_version=version, hook_url="http://127.0.0.1:9/hooks")
    mock.lifecycle.sender = collector
    try:
        mock.create_broadcast(streamId="room1", name="Room", category="rooms")
        mock.create_broadcast(
            streamId="stream1",
            name="Demo",
            category="news",
            metaData='{"camera": 2}',
            mainTrackStreamId="room1",
        )
        mock.fire(action, "stream1", subscriber_id="viewer1", params={"token": "t1"})
    finally:
        mock.stop()
    [hook] = collector.hooks

    return hook.fields


def latin_1(value: Any) -> Any:
    """``value`` with what ISO-8859-1 cannot hold replaced by ``?``, as AMS sends."""
    if isinstance(value, str):
        return value.encode("latin-1", "replace").decode("latin-1")
    if isinstance(value, dict):
        return {latin_1(key): latin_1(item) for key, item in value.items()}

    return value


def creation_order(hooks: list[HookPayload]) -> list[HookPayload]:
    """Undo the one reordering AMS allows: a ``vodReady`` ahead of its end."""
    ordered = list(hooks)
    for index in range(len(ordered) - 1):
        pair = (ordered[index].action, ordered[index + 1].action)
        if pair == ("vodReady", "liveStreamEnded"):
            ordered[index], ordered[index + 1] = ordered[index + 1], ordered[index]

    return ordered


def sessions(hooks: list[HookPayload]) -> list[list[HookPayload]]:
    """The hooks cut at each ``liveStreamStarted``."""
    cut: list[list[HookPayload]] = []
    for hook in hooks:
        if hook.action == "liveStreamStarted":
            cut.append([])
        cut[-1].append(hook)

    return cut


@pytest.fixture(scope="module")
def rest_mock() -> Iterator[MockAMS]:
    """One unserved mock for the module; each example resets it."""
    mock = MockAMS()
    yield mock
    mock.stop()


# The field table agrees with the mock


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_mock_sends_every_field_the_table_allows_and_no_other(
    action: str, version: str
) -> None:
    fields = fields_the_mock_sends(action, version)

    query = {"token"} if action in WITH_QUERY and version != "seed" else set()
    if action in PLAY and version != "seed":
        query.add("subscriberId")
    assert set(fields) == allowed_fields(action, version) | query


# Single hooks


@pytest.mark.parametrize(
    ("action", "version"),
    [
        pytest.param(action, version, id=f"{action}-{version}")
        for version in VERSIONS
        for action in actions_sent_by(version)
    ],
)
@settings(max_examples=10)
@given(data=st.data())
def test_a_payload_has_the_fields_of_its_action_and_release(
    action: str, version: str, data: st.DataObject
) -> None:
    payload = data.draw(payloads(action, version))

    names = set(payload.fields)
    assert payload.action == action
    assert payload.fields["action"] == action
    assert required_fields(action, version) <= names
    if action not in WITH_QUERY or version == "seed":
        assert names <= allowed_fields(action, version)


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=40)
@given(data=st.data())
def test_values_are_strings_but_metadata_objects_and_status_numbers(
    version: str, data: st.DataObject
) -> None:
    action = data.draw(st.sampled_from(actions_sent_by(version)))
    payload = data.draw(payloads(action, version))

    fields = dict(payload.fields)
    if payload.action == "liveStreamStatus":
        assert all(type(fields.pop(name)) is int for name in STATUS_NUMBERS)
        assert type(fields.pop("speed")) is float
        assert isinstance(fields.pop("streamName"), str | None)
    elif AmsVersion.parse(version).metadata_as_object:
        assert isinstance(fields.pop("metadata", ""), str | dict)
    assert all(type(value) is str for value in fields.values())


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=40)
@given(data=st.data())
def test_a_form_body_decodes_back_to_the_fields_in_latin_1(
    version: str, data: st.DataObject
) -> None:
    action = data.draw(st.sampled_from(actions_sent_by(version)))
    payload = data.draw(hook_payloads(action, version=version, content_type="form"))

    pairs = parse_qsl(
        payload.body.decode("latin-1"), keep_blank_values=True, encoding="latin-1"
    )

    assert payload.content_type == FORM
    decoded = dict(pairs)
    assert len(pairs) == len(decoded) == len(payload.fields)
    for name, value in payload.fields.items():
        if isinstance(value, dict):
            assert json.loads(decoded[name]) == latin_1(value)
        elif isinstance(value, float):
            assert decoded[name] == java_double(value)
        else:
            assert decoded[name] == latin_1(str(value))


@pytest.mark.parametrize("version", ["current", "2.10"])
@settings(max_examples=40)
@given(data=st.data())
def test_a_json_body_decodes_back_to_the_fields(
    version: str, data: st.DataObject
) -> None:
    action = data.draw(st.sampled_from(actions_sent_by(version)))
    payload = data.draw(hook_payloads(action, version=version, content_type="json"))

    assert payload.content_type == JSON_HEADER
    assert json.loads(payload.body.decode("utf-8")) == payload.fields


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("current", sorted(ACTIONS)),
        ("2.12", sorted(ACTIONS)),
        ("2.11", sorted(set(ACTIONS) - {"liveStreamStatus"})),
        ("seed", sorted(set(ACTIONS) - {"liveStreamStatus"})),
    ],
)
def test_status_hooks_are_drawn_only_from_2_12(
    version: str, expected: list[str]
) -> None:
    assert actions_sent_by(version) == expected


@pytest.mark.parametrize("version", ["2.10", "seed"])
def test_asking_for_an_action_the_release_does_not_send_fails_at_once(
    version: str,
) -> None:
    with pytest.raises(ConfigError, match=f"{version!r} does not send"):
        hook_payloads("liveStreamStatus", version=version)


def test_asking_for_an_unknown_action_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="liveStreamStarted"):
        hook_payloads("liveStreamStart")


@settings(max_examples=20)
@given(payload=hook_payloads(version="seed", content_type="json"))
def test_a_release_before_2_10_sends_a_form_even_when_json_is_asked(
    payload: HookPayload,
) -> None:
    assert payload.content_type == FORM


@pytest.mark.parametrize(
    "field", ["streamName", "category", "metadata", "mainTrackId", "subscriberId"]
)
def test_an_optional_field_is_sometimes_absent_and_sometimes_present(
    field: str,
) -> None:
    started = hook_payloads("liveStreamStarted")

    assert (
        field
        not in find(
            started, lambda payload: field not in payload.fields, settings=SEARCH
        ).fields
    )
    assert (
        field
        in find(
            started, lambda payload: field in payload.fields, settings=SEARCH
        ).fields
    )


def test_names_in_other_scripts_than_latin_occur() -> None:
    def foreign(payload: HookPayload) -> bool:
        name = str(payload.fields.get("streamName", ""))
        return any(ord(character) > 0xFF for character in name)

    payload = find(
        hook_payloads("liveStreamStarted", content_type="json"),
        foreign,
        settings=SEARCH,
    )

    assert json.loads(payload.body)["streamName"] == payload.fields["streamName"]


@settings(max_examples=50)
@given(stream_id=stream_ids())
def test_every_stream_id_is_accepted_by_the_rest_create(
    rest_mock: MockAMS, stream_id: str
) -> None:
    rest_mock.reset()

    answer = Client(rest_mock.wsgi_app).post(
        "/LiveApp/rest/v2/broadcasts/create", json={"streamId": stream_id}
    )

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["streamId"] == stream_id


def test_odd_stream_ids_occur() -> None:
    assert find(
        stream_ids(), lambda text: text[0] in "_.-", settings=SEARCH
    ).startswith(("_", ".", "-"))
    assert find(stream_ids(), str.isdigit, settings=SEARCH).isdigit()


# Lifecycles


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=20)
@given(data=st.data())
def test_a_lifecycle_is_one_stream_that_starts_first(
    version: str, data: st.DataObject
) -> None:
    hooks = data.draw(lifecycles(version=version))

    assert hooks[0].action == "liveStreamStarted"
    assert len({hook.stream_id for hook in hooks}) == 1
    assert "idleTimeIsExpired" not in [hook.action for hook in hooks[:-1]]


@pytest.mark.parametrize("version", ["current", "2.10"])
@settings(max_examples=20)
@given(data=st.data())
def test_lifecycle_timestamps_grow_in_the_order_the_events_happened(
    version: str, data: st.DataObject
) -> None:
    hooks = data.draw(lifecycles(version=version, content_type="json"))

    stamps = [int(hook.fields["timestamp"]) for hook in creation_order(hooks)]

    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=20)
@given(data=st.data())
def test_a_session_closes_with_its_end_and_maybe_its_recording_in_any_order(
    version: str, data: st.DataObject
) -> None:
    hooks = data.draw(lifecycles(version=version))

    for session in sessions(hooks):
        actions = [
            hook.action for hook in session if hook.action != "idleTimeIsExpired"
        ]
        middle = set(actions[1:-2])
        assert actions[0] == "liveStreamStarted"
        assert middle <= {"liveStreamStatus"}
        assert actions[-2:] in (
            ["liveStreamEnded", "vodReady"],
            ["vodReady", "liveStreamEnded"],
        ) or (actions[-1] == "liveStreamEnded" and "vodReady" not in actions)


@pytest.mark.parametrize("version", ["2.10", "seed"])
@settings(max_examples=20)
@given(data=st.data())
def test_a_release_before_2_12_has_no_status_hooks_in_a_lifecycle(
    version: str, data: st.DataObject
) -> None:
    hooks = data.draw(lifecycles(version=version))

    assert "liveStreamStatus" not in [hook.action for hook in hooks]


@pytest.mark.parametrize("version", ["current", "2.10"])
@settings(max_examples=20)
@given(data=st.data())
def test_a_lifecycle_names_one_broadcast_and_one_publisher_per_session(
    version: str, data: st.DataObject
) -> None:
    hooks = data.draw(lifecycles(version=version, content_type="json"))

    # A publisher's query may carry a streamName of its own, so the broadcast
    # shows in the fields no query parameter can replace.
    broadcast = {
        (str(hook.fields.get("category")), json.dumps(hook.fields.get("metadata")))
        for hook in hooks
        if hook.action in ("liveStreamStarted", "liveStreamEnded")
    }
    assert len(broadcast) == 1
    for session in sessions(hooks):
        ends = [hook for hook in session if hook.action == "liveStreamEnded"]
        publisher = {"subscriberId", "token", "subscriberCode", "extra"}
        for ended in ends:
            assert {
                name: value for name, value in ended.fields.items() if name in publisher
            } == {
                name: value
                for name, value in session[0].fields.items()
                if name in publisher
            }
