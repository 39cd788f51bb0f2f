"""Replaying scenarios at real receivers on 127.0.0.1.

A :class:`RecordingReceiver` answers 200 and keeps what it got, in arrival
order; a threaded pytest-httpserver answers with failures or slowly. Nothing
sleeps to wait: a replay returns once its deliveries are over.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from mockams import replay as replay_module
from mockams.payloads import ACTIONS
from mockams.receiver import ReceivedHook, RecordingReceiver
from mockams.replay import ReplayOptions, replay
from mockams.report import RunReport
from mockams.scenario import Scenario, parse_scenario
from mockams.server import MockAMS
from mockams.settings import AmsVersion

pytestmark = pytest.mark.network

HOOK_PATH = "/hooks"
JOIN_S = 20.0

LIFECYCLE = """
name: lifecycle
streams:
  - {id: stream1, name: Demo, category: news}
steps:
  - create: stream1
  - publish: stream1
  - unpublish: {stream: stream1, record: true}
"""


class QuickHTTPServer(HTTPServer):
    """pytest-httpserver on 127.0.0.1 that stops in 50 ms rather than 500."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)


@pytest.fixture(scope="module")
def running_receiver() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(running_receiver: RecordingReceiver) -> RecordingReceiver:
    """The module's recording receiver, with nothing received yet."""
    running_receiver.received.clear()

    return running_receiver


