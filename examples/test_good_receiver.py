"""Testing a webhook receiver with the mockams pytest plugin.

The receiver under test is ``good_receiver.Receiver``; it runs on 127.0.0.1
for the session, and the ``ams`` fixture sends it real hooks. Copy this file
next to your own receiver and change ``receiver`` to start yours.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.request import urlopen

import pytest
from good_receiver import Receiver
from hypothesis import HealthCheck, given, settings
from werkzeug.serving import make_server
from werkzeug.test import Client

from mockams import MockAMS
from mockams.report import RunReport
from mockams.strategies import HookPayload, hook_payloads, lifecycles


@dataclass
class Running:
    app: Receiver
    url: str

    def state(self, stream_id: str) -> dict[str, object]:
        with urlopen(f"{self.url}/streams/{stream_id}", timeout=5) as answer:
            return dict(json.load(answer))


@pytest.fixture(scope="session")
def receiver() -> Iterator[Running]:
    app = Receiver()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Running(app, f"http://127.0.0.1:{server.port}")
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def ams_settings(receiver: Running) -> dict[str, object]:
    """Every test's mock AMS posts its hooks to the receiver under test."""
    return {"hook_url": f"{receiver.url}/hooks"}


def test_a_published_stream_is_live(
    ams: MockAMS, receiver: Running, ams_stream_id: str
) -> None:
    ams.create_broadcast(streamId=ams_stream_id, name="Demo")
    ams.publish(ams_stream_id)

    [delivery] = ams.wait_for_deliveries(1, stream_id=ams_stream_id)

    assert delivery.status == 200
    assert receiver.state(ams_stream_id)["state"] == "live"


@pytest.mark.ams(content_type="json")
def test_a_stopped_stream_is_ended_with_its_recording(
    ams: MockAMS, receiver: Running, ams_stream_id: str
) -> None:
    ams.create_broadcast(streamId=ams_stream_id, name="Demo")
    ams.publish(ams_stream_id)
    ams.unpublish(ams_stream_id, record=True)

    ams.wait_for_deliveries(3, stream_id=ams_stream_id)

    state = receiver.state(ams_stream_id)
    assert state["state"] == "ended"
    assert len(state["recordings"]) == 1  # type: ignore[arg-type]


@pytest.mark.ams(retry_count=2, retry_delay_ms=10)
def test_every_hook_is_answered_200_the_first_time(
    ams: MockAMS, ams_stream_id: str
) -> None:
    ams.publish(ams_stream_id)  # a stream never created: AMS's "zombi" stream
    ams.unpublish(ams_stream_id)

    deliveries = ams.wait_for_deliveries(2, stream_id=ams_stream_id)

    assert [delivery.attempt for delivery in deliveries] == [1, 1]


def test_the_built_in_lifecycle_scenario_passes(
    ams_replay: Callable[..., RunReport], receiver: Running
) -> None:
    report = ams_replay("recorded-lifecycle", target=f"{receiver.url}/hooks")

    assert report.passed, report.table()


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=hook_payloads(content_type="json"))
def test_any_hook_of_any_action_is_accepted(payload: HookPayload) -> None:
    client = Client(Receiver())

    answer = client.post(
        "/hooks", data=payload.body, headers={"Content-Type": payload.content_type}
    )

    assert answer.status_code == 200


@settings(max_examples=50)
@given(hooks=lifecycles())
def test_the_last_word_is_the_latest_timestamp_whatever_the_arrival_order(
    hooks: list[HookPayload],
) -> None:
    app = Receiver()
    client = Client(app)

    for payload in reversed(hooks):
        headers = {"Content-Type": payload.content_type}
        client.post("/hooks", data=payload.body, headers=headers)

    stream = app.streams[hooks[0].stream_id]
    changes = [
        hook
        for hook in hooks
        if hook.action in ("liveStreamStarted", "liveStreamEnded")
    ]
    expected = "ended" if changes[-1].action == "liveStreamEnded" else "live"
    assert stream.state == expected
