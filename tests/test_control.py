"""The control API under /mockams/, checked against the OpenAPI document.

Every JSON answer a test gets goes through :func:`check_answer`, which
validates it against the schema ``mockams/openapi.json`` gives for that path,
method and status: if the document and the server disagree, a test fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from pytest_httpserver import HTTPServer
from referencing import Registry
from referencing.jsonschema import DRAFT4
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.test import Client

from mockams import ACTIONS, MockAMS, __version__
from mockams.web import MAX_BODY

SPEC: dict[str, Any] = json.loads(
    resources.files("mockams").joinpath("openapi.json").read_text("utf-8")
)
SPEC_URI = "urn:mockams:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(
    SPEC_URI, DRAFT4.create_resource(SPEC)
)
# Werkzeug's converter names, as the document spells the path parameters.
PATH_PARAMETERS = {"app": "app", "stream_id": "id"}
STREAM = "/mockams/apps/LiveApp/streams"
HOOKS = "/mockams/apps/LiveApp/hooks"
NO_BODY = object()


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _resolve(pointer: str) -> Any:
    node: Any = SPEC
    for part in pointer.split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]

    return node


def schema_errors(pointer: str, instance: Any) -> list[str]:
    """Why ``instance`` does not match the schema at ``pointer`` in the document."""
    validator = OAS30Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=REGISTRY,
        format_checker=oas30_format_checker,
    )

    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


def _template(url_map: Map, method: str, path: str) -> str | None:
    """The document's path for ``path``, or ``None`` when no route matches."""
    try:
        rule, _ = url_map.bind("localhost").match(path, method=method, return_rule=True)
    except HTTPException:
        return None

    return _as_document_path(rule.rule)


def _as_document_path(rule: str) -> str:
    """``/mockams/apps/<app>/streams/<stream_id>`` as ``.../{app}/streams/{id}``."""
    return re.sub(
        r"<(?:[^:>]+:)?([^>]+)>",
        lambda match: "{" + PATH_PARAMETERS[match[1]] + "}",
        rule,
    )


def check_answer(
    url_map: Map, method: str, path: str, status: int, mimetype: str, text: str
) -> None:
    """Fail unless the document describes this answer and its JSON matches."""
    template = _template(url_map, method, path)
    if template is None:
        return
    operation = _pointer("paths", template, method.lower())
    responses = _resolve(operation)["responses"]
    assert str(status) in responses, f"{method} {template} may not answer {status}"
    response = _pointer("paths", template, method.lower(), "responses", str(status))
    if "$ref" in responses[str(status)]:
        response = responses[str(status)]["$ref"].removeprefix("#")
    assert mimetype == "application/json", f"{method} {path} answered {mimetype}"
    schema = response + _pointer("content", "application/json", "schema")

    assert schema_errors(schema, json.loads(text)) == []


def request_schema(url_map: Map, method: str, path: str) -> str:
    """Where the document has the schema of the body of a call to ``path``."""
    template = _template(url_map, method, path)
    assert template is not None

    return _pointer(
        "paths",
        template,
        method.lower(),
        "requestBody",
        "content",
        "application/json",
        "schema",
    )


@dataclass
class Answer:
    status: int
    json: Any


