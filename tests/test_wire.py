"""The bytes of a hook, and the fields AMS puts in it, without any socket."""

from __future__ import annotations

import json
import string
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockams.payloads import HookDropped, HookInputs, build_fields
from mockams.settings import FORM, AmsVersion
from mockams.wire import (
    HTTP_CLIENT_AGENT,
    decode_body,
    encode_body,
    encode_form,
    encode_json,
    java_double,
    java_hash,
    java_hashmap_order,
    request_head,
)

# Golden vectors: each was printed by a Java 17 program, from the iteration
# order of a java.util.HashMap filled with put() in the listed order ("grown")
# and of new HashMap(thatMap) ("copied"), from Double.toString and from
# java.net.URLEncoder.encode(text, "ISO-8859-1"). They are literal data, not
# computed here, so that the mock is compared with Java and not with itself.
HASHMAP_ORDERS: list[tuple[str, list[str], list[str], list[str]]] = [
    (
        "hook-with-room-and-token",
        [
            "id",
            "action",
            "streamName",
            "category",
            "mainTrackId",
            "roomId",
            "subscriberId",
            "app",
            "metadata",
            "timestamp",
            "token",
        ],
        [
            "app",
            "metadata",
            "action",
            "subscriberId",
            "id",
            "category",
            "streamName",
            "mainTrackId",
            "roomId",
            "timestamp",
            "token",
        ],
        [
            "app",
            "metadata",
            "action",
            "subscriberId",
            "id",
            "category",
            "streamName",
            "mainTrackId",
            "roomId",
            "timestamp",
            "token",
        ],
    ),
    (
        "vod-ready",
        [
            "id",
            "action",
            "vodName",
            "vodId",
            "app",
            "metadata",
            "timestamp",
            "duration",
        ],
        [
            "app",
            "duration",
            "metadata",
            "vodId",
            "action",
            "vodName",
            "id",
            "timestamp",
        ],
        [
            "app",
            "duration",
            "metadata",
            "vodId",
            "action",
            "vodName",
            "id",
            "timestamp",
        ],
    ),
    (
        "live-stream-started",
        ["id", "action", "streamName", "category", "app", "timestamp"],
        ["app", "action", "id", "category", "streamName", "timestamp"],
        ["app", "action", "id", "category", "streamName", "timestamp"],
    ),
    (
        "live-stream-status",
        [
            "id",
            "action",
            "width",
            "height",
            "totalByteReceived",
            "inputQueueSize",
            "speed",
            "timestamp",
            "streamName",
            "encodingQueueSize",
            "dropFrameCountInEncoding",
            "dropPacketCountInIngestion",
        ],
        [
            "dropPacketCountInIngestion",
            "inputQueueSize",
            "width",
            "action",
            "encodingQueueSize",
            "id",
            "totalByteReceived",
            "dropFrameCountInEncoding",
            "streamName",
            "speed",
            "height",
            "timestamp",
        ],
        [
            "dropPacketCountInIngestion",
            "inputQueueSize",
            "encodingQueueSize",
            "totalByteReceived",
            "dropFrameCountInEncoding",
            "streamName",
            "speed",
            "width",
            "action",
            "id",
            "height",
            "timestamp",
        ],
    ),
    (
        "twenty-eight-keys",
        ["id", "action", *string.ascii_lowercase],
        ["action", "id", *string.ascii_lowercase],
        ["action", "id", *string.ascii_lowercase],
    ),
    (
        "non-ascii-keys",
        ["ç", "日本", "😀", "a b"],
        ["a b", "ç", "😀", "日本"],
        ["😀", "a b", "日本", "ç"],
    ),
]
JAVA_DOUBLES = [
    0.0,
    1.0,
    0.98,
    1e7,
    1e-3,
    9.99e-4,
    123456.789,
    1e16,
    1.5e-4,
    2.5,
    100.0,
    0.1 + 0.2,
    12345678.9,
]
JAVA_DOUBLE_STRINGS = (
    "0.0 1.0 0.98 1.0E7 0.001 9.99E-4 123456.789 1.0E16 1.5E-4 2.5 100.0 "
    "0.30000000000000004 1.23456789E7"
)
URL_ENCODER_INPUT = "Demo / ü *~!'()日😀\n"
URL_ENCODER_OUTPUT = "Demo+%2F+%FC+*%7E%21%27%28%29%3F%3F%0A"


