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
from collections.abc import Callable, Iterator
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
from mockams import server as server_module
from mockams.payloads import ACTIONS
from mockams.receiver import ReceivedHook, RecordingReceiver
from mockams.replay import ReplayOptions, replay
from mockams.report import RunReport, all_failed_note
from mockams.scenario import Scenario, load_scenario, parse_scenario
from mockams.sender import Delivery, Scheduler
from mockams.server import MockAMS
from mockams.settings import AmsVersion
from mockams.wire import decode_body

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


class LateScheduler(Scheduler):
    """A timer that runs nothing until someone waits for it: a busy timer thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.waited_for = threading.Event()
        super().__init__(*args, **kwargs)

    def call_later(self, delay_s: float, action: Callable[[], None]) -> None:
        def late() -> None:
            self.waited_for.wait(JOIN_S)
            action()

        super().call_later(delay_s, late)

    def wait_due(self, deadline: float, timeout: float) -> bool:
        self.waited_for.set()
        return super().wait_due(deadline, timeout)

    def wait_empty(self, timeout: float) -> bool:
        self.waited_for.set()
        return super().wait_empty(timeout)


def test_an_idle_timer_due_as_a_wait_ends_is_counted_by_the_next_expect(
    receiver: RecordingReceiver,
) -> None:
    with mock.patch.object(server_module, "Scheduler", LateScheduler):
        report = replay_in_thread(
            load_scenario("idle-timeout"),
            ReplayOptions(target=receiver.url, speed=1000),
        )

    assert check(report, "step 6: expect idleTimeIsExpired stream1") == (True, "")
    assert report.passed


def test_wait_due_returns_once_the_task_due_by_then_has_run() -> None:
    scheduler = Scheduler()
    started, go_on = threading.Event(), threading.Event()
    ran: list[str] = []

    def task() -> None:
        started.set()
        go_on.wait(JOIN_S)
        ran.append("task")

    scheduler.call_later(0, task)
    assert started.wait(JOIN_S)
    seen: queue.Queue[tuple[bool, list[str]]] = queue.Queue()
    waiter = threading.Thread(
        target=lambda: seen.put(
            (scheduler.wait_due(time.monotonic(), JOIN_S), list(ran))
        )
    )
    waiter.start()
    go_on.set()

    assert seen.get(timeout=JOIN_S) == (True, ["task"])
    waiter.join(JOIN_S)
    scheduler.close()


def test_wait_due_does_not_wait_for_a_task_due_later() -> None:
    scheduler = Scheduler()
    ran: list[str] = []
    scheduler.call_later(0, lambda: ran.append("now"))
    scheduler.call_later(3600, lambda: ran.append("in an hour"))

    assert scheduler.wait_due(time.monotonic(), JOIN_S)
    assert ran == ["now"]
    assert len(scheduler) == 1
    scheduler.close()


def test_wait_due_says_so_when_it_gives_up() -> None:
    scheduler = Scheduler()
    go_on = threading.Event()
    scheduler.call_later(0, lambda: go_on.wait(JOIN_S))

    assert not scheduler.wait_due(time.monotonic(), 0.01)
    go_on.set()
    assert scheduler.wait_due(time.monotonic(), JOIN_S)
    scheduler.close()


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


def test_a_stream_id_written_with_spaces_goes_out_trimmed(
    receiver: RecordingReceiver,
) -> None:
    text = (
        'streams: [" s1 "]\nsteps:\n  - create: " s1 "\n  - publish: s1\n'
        "  - expect: {action: liveStreamStarted, stream: s1, count: 1}\n"
    )

    report = replay_at(receiver.url, text)

    assert report.passed
    assert [hook.fields["id"] for hook in receiver.received] == ["s1"]


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


def test_max_latency_says_no_answer_when_nothing_answered(closed_url: str) -> None:
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, max_latency: 1s}\n"
    )

    report = replay_at(closed_url, text)

    assert check(report, "step 2: expect liveStreamStarted") == (
        False,
        "expected answers within 1000 ms, 1 took longer (no answer)",
    )


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
    assert check(report, "liveStreamStarted deliveries answered 200") == (
        True,
        "1 excused by step 2",
    )


def test_an_expected_failure_on_one_stream_excuses_only_that_stream(
    answerer: QuickHTTPServer,
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)
    text = (
        "streams: [s1, s2]\nsteps:\n  - publish: s1\n  - publish: s2\n"
        "  - expect: {stream: s1, status: 500}\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text)

    assert check(report, "step 3: expect s1") == (True, "")
    assert check(report, "liveStreamStarted deliveries answered 200") == (
        False,
        "1 deliveries did not get a 200; first: attempt 1 for s2 got 500 "
        "(1 excused by step 3)",
    )
    assert not report.passed


def test_an_expected_failure_does_not_excuse_later_deliveries(
    answerer: QuickHTTPServer,
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)
    text = (
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, status: 500}\n"
        "  - unpublish: s1\n  - publish: s1\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text)

    assert check(report, "liveStreamStarted deliveries answered 200") == (
        False,
        "1 deliveries did not get a 200; first: attempt 1 for s1 got 500 "
        "(1 excused by step 2)",
    )
    assert not check(report, "liveStreamEnded deliveries answered 200")[0]


def test_the_answered_200_check_names_every_step_that_excused(
    answerer: QuickHTTPServer,
) -> None:
    answerer.expect_request(HOOK_PATH).respond_with_data("no", status=500)
    text = (
        "settings: {retry_count: 1, retry_delay: 0}\n"
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, status: 500, count: 2}\n"
        "  - unpublish: s1\n  - publish: s1\n"
        "  - expect: {stream: s1, status: 500}\n"
    )

    report = replay_at(answerer.url_for(HOOK_PATH), text)

    assert check(report, "liveStreamStarted deliveries answered 200") == (
        True,
        "4 excused by steps 2, 5",
    )
    assert check(report, "liveStreamEnded deliveries answered 200") == (
        True,
        "2 excused by step 5",
    )
    assert report.passed


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


TARGET = "http://127.0.0.1:8000/hooks"


def failed_with(error: str, status: int | None = None) -> Delivery:
    """An attempt that got ``error`` (or ``status``) from the target."""
    return Delivery(
        id=1,
        event_id=1,
        app="LiveApp",
        action="liveStreamStarted",
        stream_id="s1",
        url=TARGET,
        content_type="application/x-www-form-urlencoded",
        body="",
        attempt=1,
        status=status,
        error=error or None,
        elapsed_ms=2000.0,
        ttfb_ms=None,
        connect_ms=None,
        sent_at=0.0,
        finished_at=2.0,
    )


@pytest.mark.parametrize(
    ("errors", "note"),
    [
        pytest.param(
            ["connection refused"] * 2,
            f"every delivery to {TARGET} failed with 'connection refused': "
            "is the receiver running there?",
            id="refused",
        ),
        pytest.param(
            ["cannot connect: Network is unreachable"],
            f"every delivery to {TARGET} failed with 'cannot connect: Network is "
            "unreachable': is the receiver running there?",
            id="cannot-connect",
        ),
        pytest.param(
            ["read timed out after 2000 ms"] * 3,
            f"every delivery to {TARGET} failed with 'read timed out after 2000 ms': "
            "the receiver did not answer within the 2 s AMS waits",
            id="read-timeout",
        ),
        pytest.param(
            ["connect timed out"],
            f"every delivery to {TARGET} failed with 'connect timed out': "
            "the receiver did not answer within the 2 s AMS waits",
            id="connect-timeout",
        ),
        pytest.param(
            ["connection reset by the receiver"],
            f"every delivery to {TARGET} failed with 'connection reset by the "
            "receiver'",
            id="reset",
        ),
        pytest.param(["connection refused", "read timed out"], "", id="mixed"),
        pytest.param([], "", id="none"),
    ],
)
def test_a_note_tells_why_every_delivery_failed_only_when_it_knows(
    errors: list[str], note: str
) -> None:
    deliveries = [failed_with(error) for error in errors]

    assert all_failed_note(TARGET, deliveries) == note


def test_no_note_when_some_delivery_got_an_answer() -> None:
    deliveries = [failed_with("connection refused"), failed_with("", status=500)]

    assert all_failed_note(TARGET, deliveries) == ""


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


def progress_counts(line: str) -> tuple[int, int]:
    """The steps done and the deliveries made, as a progress line tells them."""
    match = re.fullmatch(r"(\d+)/\d+ steps, (\d+) deliveries", line)
    assert match is not None, line

    return int(match.group(1)), int(match.group(2))


def test_progress_never_goes_back_with_copies_at_once(
    receiver: RecordingReceiver,
) -> None:
    told: list[str] = []

    replay_at(receiver.url, LIFECYCLE, streams=8, concurrency=4, progress=told.append)

    steps, deliveries = zip(*map(progress_counts, told), strict=True)
    assert list(steps) == list(range(1, 25))
    assert list(deliveries) == sorted(deliveries)
    assert told[-1] == "24/24 steps, 24 deliveries"


# Any valid scenario


NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
WORDS = st.text("abcxyz-_ 0189", min_size=1, max_size=6)
# Any action, the ones a stream's life sends more often than the others.
LIKELY_ACTIONS = st.one_of(
    st.sampled_from(["liveStreamStarted", "liveStreamEnded", "vodReady"]),
    st.sampled_from(sorted(ACTIONS)),
)


@st.composite
def valid_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario dict whose steps can all happen, built by tracking each stream."""
    stream_ids = [f"s{index}" for index in range(1, draw(st.integers(1, 3)) + 1)]
    created: set[str] = set()
    live: set[str] = set()
    stalled: set[str] = set()
    steps: list[dict[str, Any]] = []
    any_action = st.sampled_from(sorted(ACTIONS))
    for _ in range(draw(st.integers(1, 10))):
        stream = draw(st.sampled_from(stream_ids))
        kinds = ["fire", "duplicate", "reorder", "wait", "expect"]
        if stream not in created and stream not in live:
            kinds.append("create")
        if stream not in live or stream in stalled:
            kinds += ["publish"] * 3  # most hooks follow a publish
        if stream in live:
            kinds += ["unpublish"] * 2
        if stream in live and stream not in stalled:
            kinds += ["status", "stall"]
        if stream in created or stream in live:
            kinds.append("delete")
        kind = draw(st.sampled_from(kinds))
        if kind == "create":
            created.add(stream)
            steps.append({"create": stream})
        elif kind == "publish":
            live.add(stream)
            stalled.discard(stream)
            publish: dict[str, Any] = {"stream": stream}
            if draw(st.booleans()):
                publish["params"] = draw(st.dictionaries(WORDS, WORDS, max_size=2))
                publish["publish_type"] = draw(st.sampled_from(["RTMP", "WebRTC"]))
            steps.append({"publish": publish})
        elif kind == "unpublish":
            live.discard(stream)
            stalled.discard(stream)
            unpublish = {"stream": stream, "record": draw(st.booleans())}
            if draw(st.booleans()):
                unpublish["renditions"] = draw(
                    st.lists(st.sampled_from(["720p2500kbps", 480]), max_size=2)
                )
            steps.append({"unpublish": unpublish})
        elif kind == "delete":
            created.discard(stream)
            live.discard(stream)
            stalled.discard(stream)
            steps.append({"delete": stream})
        elif kind == "status":
            status = {"stream": stream, "count": 2, "every": 0}
            if draw(st.booleans()):
                status["stats"] = {"width": draw(st.integers(0, 4096))}
            steps.append({"status": status})
        elif kind == "stall":
            stalled.add(stream)
            steps.append({"stall": {"stream": stream, "silent_for": "30s"}})
        elif kind == "fire":
            fire: dict[str, Any] = {"action": draw(any_action), "stream": stream}
            if draw(st.booleans()):
                fire["fields"] = {"category": draw(NAMES)}
                fire["params"] = draw(st.dictionaries(WORDS, NAMES, max_size=2))
            steps.append({"fire": fire})
        elif kind == "duplicate":
            action = draw(LIKELY_ACTIONS)
            steps.append({"duplicate": {"stream": stream, "action": action}})
        elif kind == "reorder":
            first, then = draw(
                st.lists(LIKELY_ACTIONS, min_size=2, max_size=2, unique=True)
            )
            steps.append({"reorder": {"stream": stream, "first": first, "then": then}})
        elif kind == "wait":
            steps.append({"wait": 0})
        else:
            expect: dict[str, Any] = {"action": draw(LIKELY_ACTIONS)}
            if draw(st.booleans()):
                expect["count"] = draw(st.integers(0, 2))
            if draw(st.booleans()):
                expect["status"] = draw(st.sampled_from([200, 500]))
            steps.append({"expect": expect})

    return {
        "name": "generated",
        "settings": {
            "content_type": draw(st.sampled_from(["form", "json"])),
            "retry_count": draw(st.integers(0, 2)),
            "retry_delay": 0,
        },
        "streams": [
            {
                "id": item,
                "name": draw(NAMES),
                "max_idle_time": draw(st.sampled_from([0, 0, 1])),
            }
            for item in stream_ids
        ],
        "steps": steps,
    }