class Control:
    """The control API through the test client, every answer checked."""

    def __init__(self, client: Client, mock: MockAMS) -> None:
        self.client = client
        self.url_map = mock.control.url_map

    def call(
        self, method: str, path: str, body: Any = NO_BODY, *, raw: bytes | None = None
    ) -> Answer:
        if raw is not None:
            response = self.client.open(path, method=method, data=raw)
        elif body is NO_BODY:
            response = self.client.open(path, method=method)
        else:
            response = self.client.open(path, method=method, json=body)
        text = response.get_data(as_text=True)
        route = urlsplit(path).path
        mimetype = response.mimetype or ""
        check_answer(self.url_map, method, route, response.status_code, mimetype, text)
        if response.status_code == 200 and isinstance(body, dict):
            # The document must accept every body the server accepted.
            assert (
                schema_errors(request_schema(self.url_map, method, route), body) == []
            )

        return Answer(response.status_code, json.loads(text))

    def get(self, path: str) -> Answer:
        return self.call("GET", path)

    def post(
        self, path: str, body: Any = NO_BODY, *, raw: bytes | None = None
    ) -> Answer:
        return self.call("POST", path, body, raw=raw)

    def delete(self, path: str) -> Answer:
        return self.call("DELETE", path)

    def wait(self, count: int, query: str = "") -> list[dict[str, Any]]:
        """The deliveries once ``count`` exist; fails after 5 s."""
        answer = self.get(f"/mockams/deliveries/wait?count={count}&timeout=5{query}")
        assert answer.status == 200, answer.json

        return list(answer.json["deliveries"])


@pytest.fixture
def control(client: Client, mock: MockAMS) -> Control:
    return Control(client, mock)