@pytest.mark.parametrize(
    ("keys", "grown", "copied"),
    [case[1:] for case in HASHMAP_ORDERS],
    ids=[case[0] for case in HASHMAP_ORDERS],
)
def test_hashmap_order_matches_java(
    keys: list[str], grown: list[str], copied: list[str]
) -> None:
    assert java_hashmap_order(keys) == grown
    assert java_hashmap_order(keys, copied=True) == copied


def test_java_hash_matches_string_hash_code() -> None:
    # Compared as 32-bit patterns: only the bits decide a HashMap bucket.
    assert java_hash("") == 0
    assert java_hash("id") == 3355
    assert java_hash("action") & 0xFFFFFFFF == -1422950858 & 0xFFFFFFFF


def test_doubles_print_as_java_prints_them() -> None:
    assert " ".join(java_double(value) for value in JAVA_DOUBLES) == (
        JAVA_DOUBLE_STRINGS
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-2.5, "-2.5"),
        (-0.0, "-0.0"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
    ],
    ids=["negative", "negative-zero", "nan", "infinity", "minus-infinity"],
)
def test_special_doubles_print_as_java_prints_them(value: float, text: str) -> None:
    assert java_double(value) == text


def test_form_value_is_escaped_as_java_url_encoder_in_latin_1() -> None:
    assert encode_form({"k": URL_ENCODER_INPUT}) == (
        b"k=" + URL_ENCODER_OUTPUT.encode("ascii")
    )


def test_form_body_follows_hashmap_order() -> None:
    fields = {"id": "s1", "action": "liveStreamStarted", "streamName": "Demo"}

    body = encode_form(fields)

    assert body == b"action=liveStreamStarted&id=s1&streamName=Demo"


def test_form_body_prints_numbers_and_metadata_as_java_does() -> None:
    fields: dict[str, Any] = {"speed": 1.0, "width": 1280, "metadata": {"a": "/"}}

    decoded = dict(parse_qsl(encode_form(fields).decode("ascii")))

    assert decoded == {"speed": "1.0", "width": "1280", "metadata": '{"a":"\\/"}'}


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a/b", "a\\/b"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("\b\f\n\r\t", "\\b\\f\\n\\r\\t"),
        ("\x00\x01\x1f", "\\u0000\\u0001\\u001F"),
        ("\x7f\x80\x9f", "\\u007F\\u0080\\u009F"),
        ("\xa0é", "\xa0é"),
        ("\u2000\u2028\u20ac\u20ff", "\\u2000\\u2028\\u20AC\\u20FF"),
        ("\u1fff\u2100日本😀", "\u1fff\u2100日本😀"),
    ],
    ids=[
        "slash",
        "quote",
        "backslash",
        "short-escapes",
        "c0-controls",
        "delete-and-c1-controls",
        "latin-1-raw",
        "general-punctuation-to-currency",
        "other-non-ascii-raw",
    ],
)
def test_json_escapes_strings_as_json_simple(text: str, escaped: str) -> None:
    body = encode_json({"k": text})

    assert body == ('{"k":"' + escaped + '"}').encode("utf-8")
    assert json.loads(body) == {"k": text}