@pytest.fixture(scope="module")
def running_answerer() -> Iterator[QuickHTTPServer]:
    server = QuickHTTPServer("127.0.0.1", 0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def answerer(running_answerer: QuickHTTPServer) -> Iterator[QuickHTTPServer]:
    """A receiver that answers as each test tells it to."""
    running_answerer.clear()
    yield running_answerer
    running_answerer.clear()


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A hook URL on a port that is bound but not listening: connects are refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        yield f"http://127.0.0.1:{port}{HOOK_PATH}"


def scenario_of(text: str) -> Scenario:
    return parse_scenario(text, "test.yaml")


def replay_at(url: str, text: str, **options: Any) -> RunReport:
    return replay(scenario_of(text), ReplayOptions(target=url, **options))


def actions(hooks: list[ReceivedHook]) -> list[str]:
    return [hook.action for hook in hooks]


def check(report: RunReport, name: str) -> tuple[bool, str]:
    """Whether the check named ``name`` passed, and its message."""
    found = [item for item in report.checks if item.name == name]
    assert len(found) == 1, [item.name for item in report.checks]

    return found[0].passed, found[0].message


def replay_in_thread(scenario: Scenario, options: ReplayOptions) -> RunReport:
    """Replay in a thread, so that a replay that hangs fails the test instead."""
    results: queue.Queue[RunReport | BaseException] = queue.Queue()

    def run() -> None:
        try:
            results.put(replay(scenario, options))
        except BaseException as error:  # handed to the test to raise
            results.put(error)

    worker = threading.Thread(target=run, name="replay-under-test", daemon=True)
    worker.start()
    try:
        result = results.get(timeout=JOIN_S)
    except queue.Empty:
        pytest.fail(f"the replay did not end within {JOIN_S:g} s")
    worker.join(JOIN_S)
    if isinstance(result, BaseException):
        raise result

    return result


# Time


def test_speed_0_does_not_wait(receiver: RecordingReceiver) -> None:
    scenario = scenario_of(
        "streams: [s1]\nsteps:\n  - publish: s1\n  - wait: 30s\n  - unpublish: s1\n"
        "  - wait: 1m\n"
    )

    report = replay_in_thread(scenario, ReplayOptions(target=receiver.url, speed=0))

    assert report.passed
    assert actions(receiver.received) == ["liveStreamStarted", "liveStreamEnded"]


def test_speed_1_waits_in_real_time(receiver: RecordingReceiver) -> None:
    scenario = scenario_of("streams: [s1]\nsteps:\n  - publish: s1\n  - wait: 200ms\n")

    started = time.perf_counter()
    report = replay(scenario, ReplayOptions(target=receiver.url, speed=1))

    assert time.perf_counter() - started >= 0.2
    assert report.passed


def test_a_faster_speed_divides_the_waits(receiver: RecordingReceiver) -> None:
    scenario = scenario_of("streams: [s1]\nsteps:\n  - publish: s1\n  - wait: 30s\n")

    started = time.perf_counter()
    report = replay_in_thread(scenario, ReplayOptions(target=receiver.url, speed=100))

    assert time.perf_counter() - started >= 0.3
    assert report.passed


# Overrides


def vod_ids(report: RunReport) -> list[str]:
    return [
        item.fields["vodId"] for item in report.deliveries if "vodId" in item.fields
    ]


def test_the_same_seed_gives_the_same_vod_ids(receiver: RecordingReceiver) -> None:
    first = replay_at(receiver.url, LIFECYCLE, seed=7)
    second = replay_at(receiver.url, LIFECYCLE, seed=7)
    other = replay_at(receiver.url, LIFECYCLE, seed=8)

    assert len(vod_ids(first)) == 1
    assert vod_ids(first) == vod_ids(second)
    assert vod_ids(first) != vod_ids(other)
    assert first.to_json()["seed"] == 7


def test_a_seed_also_fixes_the_vod_id_of_a_fired_vod_ready(
    receiver: RecordingReceiver,
) -> None:
    text = (
        "streams: [s1]\nsteps:\n  - create: s1\n"
        "  - fire: {action: vodReady, stream: s1}\n"
    )

    first = replay_at(receiver.url, text, seed=3)
    second = replay_at(receiver.url, text, seed=3)

    assert vod_ids(first) == vod_ids(second)
    assert len(vod_ids(first)) == 1


def test_the_content_type_option_overrides_the_scenario(
    receiver: RecordingReceiver,
) -> None:
    text = "settings: {content_type: form}\n" + LIFECYCLE

    report = replay_at(receiver.url, text, content_type="json")

    assert report.passed
    assert len(receiver.received) == 3
    for hook in receiver.received:
        assert hook.content_type.startswith("application/json")
        assert json.loads(hook.body)["id"] == "stream1"


def test_the_scenario_content_type_applies_without_an_option(
    receiver: RecordingReceiver,
) -> None:
    replay_at(receiver.url, "settings: {content_type: json}\n" + LIFECYCLE)

    assert {hook.content_type for hook in receiver.received} == {
        "application/json; charset=UTF-8"
    }


def test_the_ams_version_option_overrides_the_scenario(
    receiver: RecordingReceiver,
) -> None:
    text = "settings: {ams_version: current, content_type: json}\n" + LIFECYCLE

    replay_at(receiver.url, text, ams_version=AmsVersion.parse("seed"))

    started = receiver.received[0]
    assert started.content_type == "application/x-www-form-urlencoded"
    assert started.fields == {
        "action": "liveStreamStarted",
        "id": "stream1",
        "category": "news",
        "streamName": "Demo",
    }
    for hook in receiver.received:
        assert "timestamp" not in hook.fields
        assert "app" not in hook.fields


def test_the_current_version_sends_app_and_timestamp(
    receiver: RecordingReceiver,
) -> None:
    replay_at(receiver.url, LIFECYCLE)

    for hook in receiver.received:
        assert hook.fields["app"] == "LiveApp"
        assert hook.fields["timestamp"].isdigit()


# Many streams


def test_streams_n_runs_n_copies_with_numbered_ids(
    receiver: RecordingReceiver,
) -> None:
    text = (
        "streams: [stream1, stream2]\nsteps:\n"
        "  - create: stream1\n  - publish: stream1\n  - publish: stream2\n"
        "  - unpublish: stream1\n  - unpublish: stream2\n"
        "  - expect: {action: liveStreamStarted, count: 2}\n"
    )

    report = replay_at(receiver.url, text, streams=12, concurrency=4)

    copies = [f"{index:02d}" for index in range(1, 13)]
    expected = Counter(
        (action, f"{stream}-{copy}")
        for copy in copies
        for stream in ("stream1", "stream2")
        for action in ("liveStreamStarted", "liveStreamEnded")
    )
    received = Counter((hook.action, hook.fields["id"]) for hook in receiver.received)
    assert received == expected
    assert len(report.deliveries) == 48
    assert report.passed
    assert report.to_json()["streams"] == 12


def test_copies_keep_their_own_main_track(receiver: RecordingReceiver) -> None:
    text = (
        "streams:\n  - room\n  - {id: guest, main_track: room}\nsteps:\n"
        "  - create: room\n  - create: guest\n  - publish: guest\n"
    )

    replay_at(receiver.url, text, streams=2, concurrency=2)

    started = {hook.fields["id"]: hook.fields for hook in receiver.received}
    assert set(started) == {"guest-1", "guest-2"}
    for copy in ("1", "2"):
        assert started[f"guest-{copy}"]["mainTrackId"] == f"room-{copy}"


def test_an_expect_is_checked_in_every_copy(receiver: RecordingReceiver) -> None:
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, count: 2}\n"
    )

    report = replay_at(receiver.url, text, streams=3, concurrency=3)

    passed, message = check(report, "step 2: expect liveStreamStarted")
    assert not passed
    assert message == (
        "expected 2 liveStreamStarted deliveries, got 1 (and 2 more copies)"
    )