@pytest.fixture
def receiver(httpserver: HTTPServer, mock: MockAMS) -> HTTPServer:
    """A receiver answering 200 to every hook, set as LiveApp's hook URL."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    mock.configure(hook_url=httpserver.url_for("/hook"))

    return httpserver


def create(client: Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/LiveApp/rest/v2/broadcasts/create", json=fields)
    assert response.status_code == 200

    return dict(response.get_json())


# The document itself


def test_openapi_json_is_served_as_shipped(control: Control) -> None:
    answer = control.get("/mockams/openapi.json")

    assert answer.status == 200
    assert answer.json == SPEC


def test_openapi_document_describes_every_route_and_no_other(mock: MockAMS) -> None:
    routes = {
        (_as_document_path(rule.rule), method.lower())
        for rule in mock.control.url_map.iter_rules()
        for method in rule.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }

    assert SPEC["openapi"] == "3.0.3"
    assert documented == routes


def test_every_operation_has_an_id_and_described_responses() -> None:
    operations = [
        operation
        for item in SPEC["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
    ]
    ids = [operation["operationId"] for operation in operations]

    assert len(ids) == len(set(ids))
    for operation in operations:
        assert operation["summary"]
        assert operation["responses"]
        for response in operation["responses"].values():
            resolved = (
                _resolve(response["$ref"].removeprefix("#"))
                if "$ref" in response
                else response
            )
            assert resolved["description"]


def test_every_path_parameter_is_declared() -> None:
    for path, item in SPEC["paths"].items():
        declared = {
            _resolve(parameter["$ref"].removeprefix("#"))["name"]
            for parameter in item.get("parameters", [])
        }

        assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_every_schema_is_valid_and_every_reference_resolves() -> None:
    references = re.findall(r'"\$ref": "#([^"]+)"', json.dumps(SPEC))

    for schema in SPEC["components"]["schemas"].values():
        OAS30Validator.check_schema(schema)
    for reference in references:
        assert isinstance(_resolve(reference), dict), reference


def test_document_version_is_the_package_version() -> None:
    assert SPEC["info"]["version"] == __version__


def test_delivery_schema_lists_every_key_a_delivery_has(
    control: Control, mock: MockAMS, receiver: HTTPServer
) -> None:
    control.post(HOOKS, {"action": "vodReady", "id": "stream1"})
    control.wait(1)
    [delivery] = mock.deliveries()
    schema = SPEC["components"]["schemas"]["Delivery"]

    assert set(schema["properties"]) == set(delivery.to_json())
    assert set(schema["required"]) == set(delivery.to_json())
    assert all(item.get("description") for item in schema["properties"].values())


def test_fire_action_enum_is_every_action() -> None:
    action = SPEC["components"]["schemas"]["FireRequest"]["properties"]["action"]

    assert action["enum"] == list(ACTIONS)


# Info and reset


def test_info_names_the_versions_apps_and_counters(control: Control) -> None:
    answer = control.get("/mockams/")

    assert answer.status == 200
    assert answer.json == {
        "mockams": __version__,
        "ams_version": "current",
        "apps": ["LiveApp"],
        "deliveries": 0,
        "pending": 0,
    }


def test_reset_forgets_broadcasts_deliveries_and_setting_changes(
    control: Control, client: Client, receiver: HTTPServer, mock: MockAMS
) -> None:
    create(client, streamId="stream1")
    control.post(f"{STREAM}/stream1/publish")
    control.wait(1)
    settings = client.post(
        "/rest/v2/applications/settings/LiveApp",
        json={"listenerHookURL": receiver.url_for("/hook"), "webhookRetryCount": 3},
    )
    assert settings.status_code == 200

    answer = control.post("/mockams/reset")

    assert answer.json == {"reset": True}
    assert client.get("/LiveApp/rest/v2/broadcasts/list/0/50").get_json() == []
    assert control.get("/mockams/deliveries").json == []
    assert control.get("/mockams/").json["deliveries"] == 0
    assert mock.settings().retry_count == 0
    assert mock.settings().hook_url == ""


# Publish


def test_publish_makes_the_stream_live_and_sends_live_stream_started(
    control: Control, client: Client, receiver: HTTPServer
) -> None:
    create(client, streamId="stream1", name="Demo")

    answer = control.post(f"{STREAM}/stream1/publish")
    [delivery] = control.wait(1)

    assert answer.status == 200
    assert answer.json["status"] == "broadcasting"
    assert answer.json["publishType"] == "RTMP"
    assert delivery["action"] == "liveStreamStarted"
    assert delivery["fields"]["streamName"] == "Demo"
    assert delivery["ok"] is True
    [(request, _)] = receiver.log
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.get_data(as_text=True) == delivery["body"]


def test_publish_passes_subscriber_id_params_and_type(
    control: Control, receiver: HTTPServer
) -> None:
    body = {
        "subscriberId": "camera-7",
        "params": {"token": "abc", "quality": 720},
        "publishType": "WebRTC",
    }

    answer = control.post(f"{STREAM}/stream1/publish", body)
    [delivery] = control.wait(1)

    assert answer.json["publishType"] == "WebRTC"
    assert delivery["fields"]["subscriberId"] == "camera-7"
    assert delivery["fields"]["token"] == "abc"
    assert delivery["fields"]["quality"] == "720"


def test_publish_without_a_broadcast_makes_a_zombi_one(control: Control) -> None:
    answer = control.post(f"{STREAM}/stream1/publish", {})

    assert answer.status == 200
    assert answer.json["zombi"] is True
    assert answer.json["streamId"] == "stream1"


def test_publish_twice_is_a_conflict(control: Control) -> None:
    control.post(f"{STREAM}/stream1/publish")

    answer = control.post(f"{STREAM}/stream1/publish")

    assert answer.status == 409
    assert "already broadcasting" in answer.json["error"]


def test_publish_with_an_invalid_stream_id_is_a_bad_request(control: Control) -> None:
    answer = control.post(f"{STREAM}/bad%20id/publish")

    assert answer.status == 400
    assert "not valid" in answer.json["error"]


# Unpublish


def test_unpublish_finishes_the_stream_and_sends_live_stream_ended(
    control: Control, receiver: HTTPServer
) -> None:
    control.post(f"{STREAM}/stream1/publish")
    control.wait(1)

    answer = control.post(f"{STREAM}/stream1/unpublish", {"record": False})
    ended = control.wait(1, "&action=liveStreamEnded")

    assert answer.status == 200
    assert answer.json["broadcast"]["status"] == "finished"
    assert answer.json["vods"] == []
    assert [item["stream_id"] for item in ended] == ["stream1"]


def test_unpublish_with_recording_makes_a_vod_per_rendition(
    control: Control, client: Client, receiver: HTTPServer
) -> None:
    create(client, streamId="stream1")
    control.post(f"{STREAM}/stream1/publish")
    body = {"record": True, "renditions": ["720p2500kbps", 480], "durationMs": 6000}

    answer = control.post(f"{STREAM}/stream1/unpublish", body)
    ready = control.wait(3, "&action=vodReady")

    names = [vod["vodName"] for vod in answer.json["vods"]]
    assert names == ["stream1.mp4", "stream1_720p2500kbps.mp4", "stream1_480p.mp4"]
    assert {vod["duration"] for vod in answer.json["vods"]} == {6000}
    assert {item["fields"]["vodName"] for item in ready} == {
        "stream1",
        "stream1_720p2500kbps",
        "stream1_480p",
    }


@pytest.mark.parametrize(
    "setup",
    [pytest.param(False, id="never-published"), pytest.param(True, id="ended")],
)
def test_unpublish_when_not_live_is_a_conflict(control: Control, setup: bool) -> None:
    if setup:
        control.post(f"{STREAM}/stream1/publish")
        control.post(f"{STREAM}/stream1/unpublish")

    answer = control.post(f"{STREAM}/stream1/unpublish")

    assert answer.status == 409
    assert "not broadcasting" in answer.json["error"]


# Stall


def test_stall_shows_terminated_unexpectedly_and_sends_no_hook(
    control: Control, client: Client, mock: MockAMS, receiver: HTTPServer
) -> None:
    create(client, streamId="stream1")
    control.post(f"{STREAM}/stream1/publish")
    control.wait(1)

    answer = control.post(f"{STREAM}/stream1/stall", {"silentForMs": 30_000})
    read = client.get("/LiveApp/rest/v2/broadcasts/stream1").get_json()

    assert answer.status == 200
    assert answer.json["status"] == "terminated_unexpectedly"
    assert read["status"] == "terminated_unexpectedly"
    assert mock.wait_idle(5)
    assert len(control.get("/mockams/deliveries").json) == 1


def test_a_short_stall_still_reads_as_broadcasting_and_can_end(
    control: Control,
) -> None:
    control.post(f"{STREAM}/stream1/publish")

    stalled = control.post(f"{STREAM}/stream1/stall")
    ended = control.post(f"{STREAM}/stream1/unpublish")

    assert stalled.json["status"] == "broadcasting"
    assert ended.status == 200


def test_stall_when_not_live_is_a_conflict(control: Control, client: Client) -> None:
    create(client, streamId="stream1")

    answer = control.post(f"{STREAM}/stream1/stall", {"silentForMs": 30_000})

    assert answer.status == 409


# Firing hooks


def test_fire_sends_the_action_with_the_fields_ams_gives_it(
    control: Control, client: Client, receiver: HTTPServer
) -> None:
    create(client, streamId="stream1", name="Demo", category="news")

    answer = control.post(HOOKS, {"action": "liveStreamEnded", "id": "stream1"})
    [delivery] = control.wait(1)

    assert answer.json["queued"] is True
    assert answer.json["url"] == receiver.url_for("/hook")
    assert answer.json["content_type"] == "application/x-www-form-urlencoded"
    assert answer.json["fields"]["streamName"] == "Demo"
    assert answer.json["fields"]["category"] == "news"
    assert delivery["body"] == answer.json["body"]
    [(request, _)] = receiver.log
    assert request.form["action"] == "liveStreamEnded"
    assert request.form["streamName"] == "Demo"


def test_fire_fields_replace_add_and_remove(
    control: Control, client: Client, receiver: HTTPServer
) -> None:
    create(client, streamId="stream1", name="Demo")
    body = {
        "action": "liveStreamStarted",
        "id": "stream1",
        "fields": {"streamName": None, "extra": "x", "category": "sport"},
    }

    answer = control.post(HOOKS, body)
    [delivery] = control.wait(1)

    for fields in (answer.json["fields"], delivery["fields"]):
        assert "streamName" not in fields
        assert fields["extra"] == "x"
        assert fields["category"] == "sport"


def test_fire_live_stream_status_sends_the_given_stats_typed(
    control: Control, client: Client, mock: MockAMS, receiver: HTTPServer
) -> None:
    mock.configure(content_type="json")
    create(client, streamId="stream1", name="Demo")
    body = {
        "action": "liveStreamStatus",
        "id": "stream1",
        "stats": {"width": 1920, "height": 1080, "speed": 0.5},
    }

    answer = control.post(HOOKS, body)
    [delivery] = control.wait(1)

    assert answer.json["content_type"] == "application/json; charset=UTF-8"
    assert delivery["fields"]["width"] == 1920
    assert delivery["fields"]["height"] == 1080
    assert delivery["fields"]["speed"] == 0.5
    assert delivery["fields"]["totalByteReceived"] == 0


def test_fire_without_a_hook_url_is_not_queued(control: Control) -> None:
    answer = control.post(HOOKS, {"action": "vodReady", "id": "stream1"})

    assert answer.status == 200
    assert answer.json["queued"] is False
    assert "no hook URL" in answer.json["reason"]


def test_fire_with_an_unknown_action_suggests_the_closest(control: Control) -> None:
    answer = control.post(HOOKS, {"action": "liveStreamStart", "id": "stream1"})

    assert answer.status == 400
    assert "did you mean 'liveStreamStarted'" in answer.json["error"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"id": "stream1"}, id="no-action"),
        pytest.param({"action": "vodReady"}, id="no-id"),
        pytest.param({"action": "", "id": "stream1"}, id="empty-action"),
        pytest.param({"action": "vodReady", "id": ""}, id="empty-id"),
        pytest.param(NO_BODY, id="no-body"),
    ],
)
def test_fire_needs_an_action_and_an_id(control: Control, body: Any) -> None:
    answer = control.post(HOOKS, body)

    assert answer.status == 400
    assert answer.json["error"] == "'action' and 'id' are required"


# Errors shared by the calls


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/mockams/apps/Nope/streams/stream1/publish", id="publish"),
        pytest.param("/mockams/apps/Nope/streams/stream1/unpublish", id="unpublish"),
        pytest.param("/mockams/apps/Nope/streams/stream1/stall", id="stall"),
        pytest.param("/mockams/apps/Nope/hooks", id="hooks"),
    ],
)
def test_an_unknown_app_is_not_found(control: Control, path: str) -> None:
    body = {"action": "vodReady", "id": "stream1"} if path.endswith("hooks") else {}

    answer = control.post(path, body)

    assert answer.status == 404
    assert answer.json == {"error": "no application 'Nope' on this server"}


BAD_BODIES = [
    ("publish", [1, 2], "must be a JSON object", "array"),
    ("publish", "text", "must be a JSON object", "string"),
    ("publish", {"subscriberId": 5}, "'subscriberId' must be str", "subscriber-id"),
    ("publish", {"params": ["a"]}, "'params' must be dict", "params-list"),
    ("publish", {"params": {"a": None}}, "'params' must map", "params-null"),
    ("publish", {"publishType": 1}, "'publishType' must be str", "publish-type"),
    ("unpublish", {"record": "yes"}, "'record' must be bool", "record-text"),
    ("unpublish", {"renditions": "720p"}, "'renditions' must be list", "renditions"),
    ("unpublish", {"renditions": ["tall"]}, "rendition 'tall' is not", "rendition"),
    ("unpublish", {"renditions": [-480]}, "rendition -480 is not", "rendition-neg"),
    ("unpublish", {"durationMs": 1.5}, "'durationMs' must be int", "duration-float"),
    ("unpublish", {"durationMs": True}, "'durationMs' must be int", "duration-bool"),
    ("stall", {"silentForMs": "long"}, "'silentForMs' must be int", "silent-for"),
    ("hooks", {"action": 5, "id": "s"}, "'action' must be str", "action-number"),
    ("hooks", {"action": "vodReady", "id": 5}, "'id' must be str", "id-number"),
    ("hooks", {"action": "vodReady", "id": "s", "fields": []}, "'fields'", "fields"),
    (
        "hooks",
        {"action": "liveStreamStatus", "id": "s", "stats": {"width": "wide"}},
        "'stats' must map names to finite numbers",
        "stats-text",
    ),
    (
        "hooks",
        {"action": "liveStreamStatus", "id": "s", "stats": {"speed": True}},
        "'stats' must map names to finite numbers",
        "stats-bool",
    ),
]


def _call_path(call: str) -> str:
    return HOOKS if call == "hooks" else f"{STREAM}/stream1/{call}"


@pytest.mark.parametrize(
    ("call", "body", "message"),
    [pytest.param(*case[:3], id=case[3]) for case in BAD_BODIES],
)
def test_a_body_of_the_wrong_shape_is_refused_by_server_and_document(
    control: Control, call: str, body: Any, message: str
) -> None:
    path = _call_path(call)

    answer = control.post(path, body)

    assert answer.status == 400
    assert message in answer.json["error"]
    assert schema_errors(request_schema(control.url_map, "POST", path), body)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"{not json", "Unexpected character", id="malformed"),
        pytest.param(b"\xff{}", "Invalid UTF-8", id="not-utf8"),
        pytest.param(
            b'{"action": "liveStreamStatus", "id": "s", "stats": {"speed": NaN}}',
            "finite numbers",
            id="nan-stat",
        ),
        pytest.param(
            b'{"action": "liveStreamStatus", "id": "s", "stats": {"width": 1e999}}',
            "finite numbers",
            id="infinite-stat",
        ),
        pytest.param(
            b'{"action": "liveStreamStatus", "id": "s", "stats": {"width": '
            + b"9" * 30
            + b"}}",
            "finite numbers",
            id="huge-stat",
        ),
    ],
)
def test_a_body_that_is_not_usable_json_is_a_bad_request(
    control: Control, raw: bytes, message: str
) -> None:
    answer = control.post(HOOKS, raw=raw)

    assert answer.status == 400
    assert message in answer.json["error"]


def test_a_body_over_one_mebibyte_is_too_large(control: Control) -> None:
    answer = control.post(f"{STREAM}/stream1/publish", raw=b" " * (MAX_BODY + 1))

    assert answer.status == 413
    assert "larger than" in answer.json["error"]


def test_an_unknown_control_path_gets_the_tomcat_page(client: Client) -> None:
    response = client.get("/mockams/nothing")

    assert response.status_code == 404
    assert response.mimetype == "text/html"


# Deliveries


def fire_three(control: Control) -> None:
    for action, stream_id in [
        ("liveStreamStarted", "stream1"),
        ("liveStreamEnded", "stream1"),
        ("liveStreamStarted", "stream2"),
    ]:
        answer = control.post(HOOKS, {"action": action, "id": stream_id})
        assert answer.json["queued"] is True


def test_deliveries_are_listed_oldest_first(
    control: Control, receiver: HTTPServer
) -> None:
    # One at a time: hooks fired together may arrive in any order.
    for count, stream_id in enumerate(["stream2", "stream1", "stream3"], start=1):
        control.post(HOOKS, {"action": "vodReady", "id": stream_id})
        control.wait(count)

    listed = control.get("/mockams/deliveries").json

    assert [item["stream_id"] for item in listed] == ["stream2", "stream1", "stream3"]
    assert all(item["ok"] and item["attempt"] == 1 for item in listed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "action=liveStreamStarted",
            {("liveStreamStarted", "stream1"), ("liveStreamStarted", "stream2")},
            id="action",
        ),
        pytest.param(
            "stream=stream1",
            {("liveStreamStarted", "stream1"), ("liveStreamEnded", "stream1")},
            id="stream",
        ),
        pytest.param(
            "action=liveStreamEnded&stream=stream1",
            {("liveStreamEnded", "stream1")},
            id="both",
        ),
        pytest.param("action=vodReady", set(), id="none"),
    ],
)
def test_deliveries_are_filtered_by_action_and_stream(
    control: Control, receiver: HTTPServer, query: str, expected: set[Any]
) -> None:
    fire_three(control)
    control.wait(3)

    listed = control.get(f"/mockams/deliveries?{query}").json
    waited = control.get(f"/mockams/deliveries/wait?count=0&{query}").json

    assert {(item["action"], item["stream_id"]) for item in listed} == expected
    assert waited["deliveries"] == listed


def test_wait_returns_once_enough_deliveries_exist(
    control: Control, receiver: HTTPServer
) -> None:
    fire_three(control)

    answer = control.get("/mockams/deliveries/wait?count=2&timeout=5&stream=stream1")

    assert answer.status == 200
    assert answer.json["complete"] is True
    assert len(answer.json["deliveries"]) == 2


def test_wait_times_out_with_408_and_what_arrived(control: Control) -> None:
    answer = control.get("/mockams/deliveries/wait?count=1&timeout=0.05")

    assert answer.status == 408
    assert answer.json == {"complete": False, "deliveries": []}


def test_wait_for_nothing_is_complete_at_once(control: Control) -> None:
    answer = control.get("/mockams/deliveries/wait?count=0&timeout=300")

    assert answer.status == 200
    assert answer.json == {"complete": True, "deliveries": []}


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("count=two", id="count-text"),
        pytest.param("count=1.5", id="count-fraction"),
        pytest.param("count=-1", id="count-negative"),
        pytest.param("timeout=soon", id="timeout-text"),
        pytest.param("timeout=-1", id="timeout-negative"),
        pytest.param("timeout=301", id="timeout-over-300"),
        pytest.param("timeout=nan", id="timeout-nan"),
    ],
)
def test_wait_refuses_a_bad_count_or_timeout(control: Control, query: str) -> None:
    answer = control.get(f"/mockams/deliveries/wait?{query}")

    assert answer.status == 400
    assert "count" in answer.json["error"]


def test_clearing_deliveries_says_how_many_were_forgotten(
    control: Control, receiver: HTTPServer
) -> None:
    fire_three(control)
    control.wait(3)

    cleared = control.delete("/mockams/deliveries")

    assert cleared.json == {"cleared": 3}
    assert control.get("/mockams/deliveries").json == []
    assert control.delete("/mockams/deliveries").json == {"cleared": 0}


def test_a_failed_attempt_is_recorded_with_its_error(
    control: Control, mock: MockAMS, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    mock.configure(hook_url=httpserver.url_for("/hook"))

    control.post(HOOKS, {"action": "vodReady", "id": "stream1"})
    [delivery] = control.wait(1)

    assert delivery["status"] == 500
    assert delivery["ok"] is False
    assert delivery["retry_scheduled"] is False


# Over a real socket


@pytest.mark.network
def test_control_api_over_a_socket_delivers_and_waits(
    served: MockAMS, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    served.configure(hook_url=httpserver.url_for("/hook"))
    url_map = served.control.url_map

    def call(method: str, path: str, **options: Any) -> Answer:
        response = requests.request(method, served.url + path, timeout=10, **options)
        mimetype = response.headers["Content-Type"].split(";")[0]
        check_answer(
            url_map,
            method,
            urlsplit(path).path,
            response.status_code,
            mimetype,
            response.text,
        )

        return Answer(response.status_code, response.json())

    published = call("POST", f"{STREAM}/stream1/publish", json={"params": {"a": "b"}})
    waited = call("GET", "/mockams/deliveries/wait?count=1&timeout=5")

    assert published.status == 200
    assert waited.status == 200
    [delivery] = waited.json["deliveries"]
    assert delivery["fields"]["a"] == "b"
    [(request, _)] = httpserver.log
    assert request.get_data(as_text=True) == delivery["body"]