def answering_500_to(failing: frozenset[str]) -> Callable[[Request], Response]:
    """A receiver's answer: 500 to a hook of an action in ``failing``, else 200."""

    def answer(request: Request) -> Response:
        _, fields = decode_body(request.get_data(), request.mimetype)
        if fields.get("action") in failing:
            return Response("failing on purpose", status=500)
        return Response("ok")

    return answer


class KeptMockAMS(MockAMS):
    """The replay's own mock, kept so a test can read its delivery log."""

    made: ClassVar[list[MockAMS]] = []

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        KeptMockAMS.made.append(self)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    valid_scenarios(),
    st.integers(1, 2),
    st.frozensets(LIKELY_ACTIONS, min_size=1, max_size=3),
)
def test_any_valid_scenario_replays_and_reports_every_attempt(
    answerer: QuickHTTPServer,
    scenario_dict: dict[str, Any],
    copies: int,
    failing: frozenset[str],
) -> None:
    scenario = parse_scenario(yaml.safe_dump(scenario_dict, sort_keys=False))
    answerer.clear()
    answerer.expect_request(HOOK_PATH).respond_with_handler(answering_500_to(failing))
    KeptMockAMS.made.clear()

    with mock.patch.object(replay_module, "MockAMS", KeptMockAMS):
        report = replay(
            scenario,
            ReplayOptions(
                target=answerer.url_for(HOOK_PATH), streams=copies, concurrency=copies
            ),
        )

    [ams] = KeptMockAMS.made
    assert not ams.sender.errors
    assert not [item for item in report.checks if item.error]
    recorded = {item.id for item in ams.log.select()}
    reported = [item["id"] for item in report.to_json()["deliveries"]]
    assert sorted(reported) == sorted(recorded)
    assert len(set(reported)) == len(reported)
    received = [request.get_data() for request, _ in answerer.log]
    assert Counter(received) == Counter(item.raw for item in report.deliveries)
    retries = scenario_dict["settings"]["retry_count"]
    attempts: dict[int, list[Delivery]] = {}
    for item in report.deliveries:
        attempts.setdefault(item.event_id, []).append(item)
    for tries in attempts.values():
        action = tries[0].action
        sends = sum(item.attempt == 1 for item in tries)  # two if duplicated
        each = 1 + retries if action in failing else 1
        assert sorted(item.attempt for item in tries) == sorted(
            list(range(1, each + 1)) * sends
        )
        assert {item.status for item in tries} == {500 if action in failing else 200}
        assert [item.retry_scheduled for item in tries].count(False) == sends
    figures = {item["action"]: item for item in report.to_json()["actions"]}
    for action, tries in Counter(item.action for item in report.deliveries).items():
        assert figures[action]["sent"] == tries
        assert figures[action]["retries"] == sum(
            item.attempt > 1 for item in report.deliveries if item.action == action
        )
