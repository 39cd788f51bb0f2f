"""The hook sender against real receivers on 127.0.0.1.

Each test drives a :class:`MockAMS` and reads what a real receiver got: a
threaded pytest-httpserver for well-behaved HTTP, and :class:`RawReceiver`, a
bare TCP server, for receivers that hang, reset or answer garbage. Nothing
sleeps to wait: tests wait on deliveries, events or the sender going idle.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from mockams import ACTIONS, ConfigError, MockAMS, StreamStateError
from mockams.sender import decode_body_text
from mockams.settings import FORM
from mockams.wire import request_head

pytestmark = pytest.mark.network

HOOK_PATH = "/hook"
WAIT_S = 5.0
JSON_HEADER = "application/json; charset=UTF-8"
CLIENT_HEADERS = {
    "Content-Length",
    "Content-Type",
    "Host",
    "Connection",
    "User-Agent",
    "Accept-Encoding",
}


class Receiver(HTTPServer):
    """pytest-httpserver on 127.0.0.1 that stops in 50 ms rather than 500."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    server = Receiver("127.0.0.1", 0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Iterator[Receiver]:
    """The shared receiver, cleared, answering 200 on ``/hook``.

    A test answers otherwise on ``/hook`` with a one-shot handler, which comes
    first, or with :func:`_answer_hook`; other paths it may add freely. A
    request no handler matched fails the test at teardown.
    """
    receiver_server.clear()
    receiver_server.expect_request(HOOK_PATH).respond_with_data("ok")
    yield receiver_server
    receiver_server.check()
    receiver_server.clear()


def _answer_hook(receiver: Receiver, status: int, **headers: str) -> None:
    receiver.clear_all_handlers()
    receiver.expect_request(HOOK_PATH).respond_with_data(
        "", status=status, headers=headers
    )


@pytest.fixture
def ams(receiver: Receiver) -> Iterator[MockAMS]:
    """A mock AMS (not serving REST) whose LiveApp sends hooks to ``receiver``."""
    mock = MockAMS(hook_url=receiver.url_for(HOOK_PATH))
    yield mock
    mock.wait_idle(WAIT_S)
    mock.stop()
    assert not mock.sender.errors
    assert not mock.errors


def _received(receiver: Receiver) -> list[Request]:
    return [request for request, _ in receiver.log]


def _form_fields(request: Request) -> dict[str, str]:
    text = request.get_data().decode("latin-1")

    return dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1"))


def _free_port() -> int:
    """A port nothing listens on: bound by the OS, read back, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]

    return port


def _read_request(conn: socket.socket) -> bytes:
    """Read one request, head and ``Content-Length`` body, from ``conn``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk

    return head + b"\r\n\r\n" + body


class RawReceiver:
    """A bare TCP server on 127.0.0.1 for receivers that do not speak HTTP well.

    Each connection is accepted, its request read whole, then handed to
    ``behaviour`` on the accepting thread. Connections the behaviour leaves
    open stay open (a hanging receiver) until :meth:`drop` or the end of the
    ``with`` block, which closes every socket and joins the thread.
    """

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}{HOOK_PATH}"
        self._thread = threading.Thread(target=self._serve, name="raw-receiver")

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT_S)
        self._listener.close()
        self.drop()
        assert not self._thread.is_alive()

    def drop(self) -> None:
        """Close every connection still held open."""
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(WAIT_S)
            with self._lock:
                self._held.append(conn)
            self.requests.append(_read_request(conn))
            self.accepted.set()
            self.behaviour(conn)


def _hang(conn: socket.socket) -> None:
    """Read the request and never answer."""


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _answer(raw: bytes) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)

    return behaviour


# Fields of every action.

_BROADCAST = {
    "id",
    "action",
    "app",
    "timestamp",
    "streamName",
    "category",
    "mainTrackId",
    "roomId",
    "metadata",
}
_STARTED = _BROADCAST | {"subscriberId", "token"}
_SUBTRACK = (_BROADCAST - {"metadata"}) | {"subscriberId"}
# A player's subscriber id is one of its query parameters.
_PLAY = {"id", "action", "app", "timestamp", "metadata", "subscriberId", "token"}
EXPECTED_FIELDS: dict[str, set[str]] = {
    "liveStreamStarted": _STARTED,
    "liveStreamEnded": _STARTED,
    "vodReady": {
        "id",
        "action",
        "app",
        "timestamp",
        "vodName",
        "vodId",
        "metadata",
        "duration",
    },
    "liveStreamStatus": {
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
    },
    "publishTimeoutError": _BROADCAST,
    "encoderNotOpenedError": _BROADCAST,
    "endpointFailed": _BROADCAST,
    "idleTimeIsExpired": _BROADCAST - {"metadata"},
    "playStarted": _PLAY,
    "playStopped": _PLAY,
    "subtrackAddedInTheMainTrack": _SUBTRACK,
    "subtrackLeftTheMainTrack": _SUBTRACK,
    "firstActiveTrackAddedInMainTrack": _BROADCAST - {"metadata"},
    "noActiveSubtracksLeftInMainTrack": {
        "id",
        "action",
        "app",
        "timestamp",
        "streamName",
        "category",
    },
}


