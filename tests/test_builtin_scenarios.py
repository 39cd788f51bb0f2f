"""The built-in scenarios: what each one sends a receiver, hook by hook.

Every scenario is replayed at speed 0 through the mock at a receiver on
127.0.0.1, and what the receiver gets is compared with the expectations written
out below: per step, which action for which stream, with which field names and
in which encoding. Steps run one after the other, so their hooks arrive in step
order; the hooks of one step (an unpublish's ``liveStreamEnded`` and
``vodReady``) race, so within a step only the multiset is fixed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from mockams.cli import main
from mockams.payloads import ACTIONS
from mockams.receiver import ReceivedHook, RecordingReceiver
from mockams.replay import ReplayOptions, replay
from mockams.report import RunReport
from mockams.scenario import ScenarioError, builtin_names, load_scenario, parse_scenario
from mockams.wire import decode_body

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
RETRY_STORM = "retry-storm"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json; charset=UTF-8"

BASE = frozenset({"id", "action", "app", "timestamp"})
NAMED = BASE | {"streamName", "category"}
VOD = BASE | {"vodName", "vodId", "duration"}
PLAY = BASE | {"subscriberId"}
TRACK = BASE | {"streamName", "mainTrackId", "roomId"}
WITH_METADATA = NAMED | {"metadata"}
STATUS = frozenset(
    {
        "id",
        "action",
        "width",
        "height",
        "totalByteReceived",
        "inputQueueSize",
        "encodingQueueSize",
        "dropFrameCountInEncoding",
        "dropPacketCountInIngestion",
        "speed",
        "timestamp",
        "streamName",
    }
)

UNICODE_NAME = "Café \"Größe\" / 東京ライブ 🎥 'live' a\\b"
UNICODE_CATEGORY = "Ñandú/子供 🎈"
LONG_NAME = " ".join(
    f"Part {part:03d} of a very long stream name: très, très long."
    for part in range(1, 61)
)
CAMERAS = [f"camera{number:02d}" for number in range(1, 21)]


@dataclass(frozen=True)
class Want:
    """One hook a receiver should get: its stream, action, field names, encoding."""

    stream: str
    action: str
    fields: frozenset[str]
    values: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = FORM

    def view(self) -> tuple[str, str, str, tuple[str, ...]]:
        return (self.stream, self.action, self.content_type, tuple(sorted(self.fields)))


# The hooks of one step, in any order among themselves.
Step = tuple[Want, ...]


def sent(action: str, stream: str, fields: frozenset[str], **values: Any) -> Want:
    return Want(stream, action, fields, values)


def started(stream: str, fields: frozenset[str] = NAMED, **values: Any) -> Want:
    return sent("liveStreamStarted", stream, fields, **values)


def ended(stream: str, fields: frozenset[str] = NAMED, **values: Any) -> Want:
    return sent("liveStreamEnded", stream, fields, **values)


def vod(stream: str, fields: frozenset[str] = VOD, **values: Any) -> Want:
    return sent("vodReady", stream, fields, **values)


def as_json(steps: Sequence[Step]) -> list[Step]:
    return [tuple(replace(want, content_type=JSON) for want in step) for step in steps]


def unicode_hooks(name: str, category: str) -> list[Step]:
    """Start and end of the two streams of ``unicode-long-names``."""
    return [
        (started("unicode1", streamName=name, category=category),),
        (started("long1", streamName=LONG_NAME, category="long"),),
        (ended("unicode1", streamName=name, category=category),),
        (ended("long1", streamName=LONG_NAME, category="long"),),
    ]


COURSE = '{"course":"physics-101"}'

EXPECTED: dict[str, list[Step]] = {
    "abr-recording": [
        (started("stream1"),),
        (
            ended("stream1"),
            vod("stream1", vodName="stream1"),
            vod("stream1", vodName="stream1_720p2500kbps"),
            vod("stream1", vodName="stream1_480p1000kbps"),
        ),
    ],
    "basic-lifecycle": [(started("stream1"),), (ended("stream1"),)],
    "conference-room": [
        (
            started(
                "alice",
                TRACK | {"subscriberId"},
                mainTrackId="room1",
                roomId="room1",
                subscriberId="alice-phone",
            ),
        ),
        (
            sent(
                "subtrackAddedInTheMainTrack",
                "alice",
                TRACK | {"subscriberId"},
                mainTrackId="room1",
                subscriberId="alice-phone",
            ),
        ),
        (
            sent(
                "firstActiveTrackAddedInMainTrack",
                "alice",
                NAMED | {"mainTrackId", "roomId"},
                streamName="Weekly sync",
                mainTrackId="room1",
                roomId="room1",
            ),
        ),
        (started("bob", TRACK | {"subscriberId"}, subscriberId="bob-laptop"),),
        (
            sent(
                "subtrackAddedInTheMainTrack",
                "bob",
                TRACK | {"subscriberId"},
                mainTrackId="room1",
            ),
        ),
        (ended("alice", TRACK | {"subscriberId"}, subscriberId="alice-phone"),),
        (sent("subtrackLeftTheMainTrack", "alice", TRACK | {"subscriberId"}),),
        (ended("bob", TRACK | {"subscriberId"}, subscriberId="bob-laptop"),),
        (
            sent(
                "subtrackLeftTheMainTrack",
                "bob",
                TRACK | {"subscriberId"},
                subscriberId="bob-laptop",
            ),
        ),
        (
            sent(
                "noActiveSubtracksLeftInMainTrack",
                "room1",
                NAMED,
                streamName="Weekly sync",
            ),
        ),
    ],
    "created-before-hook-url": [(started("stream1"),), (ended("stream1"),)],
    "delete-while-live": [(started("stream1"),), (ended("stream1"),)],
    "duplicate-delivery": [
        (started("stream1"),),
        (ended("stream1"), ended("stream1")),
    ],
    "encoder-error": [
        (started("stream1"),),
        (sent("encoderNotOpenedError", "stream1", NAMED),),
        (ended("stream1"),),
    ],
    "endpoint-failed": [
        (started("stream1"),),
        (
            sent(
                "endpointFailed",
                "stream1",
                WITH_METADATA,
                metadata='{"rtmp-url":"rtmp:\\/\\/live.example.com\\/app\\/stream-key"}',
            ),
        ),
        (ended("stream1"),),
    ],
    "idle-timeout": [
        (started("stream1"),),
        (ended("stream1"),),
        (sent("idleTimeIsExpired", "stream1", NAMED, streamName="Waiting room"),),
    ],
    "many-streams": [
        *[(started(camera),) for camera in CAMERAS],
        *[(ended(camera),) for camera in CAMERAS],
    ],
    "play-start-stop": [
        (started("stream1"),),
        (sent("playStarted", "stream1", PLAY, subscriberId="viewer1"),),
        (sent("playStarted", "stream1", PLAY, subscriberId="viewer2"),),
        (sent("playStopped", "stream1", PLAY, subscriberId="viewer1"),),
        (sent("playStopped", "stream1", PLAY, subscriberId="viewer2"),),
        (ended("stream1"),),
    ],
    "publish-timeout": [
        (
            sent(
                "publishTimeoutError",
                "stream1",
                WITH_METADATA,
                metadata='{"subscriberId":"publisher1"}',
            ),
        ),
        (started("stream1", NAMED | {"subscriberId"}, subscriberId="publisher1"),),
        (ended("stream1", NAMED | {"subscriberId"}, subscriberId="publisher1"),),
    ],
    "reconnect": [
        (started("stream1"),),
        (ended("stream1"),),
        (started("stream1"),),
        (ended("stream1"),),
    ],
    "recorded-lifecycle": [
        (started("stream1", WITH_METADATA, metadata=COURSE),),
        (
            ended("stream1", WITH_METADATA, metadata=COURSE),
            vod("stream1", VOD | {"metadata"}, duration="2000", metadata=COURSE),
        ),
    ],
    RETRY_STORM: [
        (started("stream1"),),
        (sent("playStarted", "stream1", PLAY),),
        (sent("playStopped", "stream1", PLAY),),
        (ended("stream1"), vod("stream1")),
    ],
    "reused-stream-id": [
        (started("stream1"),),
        (ended("stream1"),),
        (started("stream1"),),
        (ended("stream1"),),
    ],
    "second-recording": [
        (started("stream1"),),
        (ended("stream1"), vod("stream1", vodName="stream1")),
        (started("stream1"),),
        (ended("stream1"), vod("stream1", vodName="stream1_1")),
    ],
    "started-before-playable": [
        (started("stream1"),),
        (sent("playStarted", "stream1", PLAY),),
        (sent("playStopped", "stream1", PLAY),),
        (ended("stream1"),),
    ],
    "status-ticks": as_json(
        [
            (started("stream1"),),
            (sent("liveStreamStatus", "stream1", STATUS, streamName="Demo"),),
            (sent("liveStreamStatus", "stream1", STATUS),),
            (sent("liveStreamStatus", "stream1", STATUS),),
            (ended("stream1"),),
        ]
    ),
    "unexpected-termination": [
        (started("stream1"),),
        (started("stream1"),),
        (ended("stream1"),),
    ],
    "unicode-long-names": [
        # A form body is ISO-8859-1: AMS sends ? for what Latin-1 lacks.
        *unicode_hooks("Café \"Größe\" / ????? ? 'live' a\\b", "Ñandú/?? ?"),
        *as_json(unicode_hooks(UNICODE_NAME, UNICODE_CATEGORY)),
    ],
    "unnamed-stream": [(started("stream1", BASE),), (ended("stream1", BASE),)],
    "vod-before-ended": [
        (started("stream1"),),
        (vod("stream1", vodName="stream1"),),
        (ended("stream1"),),
    ],
    "vod-only-end-hook": [(started("stream1"),), (vod("stream1", vodName="stream1"),)],
    "zombi-stream": [(started("zombi1", BASE),), (ended("zombi1", BASE),)],
}


def by_name(names: Sequence[str]) -> list[Any]:
    return [pytest.param(name, id=name) for name in names]


@pytest.fixture(scope="module")
def healthy() -> Iterator[RecordingReceiver]:
    """A receiver on 127.0.0.1 that answers 200 to every hook and keeps it."""
    with RecordingReceiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(healthy: RecordingReceiver) -> RecordingReceiver:
    """The healthy receiver, with nothing received yet."""
    healthy.received.clear()

    return healthy


@pytest.fixture
def failing() -> Iterator[tuple[HTTPServer, list[bytes]]]:
    """A receiver on 127.0.0.1 that answers 500 to every hook; the bodies it got."""
    bodies: list[bytes] = []

    def answer(request: Request) -> Response:
        bodies.append(request.get_data())
        return Response("failing on purpose", status=500)

    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/hooks", method="POST").respond_with_handler(answer)
    server.start()
    yield server, bodies
    server.clear()
    server.stop()


def replayed(name: str, target: str) -> RunReport:
    return replay(load_scenario(name), ReplayOptions(target=target))


def received_view(hook: ReceivedHook) -> tuple[str, str, str, tuple[str, ...]]:
    stream = str(hook.fields.get("id", ""))
    return (stream, hook.action, hook.content_type, tuple(sorted(hook.fields)))


def in_steps(items: Sequence[Any], steps: Sequence[Step]) -> list[list[Any]]:
    """``items`` cut into runs as long as ``steps``; whatever is left over last."""
    runs, start = [], 0
    for step in steps:
        runs.append(list(items[start : start + len(step)]))
        start += len(step)
    if start < len(items):
        runs.append(list(items[start:]))

    return runs


def shows(hook: ReceivedHook, want: Want) -> bool:
    return received_view(hook)[:2] == (want.stream, want.action) and all(
        hook.fields.get(key) == value for key, value in want.values.items()
    )


# Every built-in scenario


@pytest.mark.parametrize("name", by_name(builtin_names()))
def test_builtin_scenario_sends_exactly_the_expected_hooks(
    receiver: RecordingReceiver, name: str
) -> None:
    assert name in EXPECTED, f"no expected hooks written for {name}"
    steps = EXPECTED[name]

    replayed(name, receiver.url)

    hooks = list(receiver.received)
    runs = in_steps(hooks, steps)
    got = [sorted(received_view(hook) for hook in run) for run in runs]
    wanted = [sorted(want.view() for want in step) for step in steps]
    assert got == wanted
    for run, step in zip(runs, steps, strict=True):
        for want in step:
            assert any(shows(hook, want) for hook in run), (want, run)


def test_expectations_are_written_for_the_builtin_scenarios_only() -> None:
    assert sorted(EXPECTED) == builtin_names()


@pytest.mark.parametrize(
    "name", by_name([name for name in builtin_names() if name != RETRY_STORM])
)
def test_builtin_scenario_passes_against_a_healthy_receiver(
    receiver: RecordingReceiver, name: str
) -> None:
    report = replayed(name, receiver.url)

    failed = [check for check in report.checks if not check.passed]
    assert report.passed, failed
    assert report.notes == []


@pytest.mark.parametrize("name", by_name(builtin_names()))
def test_builtin_scenario_is_named_for_its_file_and_described_in_one_line(
    name: str,
) -> None:
    scenario = load_scenario(name)

    assert scenario.name == name
    assert scenario.description.strip()
    assert "\n" not in scenario.description


def test_builtin_scenarios_together_fire_every_action() -> None:
    fired: set[str] = set()
    for name in builtin_names():
        options = ReplayOptions(target="http://127.0.0.1/hooks", dry_run=True)
        report = replay(load_scenario(name), options)
        fired |= {hook["action"] for hook in report.details["hooks"]}

    assert fired == set(ACTIONS)


def test_scenarios_command_lists_every_builtin_with_its_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scenarios"]) == 0

    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    assert sorted(listed) == builtin_names()
    for name, description in listed.items():
        assert description == load_scenario(name).description


# Particular scenarios


def test_retry_storm_makes_four_identical_attempts_per_hook_at_a_failing_receiver(
    failing: tuple[HTTPServer, list[bytes]],
) -> None:
    server, bodies = failing
    steps = [step * 4 for step in EXPECTED[RETRY_STORM]]

    report = replayed(RETRY_STORM, server.url_for("/hooks"))

    actions = [decode_body(body, FORM)[1]["action"] for body in bodies]
    runs = in_steps(actions, steps)
    assert [sorted(run) for run in runs] == [
        sorted(want.action for want in step) for step in steps
    ]
    assert sorted(Counter(bodies).values()) == [4] * 5
    attempts: dict[int, list[int]] = {}
    for item in report.deliveries:
        attempts.setdefault(item.event_id, []).append(item.attempt)
    assert (
        sorted(sorted(numbers) for numbers in attempts.values()) == [[1, 2, 3, 4]] * 5
    )
    assert {item.status for item in report.deliveries} == {500}
    assert not report.passed


def test_duplicate_delivery_sends_the_same_bytes_twice(
    receiver: RecordingReceiver,
) -> None:
    replayed("duplicate-delivery", receiver.url)

    first, second = [
        hook.body for hook in receiver.received if hook.action == "liveStreamEnded"
    ]
    assert first == second


def test_status_ticks_carry_numbers_not_text(receiver: RecordingReceiver) -> None:
    replayed("status-ticks", receiver.url)

    ticks = [hook for hook in receiver.received if hook.action == "liveStreamStatus"]
    assert len(ticks) == 3
    for tick in ticks:
        assert isinstance(tick.fields["width"], int)
        assert isinstance(tick.fields["timestamp"], int)
        assert isinstance(tick.fields["speed"], float)


# The schema of scenario files


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    text = resources.files("mockams").joinpath("scenario.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)

    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", by_name(builtin_names()))
def test_builtin_scenario_validates_against_the_schema(
    validator: jsonschema.Draft202012Validator, name: str
) -> None:
    document = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text("utf-8"))

    problems = [error.message for error in validator.iter_errors(document)]
    assert problems == []


def test_schema_names_exactly_the_actions_ams_sends(
    validator: jsonschema.Draft202012Validator,
) -> None:
    assert validator.schema["$defs"]["action"]["enum"] == list(ACTIONS)


def subschemas(where: str, schema: Any) -> Iterator[tuple[str, Any]]:
    """Every schema inside ``schema`` (itself included), with where it is."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for keyword in ("properties", "$defs"):
        for name, inner in schema.get(keyword, {}).items():
            yield from subschemas(f"{where}/{keyword}/{name}", inner)
    for keyword in ("items", "additionalProperties"):
        yield from subschemas(f"{where}/{keyword}", schema.get(keyword))
    for index, inner in enumerate(schema.get("anyOf", [])):
        yield from subschemas(f"{where}/anyOf/{index}", inner)


