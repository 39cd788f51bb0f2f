"""``mockams replay`` and ``mockams scenarios``, run in-process through ``main``."""

from __future__ import annotations

import json
import logging
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockams.cli import main
from mockams.receiver import RecordingReceiver
from mockams.scenario import builtin_names, load_scenario

pytestmark = pytest.mark.network

HEADER = ["action", "sent", "200", "failed", "retries", "p50", "p95", "p99", "max"]
TWO_SESSIONS = """\
name: two-sessions
streams:
  - {id: stream1, name: Demo}
steps:
  - create: stream1
  - publish: stream1
  - unpublish: {stream: stream1, record: false}
  - publish: stream1
  - unpublish: {stream: stream1, record: false}
  - expect: {action: liveStreamStarted, count: 2}
"""


@pytest.fixture(autouse=True)
def mockams_logger() -> Iterator[logging.Logger]:
    """The ``mockams`` logger, put back as it was after the CLI configured it."""
    logger = logging.getLogger("mockams")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture(scope="module")
def running_receiver() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(running_receiver: RecordingReceiver) -> RecordingReceiver:
    """The module's recording receiver, with nothing received yet."""
    running_receiver.received.clear()

    return running_receiver


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A hook URL on a port that is bound but not listening: connects are refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        yield f"http://127.0.0.1:{port}/hooks"


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "two-sessions.yaml"
    path.write_text(TWO_SESSIONS, "utf-8")

    return path


def output_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# Replaying at a receiver


def test_a_builtin_scenario_against_a_receiver_passes_and_prints_the_table(
    capsys: pytest.CaptureFixture[str], receiver: RecordingReceiver
) -> None:
    code = main(["replay", "basic-lifecycle", "--target", receiver.url])

    output = capsys.readouterr()
    assert code == 0
    lines = output.out.splitlines()
    assert lines[1].split() == HEADER
    assert lines[-1].startswith("mockams replay basic-lifecycle: passed in ")
    assert output.err == ""
    assert receiver.received


def test_a_scenario_file_replays_and_lists_each_check(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
) -> None:
    code = main(["replay", str(scenario_file), "--target", receiver.url])

    lines = output_lines(capsys.readouterr().out)
    assert code == 0
    assert lines[0].split() == HEADER
    rows = {line.split()[0]: line.split()[1:5] for line in lines[1:3]}
    assert rows == {
        "liveStreamStarted": ["2", "2", "0", "0"],
        "liveStreamEnded": ["2", "2", "0", "0"],
    }
    assert lines[3:6] == [
        "ok    step 6: expect liveStreamStarted",
        "ok    liveStreamStarted deliveries answered 200",
        "ok    liveStreamEnded deliveries answered 200",
    ]
    assert re.fullmatch(r"mockams replay two-sessions: passed in \d+\.\d\d s", lines[6])
    assert [hook.action for hook in receiver.received] == [
        "liveStreamStarted",
        "liveStreamEnded",
        "liveStreamStarted",
        "liveStreamEnded",
    ]