# Duplicates and order


def test_reorder_makes_vod_ready_arrive_before_live_stream_ended(
    receiver: RecordingReceiver,
) -> None:
    scenario = scenario_of(
        "streams: [stream1]\nsteps:\n  - publish: stream1\n"
        "  - reorder: {stream: stream1, first: vodReady, then: liveStreamEnded}\n"
        "  - unpublish: {stream: stream1, record: true}\n"
    )

    for _ in range(5):
        receiver.received.clear()
        report = replay(scenario, ReplayOptions(target=receiver.url))

        assert report.passed
        assert actions(receiver.received) == [
            "liveStreamStarted",
            "vodReady",
            "liveStreamEnded",
        ]


def test_a_reorder_whose_first_hook_never_comes_releases_the_held_one(
    receiver: RecordingReceiver,
) -> None:
    text = (
        "streams: [stream1]\nsteps:\n  - publish: stream1\n"
        "  - reorder: {stream: stream1, first: vodReady, then: liveStreamEnded}\n"
        "  - unpublish: {stream: stream1, record: false}\n"
    )

    report = replay_in_thread(scenario_of(text), ReplayOptions(target=receiver.url))

    assert actions(receiver.received) == ["liveStreamStarted", "liveStreamEnded"]
    assert report.notes == [
        "step 3: reorder: the awaited hook never came, so "
        "liveStreamEnded(stream1) went out anyway"
    ]
    assert report.passed


def test_duplicate_delivers_the_same_bytes_twice(receiver: RecordingReceiver) -> None:
    text = (
        "streams: [stream1]\nsteps:\n"
        "  - duplicate: {stream: stream1, action: liveStreamStarted}\n"
        "  - publish: stream1\n  - unpublish: stream1\n"
        "  - expect: {action: liveStreamStarted, count: 2}\n"
        "  - expect: {action: liveStreamEnded, count: 1}\n"
    )

    report = replay_at(receiver.url, text)

    started = [item for item in receiver.received if item.action == "liveStreamStarted"]
    assert len(started) == 2
    assert started[0].body == started[1].body
    assert started[0].content_type == started[1].content_type
    events = {
        item.event_id for item in report.deliveries if item.action == started[0].action
    }
    assert len(events) == 1
    assert report.passed


def test_duplicate_applies_to_the_next_hook_only(receiver: RecordingReceiver) -> None:
    text = (
        "streams: [s1]\nsteps:\n"
        "  - duplicate: {stream: s1, action: liveStreamStarted}\n"
        "  - publish: s1\n  - unpublish: s1\n  - publish: s1\n"
    )

    replay_at(receiver.url, text)

    assert Counter(actions(receiver.received)) == {
        "liveStreamStarted": 3,
        "liveStreamEnded": 1,
    }


# Expectations


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        pytest.param(
            "{action: liveStreamStarted, count: 1, status: 200}", "", id="holds"
        ),
        pytest.param(
            "{action: liveStreamStarted, count: 2}",
            "expected 2 liveStreamStarted deliveries, got 1",
            id="count",
        ),
        pytest.param(
            "{action: vodReady}", "expected vodReady deliveries, got none", id="none"
        ),
        pytest.param(
            "{action: liveStreamStarted, status: 500}",
            "expected status 500, got 200 (1 deliveries)",
            id="status",
        ),
        pytest.param(
            "{action: vodReady, count: 0}", "", id="count-zero-holds-on-nothing"
        ),
        pytest.param("{count: 2}", "", id="any-action"),
    ],
)
def test_an_expect_holds_or_says_what_it_found(
    receiver: RecordingReceiver, expect: str, message: str
) -> None:
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n  - unpublish: s1\n"
        f"  - expect: {expect}\n"
    )

    report = replay_at(receiver.url, text)

    [expect_check] = [item for item in report.checks if item.name.startswith("step 3")]
    assert expect_check.passed == (not message)
    assert expect_check.message == message
    assert report.passed == (not message)