def test_every_schema_in_the_schema_has_a_description(
    validator: jsonschema.Draft202012Validator,
) -> None:
    schemas = list(subschemas("#", validator.schema))

    assert len(schemas) > 100
    assert [where for where, schema in schemas if "description" not in schema] == []


@pytest.mark.parametrize(
    "stream_id",
    [
        pytest.param("s1", id="plain"),
        pytest.param(" s1\t", id="trimmed"),
        pytest.param("a.b_c-9", id="every-kind-of-character"),
    ],
)
def test_schema_takes_the_stream_ids_the_parser_takes(
    validator: jsonschema.Draft202012Validator, stream_id: str
) -> None:
    for stream in (stream_id, {"id": stream_id}):
        document = {"streams": [stream], "steps": [{"wait": 0}]}

        parse_scenario(yaml.safe_dump(document), "fine.yaml")
        assert validator.is_valid(document)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("streams: [s1]\n", id="no-steps"),
        pytest.param("stream: [s1]\nsteps: [{publish: s1}]\n", id="unknown-field"),
        pytest.param("streams: [s1]\nsteps: [{publsh: s1}]\n", id="unknown-step"),
        pytest.param(
            "streams: [s1]\nsteps: [{publish: s1, delete: s1}]\n", id="two-kinds"
        ),
        pytest.param(
            "streams: [s1]\nsteps:\n  - fire: {action: liveStreamStart, stream: s1}\n",
            id="unknown-action",
        ),
        pytest.param("streams: [s1]\nsteps: [{wait: 2 seconds}]\n", id="bad-duration"),
        pytest.param(
            "streams: [{id: s1, title: Demo}]\nsteps: [{create: s1}]\n",
            id="unknown-stream-field",
        ),
        pytest.param(
            "streams: [{id: s1, record: 'yes'}]\nsteps: [{create: s1}]\n",
            id="record-not-a-boolean",
        ),
        pytest.param("streams: [s1]\nsteps: [{expect: vodReady}]\n", id="expect-bare"),
        pytest.param(
            "streams: [s1]\nsteps:\n  - unpublish: {stream: s1, renditions: [720x]}\n",
            id="bad-rendition",
        ),
        pytest.param(
            "settings: {content_type: xml}\nstreams: [s1]\nsteps: [{publish: s1}]\n",
            id="bad-content-type",
        ),
        pytest.param(
            'streams: [ok1, "bad id!"]\nsteps: [{publish: ok1}]\n', id="bad-stream-id"
        ),
        pytest.param(
            "streams: [{id: a/b}]\nsteps: [{create: a/b}]\n", id="bad-id-in-a-mapping"
        ),
        pytest.param('streams: [""]\nsteps: [{wait: 0}]\n', id="empty-stream-id"),
    ],
)
def test_schema_refuses_what_the_parser_refuses(
    validator: jsonschema.Draft202012Validator, text: str
) -> None:
    with pytest.raises(ScenarioError):
        parse_scenario(text, "broken.yaml")

    assert not validator.is_valid(yaml.safe_load(text))