def test_a_failed_expect_exits_1_and_says_why(
    capsys: pytest.CaptureFixture[str], receiver: RecordingReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "expects-too-much.yaml"
    path.write_text(TWO_SESSIONS.replace("count: 2", "count: 3"), "utf-8")

    code = main(["replay", str(path), "--target", receiver.url])

    out = capsys.readouterr().out
    assert code == 1
    assert (
        "FAIL  step 6: expect liveStreamStarted: "
        "expected 3 liveStreamStarted deliveries, got 2"
    ) in out.splitlines()
    assert out.splitlines()[-1].startswith("mockams replay two-sessions: failed")


def test_streams_multiplies_the_scenario(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
) -> None:
    argv = ["replay", str(scenario_file), "--target", receiver.url]

    code = main([*argv, "--streams", "3", "--concurrency", "2", "--seed", "1"])

    lines = output_lines(capsys.readouterr().out)
    assert code == 0
    assert lines[1].split()[:2] == ["liveStreamStarted", "6"]
    assert {hook.fields["id"] for hook in receiver.received} == {
        "stream1-1",
        "stream1-2",
        "stream1-3",
    }


def test_content_type_and_ams_version_options_reach_the_hooks(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
) -> None:
    argv = ["replay", str(scenario_file), "--target", receiver.url]

    code = main([*argv, "--content-type", "json", "--ams-version", "2.10"])

    assert code == 0
    assert capsys.readouterr().err == ""
    for hook in receiver.received:
        assert hook.content_type.startswith("application/json")
        assert "timestamp" in hook.fields
        assert "app" not in hook.fields


def test_verbose_logs_every_delivery_to_stderr(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
) -> None:
    code = main(["replay", str(scenario_file), "--target", receiver.url, "-v"])

    err = capsys.readouterr().err
    assert code == 0
    delivered = [line for line in err.splitlines() if " INFO hook " in line]
    assert len(delivered) == 4
    assert (
        f"hook liveStreamStarted stream1 -> {receiver.url} attempt 1: 200"
        in (delivered[0])
    )


# The embedded receiver


def test_without_a_target_the_hooks_received_are_printed_in_order(
    capsys: pytest.CaptureFixture[str], scenario_file: Path
) -> None:
    code = main(["replay", str(scenario_file)])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert re.fullmatch(
        r"hooks go to a receiver at http://127\.0\.0\.1:\d+/hooks:", lines[0]
    )
    hooks = lines[1:5]
    for number, (line, action) in enumerate(
        zip(
            hooks,
            ["liveStreamStarted", "liveStreamEnded"] * 2,
            strict=True,
        ),
        start=1,
    ):
        assert line.startswith(
            f"#{number} POST application/x-www-form-urlencoded {action}: "
        )
        assert " id=stream1 " in line
        assert " streamName=Demo " in line
        assert "action=" not in line
    assert lines[-1].startswith("mockams replay two-sessions: passed")


# Dry run


def test_dry_run_prints_the_bodies_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
) -> None:
    code = main(["replay", str(scenario_file), "--target", receiver.url, "--dry-run"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert receiver.received == []
    assert len(lines) == 8
    assert (
        lines[0] == "#1 liveStreamStarted stream1 (application/x-www-form-urlencoded)"
    )
    assert lines[1].startswith("   app=LiveApp&action=liveStreamStarted&id=stream1&")
    assert lines[2] == "#2 liveStreamEnded stream1 (application/x-www-form-urlencoded)"
    assert lines[6].startswith("#4 liveStreamEnded stream1 ")


def test_dry_run_without_a_target_starts_no_receiver(
    capsys: pytest.CaptureFixture[str], scenario_file: Path
) -> None:
    code = main(["replay", str(scenario_file), "--dry-run", "--content-type", "json"])

    out = capsys.readouterr().out
    assert code == 0
    assert "hooks go to" not in out
    assert out.splitlines()[0] == (
        "#1 liveStreamStarted stream1 (application/json; charset=UTF-8)"
    )
    body = json.loads(out.splitlines()[1])
    assert body["action"] == "liveStreamStarted"


# Mistakes


def test_a_broken_scenario_file_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(TWO_SESSIONS.replace("- publish: stream1", "- publsh: stream1", 1))

    code = main(["replay", str(path), "--target", "http://127.0.0.1:9/hooks"])

    output = capsys.readouterr()
    assert code == 2
    assert output.out == ""
    assert output.err == (
        f"mockams replay: error: {path}, step 2, line 6: unknown step 'publsh'; "
        "did you mean 'publish'?\n"
    )


def test_a_misspelled_builtin_name_exits_2_with_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["replay", "basic-lifecyle"])

    output = capsys.readouterr()
    assert code == 2
    assert output.out == ""
    assert output.err == (
        "mockams replay: error: basic-lifecyle: no such file and no built-in "
        "scenario of that name; did you mean 'basic-lifecycle'?\n"
    )


def test_a_missing_scenario_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "gone.yaml"

    code = main(["replay", str(missing)])

    assert code == 2
    assert capsys.readouterr().err == (
        f"mockams replay: error: {missing}: cannot read: No such file or directory\n"
    )


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        pytest.param("localhost:8080/hooks", "is not http or https", id="no-scheme"),
        pytest.param("ftp://127.0.0.1/hooks", "is not http or https", id="ftp"),
        pytest.param("http:///hooks", "has no host", id="no-host"),
        pytest.param("http://127.0.0.1:port/hooks", "is not a valid URL", id="port"),
    ],
)
def test_a_target_that_is_not_a_url_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    scenario_file: Path,
    target: str,
    reason: str,
) -> None:
    code = main(["replay", str(scenario_file), "--target", target])

    output = capsys.readouterr()
    assert code == 2
    assert output.out == ""
    assert output.err.startswith(
        f"mockams replay: error: --target: hook URL {target!r}"
    )
    assert reason in output.err
    assert output.err.count("\n") == 1


