"""Scenario files: every mistake is refused in one line that says where and why.

A message names the file, the step and its line where there is one, the field,
and for a misspelling the closest valid word. Nothing here sends a hook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mockams.payloads import ACTIONS
from mockams.scenario import (
    STEP_KINDS,
    ScenarioError,
    Step,
    builtin_names,
    load_scenario,
    parse_duration,
    parse_scenario,
)

SOURCE = "broken.yaml"


def refusal(text: str) -> str:
    """The one-line message a scenario text is refused with."""
    with pytest.raises(ScenarioError) as error_info:
        parse_scenario(text, SOURCE)
    message = str(error_info.value)
    assert "\n" not in message

    return message


def located_at(message: str, step: int | None, line: int | None) -> bool:
    """Whether ``message`` starts with the file, then the step and line given."""
    where = [SOURCE]
    if step is not None:
        where.append(f"step {step}")
    if line is not None:
        where.append(f"line {line}")

    return message.startswith(", ".join(where) + ": ")


# The file as a whole


def test_a_yaml_syntax_error_names_the_file_and_line() -> None:
    message = refusal("streams: [s1]\nsteps:\n  - publish: [s1\n")

    assert located_at(message, None, 4)
    assert "not valid YAML" in message


def test_a_character_yaml_forbids_is_refused_with_its_line() -> None:
    message = refusal("name: x\nsteps:\n  - wait: \x00\n")

    assert message == (
        f"{SOURCE}, line 3: not valid YAML: unacceptable character #x0000: "
        "special characters are not allowed"
    )


def test_text_nested_too_deeply_is_refused() -> None:
    message = refusal("steps: " + "[" * 5000 + "]" * 5000)

    assert message == f"{SOURCE}: nested too deeply to read"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="nothing"),
        pytest.param("# only a comment\n", id="comment"),
        pytest.param("\n\n   \n", id="blank-lines"),
    ],
)
def test_an_empty_file_is_refused(text: str) -> None:
    assert refusal(text) == f"{SOURCE}: the file is empty"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- publish: s1\n", id="list"),
        pytest.param("just words\n", id="text"),
        pytest.param("42\n", id="number"),
    ],
)
def test_a_top_level_that_is_not_a_mapping_is_refused(text: str) -> None:
    message = refusal(text)

    assert located_at(message, None, 1)
    assert "the scenario must be a mapping" in message


def test_an_unknown_top_level_field_is_named_with_the_closest_one() -> None:
    message = refusal("name: x\ndescripton: y\nsteps:\n  - wait: 0\n")

    assert message == (
        f"{SOURCE}, line 2: the scenario: unknown field 'descripton'; "
        "did you mean 'description'?"
    )


def test_a_misspelled_steps_field_is_named_with_steps_as_the_hint() -> None:
    message = refusal("stpes:\n  - wait: 0\n")

    assert "unknown field 'stpes'; did you mean 'steps'?" in message


def test_a_scenario_without_steps_is_refused() -> None:
    message = refusal("name: nothing-happens\nstreams: [s1]\n")

    assert located_at(message, None, 1)
    assert "no 'steps'" in message


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param("[]", id="empty-list"),
        pytest.param("publish", id="text"),
        pytest.param("{publish: s1}", id="mapping"),
    ],
)
def test_steps_must_be_a_non_empty_list(steps: str) -> None:
    message = refusal(f"streams: [s1]\nsteps: {steps}\n")

    assert located_at(message, None, 2)
    assert "steps must be a non-empty list" in message


def test_a_bare_word_as_a_step_shows_the_form_a_step_takes() -> None:
    message = refusal("streams: [s1]\nsteps:\n  - publish\n")

    assert located_at(message, 1, 3)
    assert "a step must be a mapping like '- publish: stream1'" in message


def test_a_step_with_two_kinds_is_refused() -> None:
    message = refusal("streams: [s1]\nsteps:\n  - {create: s1, publish: s1}\n")

    assert located_at(message, 1, 3)
    assert "exactly one kind, found 'create', 'publish'" in message


# Steps, actions and fields


def test_an_unknown_step_kind_is_named_with_the_closest_one() -> None:
    message = refusal("streams: [s1]\nsteps:\n  - create: s1\n  - publsh: s1\n")

    assert message == (
        f"{SOURCE}, step 2, line 4: unknown step 'publsh'; did you mean 'publish'?"
    )


@pytest.mark.parametrize(
    ("step", "field"),
    [
        pytest.param(
            "fire: {stream: s1, action: liveStreamStart}", "fire.action", id="fire"
        ),
        pytest.param("expect: {action: liveStreamStart}", "expect.action", id="expect"),
        pytest.param(
            "duplicate: {stream: s1, action: liveStreamStart}",
            "duplicate.action",
            id="duplicate",
        ),
        pytest.param(
            "reorder: {stream: s1, first: liveStreamStart, then: vodReady}",
            "reorder.first",
            id="reorder-first",
        ),
        pytest.param(
            "reorder: {stream: s1, first: vodReady, then: liveStreamStart}",
            "reorder.then",
            id="reorder-then",
        ),
    ],
)
def test_an_unknown_action_is_named_with_the_closest_one(step: str, field: str) -> None:
    message = refusal(f"streams: [s1]\nsteps:\n  - publish: s1\n  - {step}\n")

    assert message == (
        f"{SOURCE}, step 2, line 4: {field}: unknown action 'liveStreamStart'; "
        "did you mean 'liveStreamStarted'?"
    )


def test_reorder_of_an_action_with_itself_is_refused() -> None:
    message = refusal(
        "streams: [s1]\nsteps:\n"
        "  - reorder: {stream: s1, first: vodReady, then: vodReady}\n"
    )

    assert located_at(message, 1, 3)
    assert "reorder.then: first and then must be different actions" in message


def test_a_misspelled_field_of_a_step_is_named_with_the_closest_one() -> None:
    message = refusal(
        "streams: [s1]\nsteps:\n"
        "  - publish: s1\n"
        "  - unpublish:\n"
        "      stream: s1\n"
        "      recrod: true\n"
    )

    assert message == (
        f"{SOURCE}, step 2, line 6: unpublish: unknown field 'recrod'; "
        "did you mean 'record'?"
    )


def test_a_misspelled_field_of_a_stream_is_named_with_the_closest_one() -> None:
    message = refusal(
        "streams:\n  - id: s1\n    catgory: news\nsteps:\n  - publish: s1\n"
    )

    assert message == (
        f"{SOURCE}, line 3: a stream: unknown field 'catgory'; did you mean 'category'?"
    )


def test_a_misspelled_setting_is_named_with_the_closest_one() -> None:
    message = refusal("settings:\n  retry_cont: 2\nsteps:\n  - wait: 0\n")

    assert message == (
        f"{SOURCE}, line 2: settings: unknown field 'retry_cont'; "
        "did you mean 'retry_count'?"
    )


@pytest.mark.parametrize(
    ("step", "missing"),
    [
        pytest.param("fire: {stream: s1}", "action", id="fire-action"),
        pytest.param("duplicate: {action: vodReady}", "stream", id="duplicate"),
        pytest.param("reorder: {stream: s1, first: vodReady}", "then", id="reorder"),
        pytest.param("unpublish: {record: true}", "stream", id="unpublish"),
    ],
)
def test_a_step_without_a_required_field_names_it(step: str, missing: str) -> None:
    message = refusal(f"streams: [s1]\nsteps:\n  - publish: s1\n  - {step}\n")

    assert located_at(message, 2, 4)
    assert message.endswith(f"needs '{missing}'")


# Durations


@pytest.mark.parametrize(
    "duration",
    [
        pytest.param("2 seconds", id="words"),
        pytest.param("-1s", id="negative-text"),
        pytest.param("-1", id="negative-number"),
        pytest.param("1h", id="hours"),
        pytest.param(".inf", id="infinite"),
        pytest.param(".nan", id="not-a-number"),
        pytest.param("true", id="boolean"),
    ],
)
def test_a_bad_duration_is_refused_with_step_line_and_field(duration: str) -> None:
    message = refusal(f"steps:\n  - wait: 1s\n  - wait: {duration}\n")

    assert located_at(message, 2, 3)
    assert "wait.duration: " in message
    assert "is not a duration" in message


def test_a_bad_duration_in_a_field_names_that_field() -> None:
    message = refusal(
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, max_latency: soon}\n"
    )

    assert located_at(message, 2, 4)
    assert "expect.max_latency: 'soon' is not a duration" in message


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        pytest.param("150ms", 0.15, id="milliseconds"),
        pytest.param("2s", 2.0, id="seconds"),
        pytest.param("1.5s", 1.5, id="fraction"),
        pytest.param("1m", 60.0, id="minute"),
        pytest.param(3, 3.0, id="plain-number"),
        pytest.param("0", 0.0, id="zero"),
    ],
)
def test_durations_read_as_seconds(written: object, seconds: float) -> None:
    assert parse_duration(written) == pytest.approx(seconds)

    scenario = parse_scenario(f"steps:\n  - wait: {written}\n")

    assert scenario.steps[0].args["duration"] == pytest.approx(seconds)


# Streams


def test_a_stream_used_without_being_declared_is_refused() -> None:
    message = refusal("steps:\n  - publish: stream1\n")

    assert message == (
        f"{SOURCE}, step 1, line 2: publish.stream: "
        "stream 'stream1' is not declared in 'streams'"
    )


def test_a_stream_not_declared_is_named_with_the_closest_declared_one() -> None:
    message = refusal("streams: [stream1]\nsteps:\n  - publish: stream2\n")

    assert message == (
        f"{SOURCE}, step 1, line 3: publish.stream: stream 'stream2' is not declared "
        "in 'streams'; did you mean 'stream1'?"
    )


def test_a_stream_declared_twice_is_refused() -> None:
    message = refusal("streams:\n  - s1\n  - {id: s1}\nsteps:\n  - wait: 0\n")

    assert located_at(message, None, 2)
    assert "stream 's1' is declared twice" in message


@pytest.mark.parametrize(
    ("streams", "line", "written"),
    [
        pytest.param('[ok1, "bad id!"]', 1, "bad id!", id="space-inside"),
        pytest.param("\n  - ok1\n  - {id: a/b}", 3, "a/b", id="slash-in-a-mapping"),
        pytest.param("\n  - ok1\n  - stré", 3, "stré", id="not-ascii"),
        pytest.param('[""]', 1, "", id="empty"),
        pytest.param('["  "]', 1, "  ", id="only-spaces"),
    ],
)
def test_a_stream_id_ams_refuses_is_refused_with_its_line(
    streams: str, line: int, written: str
) -> None:
    message = refusal(f"streams: {streams}\nsteps:\n  - wait: 0\n")

    assert message == (
        f"{SOURCE}, line {line}: stream id {written!r} is not one AMS accepts: "
        "letters, digits, '-', '_' and '.' only"
    )


def test_a_stream_id_is_trimmed_as_ams_trims_it_on_create() -> None:
    scenario = parse_scenario(
        'streams: [" s1\\t", {id: "s2 ", main_track: " s1"}]\nsteps:\n'
        '  - create: " s1 "\n  - publish: s2\n',
        SOURCE,
    )

    assert [item.id for item in scenario.streams] == ["s1", "s2"]
    assert scenario.streams[1].main_track == "s1"
    assert [step.stream for step in scenario.steps] == ["s1", "s2"]


def test_two_ids_that_trim_to_one_are_declared_twice() -> None:
    message = refusal('streams: [s1, " s1"]\nsteps:\n  - wait: 0\n')

    assert "stream 's1' is declared twice" in message


def test_a_stream_without_an_id_is_refused() -> None:
    message = refusal("streams:\n  - {name: Demo}\nsteps:\n  - wait: 0\n")

    assert located_at(message, None, 2)
    assert "a stream needs an 'id'" in message


def test_a_main_track_that_is_not_declared_is_named_with_the_closest_one() -> None:
    message = refusal(
        "streams:\n  - {id: room1}\n  - {id: guest, main_track: rom1}\n"
        "steps:\n  - wait: 0\n"
    )

    assert "stream 'guest': main_track 'rom1' is not a declared stream" in message
    assert message.endswith("; did you mean 'room1'?")


def test_a_negative_max_idle_time_is_refused() -> None:
    message = refusal(
        "streams:\n  - {id: s1, max_idle_time: -5}\nsteps:\n  - wait: 0\n"
    )

    assert located_at(message, None, 2)
    assert "max_idle_time must be whole seconds" in message


# Steps that cannot happen


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            ["create: s1", "unpublish: s1"],
            "step 2, line 5: unpublish: stream 's1' is not live",
            id="unpublish-never-published",
        ),
        pytest.param(
            ["publish: s1", "unpublish: s1", "unpublish: s1"],
            "step 3, line 6: unpublish: stream 's1' is not live",
            id="unpublish-twice",
        ),
        pytest.param(
            ["publish: s1", "publish: s1"],
            "step 2, line 5: publish: stream 's1' is already live",
            id="publish-twice",
        ),
        pytest.param(
            ["create: s1", "create: s1"],
            "step 2, line 5: create: stream 's1' already exists",
            id="create-twice",
        ),
        pytest.param(
            ["publish: s1", "delete: s1", "delete: s1"],
            "step 3, line 6: delete: stream 's1' was never created",
            id="delete-twice",
        ),
        pytest.param(
            ["delete: s1"],
            "step 1, line 4: delete: stream 's1' was never created",
            id="delete-never-created",
        ),
        pytest.param(
            ["create: s1", "status: s1"],
            "step 2, line 5: status: stream 's1' is not live",
            id="status-not-live",
        ),
        pytest.param(
            ["publish: s1", "stall: s1", "status: s1"],
            "step 3, line 6: status: stream 's1' is not live",
            id="status-while-stalled",
        ),
    ],
)
def test_a_step_that_cannot_happen_is_refused(steps: list[str], expected: str) -> None:
    lines = "".join(f"  - {step}\n" for step in steps)

    message = refusal(f"name: x\nstreams: [s1]\nsteps:\n{lines}")

    assert message.startswith(f"{SOURCE}, {expected}")


def test_a_stream_can_be_published_again_after_it_stopped() -> None:
    scenario = parse_scenario(
        "streams: [s1]\nsteps:\n"
        "  - create: s1\n  - publish: s1\n  - unpublish: s1\n  - publish: s1\n"
        "  - delete: s1\n  - create: s1\n"
    )

    assert [step.kind for step in scenario.steps] == [
        "create",
        "publish",
        "unpublish",
        "publish",
        "delete",
        "create",
    ]


# Values of fields


@pytest.mark.parametrize(
    ("renditions", "expected"),
    [
        pytest.param("720", "must be a list like [720p2500kbps, 480]", id="not-a-list"),
        pytest.param("[hd]", "rendition 'hd' is not a height", id="word"),
        pytest.param("[720x]", "rendition '720x' is not a height", id="bad-suffix"),
    ],
)
def test_bad_renditions_are_refused(renditions: str, expected: str) -> None:
    message = refusal(
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        f"  - unpublish: {{stream: s1, record: true, renditions: {renditions}}}\n"
    )

    assert located_at(message, 2, 4)
    assert f"unpublish.renditions: {expected}" in message


def test_renditions_are_named_as_ams_names_the_files() -> None:
    scenario = parse_scenario(
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - unpublish: {stream: s1, record: true, renditions: [720, 480p1000kbps]}\n"
    )

    assert scenario.steps[1].args["renditions"] == ["720p", "480p1000kbps"]


@pytest.mark.parametrize(
    ("settings_text", "expected"),
    [
        pytest.param(
            "content_type: jsn",
            "content type 'jsn' is not 'form', 'json' or a media type; "
            "did you mean 'json'?",
            id="content-type",
        ),
        pytest.param(
            "ams_version: curent",
            "AMS version 'curent' is not a profile name",
            id="ams-version",
        ),
        pytest.param(
            "content_type: 5",
            "content type '5' is not 'form', 'json' or a media type",
            id="content-type-number",
        ),
        pytest.param(
            "retry_delay: later",
            "settings.retry_delay: 'later' is not a duration",
            id="retry-delay",
        ),
    ],
)
def test_a_bad_setting_is_refused_at_its_own_line(
    settings_text: str, expected: str
) -> None:
    message = refusal(
        f"name: x\nsettings:\n  retry_count: 0\n  {settings_text}\nsteps:\n"
        "  - wait: 0\n"
    )

    assert located_at(message, None, 4)
    assert expected in message


@pytest.mark.parametrize(
    "count",
    [
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="fraction"),
        pytest.param("true", id="boolean"),
        pytest.param("many", id="word"),
    ],
)
def test_a_retry_count_that_is_not_a_count_is_refused(count: str) -> None:
    message = refusal(f"settings:\n  retry_count: {count}\nsteps:\n  - wait: 0\n")

    assert message == f"{SOURCE}, line 2: settings.retry_count must be 0 or more"


def test_a_bad_ams_version_suggests_the_closest_profile() -> None:
    message = refusal("settings: {ams_version: curent}\nsteps:\n  - wait: 0\n")

    assert message.endswith("; did you mean 'current'?")


def test_ams_version_is_read_as_written_not_as_a_number() -> None:
    scenario = parse_scenario("settings: {ams_version: 2.10}\nsteps:\n  - wait: 0\n")

    assert scenario.ams_version is not None
    assert scenario.ams_version.parts == (2, 10, 0)


def test_settings_are_read_into_the_scenario() -> None:
    scenario = parse_scenario(
        "settings:\n  content_type: json\n  retry_count: 2\n  retry_delay: 150ms\n"
        "  ams_version: seed\nsteps:\n  - wait: 0\n"
    )

    assert scenario.content_type == "application/json"
    assert scenario.retry_count == 2
    assert scenario.retry_delay_ms == 150
    assert str(scenario.ams_version) == "seed"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(
            "configure: {content_type: xml}",
            "configure.content_type: content type 'xml'",
            id="content-type",
        ),
        pytest.param(
            "configure: {retry_count: -1}",
            "configure.retry_count: must be a whole number",
            id="retry-count-negative",
        ),
        pytest.param(
            "configure: {retry_count: true}",
            "configure.retry_count: must be a whole number",
            id="retry-count-boolean",
        ),
        pytest.param(
            "expect: {action: vodReady, count: -1}",
            "expect.count: must be a whole number",
            id="count",
        ),
        pytest.param(
            "expect: {action: vodReady, status: ok}",
            "expect.status: must be a whole number",
            id="status",
        ),
        pytest.param(
            "publish: {stream: s1, publish_type: WebRTc}",
            "publish.publish_type: must be one of RTMP, WebRTC, SRT, Pull; "
            "did you mean 'WebRTC'?",
            id="publish-type",
        ),
        pytest.param(
            "publish: {stream: s1, params: [a, b]}",
            "publish.params: must be a mapping",
            id="params",
        ),
        pytest.param(
            "fire: {stream: s1, action: vodReady, fields: x}",
            "fire.fields: must be a mapping",
            id="fields",
        ),
    ],
)
def test_a_bad_field_value_names_the_step_and_field(step: str, expected: str) -> None:
    message = refusal(f"streams: [s1]\nsteps:\n  - {step}\n")

    assert located_at(message, 1, 3)
    assert expected in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("!!int abc", "cannot read 'abc'", id="bad-int-tag"),
        pytest.param(
            "!custom x", "could not determine a constructor", id="unknown-tag"
        ),
        pytest.param("2001-13-45", "cannot read '2001-13-45'", id="impossible-date"),
    ],
)
def test_a_value_yaml_cannot_build_is_refused_where_it_is(
    value: str, expected: str
) -> None:
    message = refusal(f"steps:\n  - wait: 0\n  - wait: {value}\n")

    assert located_at(message, 2, 3)
    assert expected in message


def test_a_value_that_contains_itself_is_refused() -> None:
    message = refusal(
        "streams:\n  - {id: s1, metadata: &loop [*loop]}\nsteps:\n  - wait: 0\n"
    )

    assert located_at(message, None, 2)
    assert "contains itself" in message


# Files and built-in names


def test_a_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"

    with pytest.raises(ScenarioError) as error_info:
        load_scenario(str(missing))

    assert str(error_info.value) == f"{missing}: cannot read: No such file or directory"


def test_a_misspelled_builtin_name_is_named_with_the_closest_one() -> None:
    name = "basic-lifecycle"
    if name not in builtin_names():
        pytest.skip(f"the built-in scenario {name!r} is not shipped")

    with pytest.raises(ScenarioError) as error_info:
        load_scenario("basic-lifecyle")

    assert str(error_info.value) == (
        "basic-lifecyle: no such file and no built-in scenario of that name; "
        "did you mean 'basic-lifecycle'?"
    )


def test_a_name_that_is_neither_file_nor_builtin_is_refused() -> None:
    with pytest.raises(ScenarioError) as error_info:
        load_scenario("zzzz-qqqq")

    assert str(error_info.value) == (
        "zzzz-qqqq: no such file and no built-in scenario of that name"
    )


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\nsteps:\n  - wait: 0\n".encode("latin-1"))

    with pytest.raises(ScenarioError) as error_info:
        load_scenario(str(path))

    assert str(error_info.value).startswith(f"{path}: not UTF-8 text: ")


def test_a_file_error_names_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("streams: [s1]\nsteps:\n  - publsh: s1\n", "utf-8")

    with pytest.raises(ScenarioError) as error_info:
        load_scenario(str(path))

    assert str(error_info.value) == (
        f"{path}, step 1, line 3: unknown step 'publsh'; did you mean 'publish'?"
    )


def test_a_scenario_file_is_named_after_its_file_without_a_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "my-run.yaml"
    path.write_text("steps:\n  - wait: 0\n", "utf-8")

    assert load_scenario(str(path)).name == "my-run"


# What a good scenario becomes


def test_shorthand_steps_stand_for_their_main_field() -> None:
    scenario = parse_scenario(
        "streams: [s1]\nsteps:\n"
        "  - create: s1\n  - publish: s1\n  - status: s1\n  - stall: s1\n"
        "  - unpublish: s1\n  - delete: s1\n  - wait: 2s\n"
    )

    assert [(step.kind, step.stream) for step in scenario.steps[:6]] == [
        ("create", "s1"),
        ("publish", "s1"),
        ("status", "s1"),
        ("stall", "s1"),
        ("unpublish", "s1"),
        ("delete", "s1"),
    ]
    assert scenario.steps[6] == Step("wait", 7, 9, None, {"duration": 2.0})


def test_shorthand_and_mapping_forms_give_the_same_step() -> None:
    short = parse_scenario("streams: [s1]\nsteps:\n  - publish: s1\n")
    long = parse_scenario("streams: [s1]\nsteps:\n  - publish: {stream: s1}\n")

    assert short.steps == long.steps


def test_a_step_without_a_shorthand_needs_a_mapping() -> None:
    message = refusal("streams: [s1]\nsteps:\n  - fire: vodReady\n")

    assert located_at(message, 1, 3)
    assert "fire needs a mapping of action, stream" in message


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param("{tier: gold, seats: 3}", '{"tier":"gold","seats":3}', id="map"),
        pytest.param("[1, two]", '[1,"two"]', id="list"),
        pytest.param("'{\"raw\": true}'", '{"raw": true}', id="text-kept"),
    ],
)
def test_metadata_given_as_yaml_becomes_json_text(metadata: str, expected: str) -> None:
    scenario = parse_scenario(
        f"streams:\n  - {{id: s1, metadata: {metadata}}}\nsteps:\n  - wait: 0\n"
    )

    assert scenario.streams[0].metadata == expected
    assert scenario.streams[0].broadcast_body()["metaData"] == expected


def test_a_stream_becomes_the_body_of_its_rest_create() -> None:
    scenario = parse_scenario(
        "streams:\n  - room1\n"
        "  - {id: guest, name: Guest, category: talk, main_track: room1,\n"
        "     hook_url: 'http://127.0.0.1:9/own', max_idle_time: 5}\n"
        "steps:\n  - wait: 0\n"
    )

    assert scenario.stream("guest").broadcast_body("guest-1", "room1-1") == {
        "streamId": "guest-1",
        "mainTrackStreamId": "room1-1",
        "name": "Guest",
        "category": "talk",
        "listenerHookURL": "http://127.0.0.1:9/own",
        "maxIdleTime": 5,
    }
    assert scenario.stream("room1").broadcast_body() == {"streamId": "room1"}


def test_a_scenario_reads_its_name_description_and_app() -> None:
    scenario = parse_scenario(
        "name: demo\ndescription: A demo.\napp: WebRTCAppEE\nsteps:\n  - wait: 0\n",
        "demo-file.yaml",
    )

    assert (scenario.name, scenario.description, scenario.app) == (
        "demo",
        "A demo.",
        "WebRTCAppEE",
    )
    assert scenario.source == "demo-file.yaml"


def test_each_step_knows_its_number_and_line() -> None:
    scenario = parse_scenario(
        "streams: [s1]\n\nsteps:\n  - publish: s1\n\n  - wait: 1s\n"
        "  - expect: {action: liveStreamStarted, stream: s1, count: 1}\n"
    )

    assert [(step.number, step.line) for step in scenario.steps] == [
        (1, 4),
        (2, 6),
        (3, 7),
    ]
    assert scenario.steps[2].args == {"action": "liveStreamStarted", "count": 1}


# Properties


def outcome(text: str) -> str:
    """``"parsed"``, or the message ``text`` is refused with; nothing else escapes."""
    try:
        scenario = parse_scenario(text, SOURCE)
    except ScenarioError as error:
        return str(error)
    json.dumps([dict(step.args) for step in scenario.steps])

    return "parsed" if scenario.steps else "parsed without steps"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_is_parsed_or_refused_with_a_scenario_error(text: str) -> None:
    result = outcome(text)

    assert result == "parsed" or result.startswith(f"{SOURCE}")
    assert "\n" not in result


_WORDS = sorted(
    {*ACTIONS, *STEP_KINDS, "s1", "stream1", "2s", "150ms", "-1s", "json", "720p"}
)
_FIELDS = sorted(
    {
        *STEP_KINDS,
        *(name for names, _ in STEP_KINDS.values() for name in names),
        *("name", "steps", "streams", "settings", "id", "metadata", "main_track"),
    }
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 100)
    | st.floats()
    | st.sampled_from(_WORDS)
    | st.text(max_size=8)
)
_KEYS = st.sampled_from(_FIELDS) | st.text(max_size=6)
_TREES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _TREES, max_size=5) | _TREES)
def test_any_yaml_structure_is_parsed_or_refused_with_a_scenario_error(
    tree: Any,
) -> None:
    result = outcome(yaml.safe_dump(tree, allow_unicode=True))

    assert result == "parsed" or result.startswith(f"{SOURCE}")
    assert "\n" not in result
