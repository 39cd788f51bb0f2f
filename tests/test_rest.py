"""The AMS broadcast REST API and application settings, in-process."""

from __future__ import annotations

import re
import string
import time
from typing import Any

import jwt
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client, TestResponse

import mockams
import mockams.broadcasts
from mockams import MockAMS
from mockams.broadcasts import BROADCAST_DEFAULTS
from mockams.web import MAX_BODY

BROADCASTS = "/LiveApp/rest/v2/broadcasts"
SETTINGS = "/rest/v2/applications/settings/LiveApp"
GENERATED_ID = re.compile(r"[A-Za-z0-9]{16}[0-9]+")
ID_ALPHABET = string.ascii_letters + string.digits + "_.-"
JWT_SECRET = "a-secret-long-enough-for-hs256-signatures"
TAKEN = "Stream id is already being used. Please change stream id or keep it empty"


def result(success: bool, message: str = "") -> dict[str, Any]:
    return {"success": success, "message": message, "dataId": "", "errorId": 0}


def create(client: Client, body: Any = None, query: str = "") -> TestResponse:
    return client.post(f"{BROADCASTS}/create{query}", json=body)


def read(client: Client, stream_id: str) -> dict[str, Any]:
    response = client.get(f"{BROADCASTS}/{stream_id}")
    assert response.status_code == 200

    return dict(response.json or {})


def listed(client: Client, query: str = "", page: str = "0/50") -> list[str]:
    response = client.get(f"{BROADCASTS}/list/{page}{query}")
    assert response.status_code == 200

    return [item["streamId"] for item in response.json or []]


def number(client: Client, path: str) -> int:
    response = client.get(f"{BROADCASTS}/{path}")
    assert response.status_code == 200
    assert list(response.json or {}) == ["number"]

    return int((response.json or {})["number"])