def test_an_expect_on_one_stream_counts_only_that_stream(
    receiver: RecordingReceiver,
) -> None:
    text = (
        "streams: [s1, s2]\nsteps:\n  - publish: s1\n  - publish: s2\n"
        "  - expect: {action: liveStreamStarted, stream: s2, count: 1}\n"
        "  - expect: {action: liveStreamStarted, count: 2}\n"
    )

    report = replay_at(receiver.url, text)

    assert check(report, "step 3: expect liveStreamStarted s2") == (True, "")
    assert check(report, "step 4: expect liveStreamStarted") == (True, "")


def slow_answer(request: Request) -> Response:
    time.sleep(0.3)  # the receiver under test is slow; nothing is awaited here
    return Response("ok")


def test_max_latency_fails_against_a_slow_receiver(answerer: QuickHTTPServer) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_handler(slow_answer)
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, max_latency: 50ms}\n"
        "  - expect: {action: liveStreamStarted, max_latency: 1m}\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text)

    passed, message = check(report, "step 2: expect liveStreamStarted")
    assert not passed
    match = re.fullmatch(
        r"expected answers within 50 ms, 1 took longer \(worst (\d+\.\d) ms\)", message
    )
    assert match is not None, message
    assert float(match.group(1)) >= 250
    assert check(report, "step 3: expect liveStreamStarted") == (True, "")
    assert check(report, "liveStreamStarted deliveries answered 200") == (True, "")


# Whether a run passed


def test_a_receiver_that_fails_fails_the_run(answerer: QuickHTTPServer) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)

    report = replay_at(answerer.url_for(HOOK_PATH), LIFECYCLE)

    assert not report.passed
    assert check(report, "liveStreamStarted deliveries answered 200") == (
        False,
        "1 deliveries did not get a 200; first: attempt 1 for stream1 got 500",
    )
    assert [item.status for item in report.deliveries] == [500, 500, 500]


def test_an_expected_failure_status_excuses_those_deliveries(
    answerer: QuickHTTPServer,
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, count: 1, status: 500}\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text)

    assert report.passed
    assert check(report, "liveStreamStarted deliveries answered 200")[0]