def _create_room(ams: MockAMS) -> None:
    """A room ``room1`` with one subtrack ``track1`` that carries metadata."""
    ams.create_broadcast(streamId="room1", name="Room", category="meeting")
    ams.create_broadcast(
        streamId="track1",
        name="Alice",
        category="camera",
        metaData='{"seat":"3/B"}',
        mainTrackStreamId="room1",
    )


def _fire(ams: MockAMS, action: str) -> None:
    stream_id = "room1" if action == "noActiveSubtracksLeftInMainTrack" else "track1"
    hook = ams.fire(action, stream_id, subscriber_id="sub1", params={"token": "t1"})

    assert hook is not None


def test_expected_fields_cover_every_action() -> None:
    assert set(EXPECTED_FIELDS) == set(ACTIONS)


@pytest.mark.parametrize("encoding", ["form", "json"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_sends_exactly_its_fields(
    ams: MockAMS, receiver: Receiver, action: str, encoding: str
) -> None:
    ams.configure(content_type=encoding)
    _create_room(ams)

    _fire(ams, action)

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    [request] = _received(receiver)
    sent = (
        _form_fields(request) if encoding == "form" else json.loads(request.get_data())
    )
    assert set(sent) == EXPECTED_FIELDS[action]
    assert delivery.fields == sent
    assert delivery.action == action
    assert delivery.status == 200


@pytest.mark.parametrize(
    ("encoding", "header"),
    [("form", FORM), ("json", JSON_HEADER)],
    ids=["form", "json"],
)
def test_hooks_carry_only_the_http_client_headers(
    ams: MockAMS, receiver: Receiver, encoding: str, header: str
) -> None:
    ams.configure(content_type=encoding)

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    [request] = _received(receiver)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == header
    assert delivery.content_type == header
    assert set(request.headers.keys()) == CLIENT_HEADERS
    assert request.headers["Connection"] == "Keep-Alive"
    assert request.headers["User-Agent"].startswith("Apache-HttpClient/4.5.13")


def test_hook_values_are_strings_in_json_except_metadata(
    ams: MockAMS, receiver: Receiver
) -> None:
    ams.configure(content_type="json")
    _create_room(ams)

    _fire(ams, "liveStreamStarted")

    ams.wait_for_deliveries(1, timeout=WAIT_S)
    sent = json.loads(_received(receiver)[0].get_data())
    assert sent.pop("metadata") == {"seat": "3/B"}
    assert all(isinstance(value, str) for value in sent.values())
    assert b'"3\\/B"' in _received(receiver)[0].get_data()


def test_room_actions_name_the_room_and_the_subtrack(
    ams: MockAMS, receiver: Receiver
) -> None:
    ams.configure(content_type="json")
    _create_room(ams)

    _fire(ams, "firstActiveTrackAddedInMainTrack")
    _fire(ams, "noActiveSubtracksLeftInMainTrack")

    ams.wait_for_deliveries(2, timeout=WAIT_S)
    first = ams.deliveries("firstActiveTrackAddedInMainTrack")[0].fields
    last = ams.deliveries("noActiveSubtracksLeftInMainTrack")[0].fields
    assert (first["id"], first["mainTrackId"], first["roomId"]) == (
        "track1",
        "room1",
        "room1",
    )
    assert (first["streamName"], first["category"]) == ("Room", "meeting")
    assert (last["id"], last["streamName"], last["category"]) == (
        "room1",
        "Room",
        "meeting",
    )


@pytest.mark.parametrize(
    ("action", "metadata"),
    [
        ("publishTimeoutError", {"subscriberId": "sub1"}),
        ("endpointFailed", {"rtmp-url": "rtmp://127.0.0.1/LiveApp/endpoint"}),
    ],
    ids=["publish-timeout", "endpoint-failed"],
)
def test_error_hooks_put_their_detail_in_metadata(
    ams: MockAMS, action: str, metadata: dict[str, str]
) -> None:
    ams.configure(content_type="json")
    _create_room(ams)

    _fire(ams, action)

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert delivery.fields["metadata"] == metadata


def test_live_stream_status_is_typed_json(ams: MockAMS, receiver: Receiver) -> None:
    ams.configure(content_type="json")
    ams.create_broadcast(streamId="stream1")

    ams.fire("liveStreamStatus", "stream1", stats={"width": 640, "speed": 0.98})

    ams.wait_for_deliveries(1, timeout=WAIT_S)
    body = _received(receiver)[0].get_data()
    sent = json.loads(body)
    assert sent["streamName"] is None
    assert sent["width"] == 640
    assert sent["height"] == 720
    assert isinstance(sent["timestamp"], int)
    assert isinstance(sent["speed"], float)
    assert b'"speed":0.98' in body
    assert "app" not in sent


def test_live_stream_status_with_a_name_is_sent_as_a_form(
    ams: MockAMS, receiver: Receiver
) -> None:
    ams.create_broadcast(streamId="stream1", name="Demo")

    ams.fire("liveStreamStatus", "stream1", stats={"speed": 1})

    ams.wait_for_deliveries(1, timeout=WAIT_S)
    sent = _form_fields(_received(receiver)[0])
    assert (sent["streamName"], sent["speed"], sent["width"]) == ("Demo", "1.0", "1280")


def test_live_stream_status_without_a_name_is_not_sent_as_a_form(
    ams: MockAMS, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    ams.create_broadcast(streamId="stream1")

    with caplog.at_level(logging.WARNING, logger="mockams"):
        hook = ams.fire("liveStreamStatus", "stream1")

    assert hook is None
    assert ams.sender.pending() == 0
    assert ams.deliveries() == []
    assert "null field" in caplog.text


@pytest.mark.parametrize(
    "action", ["publishTimeoutError", "encoderNotOpenedError", "endpointFailed"]
)
def test_error_hooks_are_not_sent_for_a_stream_that_is_not_stored(
    ams: MockAMS, action: str
) -> None:
    hook = ams.fire(action, "unknown")

    assert hook is None
    assert ams.sender.pending() == 0
    assert ams.deliveries() == []


# A stream's life.


def test_creating_a_broadcast_sends_no_hook(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1", name="Demo")

    assert ams.sender.pending() == 0
    assert ams.deliveries() == []


def test_publish_sends_started_with_broadcast_fields_and_query(
    ams: MockAMS,
) -> None:
    ams.configure(content_type="json")
    ams.create_broadcast(
        streamId="stream1",
        name="Demo",
        category="sports",
        metaData='{"title":"Demo"}',
    )

    broadcast = ams.publish(
        "stream1", subscriber_id="pub1", params={"token": "abc"}, publish_type="WebRTC"
    )

    [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert broadcast["status"] == "broadcasting"
    assert started.action == "liveStreamStarted"
    assert started.fields == {
        "id": "stream1",
        "action": "liveStreamStarted",
        "app": "LiveApp",
        "streamName": "Demo",
        "category": "sports",
        "metadata": {"title": "Demo"},
        "subscriberId": "pub1",
        "token": "abc",
        "timestamp": started.fields["timestamp"],
    }


def test_unpublish_without_recording_sends_only_ended(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1", name="Demo")
    ams.publish("stream1")

    broadcast, vods = ams.unpublish("stream1", record=False)

    assert ams.wait_idle(WAIT_S)
    assert sorted(item.action for item in ams.deliveries()) == [
        "liveStreamEnded",
        "liveStreamStarted",
    ]
    assert broadcast["status"] == "finished"
    assert vods == []


def test_unpublish_with_recording_sends_vod_ready(ams: MockAMS) -> None:
    ams.configure(content_type="json")
    ams.create_broadcast(streamId="stream1", name="Demo", metaData="note")
    ams.publish("stream1")

    _, [vod] = ams.unpublish("stream1", record=True, duration_ms=12345)

    [ready] = ams.wait_for_deliveries(1, timeout=WAIT_S, action="vodReady")
    assert ams.wait_idle(WAIT_S)
    assert len(ams.deliveries("liveStreamEnded")) == 1
    assert ready.fields["vodName"] == "stream1"
    assert vod["vodName"] == "stream1.mp4"
    assert ready.fields["vodId"] == vod["vodId"]
    assert re.fullmatch(r"[A-Za-z0-9]{24}", ready.fields["vodId"])
    assert ready.fields["duration"] == "12345"
    assert ready.fields["metadata"] == "note"
    assert "streamName" not in ready.fields
    assert "category" not in ready.fields


def test_each_recorded_rendition_sends_its_own_vod_ready(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1")
    ams.publish("stream1")

    _, vods = ams.unpublish("stream1", record=True, renditions=["720p2500kbps", 480])

    ready = ams.wait_for_deliveries(3, timeout=WAIT_S, action="vodReady")
    assert ams.wait_idle(WAIT_S)
    assert len(ams.deliveries("vodReady")) == 3
    assert sorted(item.fields["vodName"] for item in ready) == [
        "stream1",
        "stream1_480p",
        "stream1_720p2500kbps",
    ]
    assert len({item.fields["vodId"] for item in ready}) == 3
    assert len(vods) == 3


def test_a_second_recording_is_numbered(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1")
    for _ in range(2):
        ams.publish("stream1")
        ams.unpublish("stream1", record=True)

    ready = ams.wait_for_deliveries(2, timeout=WAIT_S, action="vodReady")
    assert sorted(item.fields["vodName"] for item in ready) == ["stream1", "stream1_1"]


@pytest.mark.parametrize(
    ("version", "has_duration"),
    [("2.14", False), ("2.15", True)],
    ids=["2.14", "2.15"],
)
def test_vod_ready_carries_duration_from_2_15(
    receiver: Receiver, version: str, has_duration: bool
) -> None:
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version=version) as ams:
        ams.create_broadcast(streamId="stream1")
        ams.publish("stream1")
        ams.unpublish("stream1", record=True, duration_ms=500)

        [ready] = ams.wait_for_deliveries(1, timeout=WAIT_S, action="vodReady")
        assert ams.wait_idle(WAIT_S)

    assert ("duration" in ready.fields) is has_duration
    assert ("app" in ready.fields) is has_duration


@pytest.mark.parametrize(
    ("version", "sent"),
    [("2.9", True), ("current", False)],
    ids=["text-before-2.10", "dropped-from-2.10"],
)
def test_metadata_that_is_json_but_not_an_object(
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    version: str,
    sent: bool,
) -> None:
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version=version) as ams:
        ams.create_broadcast(streamId="stream1", metaData="[1,2]")

        with caplog.at_level(logging.WARNING, logger="mockams"):
            ams.publish("stream1", publish_type="WebRTC")

        assert ams.wait_idle(WAIT_S)
        delivered = ams.deliveries()

    assert [item.fields.get("metadata") for item in delivered] == (
        ["[1,2]"] if sent else []
    )
    assert ("not an object" in caplog.text) is not sent


def test_an_unnamed_stream_sends_no_name_or_category(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1")

    ams.publish("stream1")

    [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert set(started.fields) == {"id", "action", "app", "timestamp"}


def test_a_zombi_stream_sends_nameless_hooks_and_is_forgotten(ams: MockAMS) -> None:
    broadcast = ams.publish("zombi1")
    ams.unpublish("zombi1")

    delivered = ams.wait_for_deliveries(2, timeout=WAIT_S)
    assert broadcast["zombi"] is True
    assert sorted(item.action for item in delivered) == [
        "liveStreamEnded",
        "liveStreamStarted",
    ]
    assert all("streamName" not in item.fields for item in delivered)
    assert all(item.stream_id == "zombi1" for item in delivered)
    assert ams.broadcast("zombi1") is None


@pytest.mark.parametrize("created", [True, False], ids=["created", "zombi"])
def test_ended_carries_the_subscriber_id_and_query_of_the_publish(
    ams: MockAMS, created: bool
) -> None:
    if created:
        ams.create_broadcast(streamId="stream1", name="Demo")
    ams.publish(
        "stream1",
        subscriber_id="pub1",
        params={"token": "abc", "quality": "hd"},
        publish_type="WebRTC",
    )

    ams.unpublish("stream1", record=False)

    delivered = ams.wait_for_deliveries(2, timeout=WAIT_S)
    [started, ended] = sorted(delivered, key=lambda item: item.action, reverse=True)
    assert ended.action == "liveStreamEnded"
    assert ended.fields["subscriberId"] == "pub1"
    assert (ended.fields["token"], ended.fields["quality"]) == ("abc", "hd")
    assert set(ended.fields) == set(started.fields)


def test_ended_takes_the_subscriber_id_from_the_publish_query(ams: MockAMS) -> None:
    ams.publish("stream1", params={"subscriberId": "pub2"}, publish_type="WebRTC")

    ams.unpublish("stream1")

    [ended] = ams.wait_for_deliveries(1, timeout=WAIT_S, action="liveStreamEnded")
    assert ended.fields["subscriberId"] == "pub2"


def test_a_new_publish_brings_its_own_subscriber_id_to_ended(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1")
    ams.publish("stream1", subscriber_id="first", publish_type="WebRTC")
    ams.unpublish("stream1")
    ams.publish("stream1", publish_type="WebRTC")

    ams.unpublish("stream1")

    ended = ams.wait_for_deliveries(2, timeout=WAIT_S, action="liveStreamEnded")
    assert sorted(item.fields.get("subscriberId", "-") for item in ended) == [
        "-",
        "first",
    ]


def test_deleting_a_live_stream_ends_it_without_the_publishers_query(
    ams: MockAMS,
) -> None:
    # AMS's REST delete sends liveStreamEnded from the stored broadcast alone.
    ams.create_broadcast(streamId="stream1", name="Demo")
    ams.publish(
        "stream1", subscriber_id="pub1", params={"token": "abc"}, publish_type="SRT"
    )

    assert ams.delete_broadcast("stream1")

    [ended] = ams.wait_for_deliveries(1, timeout=WAIT_S, action="liveStreamEnded")
    assert ended.fields["streamName"] == "Demo"
    assert "subscriberId" not in ended.fields
    assert "token" not in ended.fields


@pytest.mark.parametrize(
    ("version", "publish_type", "replaced"),
    [
        ("current", "RTMP", True),
        ("2.16", "RTMP", True),
        ("2.15", "RTMP", False),
        ("current", "WebRTC", False),
        ("current", "SRT", False),
    ],
    ids=["current-rtmp", "2.16-rtmp", "2.15-rtmp", "webrtc", "srt"],
)
def test_an_rtmp_query_replaces_the_metadata_from_2_16(
    receiver: Receiver, version: str, publish_type: str, replaced: bool
) -> None:
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version=version) as ams:
        ams.create_broadcast(streamId="stream1", metaData="set at create")

        ams.publish("stream1", params={"token": "abc"}, publish_type=publish_type)

        [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)
        stored = ams.broadcast("stream1")

    expected = '{"token":"abc"}' if replaced else "set at create"
    assert stored is not None
    assert stored["metaData"] == expected
    assert started.fields["metadata"] == expected


def test_a_publish_without_query_keeps_the_metadata(ams: MockAMS) -> None:
    ams.create_broadcast(streamId="stream1", metaData="set at create")

    ams.publish("stream1")

    [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert started.fields["metadata"] == "set at create"


@pytest.mark.parametrize("action", ["playStarted", "playStopped"])
def test_play_hooks_carry_the_players_subscriber_id(ams: MockAMS, action: str) -> None:
    ams.create_broadcast(streamId="stream1")

    ams.fire(action, "stream1", subscriber_id="viewer1")

    [played] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert played.fields["subscriberId"] == "viewer1"


@pytest.mark.parametrize(
    "publish_type", ["rtmp", "HLS", ""], ids=["lower-case", "hls", "empty"]
)
def test_a_publish_type_ams_never_sets_is_refused(
    ams: MockAMS, publish_type: str
) -> None:
    with pytest.raises(ConfigError, match=f"publish type {publish_type!r}"):
        ams.publish("stream1", publish_type=publish_type)

    assert ams.broadcast("stream1") is None


@pytest.mark.parametrize(
    ("version", "ends"),
    [("current", True), ("3.0.2", True), ("3.0.1", False)],
    ids=["current", "3.0.2", "3.0.1"],
)
def test_deleting_a_live_stream_over_rest_ends_it_from_3_0_2(
    receiver: Receiver, version: str, ends: bool
) -> None:
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version=version) as ams:
        ams.create_broadcast(streamId="stream1")
        ams.publish("stream1")
        ams.wait_for_deliveries(1, timeout=WAIT_S)

        answer = requests.delete(
            f"{ams.url}/LiveApp/rest/v2/broadcasts/stream1", timeout=WAIT_S
        )

        assert ams.wait_idle(WAIT_S)
        actions = [item.action for item in ams.deliveries()]

    assert answer.status_code == 200
    assert answer.json()["success"] is True
    expected = ["liveStreamStarted"] + (["liveStreamEnded"] if ends else [])
    assert actions == expected
    assert len(_received(receiver)) == len(expected)


@pytest.mark.parametrize(
    "setup",
    ["unknown", "created", "finished"],
)
def test_unpublishing_a_stream_that_is_not_live_raises(
    ams: MockAMS, setup: str
) -> None:
    if setup != "unknown":
        ams.create_broadcast(streamId="stream1")
    if setup == "finished":
        ams.publish("stream1")
        ams.unpublish("stream1")
        ams.wait_for_deliveries(2, timeout=WAIT_S)

    with pytest.raises(StreamStateError, match="stream1"):
        ams.unpublish("stream1")


def test_publishing_a_live_stream_again_raises(ams: MockAMS) -> None:
    ams.publish("stream1")

    with pytest.raises(StreamStateError, match="already broadcasting"):
        ams.publish("stream1")

    ams.wait_for_deliveries(1, timeout=WAIT_S)


# Which URL a hook goes to.


def test_the_stream_hook_url_wins_over_the_app(
    ams: MockAMS, receiver: Receiver
) -> None:
    receiver.expect_request("/own").respond_with_data("ok")
    ams.create_broadcast(streamId="stream1", listenerHookURL=receiver.url_for("/own"))

    ams.publish("stream1")

    [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert started.url == receiver.url_for("/own")
    assert [request.path for request in _received(receiver)] == ["/own"]


def test_the_app_hook_url_is_copied_into_a_broadcast_at_create(
    ams: MockAMS, receiver: Receiver
) -> None:
    receiver.expect_request("/later").respond_with_data("ok")
    early = ams.create_broadcast(streamId="early")
    ams.configure(hook_url=receiver.url_for("/later"))
    ams.create_broadcast(streamId="late")

    ams.publish("early")
    ams.publish("late")

    ams.wait_for_deliveries(2, timeout=WAIT_S)
    assert early["listenerHookURL"] == receiver.url_for(HOOK_PATH)
    assert ams.deliveries(stream_id="early")[0].url == receiver.url_for(HOOK_PATH)
    assert ams.deliveries(stream_id="late")[0].url == receiver.url_for("/later")


def test_a_broadcast_created_without_any_url_follows_the_app_setting(
    receiver: Receiver,
) -> None:
    with MockAMS() as ams:
        created = ams.create_broadcast(streamId="stream1")
        ams.configure(hook_url=receiver.url_for(HOOK_PATH))

        ams.publish("stream1")

        [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)

    assert created["listenerHookURL"] is None
    assert started.url == receiver.url_for(HOOK_PATH)


def test_no_hook_url_anywhere_sends_nothing(receiver: Receiver) -> None:
    with MockAMS() as ams:
        ams.create_broadcast(streamId="stream1")

        ams.publish("stream1")
        ams.unpublish("stream1", record=True)
        hook = ams.fire("playStarted", "stream1")

        assert hook is None
        assert ams.sender.pending() == 0
        assert ams.deliveries() == []

    assert _received(receiver) == []


# What counts as delivered, and retries.


def test_status_200_is_one_successful_delivery(
    ams: MockAMS, receiver: Receiver
) -> None:
    ams.configure(retry_count=2, retry_delay_ms=50)

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert ams.wait_idle(WAIT_S)
    assert len(ams.deliveries()) == 1
    assert (delivery.status, delivery.error, delivery.ok) == (200, None, True)
    assert (delivery.attempt, delivery.retry_scheduled) == (1, False)


@pytest.mark.parametrize("status", [201, 202, 204, 301, 302, 307, 400, 500])
def test_any_status_but_200_is_a_failure(
    ams: MockAMS, receiver: Receiver, status: int
) -> None:
    receiver.expect_request("/elsewhere").respond_with_data("ok")
    _answer_hook(receiver, status, Location=receiver.url_for("/elsewhere"))

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert (delivery.status, delivery.ok) == (status, False)
    assert delivery.error is None
    assert delivery.redirected_to is None
    assert [request.path for request in _received(receiver)] == [HOOK_PATH]


def test_a_failing_receiver_gets_each_retry_with_the_same_body(
    ams: MockAMS, receiver: Receiver
) -> None:
    _answer_hook(receiver, 500)
    ams.configure(retry_count=2, retry_delay_ms=50, content_type="json")

    ams.fire("playStarted", "stream1")

    attempts = ams.wait_for_deliveries(3, timeout=WAIT_S)
    assert ams.wait_idle(WAIT_S)
    assert len(ams.deliveries()) == 3
    bodies = [request.get_data() for request in _received(receiver)]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert len({item.fields["timestamp"] for item in attempts}) == 1
    assert [item.attempt for item in attempts] == [1, 2, 3]
    assert [item.retry_scheduled for item in attempts] == [True, True, False]
    assert len({item.event_id for item in attempts}) == 1
    for before, after in itertools.pairwise(attempts):
        assert after.sent_at - before.finished_at >= 0.04


def test_a_receiver_that_fails_once_gets_two_attempts(
    ams: MockAMS, receiver: Receiver
) -> None:
    receiver.expect_oneshot_request(HOOK_PATH).respond_with_data("", status=503)
    ams.configure(retry_count=2, retry_delay_ms=50)

    ams.fire("playStarted", "stream1")

    ams.wait_for_deliveries(2, timeout=WAIT_S)
    assert ams.wait_idle(WAIT_S)
    attempts = ams.deliveries()
    assert [(item.attempt, item.status) for item in attempts] == [(1, 503), (2, 200)]
    assert [item.retry_scheduled for item in attempts] == [True, False]
    assert len(_received(receiver)) == 2


def test_without_retry_settings_a_failure_is_final(
    ams: MockAMS, receiver: Receiver
) -> None:
    _answer_hook(receiver, 500)

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert ams.wait_idle(WAIT_S)
    assert len(ams.deliveries()) == 1
    assert delivery.retry_scheduled is False


def test_a_303_is_followed_with_get(ams: MockAMS, receiver: Receiver) -> None:
    _answer_hook(receiver, 303, Location="/landing")
    receiver.expect_request("/landing", method="GET").respond_with_data("ok")

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    post, get = _received(receiver)
    assert (post.method, post.path) == ("POST", HOOK_PATH)
    assert (get.method, get.path) == ("GET", "/landing")
    assert get.get_data() == b""
    assert "Content-Type" not in get.headers
    assert delivery.status == 200
    assert delivery.redirected_to == receiver.url_for("/landing")


def test_a_303_to_a_failing_page_is_a_failure(ams: MockAMS, receiver: Receiver) -> None:
    _answer_hook(receiver, 303, Location="/gone")
    receiver.expect_request("/gone").respond_with_data("", status=404)

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert (delivery.status, delivery.ok) == (404, False)


# Receivers that fail below HTTP: recorded, never raised.


def test_a_refused_connection_is_recorded(ams: MockAMS) -> None:
    ams.configure(hook_url=f"http://127.0.0.1:{_free_port()}{HOOK_PATH}")

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert delivery.status is None
    assert delivery.error == "connection refused"
    assert delivery.ok is False


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (_reset, "connection reset by the receiver"),
        (_answer(b"garbage garbage\r\n\r\n"), "not an HTTP response"),
        (_answer(b"HTTP/1.1 abc OK\r\n\r\n"), "not an HTTP status line"),
        (_answer(b"HTTP/1.1 200 OK\r\n"), "connection closed before a complete"),
        (_answer(b""), "connection closed before a complete"),
    ],
    ids=["reset", "garbage", "bad-status", "cut-head", "closed"],
)
def test_a_broken_receiver_is_recorded_as_an_error(
    ams: MockAMS, behaviour: Callable[[socket.socket], None], error: str
) -> None:
    with RawReceiver(behaviour) as raw:
        ams.configure(hook_url=raw.url, retry_count=1, retry_delay_ms=10)

        ams.fire("playStarted", "stream1")

        attempts = ams.wait_for_deliveries(2, timeout=WAIT_S)
        assert ams.wait_idle(WAIT_S)

    assert len(raw.requests) == 2
    assert all(item.status is None for item in attempts)
    assert all(item.error and item.error.startswith(error) for item in attempts)
    assert [item.retry_scheduled for item in attempts] == [True, False]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x", "is not http or https"),
        ("http://", "has no host"),
        ("http://127.0.0.1:notaport/hook", "is not a valid URL"),
        ("not a url at all", "is not http or https"),
    ],
    ids=["ftp", "no-host", "bad-port", "words"],
)
def test_an_unusable_hook_url_is_recorded_as_an_error(
    ams: MockAMS, url: str, reason: str
) -> None:
    ams.configure(hook_url=url)

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert delivery.status is None
    assert delivery.error is not None
    assert reason in delivery.error
    assert delivery.url == url


def test_the_request_on_the_wire_is_exactly_head_and_body(ams: MockAMS) -> None:
    with RawReceiver(_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as raw:
        ams.configure(hook_url=raw.url + "?x=1", content_type="json")

        hook = ams.fire("playStarted", "stream1", params={"q": "ü/日"})

        [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)

    assert hook is not None
    head = request_head(urlsplit(hook.url), "POST", len(hook.body), hook.content_type)
    assert raw.requests == [head + hook.body]
    assert delivery.status == 200
    assert "ü\\/日".encode() in hook.body


def test_a_receiver_that_hangs_times_out_after_two_seconds(ams: MockAMS) -> None:
    """Takes 2 s by design: the one test that waits out AMS's real read timeout.

    AMS's timeout is fixed, so the mock offers no way to shorten it; every
    other test of a failing receiver makes it fail at once.
    """
    with RawReceiver(_hang) as raw:
        ams.configure(hook_url=raw.url)

        ams.fire("playStarted", "stream1")

        [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S * 2)

    assert len(raw.requests) == 1
    assert delivery.status is None
    assert delivery.error == "read timed out after 2000 ms"
    assert delivery.elapsed_ms >= 1990
    assert delivery.ttfb_ms is None


# Timing.


def test_timings_are_recorded_and_ttfb_is_within_elapsed(
    ams: MockAMS, receiver: Receiver
) -> None:
    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert delivery.ttfb_ms is not None
    assert delivery.connect_ms is not None
    assert 0 <= delivery.connect_ms <= delivery.elapsed_ms
    assert 0 <= delivery.ttfb_ms <= delivery.elapsed_ms
    assert delivery.sent_at <= delivery.finished_at
    as_json = delivery.to_json()
    assert as_json["sent_at"].endswith("Z")
    assert as_json["ok"] is True


def _slow_answer(request: Request) -> Response:
    # The receiver's own work, simulated: this is what the test measures.
    time.sleep(0.3)
    return Response("ok")


def test_a_slow_receiver_is_measured_at_its_delay(
    ams: MockAMS, receiver: Receiver
) -> None:
    receiver.clear_all_handlers()
    receiver.expect_request(HOOK_PATH).respond_with_handler(_slow_answer)

    ams.fire("playStarted", "stream1")

    [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert delivery.status == 200
    assert delivery.ttfb_ms is not None
    assert delivery.ttfb_ms >= 300
    assert delivery.elapsed_ms >= delivery.ttfb_ms


def test_a_hanging_receiver_does_not_block_the_rest_api() -> None:
    with RawReceiver(_hang) as raw, MockAMS(hook_url=raw.url) as ams:
        base = f"{ams.url}/LiveApp/rest/v2/broadcasts"
        control = f"{ams.url}/mockams/apps/LiveApp/streams"

        created = requests.post(
            f"{base}/create", json={"streamId": "stream1"}, timeout=WAIT_S
        )
        published = requests.post(f"{control}/stream1/publish", timeout=WAIT_S)
        assert raw.accepted.wait(WAIT_S)
        answers = [
            requests.get(f"{base}/stream1", timeout=WAIT_S),
            requests.post(f"{base}/create", json={"streamId": "s2"}, timeout=WAIT_S),
            requests.get(f"{base}/list/0/10", timeout=WAIT_S),
            requests.post(f"{control}/s2/publish", timeout=WAIT_S),
            requests.get(f"{ams.url}/mockams/deliveries", timeout=WAIT_S),
        ]

        still_hanging = ams.sender.pending()
        recorded = len(ams.deliveries())
        raw.drop()
        ams.wait_for_deliveries(1, timeout=WAIT_S, stream_id="stream1")

    assert created.status_code == published.status_code == 200
    assert [answer.status_code for answer in answers] == [200] * 5
    assert answers[0].json()["status"] == "broadcasting"
    assert still_hanging >= 1
    assert recorded == 0


# Order of arrival.


class _ConcurrencyProbe:
    """A receiver handler that notes arrival order and how many overlap."""

    def __init__(self, first_delay_s: float = 0.0) -> None:
        self.first_delay_s = first_delay_s
        self.arrived: list[str] = []
        self.most_at_once = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            first = not self.arrived
            self.arrived.append(_form_fields(request)["id"])
            self._in_flight += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        if first:
            # A receiver slow on the first hook: room for later ones to overlap.
            time.sleep(self.first_delay_s)
        with self._lock:
            self._in_flight -= 1

        return Response("ok")


@pytest.mark.parametrize("version", ["seed", "2.10"])
def test_before_2_11_hooks_leave_one_at_a_time_in_order(
    receiver: Receiver, version: str
) -> None:
    probe = _ConcurrencyProbe(first_delay_s=0.2)
    receiver.clear_all_handlers()
    receiver.expect_request(HOOK_PATH).respond_with_handler(probe)
    stream_ids = [f"stream{index}" for index in range(5)]

    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version=version) as ams:
        for stream_id in stream_ids:
            ams.fire("liveStreamStarted", stream_id)
        delivered = ams.wait_for_deliveries(5, timeout=WAIT_S)

    assert probe.arrived == stream_ids
    assert [item.stream_id for item in delivered] == stream_ids
    assert probe.most_at_once == 1


@pytest.mark.parametrize("version", ["2.11", "current"])
def test_from_2_11_a_slow_hook_does_not_hold_back_the_next(
    receiver: Receiver, version: str
) -> None:
    release = threading.Event()
    arrived = threading.Event()

    def held(request: Request) -> Response:
        arrived.set()
        release.wait(WAIT_S)
        return Response("ok")

    receiver.expect_oneshot_request(HOOK_PATH).respond_with_handler(held)
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version=version) as ams:
        ams.fire("playStarted", "first")
        assert arrived.wait(WAIT_S)
        ams.fire("playStarted", "second")

        ams.wait_for_deliveries(1, timeout=WAIT_S, stream_id="second")
        first_before_release = ams.deliveries(stream_id="first")
        release.set()
        ams.wait_for_deliveries(2, timeout=WAIT_S)
        order = [item.stream_id for item in ams.deliveries()]

    assert first_before_release == []
    assert order == ["second", "first"]


# Versions.


def test_before_2_10_hooks_are_forms_whatever_the_setting(receiver: Receiver) -> None:
    with MockAMS(
        hook_url=receiver.url_for(HOOK_PATH), ams_version="2.9", content_type="json"
    ) as ams:
        ams.fire("playStarted", "stream1")
        [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)

    assert delivery.content_type == FORM
    assert _received(receiver)[0].headers["Content-Type"] == FORM


def test_before_2_9_a_failure_is_never_retried(receiver: Receiver) -> None:
    _answer_hook(receiver, 500)

    with MockAMS(
        hook_url=receiver.url_for(HOOK_PATH), ams_version="2.8", retry_count=2
    ) as ams:
        ams.fire("liveStreamStarted", "stream1")
        [delivery] = ams.wait_for_deliveries(1, timeout=WAIT_S)
        assert ams.wait_idle(WAIT_S)
        attempts = len(ams.deliveries())

    assert attempts == 1
    assert delivery.retry_scheduled is False
    assert "timestamp" not in delivery.fields


def test_seed_hooks_have_only_the_guide_fields(receiver: Receiver) -> None:
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), ams_version="seed") as ams:
        ams.create_broadcast(streamId="stream1", name="Demo", category="sports")
        ams.publish("stream1", params={"token": "abc"})
        [started] = ams.wait_for_deliveries(1, timeout=WAIT_S)

    assert started.fields == {
        "id": "stream1",
        "action": "liveStreamStarted",
        "streamName": "Demo",
        "category": "sports",
    }


# Reset.


def test_reset_forgets_deliveries_broadcasts_and_pending_retries(
    ams: MockAMS, receiver: Receiver
) -> None:
    _answer_hook(receiver, 500)
    ams.configure(retry_count=3, retry_delay_ms=60_000)
    ams.create_broadcast(streamId="stream1")
    ams.fire("playStarted", "stream1")
    [first] = ams.wait_for_deliveries(1, timeout=WAIT_S)
    assert first.retry_scheduled
    assert ams.sender.pending() == 1

    ams.reset()

    assert ams.deliveries() == []
    assert ams.broadcast("stream1") is None
    assert ams.sender.pending() == 0
    assert len(ams.scheduler) == 0
    assert ams.settings().retry_count == 0


def test_an_attempt_in_flight_during_reset_is_not_recorded(
    receiver: Receiver,
) -> None:
    release = threading.Event()
    arrived = threading.Event()

    def held(request: Request) -> Response:
        arrived.set()
        release.wait(WAIT_S)
        return Response("ok")

    receiver.expect_oneshot_request(HOOK_PATH).respond_with_handler(held)
    # One worker: the hook sent after the reset leaves only once the held
    # one is finished, so its delivery proves the held one was judged.
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), workers=1) as ams:
        ams.fire("playStarted", "before")
        assert arrived.wait(WAIT_S)

        ams.reset()
        release.set()
        ams.fire("playStarted", "after")

        ams.wait_for_deliveries(1, timeout=WAIT_S)
        assert ams.wait_idle(WAIT_S)
        recorded = [item.stream_id for item in ams.deliveries()]

    assert recorded == ["after"]
    assert [_form_fields(request)["id"] for request in _received(receiver)] == [
        "before",
        "after",
    ]


def test_a_reset_while_an_attempt_is_being_recorded_drops_it(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = threading.Event()
    proceed = threading.Event()

    def decode_after_reset(body: bytes, content_type: str) -> str:
        # The sender turns the body into text between its answer and the log:
        # hold the first attempt exactly there while the test resets.
        if not recording.is_set():
            recording.set()
            proceed.wait(WAIT_S)
        return decode_body_text(body, content_type)

    monkeypatch.setattr("mockams.sender.decode_body_text", decode_after_reset)
    with MockAMS(hook_url=receiver.url_for(HOOK_PATH), workers=1) as ams:
        ams.fire("playStarted", "before")
        assert recording.wait(WAIT_S)

        ams.reset()
        proceed.set()
        ams.fire("playStarted", "after")

        ams.wait_for_deliveries(1, timeout=WAIT_S)
        recorded = [item.stream_id for item in ams.deliveries()]

    assert recorded == ["after"]


def test_the_control_api_reset_empties_the_delivery_log(
    ams: MockAMS, receiver: Receiver
) -> None:
    ams.start()
    ams.fire("playStarted", "stream1")
    ams.wait_for_deliveries(1, timeout=WAIT_S)

    answer = requests.post(f"{ams.url}/mockams/reset", timeout=WAIT_S)

    assert answer.json() == {"reset": True}
    assert requests.get(f"{ams.url}/mockams/deliveries", timeout=WAIT_S).json() == []