def without(mapping: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {name: value for name, value in mapping.items() if name not in names}


def assert_tomcat_page(response: TestResponse, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/html;charset=utf-8"
    assert response.headers["Content-Language"] == "en"
    page = response.get_data(as_text=True)
    assert page.startswith('<!doctype html><html lang="en"><head><title>')
    assert f"<title>HTTP Status {status} \u2013 " in page
    assert f"<p><b>Message</b> {message}</p>" in page


def assert_plain_400(response: TestResponse, start: str) -> None:
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith(start)


class FakeClock:
    """Stands in for the broadcast store's clock, in epoch milliseconds."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(mockams.broadcasts, "_now_ms", fake)

    return fake


# Create


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (None, None),
        ("", "application/json"),
        ("null", "application/json"),
        ("{}", "application/json"),
    ],
    ids=["no-body", "empty-body", "null", "empty-object"],
)
def test_create_without_properties_makes_a_default_broadcast(
    client: Client, data: str | None, content_type: str | None
) -> None:
    response = client.post(f"{BROADCASTS}/create", data=data, content_type=content_type)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    broadcast = response.json or {}
    assert GENERATED_ID.fullmatch(broadcast["streamId"])
    computed = {"streamId", "status", "date", "originAdress", "rtmpURL"}
    assert without(broadcast, computed) == without(BROADCAST_DEFAULTS, computed)


def test_generated_ids_are_16_alphanumerics_then_digits_and_unique(
    client: Client,
) -> None:
    ids = [create(client, {"name": "x"}).json["streamId"] for _ in range(20)]

    assert all(GENERATED_ID.fullmatch(stream_id) for stream_id in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "given_id",
    [" stream1", "stream1\t", "\n stream1 \r", "\u0001stream1\u001f"],
    ids=["space", "tab", "newlines", "control-characters"],
)
def test_given_stream_id_is_trimmed_as_java_trims(
    client: Client, given_id: str
) -> None:
    response = create(client, {"streamId": given_id})

    assert response.status_code == 200
    assert response.json["streamId"] == "stream1"
    assert read(client, "stream1")["streamId"] == "stream1"


def test_a_no_break_space_is_not_trimmed_and_makes_the_id_invalid(
    client: Client,
) -> None:
    response = create(client, {"streamId": "\u00a0stream1"})

    assert response.status_code == 400
    assert response.json == result(False, "Stream id is not valid.")


@pytest.mark.parametrize("given_id", ["", "   ", "\t"], ids=["empty", "spaces", "tab"])
def test_blank_stream_id_gets_a_generated_one(client: Client, given_id: str) -> None:
    response = create(client, {"streamId": given_id})

    assert response.status_code == 200
    assert GENERATED_ID.fullmatch(response.json["streamId"])


def test_taken_stream_id_is_refused_with_a_result(client: Client) -> None:
    create(client, {"streamId": "stream1", "name": "first"})

    response = create(client, {"streamId": " stream1 ", "name": "second"})

    assert response.status_code == 400
    assert response.data == (
        b'{"success":false,"message":"' + TAKEN.encode() + b'","dataId":"","errorId":0}'
    )
    assert read(client, "stream1")["name"] == "first"


@pytest.mark.parametrize(
    "body",
    [
        {"type": "ipCamera"},
        {"type": "streamSource", "streamUrl": "ftp://nowhere"},
        {"subFolder": "../up"},
    ],
    ids=["camera-without-address", "bad-source-url", "bad-subfolder"],
)
def test_taken_stream_id_is_reported_before_other_checks(
    client: Client, body: dict[str, Any]
) -> None:
    create(client, {"streamId": "stream1"})

    response = create(client, {"streamId": "stream1", **body})

    assert response.status_code == 400
    assert response.json == result(False, TAKEN)


def test_taken_stream_id_is_reported_before_auto_start(client: Client) -> None:
    create(client, {"streamId": "stream1"})

    response = create(client, {"streamId": "stream1"}, "?autoStart=true")

    assert response.status_code == 400
    assert response.json == result(False, TAKEN)


@pytest.mark.parametrize(
    "given_id",
    ["stream 1", "stream/1", "a+b", "a@b", "str\u00f6m", "\u212aelvin", "a\u0131b"],
    ids=["space", "slash", "plus", "at", "umlaut", "kelvin-sign", "dotless-i"],
)
def test_stream_id_with_a_character_outside_the_alphabet_is_not_valid(
    client: Client, given_id: str
) -> None:
    response = create(client, {"streamId": given_id})

    assert response.status_code == 400
    assert response.data == (
        b'{"success":false,"message":"Stream id is not valid.","dataId":"","errorId":0}'
    )
    assert number(client, "count") == 0


def test_stream_id_may_use_letters_digits_dash_underscore_and_dot(
    client: Client,
) -> None:
    response = create(client, {"streamId": "Cam-01_main.hd"})

    assert response.status_code == 200
    assert response.json["streamId"] == "Cam-01_main.hd"


def test_null_stream_id_is_refused_as_plain_text(client: Client) -> None:
    response = create(client, {"streamId": None, "name": "x"})

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert "stream id cannot be null" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "name", ["foo", "anyoneWatching"], ids=["foo", "anyoneWatching"]
)
def test_unknown_property_is_refused_as_plain_text(client: Client, name: str) -> None:
    response = create(client, {"streamId": "stream1", name: False})

    assert_plain_400(response, f'Unrecognized field "{name}" (class ')
    assert "io.antmedia.datastore.db.types.Broadcast" in response.get_data(as_text=True)
    assert number(client, "count") == 0


def test_a_broadcast_read_cannot_be_posted_back(client: Client) -> None:
    create(client, {"streamId": "stream1"})
    copy = read(client, "stream1")
    copy["streamId"] = "stream2"

    response = create(client, copy)

    assert_plain_400(response, 'Unrecognized field "anyoneWatching"')


@pytest.mark.parametrize(
    "body",
    [{"date": "today"}, {"name": {}}, {"publish": "yes"}, {"endPointList": {}}, []],
    ids=[
        "string-for-long",
        "object-for-string",
        "string-for-boolean",
        "object-for-list",
        "array-body",
    ],
)
def test_wrong_json_type_is_refused_as_plain_text(client: Client, body: Any) -> None:
    response = create(client, body)

    assert_plain_400(response, "Cannot deserialize value of type")


@pytest.mark.parametrize(
    "data",
    ['{"streamId": ', "{streamId: 1}", "not json", '{"name": "x"} trailing'],
    ids=["truncated", "unquoted-name", "text", "trailing-garbage"],
)
def test_malformed_json_is_refused_as_plain_text(client: Client, data: str) -> None:
    response = client.post(
        f"{BROADCASTS}/create", data=data, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True)


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "application/xml"],
    ids=["form", "text", "xml"],
)
def test_non_json_body_gets_tomcat_415(client: Client, content_type: str) -> None:
    response = client.post(
        f"{BROADCASTS}/create", data="streamId=stream1", content_type=content_type
    )

    assert_tomcat_page(response, 415, "Unsupported Media Type")
    assert number(client, "count") == 0


def test_body_over_one_mebibyte_is_refused_with_413(client: Client) -> None:
    body = '{"name":"' + "a" * MAX_BODY + '"}'

    response = client.post(
        f"{BROADCASTS}/create", data=body, content_type="application/json"
    )

    assert response.status_code == 413
    assert number(client, "count") == 0


def test_create_forces_status_created_and_sets_date_now(client: Client) -> None:
    before = time.time_ns() // 1_000_000
    response = create(
        client, {"streamId": "stream1", "status": "broadcasting", "date": 5}
    )
    after = time.time_ns() // 1_000_000

    assert response.json["status"] == "created"
    assert before <= response.json["date"] <= after


def test_create_sets_rtmp_url_and_origin_address(client: Client) -> None:
    broadcast = create(client, {"streamId": "stream1", "rtmpURL": "rtmp://x/y"}).json

    assert broadcast["rtmpURL"] == "rtmp://127.0.0.1/LiveApp/stream1"
    assert broadcast["originAdress"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("app_hook", "given", "stored"),
    [
        ("", None, None),
        ("", "", ""),
        ("http://hooks.test/app", None, "http://hooks.test/app"),
        ("http://hooks.test/app", "", "http://hooks.test/app"),
        ("http://hooks.test/app", "http://hooks.test/own", "http://hooks.test/own"),
    ],
    ids=["no-setting", "no-setting-blank", "filled", "blank-filled", "own-kept"],
)
def test_listener_hook_url_is_filled_from_the_app_setting_when_blank(
    mock: MockAMS, client: Client, app_hook: str, given: str | None, stored: str | None
) -> None:
    mock.configure(hook_url=app_hook)

    broadcast = create(client, {"streamId": "s1", "listenerHookURL": given}).json

    assert broadcast["listenerHookURL"] == stored
    assert read(client, "s1")["listenerHookURL"] == stored


def test_a_hook_url_of_spaces_is_kept_at_create_and_hooks_follow_the_app(
    mock: MockAMS, client: Client
) -> None:
    # AMS fills only a null or empty URL at create; at send time it treats a
    # blank one as absent and uses the application's setting of that moment.
    mock.configure(hook_url="http://127.0.0.1:9/at-create")
    create(client, {"streamId": "s1", "listenerHookURL": "  "})
    mock.configure(hook_url="http://127.0.0.1:9/at-send")

    hook = mock.fire("playStarted", "s1")

    assert read(client, "s1")["listenerHookURL"] == "  "
    assert hook is not None
    assert hook.url == "http://127.0.0.1:9/at-send"


def test_hook_url_set_through_settings_reaches_only_later_broadcasts(
    client: Client,
) -> None:
    create(client, {"streamId": "before"})
    client.post(SETTINGS, json={"listenerHookURL": "http://hooks.test/app"})
    create(client, {"streamId": "after"})

    assert read(client, "before")["listenerHookURL"] is None
    assert read(client, "after")["listenerHookURL"] == "http://hooks.test/app"


def test_every_property_is_written_in_amss_order_nulls_included(
    client: Client,
) -> None:
    response = create(client, {"streamId": "stream1"})

    assert list(response.json) == list(BROADCAST_DEFAULTS)
    assert response.data.startswith(
        b'{"streamId":"stream1","status":"created","playListStatus":null,'
    )
    assert response.data.endswith(b',"maxIdleTime":0,"anyoneWatching":false}')
    assert list(read(client, "stream1")) == list(BROADCAST_DEFAULTS)


PROPERTIES_BY_RELEASE = [
    ("2.10", {"conferenceMode", "subTrackStreamIds"}, {"role", "width", "virtual"}),
    ("2.12", {"conferenceMode", "role"}, {"width", "jitterMs", "maxIdleTime"}),
    ("2.13", {"width", "jitterMs", "virtual"}, {"maxIdleTime"}),
    ("2.17", {"maxIdleTime", "conferenceMode", "subTrackStreamIds"}, set()),
    ("current", {"maxIdleTime", "width"}, {"conferenceMode", "subTrackStreamIds"}),
]


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    PROPERTIES_BY_RELEASE,
    ids=[version for version, _, _ in PROPERTIES_BY_RELEASE],
)
def test_the_properties_are_those_of_the_release_imitated(
    version: str, present: set[str], absent: set[str]
) -> None:
    client = Client(MockAMS(ams_version=version).wsgi_app)

    created = create(client, {"streamId": "stream1"}).json or {}

    assert present <= set(created)
    assert not absent & set(created)
    assert list(read(client, "stream1")) == list(created)
    assert list(created)[-1] == "anyoneWatching"


def test_before_3_0_a_create_takes_conference_mode_and_subtrack_ids() -> None:
    client = Client(MockAMS(ams_version="2.17").wsgi_app)
    given = {"conferenceMode": "mcu", "subTrackStreamIds": ["a", "b"]}

    created = create(client, {"streamId": "room1", **given})

    assert created.status_code == 200
    assert {name: read(client, "room1")[name] for name in given} == given
    assert create(client, {"streamId": "room2"}).json["subTrackStreamIds"] == []


@pytest.mark.parametrize("name", ["conferenceMode", "subTrackStreamIds"])
def test_from_3_0_conference_mode_and_subtrack_ids_are_unknown(
    client: Client, name: str
) -> None:
    response = create(client, {"streamId": "room1", name: None})

    assert_plain_400(response, f'Unrecognized field "{name}" (class ')
    assert number(client, "count") == 0


def test_before_2_13_a_publisher_statistic_is_an_unknown_property() -> None:
    client = Client(MockAMS(ams_version="2.12").wsgi_app)

    response = create(client, {"streamId": "stream1", "jitterMs": 5})

    assert_plain_400(response, 'Unrecognized field "jitterMs" (class ')


def test_a_subtrack_list_of_the_wrong_type_is_refused() -> None:
    client = Client(MockAMS(ams_version="2.17").wsgi_app)

    response = create(client, {"streamId": "room1", "subTrackStreamIds": "a"})

    assert_plain_400(response, "Cannot deserialize value of type `java.util.ArrayList")


def test_given_properties_are_stored_as_sent(client: Client) -> None:
    given = {
        "streamId": "stream1",
        "name": "Morning show",
        "description": "",
        "category": "news",
        "publish": False,
        "mp4Enabled": -1,
        "zombi": True,
        "speed": 1.5,
        "metaData": '{"k":"v"}',
        "subtracksLimit": 4,
        "endPointList": [{"endpointUrl": "rtmp://cdn.test/live/x", "type": "generic"}],
    }

    created = create(client, given).json

    assert {name: created[name] for name in given} == given
    assert {name: read(client, "stream1")[name] for name in given} == given


def test_auto_start_without_body_answers_unexpected_parameters(
    client: Client,
) -> None:
    response = create(client, None, "?autoStart=true")

    assert response.status_code == 200
    assert response.json == result(False, "unexpected parameters received")
    assert number(client, "count") == 0


def test_auto_start_of_a_live_stream_is_refused_with_200(client: Client) -> None:
    response = create(client, {"streamId": "stream1"}, "?autoStart=true")

    assert response.status_code == 200
    assert response.json == result(
        False, "Auto start query needs an IP camera or stream source."
    )
    assert number(client, "count") == 0


@pytest.mark.parametrize("value", ["false", "yes", ""], ids=["false", "yes", "blank"])
def test_auto_start_other_than_true_creates_normally(
    client: Client, value: str
) -> None:
    response = create(client, {"streamId": "stream1"}, f"?autoStart={value}")

    assert response.status_code == 200
    assert response.json["streamId"] == "stream1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "ipCamera"}, "Stream url is not valid. "),
        ({"type": "ipCamera", "ipAddr": "camera.local"}, "Stream url is not valid. "),
        ({"type": "ipCamera", "ipAddr": "10.0.0.256"}, "Stream url is not valid. "),
        ({"type": "ipCamera", "ipAddr": "10.0.0"}, "Stream url is not valid. "),
        ({"type": "streamSource"}, "Stream url is not valid. "),
        (
            {"type": "streamSource", "streamUrl": "ftp://x.test/a"},
            "Stream url is not valid. ",
        ),
        (
            {"type": "streamSource", "streamUrl": "RTMP://x.test/a"},
            "Stream url is not valid. ",
        ),
        ({"subFolder": "a/../b"}, "Subfolder is not valid. "),
    ],
    ids=[
        "camera-no-address",
        "camera-host-name",
        "camera-octet-too-big",
        "camera-three-octets",
        "source-no-url",
        "source-ftp",
        "source-upper-case-scheme",
        "subfolder-dot-dot",
    ],
)
def test_invalid_source_or_subfolder_is_refused_with_amss_message(
    client: Client, body: dict[str, Any], message: str
) -> None:
    response = create(client, {"streamId": "s1", **body})

    assert response.status_code == 400
    assert response.json == result(False, message)
    assert number(client, "count") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"type": "ipCamera", "ipAddr": "192.168.1.20"},
        {"type": "ipCamera", "ipAddr": "admin@10.0.0.2:8080/onvif"},
        {"type": "ipCamera", "ipAddr": "rtsp://camera.local/stream"},
        {"type": "ipCamera", "ipAddr": "127.0.0.999"},
        {"type": "streamSource", "streamUrl": "srt://x.test:9000"},
        {"type": "streamSource", "streamUrl": "udp://239.0.0.1:1234"},
        {"subFolder": "cameras/front"},
    ],
    ids=[
        "camera-ipv4",
        "camera-user-port-path",
        "camera-url",
        "camera-loopback",
        "source-srt",
        "source-udp",
        "subfolder",
    ],
)
def test_valid_source_or_subfolder_is_created(
    client: Client, body: dict[str, Any]
) -> None:
    response = create(client, {"streamId": "s1", **body})

    assert response.status_code == 200
    assert {name: response.json[name] for name in body} == body


@pytest.mark.parametrize(
    ("stream_id", "message"),
    [("stream1", TAKEN), ("bad id", "Stream id is not valid.")],
    ids=["taken", "invalid"],
)
def test_create_from_python_raises_the_package_error_with_amss_message(
    mock: MockAMS, stream_id: str, message: str
) -> None:
    mock.create_broadcast(streamId="stream1")

    with pytest.raises(mockams.MockAMSError) as raised:
        mock.create_broadcast(streamId=stream_id)

    assert isinstance(raised.value, mockams.CreateRejected)
    assert raised.value.message == message
    assert repr(stream_id) in str(raised.value)


def test_create_rejected_is_exported_from_the_package() -> None:
    assert "CreateRejected" in mockams.__all__
    assert mockams.CreateRejected is mockams.broadcasts.CreateRejected


def test_legacy_create_always_generates_an_id(client: Client) -> None:
    response = client.post(
        "/LiveApp/rest/broadcast/create", json={"streamId": "mine", "name": "Old"}
    )

    assert response.status_code == 200
    broadcast = response.json
    assert GENERATED_ID.fullmatch(broadcast["streamId"])
    assert broadcast["name"] == "Old"
    assert broadcast["status"] == "created"
    assert read(client, broadcast["streamId"]) == broadcast
    assert client.get(f"{BROADCASTS}/mine").status_code == 404


def test_legacy_create_accepts_an_empty_body(client: Client) -> None:
    response = client.post("/LiveApp/rest/broadcast/create")

    assert response.status_code == 200
    assert list(response.json) == list(BROADCAST_DEFAULTS)


# Read


def test_get_returns_the_stored_broadcast(client: Client) -> None:
    created = create(client, {"streamId": "stream1", "name": "Demo"}).json

    response = client.get(f"{BROADCASTS}/stream1")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == created


def test_unknown_id_reads_as_an_empty_404(client: Client) -> None:
    response = client.get(f"{BROADCASTS}/nothing")

    assert response.status_code == 404
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers


def test_list_defaults_to_ascending_stream_id_as_java_compares(
    mock: MockAMS, client: Client
) -> None:
    for stream_id in ["b", "c", "a", "C", "B1"]:
        mock.create_broadcast(streamId=stream_id)

    assert listed(client) == ["B1", "C", "a", "b", "c"]


@pytest.fixture
def named(mock: MockAMS, clock: FakeClock) -> None:
    """Three broadcasts whose name, date and id orders all differ."""
    for stream_id, name in [("s2", "banana"), ("s3", "Apple"), ("s1", "cherry")]:
        clock.now += 1000
        mock.create_broadcast(streamId=stream_id, name=name)


@pytest.mark.usefixtures("named")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?sort_by=name", ["s1", "s2", "s3"]),
        ("?sort_by=name&order_by=asc", ["s3", "s2", "s1"]),
        ("?sort_by=name&order_by=desc", ["s1", "s2", "s3"]),
        ("?sort_by=name&order_by=upwards", ["s3", "s2", "s1"]),
        ("?sort_by=date&order_by=asc", ["s2", "s3", "s1"]),
        ("?sort_by=date&order_by=desc", ["s1", "s3", "s2"]),
        ("?sort_by=category&order_by=desc", ["s1", "s2", "s3"]),
        ("?order_by=desc", ["s1", "s2", "s3"]),
    ],
    ids=[
        "sort-without-order",
        "name-asc",
        "name-desc",
        "other-order-is-asc",
        "date-asc",
        "date-desc",
        "unknown-sort",
        "order-without-sort",
    ],
)
def test_list_sorts_only_by_name_date_or_status_with_order_by(
    client: Client, query: str, expected: list[str]
) -> None:
    assert listed(client, query) == expected


def test_list_sorts_by_computed_status(mock: MockAMS, client: Client) -> None:
    for stream_id in ["a", "b", "c", "d"]:
        mock.create_broadcast(streamId=stream_id)
    mock.publish("b")
    mock.publish("c")
    mock.unpublish("c")
    mock.publish("d")
    mock.app().broadcasts.stall("d", silent_for_ms=30_000)

    ascending = listed(client, "?sort_by=status&order_by=asc")
    descending = listed(client, "?sort_by=status&order_by=desc")

    assert ascending == ["b", "a", "c", "d"]
    assert descending == ["d", "c", "a", "b"]


def test_sort_by_name_fails_with_500_when_a_broadcast_has_no_name(
    mock: MockAMS, client: Client
) -> None:
    mock.create_broadcast(streamId="named", name="Named")
    mock.create_broadcast(streamId="unnamed")

    response = client.get(f"{BROADCASTS}/list/0/10?sort_by=name&order_by=asc")

    assert_tomcat_page(response, 500, "java.lang.NullPointerException")
    assert "<p><b>Type</b> Exception Report</p>" in response.get_data(as_text=True)


def test_sort_by_name_of_a_lone_unnamed_broadcast_compares_nothing(
    mock: MockAMS, client: Client
) -> None:
    mock.create_broadcast(streamId="unnamed")

    assert listed(client, "?sort_by=name&order_by=asc") == ["unnamed"]


def test_search_runs_before_sort_so_unnamed_broadcasts_can_be_left_out(
    mock: MockAMS, client: Client
) -> None:
    mock.create_broadcast(streamId="show2", name="Evening Show")
    mock.create_broadcast(streamId="show1", name="morning show")
    mock.create_broadcast(streamId="unnamed")

    assert listed(client, "?search=SHOW&sort_by=name&order_by=desc") == [
        "show1",
        "show2",
    ]


@pytest.fixture
def searchable(mock: MockAMS) -> None:
    mock.create_broadcast(streamId="news1", name="Morning Show")
    mock.create_broadcast(streamId="sport", name="Football NEWS")
    mock.create_broadcast(streamId="a_b")
    mock.create_broadcast(streamId="quiet")


@pytest.mark.usefixtures("searchable")
@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("news", ["news1", "sport"]),
        ("SHOW", ["news1"]),
        ("a_b", ["a_b"]),
        ("a|b", ["a_b"]),
        ("ui", ["quiet"]),
        ("nothing", []),
        ("", ["a_b", "news1", "quiet", "sport"]),
    ],
    ids=[
        "id-or-name",
        "name-any-case",
        "id",
        "bar-is-underscore",
        "id-only",
        "none",
        "blank",
    ],
)
def test_search_matches_name_or_stream_id_in_any_case(
    client: Client, search: str, expected: list[str]
) -> None:
    assert listed(client, f"?search={search.replace('|', '%7C')}") == expected
    count_path = f"count/{search.replace('|', '%7C')}" if search else "count"
    assert number(client, count_path) == len(expected)


def test_type_by_keeps_one_type_exactly(mock: MockAMS, client: Client) -> None:
    mock.create_broadcast(streamId="live")
    mock.create_broadcast(streamId="cam", type="ipCamera", ipAddr="10.0.0.2")
    mock.create_broadcast(streamId="src", type="streamSource", streamUrl="srt://x")

    assert listed(client, "?type_by=ipCamera") == ["cam"]
    assert listed(client, "?type_by=liveStream") == ["live"]
    assert listed(client, "?type_by=ipcamera") == []
    assert listed(client, "?type_by=") == ["cam", "live", "src"]


def test_list_pages_are_capped_at_250(mock: MockAMS, client: Client) -> None:
    ids = [f"s{index:03d}" for index in range(260)]
    for stream_id in ids:
        mock.create_broadcast(streamId=stream_id)

    assert listed(client, page="0/1000") == ids[:250]
    assert listed(client, page="250/250") == ids[250:]
    assert listed(client, page="5/251") == ids[5:255]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("0/2", ["a", "b"]),
        ("2/2", ["c"]),
        ("-5/2", ["a", "b"]),
        ("1/0", []),
        ("0/-1", []),
        ("3/10", []),
        ("99/10", []),
    ],
    ids=[
        "first",
        "last",
        "negative-offset",
        "zero-size",
        "negative-size",
        "at-end",
        "past-end",
    ],
)
def test_list_page_is_cropped_like_amss(
    mock: MockAMS, client: Client, page: str, expected: list[str]
) -> None:
    for stream_id in ["a", "b", "c"]:
        mock.create_broadcast(streamId=stream_id)

    assert listed(client, page=page) == expected


@pytest.mark.parametrize(
    "page",
    ["a/10", "0/ten", "1.5/10", "0"],
    ids=["offset", "size", "decimal", "no-size"],
)
def test_list_with_a_non_integer_page_is_tomcat_404(client: Client, page: str) -> None:
    assert_tomcat_page(client.get(f"{BROADCASTS}/list/{page}"), 404, "Not Found")


def test_count_counts_every_broadcast(mock: MockAMS, client: Client) -> None:
    assert number(client, "count") == 0
    mock.create_broadcast(streamId="a")
    mock.create_broadcast(streamId="cam", type="ipCamera", ipAddr="10.0.0.2")
    mock.publish("zombi1")

    assert number(client, "count") == 3


def test_active_live_stream_count_counts_broadcasting_streams(
    mock: MockAMS, client: Client
) -> None:
    for stream_id in ["a", "b", "c"]:
        mock.create_broadcast(streamId=stream_id)
    mock.publish("a")
    mock.publish("b")
    mock.publish("zombi1")
    mock.unpublish("b")

    assert number(client, "active-live-stream-count") == 2


# Streams that stop reporting


def test_a_stalled_stream_reads_as_terminated_unexpectedly(
    mock: MockAMS, client: Client
) -> None:
    mock.create_broadcast(streamId="stream1")
    mock.publish("stream1")

    mock.app().broadcasts.stall("stream1", silent_for_ms=30_000)

    assert read(client, "stream1")["status"] == "terminated_unexpectedly"
    assert number(client, "active-live-stream-count") == 0
    assert number(client, "count") == 1


@pytest.mark.parametrize(
    ("silent_for_ms", "status"),
    [(19_999, "broadcasting"), (20_000, "terminated_unexpectedly")],
    ids=["just-under-20s", "at-20s"],
)
def test_status_flips_once_a_stream_is_silent_for_20_seconds(
    mock: MockAMS, client: Client, clock: FakeClock, silent_for_ms: int, status: str
) -> None:
    mock.publish("stream1")

    mock.app().broadcasts.stall("stream1", silent_for_ms=silent_for_ms)

    assert read(client, "stream1")["status"] == status


def test_a_live_stream_keeps_reading_broadcasting(
    mock: MockAMS, client: Client, clock: FakeClock
) -> None:
    mock.create_broadcast(streamId="stream1")
    mock.publish("stream1")

    clock.now += 3_600_000

    assert read(client, "stream1")["status"] == "broadcasting"
    assert number(client, "active-live-stream-count") == 1


# Update


def put(client: Client, stream_id: str, body: Any) -> TestResponse:
    return client.put(f"{BROADCASTS}/{stream_id}", json=body)


def test_update_changes_given_properties_and_leaves_null_ones(
    client: Client,
) -> None:
    create(client, {"streamId": "s1", "name": "Old", "description": "kept"})

    response = put(client, "s1", {"name": "New", "description": None, "speed": 0.9})

    assert response.status_code == 200
    assert response.json == result(True)
    broadcast = read(client, "s1")
    assert (broadcast["name"], broadcast["description"]) == ("New", "kept")
    assert broadcast["speed"] == 0.9


def test_update_applies_empty_strings(client: Client) -> None:
    create(client, {"streamId": "s1", "name": "Old"})

    put(client, "s1", {"name": ""})

    assert read(client, "s1")["name"] == ""


def test_update_keeps_the_hook_url_when_given_an_empty_one(client: Client) -> None:
    create(client, {"streamId": "s1", "listenerHookURL": "http://hooks.test/a"})

    put(client, "s1", {"listenerHookURL": ""})
    assert read(client, "s1")["listenerHookURL"] == "http://hooks.test/a"
    put(client, "s1", {"listenerHookURL": "http://hooks.test/b"})
    assert read(client, "s1")["listenerHookURL"] == "http://hooks.test/b"


NEVER_UPDATED = {
    "category": "other",
    "type": "ipCamera",
    "streamId": "renamed",
    "publish": False,
    "mp4Enabled": 1,
    "webMEnabled": 1,
    "zombi": True,
    "rtmpURL": "rtmp://elsewhere/app/s1",
    "date": 5,
    "publicStream": False,
    "is360": True,
    "expireDurationMS": 1000,
    "rtmpViewerCount": 3,
    "publishType": "SRT",
    "hlsParameters": {"hlsTime": "2"},
}


@pytest.mark.parametrize(
    ("name", "value"), list(NEVER_UPDATED.items()), ids=list(NEVER_UPDATED)
)
def test_update_ignores_properties_ams_never_updates(
    client: Client, name: str, value: Any
) -> None:
    before = create(client, {"streamId": "s1", "category": "news"}).json

    response = put(client, "s1", {name: value})

    assert response.json == result(True)
    assert read(client, "s1") == before


def test_update_changes_status_of_a_live_stream(client: Client) -> None:
    create(client, {"streamId": "s1"})

    put(client, "s1", {"status": "finished"})

    assert read(client, "s1")["status"] == "finished"


def test_update_leaves_status_of_a_stream_source(client: Client) -> None:
    create(client, {"streamId": "s1", "type": "streamSource", "streamUrl": "srt://x"})

    response = put(client, "s1", {"status": "finished", "name": "Source"})

    assert response.json == result(True)
    assert (read(client, "s1")["status"], read(client, "s1")["name"]) == (
        "created",
        "Source",
    )


def test_status_broadcasting_without_a_fresh_update_time_reads_terminated(
    client: Client,
) -> None:
    create(client, {"streamId": "s1"})

    put(client, "s1", {"status": "broadcasting"})
    assert read(client, "s1")["status"] == "terminated_unexpectedly"
    put(client, "s1", {"updateTime": time.time_ns() // 1_000_000})
    assert read(client, "s1")["status"] == "broadcasting"


def test_update_time_zero_is_ignored(client: Client) -> None:
    create(client, {"streamId": "s1"})
    put(client, "s1", {"updateTime": 1234})

    put(client, "s1", {"updateTime": 0})

    assert read(client, "s1")["updateTime"] == 1234


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(None, None), ("", "application/json"), ("null", "application/json")],
    ids=["no-body", "empty-body", "null"],
)
def test_update_without_body_fails_with_an_empty_message(
    client: Client, data: str | None, content_type: str | None
) -> None:
    create(client, {"streamId": "s1"})

    response = client.put(f"{BROADCASTS}/s1", data=data, content_type=content_type)

    assert response.status_code == 200
    assert response.json == result(False)


def test_update_with_an_empty_object_succeeds(client: Client) -> None:
    before = create(client, {"streamId": "s1"}).json

    assert put(client, "s1", {}).json == result(True)
    assert read(client, "s1") == before


@pytest.mark.parametrize(
    ("path_id", "shown"),
    [("nothing", "nothing"), ("a%7Cb%09c", "a_b_c")],
    ids=["plain", "bar-and-tab"],
)
def test_update_of_an_unknown_id_says_it_does_not_exist_with_200(
    client: Client, path_id: str, shown: str
) -> None:
    response = put(client, path_id, {"name": "x"})

    assert response.status_code == 200
    assert response.json == result(
        False, f"Broadcast with streamId: {shown} does not exist"
    )


def test_update_with_anyone_watching_is_refused_as_plain_text(client: Client) -> None:
    create(client, {"streamId": "s1"})

    response = put(client, "s1", {"name": "x", "anyoneWatching": True})

    assert_plain_400(response, 'Unrecognized field "anyoneWatching"')
    assert "BroadcastUpdate" in response.get_data(as_text=True)
    assert read(client, "s1")["name"] is None


def test_update_with_a_wrong_type_is_refused_as_plain_text(client: Client) -> None:
    create(client, {"streamId": "s1"})

    assert_plain_400(put(client, "s1", {"duration": "long"}), "Cannot deserialize")


def test_update_accepts_a_null_stream_id(client: Client) -> None:
    create(client, {"streamId": "s1"})

    assert put(client, "s1", {"streamId": None, "name": "x"}).json == result(True)


# Delete


def delete(client: Client, target: str) -> TestResponse:
    return client.delete(f"{BROADCASTS}/{target}")


def test_delete_of_an_unknown_id_fails_with_an_empty_message(client: Client) -> None:
    response = delete(client, "nothing")

    assert response.status_code == 200
    assert response.json == result(False)


def test_delete_of_a_created_stream_could_not_stop_it(client: Client) -> None:
    create(client, {"streamId": "s1"})

    response = delete(client, "s1")

    assert response.data == (
        b'{"success":true,"message":"broadcast is deleted but could not stopped ",'
        b'"dataId":"","errorId":0}'
    )
    assert client.get(f"{BROADCASTS}/s1").status_code == 404


def test_delete_of_a_live_stream_stops_it(mock: MockAMS, client: Client) -> None:
    create(client, {"streamId": "s1"})
    mock.publish("s1")

    response = delete(client, "s1")

    assert response.json == result(
        True, "broadcast is deleted and stopped successfully"
    )
    assert number(client, "count") == 0
    assert number(client, "active-live-stream-count") == 0


def test_delete_of_a_stalled_stream_could_not_stop_it(
    mock: MockAMS, client: Client
) -> None:
    mock.publish("s1")
    mock.app().broadcasts.stall("s1", silent_for_ms=30_000)

    response = delete(client, "s1")

    assert response.json == result(True, "broadcast is deleted but could not stopped ")


@pytest.fixture
def room(mock: MockAMS) -> None:
    mock.create_broadcast(streamId="room")
    mock.create_broadcast(streamId="track1", mainTrackStreamId="room")
    mock.create_broadcast(streamId="track2", mainTrackStreamId="room")
    mock.create_broadcast(streamId="other", mainTrackStreamId="elsewhere")


@pytest.mark.usefixtures("room")
@pytest.mark.parametrize(
    ("query", "left"),
    [
        ("", ["other"]),
        ("?deleteSubtracks=true", ["other"]),
        ("?deleteSubtracks=TRUE", ["other"]),
        ("?deleteSubtracks=", ["other"]),
        ("?deleteSubtracks=false", ["other", "track1", "track2"]),
        ("?deleteSubtracks=no", ["other", "track1", "track2"]),
    ],
    ids=["default", "true", "upper-case", "blank", "false", "not-true"],
)
def test_delete_removes_subtracks_unless_told_not_to(
    client: Client, query: str, left: list[str]
) -> None:
    response = delete(client, f"room{query}")

    assert response.json["success"] is True
    assert listed(client) == left


def test_delete_with_a_non_json_body_gets_tomcat_415(client: Client) -> None:
    create(client, {"streamId": "s1"})

    response = client.delete(f"{BROADCASTS}/s1", data="x", content_type="text/plain")

    assert_tomcat_page(response, 415, "Unsupported Media Type")
    assert number(client, "count") == 1


@pytest.mark.parametrize(
    "query", ["", "?ids=", "?ids=%20%20"], ids=["absent", "empty", "spaces"]
)
def test_bulk_delete_with_blank_ids_says_so(client: Client, query: str) -> None:
    response = client.delete(f"{BROADCASTS}{query}")

    assert response.status_code == 200
    assert response.json == result(False, "ids parameter is blank")


@pytest.mark.parametrize(
    ("ids", "answer", "left"),
    [
        ("a,b", result(True, "broadcast is deleted but could not stopped "), ["c"]),
        ("a,b,", result(True, "broadcast is deleted but could not stopped "), ["c"]),
        ("a,x,b", result(False), ["b", "c"]),
        ("a,%20b", result(False), ["b", "c"]),
        (",a", result(False), ["a", "b", "c"]),
    ],
    ids=["two", "trailing-comma", "stops-at-unknown", "no-trimming", "leading-comma"],
)
def test_bulk_delete_stops_at_the_first_failure(
    mock: MockAMS, client: Client, ids: str, answer: dict[str, Any], left: list[str]
) -> None:
    for stream_id in ["a", "b", "c"]:
        mock.create_broadcast(streamId=stream_id)

    response = client.delete(f"{BROADCASTS}?ids={ids}")

    assert response.json == answer
    assert listed(client) == left


def test_bulk_delete_keeps_subtracks_and_takes_a_trailing_slash(
    client: Client,
) -> None:
    create(client, {"streamId": "room"})
    create(client, {"streamId": "track1", "mainTrackStreamId": "room"})

    response = client.delete(f"{BROADCASTS}/?ids=room")

    assert response.json["success"] is True
    assert listed(client) == ["track1"]


# Application settings

DEFAULT_SETTINGS = {
    "appName": "LiveApp",
    "listenerHookURL": "",
    "webhookContentType": "application/x-www-form-urlencoded",
    "webhookRetryCount": 0,
    "webhookRetryDelay": 1000,
    "webhookStreamStatusUpdatePeriodMs": -1,
    "webhookAuthenticateURL": "",
    "webhookPlayAuthUrl": "",
    "ipFilterEnabled": True,
    "remoteAllowedCIDR": "127.0.0.1",
    "jwtControlEnabled": False,
    "jwtSecretKey": "",
}


def app_settings(client: Client) -> dict[str, Any]:
    response = client.get(SETTINGS)
    assert response.status_code == 200

    return dict(response.json or {})


def test_settings_start_with_amss_defaults(client: Client) -> None:
    settings = app_settings(client)

    assert {name: settings[name] for name in DEFAULT_SETTINGS} == DEFAULT_SETTINGS


def test_settings_post_replaces_the_whole_object(client: Client) -> None:
    first = client.post(
        SETTINGS,
        json={"listenerHookURL": "http://hooks.test/a", "webhookRetryCount": 2},
    )
    assert first.json == result(True)
    assert app_settings(client)["webhookRetryCount"] == 2

    client.post(SETTINGS, json={"webhookContentType": "application/json"})

    settings = app_settings(client)
    assert settings["webhookContentType"] == "application/json"
    assert settings["listenerHookURL"] == ""
    assert settings["webhookRetryCount"] == 0


def test_settings_post_ignores_names_it_does_not_model(client: Client) -> None:
    response = client.post(SETTINGS, json={"hlsTime": "2", "webhookRetryDelay": 50})

    assert response.json == result(True)
    assert app_settings(client)["webhookRetryDelay"] == 50


@pytest.mark.parametrize(
    "body",
    [
        {"webhookRetryCount": "2"},
        {"webhookRetryCount": True},
        {"webhookRetryCount": -1},
        {"ipFilterEnabled": "false"},
        {"listenerHookURL": 5},
        ["listenerHookURL"],
    ],
    ids=[
        "string-count",
        "boolean-count",
        "negative-count",
        "string-flag",
        "number-url",
        "array",
    ],
)
def test_settings_of_a_wrong_type_are_refused(client: Client, body: Any) -> None:
    response = client.post(SETTINGS, json=body)

    assert response.status_code == 400
    assert {name: app_settings(client)[name] for name in DEFAULT_SETTINGS} == (
        DEFAULT_SETTINGS
    )


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain"],
    ids=["form", "text"],
)
def test_settings_post_with_a_non_json_body_gets_tomcat_415(
    client: Client, content_type: str
) -> None:
    response = client.post(
        SETTINGS, data="webhookRetryCount=2", content_type=content_type
    )

    assert_tomcat_page(response, 415, "Unsupported Media Type")
    assert app_settings(client)["webhookRetryCount"] == 0


def test_settings_of_an_unknown_app_are_not_found(client: Client) -> None:
    response = client.get("/rest/v2/applications/settings/NoSuchApp")

    assert_tomcat_page(response, 404, "Not Found")


# Routing


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/NoSuchApp/rest/v2/broadcasts/s1"),
        ("POST", "/NoSuchApp/rest/v2/broadcasts/create"),
        ("GET", "/NoSuchApp/rest/v2/broadcasts/count"),
    ],
    ids=["get", "create", "count"],
)
def test_unknown_application_is_tomcat_404(
    client: Client, method: str, path: str
) -> None:
    assert_tomcat_page(client.open(path, method=method), 404, "Not Found")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/LiveApp",
        "/LiveApp/rest/v2/vods/nothing/else",
        "/LiveApp/rest/v2/broadcasts/s1/extra",
        "/LiveApp/rest/v3/broadcasts/count",
    ],
    ids=["root", "app", "other-resource", "too-deep", "other-version"],
)
def test_unknown_path_is_tomcat_404(client: Client, path: str) -> None:
    assert_tomcat_page(client.get(path), 404, "Not Found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/s1", {"GET", "PUT", "DELETE"}),
        ("POST", "/s1", {"GET", "PUT", "DELETE"}),
        ("GET", "/create", {"POST"}),
        ("PUT", "/create", {"POST"}),
        ("DELETE", "/count", {"GET"}),
        ("PUT", "/active-live-stream-count", {"GET"}),
        ("POST", "/list/0/10", {"GET"}),
        ("GET", "", {"DELETE"}),
    ],
    ids=[
        "patch-one",
        "post-one",
        "get-create",
        "put-create",
        "delete-count",
        "put-active-count",
        "post-list",
        "get-collection",
    ],
)
def test_wrong_method_is_tomcat_405_with_allow(
    client: Client, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(f"{BROADCASTS}{path}", method=method)

    assert_tomcat_page(response, 405, "Method Not Allowed")
    assert allowed <= set(response.headers["Allow"].split(","))
    assert method not in response.headers["Allow"].split(",")


def test_a_stream_named_like_a_route_reads_as_the_route(client: Client) -> None:
    assert create(client, {"streamId": "count"}).status_code == 200

    assert client.get(f"{BROADCASTS}/count").json == {"number": 1}
    assert listed(client) == ["count"]


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        ("POST", "/create", {"data": "{", "content_type": "application/json"}),
        ("POST", "/create", {"data": "x", "content_type": "text/plain"}),
        ("POST", "/create", {"json": {"unknown": 1}}),
        ("POST", "/create", {"data": b"\xff\xfe", "content_type": "application/json"}),
        ("PUT", "/s1", {"data": "[1,", "content_type": "application/json"}),
        ("GET", "/list/x/y", {}),
        ("PATCH", "/s1", {}),
        ("GET", "/nothing", {}),
    ],
    ids=[
        "malformed",
        "not-json",
        "unknown-field",
        "not-utf8",
        "malformed-update",
        "bad-page",
        "bad-method",
        "unknown-id",
    ],
)
def test_the_server_keeps_serving_after_a_bad_request(
    mock: MockAMS, client: Client, method: str, path: str, options: dict[str, Any]
) -> None:
    bad = client.open(f"{BROADCASTS}{path}", method=method, **options)

    assert 400 <= bad.status_code < 500
    assert create(client, {"streamId": "after"}).status_code == 200
    assert mock.errors == []


# Access control

AWAY = {"REMOTE_ADDR": "10.1.2.3"}


def test_in_process_calls_without_an_address_count_as_local(client: Client) -> None:
    assert client.get(f"{BROADCASTS}/count").status_code == 200


def test_caller_outside_the_allowed_cidr_is_refused(client: Client) -> None:
    response = client.get(f"{BROADCASTS}/count", environ_base=AWAY)

    assert_tomcat_page(response, 403, "Not allowed IP")


@pytest.mark.parametrize(
    "changes",
    [
        {"allowed_cidr": "127.0.0.1, 10.0.0.0/8"},
        {"allowed_cidr": "10.1.2.3"},
        {"ip_filter_enabled": False},
    ],
    ids=["cidr-list", "exact-address", "filter-off"],
)
def test_caller_inside_the_allowed_cidr_or_with_the_filter_off_passes(
    mock: MockAMS, client: Client, changes: dict[str, Any]
) -> None:
    mock.configure(**changes)

    assert client.get(f"{BROADCASTS}/count", environ_base=AWAY).status_code == 200


def test_the_ip_filter_guards_every_broadcast_call(client: Client) -> None:
    create(client, {"streamId": "s1"})

    calls = [
        client.post(f"{BROADCASTS}/create", json={}, environ_base=AWAY),
        client.get(f"{BROADCASTS}/s1", environ_base=AWAY),
        client.put(f"{BROADCASTS}/s1", json={"name": "x"}, environ_base=AWAY),
        client.delete(f"{BROADCASTS}/s1", environ_base=AWAY),
    ]

    assert [response.status_code for response in calls] == [403] * 4
    assert listed(client) == ["s1"]


def token(secret: str = JWT_SECRET, **claims: Any) -> str:
    return jwt.encode({"sub": "tests", **claims}, secret, algorithm="HS256")


@pytest.fixture
def jwt_app(mock: MockAMS) -> None:
    mock.configure(jwt_enabled=True, jwt_secret=JWT_SECRET)


@pytest.mark.usefixtures("jwt_app")
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer not.a.token",
        f"Bearer {token('another-secret-long-enough-for-hs256')}",
        f"Bearer {token(exp=int(time.time()) - 60)}",
        jwt.encode({"sub": "tests"}, None, algorithm="none"),
    ],
    ids=[
        "absent",
        "empty",
        "prefix-only",
        "garbage",
        "other-key",
        "expired",
        "unsigned",
    ],
)
def test_jwt_filter_refuses_a_missing_or_bad_token(
    client: Client, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get(f"{BROADCASTS}/count", headers=headers)

    assert_tomcat_page(response, 403, "Invalid App JWT Token")


@pytest.mark.usefixtures("jwt_app")
@pytest.mark.parametrize(
    "prefix",
    ["", "Bearer ", "bearer ", "BEARER  "],
    ids=["bare", "bearer", "lower", "upper"],
)
def test_jwt_filter_passes_a_valid_token_with_or_without_bearer(
    client: Client, prefix: str
) -> None:
    headers = {"Authorization": prefix + token()}

    assert client.get(f"{BROADCASTS}/count", headers=headers).status_code == 200


def test_jwt_filter_accepts_a_short_secret_as_ams_does(
    mock: MockAMS, client: Client
) -> None:
    mock.configure(jwt_enabled=True, jwt_secret="secret")
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        short = token("secret")

    response = client.get(f"{BROADCASTS}/count", headers={"Authorization": short})

    assert response.status_code == 200


def test_jwt_is_checked_before_the_ip_filter(client: Client) -> None:
    client.post(SETTINGS, json={"jwtControlEnabled": True, "jwtSecretKey": JWT_SECRET})

    without = client.get(f"{BROADCASTS}/count", environ_base=AWAY)
    valid = client.get(
        f"{BROADCASTS}/count",
        environ_base=AWAY,
        headers={"Authorization": f"Bearer {token()}"},
    )

    assert_tomcat_page(without, 403, "Invalid App JWT Token")
    assert_tomcat_page(valid, 403, "Not allowed IP")


@pytest.mark.network
def test_a_caller_on_loopback_passes_the_default_ip_filter(served: MockAMS) -> None:
    response = requests.get(f"{served.url}{BROADCASTS}/count", timeout=5)

    assert response.status_code == 200
    assert response.json() == {"number": 0}


# Properties

# Paths AMS routes elsewhere cannot read a stream back; tested on their own.
ROUTED_NAMES = {"create", "count", "active-live-stream-count"}
valid_ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=64).filter(
    lambda stream_id: stream_id not in ROUTED_NAMES
)
refused_ids = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text(alphabet=ID_ALPHABET, min_size=1, max_size=8),
    st.text(min_size=1, max_size=8).filter(
        lambda text: any(char not in ID_ALPHABET for char in text)
    ),
    st.text(alphabet=ID_ALPHABET, min_size=1, max_size=8),
)
# The mock is reused across examples: each example deletes what it created.
reuse_mock = settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@reuse_mock
@given(stream_id=valid_ids)
def test_any_id_from_the_alphabet_is_created_and_read_back(
    client: Client, stream_id: str
) -> None:
    created = create(client, {"streamId": stream_id})

    assert created.status_code == 200
    assert read(client, stream_id) == created.json
    assert delete(client, stream_id).json["success"] is True


@reuse_mock
@given(stream_id=refused_ids)
def test_any_id_with_a_character_outside_the_alphabet_is_refused(
    client: Client, stream_id: str
) -> None:
    response = create(client, {"streamId": stream_id})

    assert response.status_code == 400
    assert response.json == result(False, "Stream id is not valid.")
    assert number(client, "count") == 0
