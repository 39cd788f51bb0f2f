"""Many publishers at once, through Python and through REST: nothing lost or doubled.

Eight threads drive one served mock against one receiver. Half of each
thread's calls go through the Python API and half through the REST and
control APIs over HTTP, so both paths race on the same store and sender.
Every loop has a fixed count, and every wait a timeout.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import pytest
import requests
from pytest_httpserver import HTTPServer

from mockams import MockAMS, StreamStateError
from mockams.broadcasts import CreateRejected

pytestmark = pytest.mark.network

THREADS = 8
STREAMS_PER_THREAD = 25
WAIT_S = 30.0


class Receiver(HTTPServer):
    """pytest-httpserver on 127.0.0.1 that stops in 50 ms rather than 500."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver("127.0.0.1", 0, threaded=True)
    server.expect_request("/hook").respond_with_data("ok")
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def ams(receiver: Receiver) -> Iterator[MockAMS]:
    with MockAMS(hook_url=receiver.url_for("/hook")) as mock:
        yield mock
        assert mock.wait_idle(WAIT_S)
        assert not mock.sender.errors
        assert not mock.errors


class Driver:
    """One thread's way of touching a stream: Python calls or HTTP calls."""

    def __init__(self, ams: MockAMS, session: requests.Session | None) -> None:
        self.ams = ams
        self.session = session

    def create(self, stream_id: str) -> bool:
        """Create ``stream_id``; ``False`` when AMS says the id is taken."""
        if self.session is None:
            try:
                self.ams.create_broadcast(streamId=stream_id, name=f"Name {stream_id}")
            except CreateRejected:
                return False
            return True
        answer = self.session.post(
            f"{self.ams.url}/LiveApp/rest/v2/broadcasts/create",
            json={"streamId": stream_id, "name": f"Name {stream_id}"},
            timeout=WAIT_S,
        )
        assert answer.status_code in (200, 400), answer.text

        return answer.status_code == 200

    def publish(self, stream_id: str) -> bool:
        return self._step("publish", stream_id)

    def unpublish(self, stream_id: str) -> bool:
        return self._step("unpublish", stream_id)

    def _step(self, step: str, stream_id: str) -> bool:
        """Publish or unpublish; ``False`` when the stream is in the wrong state."""
        if self.session is None:
            call: Callable[[str], object] = getattr(self.ams, step)
            try:
                call(stream_id)
            except StreamStateError:
                return False
            return True
        answer = self.session.post(
            f"{self.ams.url}/mockams/apps/LiveApp/streams/{stream_id}/{step}",
            json={"record": False} if step == "unpublish" else {},
            timeout=WAIT_S,
        )
        assert answer.status_code in (200, 409), answer.text

        return answer.status_code == 200


def _run_threads(ams: MockAMS, work: Callable[[int, Driver, Driver], None]) -> None:
    """Run ``work(thread, python, rest)`` on every thread and re-raise failures."""

    def run(thread: int) -> None:
        with requests.Session() as session:
            work(thread, Driver(ams, None), Driver(ams, session))

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(run, thread) for thread in range(THREADS)]
        for future in futures:
            future.result(timeout=WAIT_S)


def _received_ids(receiver: Receiver) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for request, _ in receiver.log:
        fields = dict(parse_qsl(request.get_data().decode("latin-1")))
        counts[(fields["action"], fields["id"])] += 1

    return counts


def test_concurrent_streams_each_send_one_started_and_one_ended(
    ams: MockAMS, receiver: Receiver
) -> None:
    def work(thread: int, python: Driver, rest: Driver) -> None:
        for index in range(STREAMS_PER_THREAD):
            driver = rest if index % 2 else python
            stream_id = f"t{thread}s{index}"
            assert driver.create(stream_id)
            assert driver.publish(stream_id)
            assert driver.unpublish(stream_id)

    _run_threads(ams, work)

    total = THREADS * STREAMS_PER_THREAD
    stream_ids = {
        f"t{thread}s{index}"
        for thread in range(THREADS)
        for index in range(STREAMS_PER_THREAD)
    }
    deliveries = ams.wait_for_deliveries(2 * total, timeout=WAIT_S)
    assert ams.wait_idle(WAIT_S)
    broadcasts = ams.app().broadcasts.all()
    assert sorted(item["streamId"] for item in broadcasts) == sorted(stream_ids)
    assert {item["status"] for item in broadcasts} == {"finished"}
    assert len(ams.deliveries()) == 2 * total
    assert all(item.status == 200 for item in deliveries)
    expected = Counter(
        (action, stream_id)
        for action in ("liveStreamStarted", "liveStreamEnded")
        for stream_id in stream_ids
    )
    assert Counter((item.action, item.stream_id) for item in deliveries) == expected
    assert _received_ids(receiver) == expected


def test_racing_on_the_same_streams_lets_each_step_happen_once(
    ams: MockAMS, receiver: Receiver
) -> None:
    stream_ids = [f"shared{index}" for index in range(STREAMS_PER_THREAD)]
    wins: Counter[tuple[str, str]] = Counter()
    wins_lock = threading.Lock()
    # Every thread finishes a step before any starts the next, so that a late
    # publish cannot find the stream already finished and go live again.
    step_done = threading.Barrier(THREADS, timeout=WAIT_S)

    def work(thread: int, python: Driver, rest: Driver) -> None:
        driver = rest if thread % 2 else python
        for step in ("create", "publish", "unpublish"):
            for stream_id in stream_ids:
                if getattr(driver, step)(stream_id):
                    with wins_lock:
                        wins[(step, stream_id)] += 1
            step_done.wait()

    _run_threads(ams, work)

    ams.wait_for_deliveries(2 * len(stream_ids), timeout=WAIT_S)
    assert ams.wait_idle(WAIT_S)
    expected_wins = Counter(
        (step, stream_id)
        for step in ("create", "publish", "unpublish")
        for stream_id in stream_ids
    )
    assert wins == expected_wins
    assert len(ams.app().broadcasts.all()) == len(stream_ids)
    expected = Counter(
        (action, stream_id)
        for action in ("liveStreamStarted", "liveStreamEnded")
        for stream_id in stream_ids
    )
    assert Counter((item.action, item.stream_id) for item in ams.deliveries()) == (
        expected
    )
    assert _received_ids(receiver) == expected