def test_an_unreachable_target_exits_1_with_a_note_and_no_traceback(
    capsys: pytest.CaptureFixture[str], scenario_file: Path, closed_url: str
) -> None:
    code = main(["replay", str(scenario_file), "--target", closed_url])

    output = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in output.out + output.err
    assert output.err == ""
    assert (
        f"note  every delivery to {closed_url} failed with 'connection refused': "
        "is the receiver running there?"
    ) in output.out.splitlines()
    assert (
        "FAIL  liveStreamStarted deliveries answered 200: 2 deliveries did not get "
        "a 200; first: attempt 1 for stream1 got connection refused"
    ) in output.out.splitlines()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        pytest.param("--speed", "-1", "'-1' is not 0 or a positive number", id="speed"),
        pytest.param("--speed", "fast", "'fast' is not a number", id="speed-word"),
        pytest.param("--speed", "inf", "'inf' is not 0 or a positive number", id="inf"),
        pytest.param("--streams", "0", "'0' is below 1", id="streams"),
        pytest.param("--concurrency", "0", "'0' is below 1", id="concurrency"),
        pytest.param("--seed", "x", "invalid int value: 'x'", id="seed"),
        pytest.param("--content-type", "xml", "content type 'xml'", id="content-type"),
        pytest.param("--ams-version", "curent", "did you mean 'current'?", id="ams"),
    ],
)
def test_a_bad_option_value_exits_2_naming_the_option(
    capsys: pytest.CaptureFixture[str],
    scenario_file: Path,
    option: str,
    value: str,
    message: str,
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", str(scenario_file), option, value])

    output = capsys.readouterr()
    assert exit_info.value.code == 2
    assert output.out == ""
    last = output.err.splitlines()[-1]
    assert last.startswith(f"mockams replay: error: argument {option}: ")
    assert message in last


# Reports


def test_report_and_junit_files_are_written(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "out.json"
    junit_path = tmp_path / "out.xml"

    code = main(
        [
            "replay",
            str(scenario_file),
            "--target",
            receiver.url,
            "--report",
            str(report_path),
            "--junit",
            str(junit_path),
        ]
    )

    assert code == 0
    capsys.readouterr()
    report = json.loads(report_path.read_text("utf-8"))
    assert report["passed"] is True
    assert report["target"] == receiver.url
    assert len(report["deliveries"]) == 4
    assert [item["action"] for item in report["actions"]] == [
        "liveStreamStarted",
        "liveStreamEnded",
    ]
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    assert [case.get("name") for case in suite.findall("testcase")] == [
        item["name"] for item in report["checks"]
    ]
    assert suite.get("failures") == "0"


def test_reports_are_written_for_a_failed_run_too(
    capsys: pytest.CaptureFixture[str],
    scenario_file: Path,
    closed_url: str,
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "out.json"
    junit_path = tmp_path / "out.xml"
    argv = ["replay", str(scenario_file), "--target", closed_url]

    code = main([*argv, "--report", str(report_path), "--junit", str(junit_path)])

    assert code == 1
    capsys.readouterr()
    report = json.loads(report_path.read_text("utf-8"))
    assert report["passed"] is False
    assert {item["error"] for item in report["deliveries"]} == {"connection refused"}
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    failed = [
        case.get("name")
        for case in suite.findall("testcase")
        if case.find("failure") is not None
    ]
    assert failed == [
        "liveStreamStarted deliveries answered 200",
        "liveStreamEnded deliveries answered 200",
    ]
    assert suite.get("failures") == "2"


def test_a_report_that_cannot_be_written_exits_2(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
    tmp_path: Path,
) -> None:
    path = tmp_path / "no-such-folder" / "out.json"
    argv = ["replay", str(scenario_file), "--target", receiver.url]

    code = main([*argv, "--report", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"mockams replay: error: cannot write {path}: No such file or directory\n"
    )


# Listing the built-ins


def test_scenarios_lists_each_builtin_with_its_description(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["scenarios"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    names = builtin_names()
    assert "basic-lifecycle" in names
    assert [line.split()[0] for line in lines] == names
    for name, line in zip(names, lines, strict=True):
        description = load_scenario(name).description
        assert line.endswith(f"  {description}")


def test_replay_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--help"])

    help_text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for option in (
        "--target",
        "--speed",
        "--seed",
        "--content-type",
        "--ams-version",
        "--streams",
        "--concurrency",
        "--report",
        "--junit",
        "--dry-run",
    ):
        assert option in help_text