def test_an_expected_failure_excuses_only_its_own_action(
    answerer: QuickHTTPServer,
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n  - unpublish: s1\n"
        "  - expect: {action: liveStreamStarted, status: 500}\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text)

    assert not report.passed
    assert check(report, "liveStreamStarted deliveries answered 200")[0]
    assert not check(report, "liveStreamEnded deliveries answered 200")[0]


def test_a_redirect_is_not_a_200(answerer: QuickHTTPServer) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data(
        "", status=302, headers={"Location": "/elsewhere"}
    )

    report = replay_at(
        answerer.url_for(HOOK_PATH), "streams: [s1]\nsteps:\n  - publish: s1\n"
    )

    assert [item.status for item in report.deliveries] == [302]
    assert not report.passed


def test_an_unreachable_target_gives_failed_deliveries_and_a_note(
    closed_url: str,
) -> None:
    text = "settings: {retry_count: 1, retry_delay: 0}\n" + LIFECYCLE

    report = replay_at(closed_url, text)

    assert len(report.deliveries) == 6
    assert {item.error for item in report.deliveries} == {"connection refused"}
    assert {item.status for item in report.deliveries} == {None}
    assert report.notes == [
        f"every delivery to {closed_url} failed with 'connection refused': "
        "is the receiver running there?"
    ]
    assert not report.passed
    assert [summary.failed for summary in report.summaries] == [2, 2, 2]


# Reports


def test_the_json_report_lists_every_attempt_and_per_action_figures(
    answerer: QuickHTTPServer, tmp_path: Path
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=503)
    text = (
        "settings: {retry_count: 2, retry_delay: 10ms}\n"
        "streams: [s1]\nsteps:\n  - publish: s1\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text, seed=5)

    data = report.to_json()
    attempts = [
        (item["attempt"], item["status"], item["retry_scheduled"])
        for item in data["deliveries"]
    ]
    assert attempts == [(1, 503, True), (2, 503, True), (3, 503, False)]
    assert len({item["id"] for item in data["deliveries"]}) == 3
    assert len({item["event_id"] for item in data["deliveries"]}) == 1
    assert len(answerer.log) == 3
    [figures] = data["actions"]
    assert {key: figures[key] for key in ("action", "sent", "ok", "failed")} == {
        "action": "liveStreamStarted",
        "sent": 3,
        "ok": 0,
        "failed": 3,
    }
    assert figures["retries"] == 2
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        assert figures[key] >= 0
    assert data["passed"] is False
    assert (data["scenario"], data["streams"], data["speed"], data["seed"]) == (
        "test",
        1,
        0.0,
        5,
    )
    path = tmp_path / "report.json"
    report.write_json(path)
    assert json.loads(path.read_text("utf-8")) == json.loads(
        json.dumps(data, allow_nan=False)
    )


def test_latency_figures_are_empty_when_nothing_answered(closed_url: str) -> None:
    report = replay_at(closed_url, "streams: [s1]\nsteps:\n  - publish: s1\n")

    [figures] = report.to_json()["actions"]
    assert [figures[key] for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")] == [
        None,
        None,
        None,
        None,
    ]
    json.dumps(report.to_json(), allow_nan=False)
    assert report.table().splitlines()[1].split()[-4:] == ["-", "-", "-", "-"]


def test_the_table_has_a_row_per_action(receiver: RecordingReceiver) -> None:
    report = replay_at(receiver.url, LIFECYCLE)

    lines = report.table().splitlines()
    assert lines[0].split() == [
        "action",
        "sent",
        "200",
        "failed",
        "retries",
        "p50",
        "p95",
        "p99",
        "max",
    ]
    rows = {line.split()[0]: line.split()[1:5] for line in lines[1:]}
    assert rows == {
        "liveStreamStarted": ["1", "1", "0", "0"],
        "liveStreamEnded": ["1", "1", "0", "0"],
        "vodReady": ["1", "1", "0", "0"],
    }


def test_the_junit_report_has_a_testcase_per_check(
    answerer: QuickHTTPServer, tmp_path: Path
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n  - unpublish: s1\n"
        "  - expect: {action: liveStreamStarted, count: 1, status: 500}\n"
        "  - expect: {action: liveStreamEnded, count: 3}\n"
    )
    report = replay_at(answerer.url_for(HOOK_PATH), text)
    path = tmp_path / "junit.xml"

    report.write_junit(path)

    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [item.name for item in report.checks]
    failed = {
        case.get("name"): failure.get("message")
        for case in cases
        if (failure := case.find("failure")) is not None
    }
    assert failed == {
        item.name: item.message for item in report.checks if not item.passed
    }
    assert set(failed) == {
        "step 4: expect liveStreamEnded",
        "liveStreamEnded deliveries answered 200",
    }
    assert suite.get("tests") == str(len(report.checks))
    assert suite.get("failures") == "2"
    assert suite.get("errors") == "0"
    system_out = suite.find("system-out")
    assert system_out is not None
    assert system_out.text == report.table()


def test_dry_run_sends_nothing_and_lists_the_hooks(
    receiver: RecordingReceiver,
) -> None:
    text = LIFECYCLE + "  - expect: {action: vodReady, count: 5}\n"

    report = replay_at(receiver.url, text, dry_run=True)

    assert receiver.received == []
    assert report.deliveries == []
    hooks = report.details["hooks"]
    assert [hook["action"] for hook in hooks] == [
        "liveStreamStarted",
        "liveStreamEnded",
        "vodReady",
    ]
    assert hooks[0]["stream_id"] == "stream1"
    assert hooks[0]["url"] == receiver.url
    assert hooks[0]["content_type"] == "application/x-www-form-urlencoded"
    assert "action=liveStreamStarted" in hooks[0]["body"]
    assert report.passed


def test_dry_run_lists_a_duplicated_hook_twice(receiver: RecordingReceiver) -> None:
    text = (
        "streams: [s1]\nsteps:\n"
        "  - duplicate: {stream: s1, action: liveStreamStarted}\n  - publish: s1\n"
    )

    report = replay_at(receiver.url, text, dry_run=True)

    hooks = report.details["hooks"]
    assert [hook["action"] for hook in hooks] == ["liveStreamStarted"] * 2
    assert hooks[0]["body"] == hooks[1]["body"]
    assert receiver.received == []


def test_dry_run_lists_the_hooks_in_the_order_a_reorder_gives(
    receiver: RecordingReceiver,
) -> None:
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - reorder: {stream: s1, first: vodReady, then: liveStreamEnded}\n"
        "  - unpublish: {stream: s1, record: true}\n"
    )

    report = replay_at(receiver.url, text, dry_run=True)

    assert [hook["action"] for hook in report.details["hooks"]] == [
        "liveStreamStarted",
        "vodReady",
        "liveStreamEnded",
    ]
    assert report.notes == []


def test_progress_is_told_after_every_step(receiver: RecordingReceiver) -> None:
    told: list[str] = []

    replay_at(receiver.url, LIFECYCLE, progress=told.append)

    assert told[-1] == "3/3 steps, 3 deliveries"
    assert [line.split(" steps")[0] for line in told] == ["1/3", "2/3", "3/3"]


# Any valid scenario


@st.composite
def valid_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario dict whose steps can all happen, built by tracking each stream."""
    stream_ids = [f"s{index}" for index in range(1, draw(st.integers(1, 3)) + 1)]
    created: set[str] = set()
    live: set[str] = set()
    steps: list[dict[str, Any]] = []
    any_action = st.sampled_from(sorted(ACTIONS))
    for _ in range(draw(st.integers(1, 10))):
        stream = draw(st.sampled_from(stream_ids))
        kinds = ["fire", "duplicate", "reorder", "wait", "expect"]
        if stream not in created and stream not in live:
            kinds.append("create")
        if stream not in live:
            kinds.append("publish")
        else:
            kinds += ["unpublish", "status"]
        if stream in created or stream in live:
            kinds.append("delete")
        kind = draw(st.sampled_from(kinds))
        if kind == "create":
            created.add(stream)
            steps.append({"create": stream})
        elif kind == "publish":
            live.add(stream)
            steps.append({"publish": stream})
        elif kind == "unpublish":
            live.discard(stream)
            record = draw(st.booleans())
            steps.append({"unpublish": {"stream": stream, "record": record}})
        elif kind == "delete":
            created.discard(stream)
            live.discard(stream)
            steps.append({"delete": stream})
        elif kind == "status":
            steps.append({"status": {"stream": stream, "count": 2, "every": 0}})
        elif kind == "fire":
            steps.append({"fire": {"action": draw(any_action), "stream": stream}})
        elif kind == "duplicate":
            steps.append({"duplicate": {"stream": stream, "action": draw(any_action)}})
        elif kind == "reorder":
            first, then = draw(
                st.lists(any_action, min_size=2, max_size=2, unique=True)
            )
            steps.append({"reorder": {"stream": stream, "first": first, "then": then}})
        elif kind == "wait":
            steps.append({"wait": 0})
        else:
            expect: dict[str, Any] = {"action": draw(any_action)}
            if draw(st.booleans()):
                expect["count"] = draw(st.integers(0, 2))
            steps.append({"expect": expect})

    return {
        "name": "generated",
        "settings": {"content_type": draw(st.sampled_from(["form", "json"]))},
        "streams": [{"id": item, "name": f"Name {item}"} for item in stream_ids],
        "steps": steps,
    }


class KeptMockAMS(MockAMS):
    """The replay's own mock, kept so a test can read its delivery log."""

    made: ClassVar[list[MockAMS]] = []

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        KeptMockAMS.made.append(self)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(valid_scenarios(), st.integers(1, 2))
def test_any_valid_scenario_replays_and_reports_every_attempt(
    receiver: RecordingReceiver, scenario_dict: dict[str, Any], copies: int
) -> None:
    scenario = parse_scenario(yaml.safe_dump(scenario_dict, sort_keys=False))
    receiver.received.clear()
    KeptMockAMS.made.clear()

    with mock.patch.object(replay_module, "MockAMS", KeptMockAMS):
        report = replay(
            scenario,
            ReplayOptions(target=receiver.url, streams=copies, concurrency=copies),
        )

    [ams] = KeptMockAMS.made
    recorded = {item.id for item in ams.log.select()}
    reported = [item["id"] for item in report.to_json()["deliveries"]]
    assert sorted(reported) == sorted(recorded)
    assert len(set(reported)) == len(reported)
    answered = [item for item in report.deliveries if item.status is not None]
    assert len(receiver.received) == len(answered)
    assert all(item.status == 200 for item in report.deliveries)
    assert Counter(hook.body for hook in receiver.received) == Counter(
        item.body for item in report.deliveries
    )
    assert not ams.sender.errors
    assert not [item for item in report.checks if item.error]
