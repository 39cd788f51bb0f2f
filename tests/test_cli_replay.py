"""``mockams replay`` and ``mockams scenarios``, run in-process through ``main``."""

from __future__ import annotations

import errno
import io
import json
import logging
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from mockams.cli import main
from mockams.cli_replay import _Progress
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


class FakeTerminal(io.StringIO):
    """What a terminal is sent, kept as text."""

    def isatty(self) -> bool:
        return True


def rendered(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: ``\\r`` and erase-line applied."""
    lines = []
    for sent in text.split("\n"):
        line, column = "", 0
        for part in re.split("(\r|\x1b\\[K)", sent):
            if part == "\r":
                column = 0
            elif part == "\x1b[K":
                line = line[:column]
            else:
                line = line[:column] + part + line[column + len(part) :]
                column += len(part)
        lines.append(line)

    return lines


class ClosedPipe(io.StringIO):
    """A stdout whose reader goes away after ``lines`` lines, as ``| head`` does."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines

    def write(self, text: str) -> int:
        if self.getvalue().count("\n") >= self.lines:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        return super().write(text)


# Replaying at a receiver


def test_a_builtin_scenario_against_a_receiver_passes_and_prints_the_table(
    capsys: pytest.CaptureFixture[str], receiver: RecordingReceiver
) -> None:
    code = main(["replay", "basic-lifecycle", "--target", receiver.url])

    output = capsys.readouterr()
    assert code == 0
    assert output.out.startswith("action ")
    lines = output.out.splitlines()
    assert lines[0].split() == HEADER
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


def test_an_excused_delivery_is_counted_on_its_check_line(
    capsys: pytest.CaptureFixture[str], httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/hooks").respond_with_data("no", status=500)
    path = tmp_path / "fails-on-purpose.yaml"
    path.write_text(
        "streams: [s1]\nsteps:\n  - publish: s1\n"
        "  - expect: {action: liveStreamStarted, status: 500}\n",
        "utf-8",
    )

    code = main(["replay", str(path), "--target", httpserver.url_for("/hooks")])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "ok    step 2: expect liveStreamStarted" in lines
    assert "ok    liveStreamStarted deliveries answered 200 (1 excused by step 2)" in (
        lines
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


def test_on_a_terminal_the_hooks_printed_start_on_lines_of_their_own(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scenario_file: Path,
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)

    code = main(["replay", str(scenario_file)])

    screen = rendered(terminal.getvalue())
    assert code == 0
    assert "steps" in terminal.getvalue()  # the progress was shown
    hooks = [line for line in screen if " POST " in line]
    assert [line.split()[0] for line in hooks] == ["#1", "#2", "#3", "#4"]
    assert [line for line in screen if "steps, " in line] == []
    assert screen[-1] == ""
    assert screen[-2].startswith("mockams replay two-sessions: passed")


def test_progress_is_redrawn_at_most_ten_times_a_second() -> None:
    terminal = FakeTerminal()
    now = 0.0
    progress = _Progress(terminal, clock=lambda: now)

    for step in range(1000):
        progress(f"{step}/1001 steps")
    now = 0.1
    progress("1001/1001 steps")
    progress.clear()

    drawn = re.findall("\r([^\r\x1b]+)\x1b\\[K", terminal.getvalue())
    assert drawn[0] == "0/1001 steps"
    assert drawn[-1] == "1001/1001 steps"
    assert len(drawn) <= 3  # at most one more, late, for the updates held back
    assert terminal.getvalue().endswith("\r\x1b[K")


def test_progress_put_aside_for_a_line_comes_back_after_it() -> None:
    terminal = FakeTerminal()
    now = 0.0
    progress = _Progress(terminal, clock=lambda: now)
    progress("1/2 steps")

    now = 1.0
    with progress.aside():
        terminal.write("#1 a hook\n")
    progress.clear()

    assert terminal.getvalue() == (
        "\r1/2 steps\x1b[K\r\x1b[K#1 a hook\n\r1/2 steps\x1b[K\r\x1b[K"
    )


# A reader that goes away


def test_a_dry_run_into_a_closed_pipe_exits_141_quietly(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scenario_file: Path,
) -> None:
    stdout = ClosedPipe(lines=1)
    monkeypatch.setattr(sys, "stdout", stdout)

    code = main(["replay", str(scenario_file), "--dry-run"])

    assert code == 141
    assert stdout.getvalue().startswith("#1 liveStreamStarted stream1 ")
    assert capsys.readouterr().err == ""


def test_the_embedded_receiver_stops_printing_into_a_closed_pipe(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scenario_file: Path,
    tmp_path: Path,
) -> None:
    stdout = ClosedPipe(lines=2)
    monkeypatch.setattr(sys, "stdout", stdout)
    report_path = tmp_path / "out.json"

    code = main(["replay", str(scenario_file), "--report", str(report_path)])

    assert code == 141
    assert stdout.getvalue().splitlines()[1].startswith("#1 POST ")
    assert capsys.readouterr().err == ""
    assert len(json.loads(report_path.read_text("utf-8"))["deliveries"]) == 4


def test_scenarios_into_a_closed_pipe_exits_141_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe(lines=1))

    assert main(["scenarios"]) == 141
    assert capsys.readouterr().err == ""


def test_replay_piped_into_head_ends_without_a_traceback() -> None:
    command = [sys.executable, "-m", "mockams.cli", "replay", "unicode-long-names"]
    # Some 300 kB: far more than a pipe holds, so writing outlives the reader.
    command += ["--dry-run", "--streams", "20"]

    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        err = process.stderr.read()
        code = process.wait(timeout=60)

    assert first.startswith(b"#1 liveStreamStarted unicode1-01 ")
    assert err == b""
    assert code == 141


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
        pytest.param(
            "--speed",
            "1e-300",
            "'1e-300' is too slow: 0 for no waiting, or 0.001 or more",
            id="too-slow",
        ),
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


def test_report_folders_that_do_not_exist_are_created(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "reports" / "json" / "out.json"
    junit_path = tmp_path / "reports" / "out.xml"
    argv = ["replay", str(scenario_file), "--target", receiver.url]

    code = main([*argv, "--report", str(report_path), "--junit", str(junit_path)])

    assert code == 0
    assert capsys.readouterr().err == ""
    assert json.loads(report_path.read_text("utf-8"))["passed"] is True
    assert ET.parse(junit_path).getroot().tag == "testsuites"


@pytest.mark.parametrize("option", ["--report", "--junit"])
def test_a_report_that_cannot_be_written_exits_2(
    capsys: pytest.CaptureFixture[str],
    receiver: RecordingReceiver,
    scenario_file: Path,
    tmp_path: Path,
    option: str,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder", "utf-8")
    path = a_file / "out.json"
    argv = ["replay", str(scenario_file), "--target", receiver.url]

    code = main([*argv, option, str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert err == f"mockams replay: error: cannot write {path}: Not a directory\n"


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