def test_json_writes_numbers_booleans_and_null_unquoted() -> None:
    cases: list[tuple[Any, str]] = [
        (1280, "1280"),
        (-7, "-7"),
        (1.0, "1.0"),
        (1e7, "1.0E7"),
        (1.5e-4, "1.5E-4"),
        (float("nan"), "null"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
    ]

    for value, text in cases:
        assert encode_json({"n": value}) == f'{{"n":{text}}}'.encode()


def test_json_nests_metadata_objects_in_their_own_hashmap_order() -> None:
    metadata = {"title": "a/b", "tags": ["x", 2], "size": {"w": 1, "h": 2.0}}

    body = encode_json({"metadata": metadata})

    assert body == (
        b'{"metadata":{"size":{"w":1,"h":2.0},"title":"a\\/b","tags":["x",2]}}'
    )
    assert json.loads(body) == {"metadata": metadata}


def test_json_body_of_a_hook_follows_copied_hashmap_order() -> None:
    keys = HASHMAP_ORDERS[3][1]
    fields = dict.fromkeys(keys, "v")

    body = encode_json(fields)

    assert list(json.loads(body)) == HASHMAP_ORDERS[3][3]


@pytest.mark.parametrize(
    ("content_type", "header"),
    [
        (FORM, FORM),
        ("application/json", "application/json; charset=UTF-8"),
        ("text/plain", "application/json; charset=UTF-8"),
        (FORM + "; charset=UTF-8", "application/json; charset=UTF-8"),
    ],
    ids=["form", "json", "anything-else-is-json", "form-with-charset-is-json"],
)
def test_only_the_exact_form_type_gives_a_form_body(
    content_type: str, header: str
) -> None:
    body, sent_header = encode_body({"id": "s1"}, content_type)

    assert sent_header == header
    assert body == (b"id=s1" if header == FORM else b'{"id":"s1"}')


def test_decode_body_reads_both_encodings() -> None:
    fields = {"id": "s 1", "name": "ü"}

    assert decode_body(encode_form(fields), FORM)[1] == fields
    assert decode_body(encode_json(fields), "application/json")[1] == fields
    assert decode_body(b"not json", "application/json") == ("not json", {})


def test_request_head_is_apache_http_client_byte_for_byte() -> None:
    url = urlsplit("http://127.0.0.1:8123/hook?x=1")

    head = request_head(url, "POST", 42, FORM)

    assert head == (
        b"POST /hook?x=1 HTTP/1.1\r\n"
        b"Content-Length: 42\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Host: 127.0.0.1:8123\r\n"
        b"Connection: Keep-Alive\r\n"
        b"User-Agent: Apache-HttpClient/4.5.13 (Java/17.0.13)\r\n"
        b"Accept-Encoding: gzip,deflate\r\n"
        b"\r\n"
    )
    assert HTTP_CLIENT_AGENT == "Apache-HttpClient/4.5.13 (Java/17.0.13)"


@pytest.mark.parametrize(
    ("url", "request_line", "host"),
    [
        ("http://example.test/hook", b"POST /hook HTTP/1.1", b"Host: example.test"),
        ("http://example.test", b"POST / HTTP/1.1", b"Host: example.test"),
        ("http://[::1]:81/h", b"POST /h HTTP/1.1", b"Host: [::1]:81"),
    ],
    ids=["no-port", "no-path", "ipv6"],
)
def test_request_head_names_host_as_the_url_does(
    url: str, request_line: bytes, host: bytes
) -> None:
    lines = request_head(urlsplit(url), "POST", 0, FORM).split(b"\r\n")

    assert lines[0] == request_line
    assert lines[3] == host


def test_get_after_a_redirect_has_no_body_headers() -> None:
    head = request_head(urlsplit("http://127.0.0.1:1/next"), "GET", 0, FORM)

    assert head.startswith(b"GET /next HTTP/1.1\r\nHost: 127.0.0.1:1\r\n")
    assert b"Content-" not in head


# Properties of the two encoders.

_json_scalars = (
    st.text()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)


def _as_latin_1(text: str) -> str:
    return "".join(char if ord(char) < 256 else "?" for char in text)


@given(st.dictionaries(st.text(), st.text(), max_size=12))
def test_form_body_decodes_to_the_fields_with_non_latin_1_as_question_marks(
    fields: dict[str, str],
) -> None:
    text = encode_form(fields).decode("ascii")

    pairs = parse_qsl(text, keep_blank_values=True, encoding="latin-1")

    expected = [
        (_as_latin_1(key), _as_latin_1(fields[key]))
        for key in java_hashmap_order(fields)
    ]
    assert pairs == expected
    assert sorted(java_hashmap_order(fields)) == sorted(fields)


@given(st.dictionaries(st.text(), _json_values, max_size=12))
def test_json_body_parses_to_the_same_fields(fields: dict[str, Any]) -> None:
    decoded = json.loads(encode_json(fields))

    assert decoded == fields
    assert sorted(decoded) == sorted(fields)
    assert list(decoded) == java_hashmap_order(fields, copied=True)


@given(st.lists(st.text(), max_size=40))
def test_hashmap_order_is_a_permutation_of_the_distinct_keys(keys: list[str]) -> None:
    distinct = list(dict.fromkeys(keys))

    for copied in (False, True):
        assert sorted(java_hashmap_order(keys, copied=copied)) == sorted(distinct)


# The fields AMS puts in a hook.

CURRENT = AmsVersion.parse("current")
FULL_INPUTS = HookInputs(
    "stream1",
    stream_name="Demo",
    category="sports",
    vod_name="stream1",
    vod_id="v" * 24,
    main_track_id="room1",
    metadata='{"title":"Demo"}',
    subscriber_id="pub1",
    params={"token": "abc"},
)


def _fields(
    inputs: HookInputs = FULL_INPUTS, version: AmsVersion = CURRENT
) -> dict[str, Any]:
    return build_fields(
        "liveStreamStarted", inputs, app="LiveApp", version=version, now_ms=1234
    )


@pytest.mark.parametrize("blank", [None, "", "  ", "\t\n"], ids=repr)
def test_blank_values_are_omitted(blank: str | None) -> None:
    inputs = HookInputs(
        "stream1",
        stream_name=blank,
        category=blank,
        main_track_id=blank,
        metadata=blank,
        subscriber_id=blank,
        params={"token": blank or ""},
    )

    fields = _fields(inputs)

    assert fields == {
        "id": "stream1",
        "action": "liveStreamStarted",
        "app": "LiveApp",
        "timestamp": "1234",
    }


@pytest.mark.parametrize("version", ["seed", "2.0", "2.9", "2.10", "current"])
def test_id_and_action_are_always_present(version: str) -> None:
    fields = _fields(HookInputs("stream1"), AmsVersion.parse(version))

    assert fields["id"] == "stream1"
    assert fields["action"] == "liveStreamStarted"


def test_every_value_is_a_string_except_a_metadata_object() -> None:
    fields = _fields()

    assert fields.pop("metadata") == {"title": "Demo"}
    assert all(isinstance(value, str) for value in fields.values())


SEED_FIELDS = {"id", "action", "streamName", "category", "vodName", "vodId"}
V2_0_FIELDS = SEED_FIELDS | {"mainTrackId", "subscriberId", "metadata", "token"}


RELEASE_FIELDS = [
    ("seed", SEED_FIELDS),
    ("2.0", V2_0_FIELDS),
    ("2.9", V2_0_FIELDS | {"timestamp"}),
    ("2.10", V2_0_FIELDS | {"timestamp", "roomId"}),
    ("2.14", V2_0_FIELDS | {"timestamp", "roomId"}),
    ("2.15", V2_0_FIELDS | {"timestamp", "roomId", "app"}),
    ("current", V2_0_FIELDS | {"timestamp", "roomId", "app"}),
]


@pytest.mark.parametrize(
    ("version", "names"),
    RELEASE_FIELDS,
    ids=[version for version, _ in RELEASE_FIELDS],
)
def test_each_release_sends_the_fields_it_knows(version: str, names: set[str]) -> None:
    fields = _fields(version=AmsVersion.parse(version))

    assert set(fields) == names


@pytest.mark.parametrize(
    ("version", "metadata"),
    [("2.9", '{"title":"Demo"}'), ("2.10", {"title": "Demo"})],
    ids=["text-before-2.10", "object-from-2.10"],
)
def test_metadata_becomes_an_object_from_2_10(version: str, metadata: Any) -> None:
    fields = _fields(version=AmsVersion.parse(version))

    assert fields["metadata"] == metadata
    assert fields["roomId" if version == "2.10" else "mainTrackId"] == "room1"


def test_metadata_that_is_not_json_goes_as_text() -> None:
    inputs = HookInputs("stream1", metadata="{not json")

    assert _fields(inputs)["metadata"] == "{not json"


@pytest.mark.parametrize("metadata", ["[1,2]", "42", '"text"', "true"], ids=repr)
def test_metadata_that_is_json_but_not_an_object_drops_the_hook(
    metadata: str,
) -> None:
    inputs = HookInputs("stream1", metadata=metadata)

    with pytest.raises(HookDropped, match="not an object"):
        _fields(inputs)


def test_metadata_that_is_not_an_object_is_sent_as_text_before_2_10() -> None:
    inputs = HookInputs("stream1", metadata="[1,2]")

    assert _fields(inputs, AmsVersion.parse("2.9"))["metadata"] == "[1,2]"


def test_query_params_come_last_and_may_override_fields() -> None:
    inputs = HookInputs(
        "stream1",
        stream_name="Demo",
        params={"streamName": "FromQuery", "token": "abc", "extra": "1"},
    )

    fields = _fields(inputs)

    assert fields["streamName"] == "FromQuery"
    assert list(fields)[-2:] == ["token", "extra"]


def test_timestamp_is_now_in_epoch_milliseconds_as_text() -> None:
    before_ms = time.time_ns() // 1_000_000

    fields = build_fields(
        "vodReady", HookInputs("stream1"), app="LiveApp", version=CURRENT
    )

    stamp = fields["timestamp"]
    assert isinstance(stamp, str)
    assert stamp.isdigit()
    assert int(stamp) >= before_ms
