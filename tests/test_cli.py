"""The ``mockams`` command line: options in-process, ``serve`` as a subprocess."""

from __future__ import annotations

import logging
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

import pytest
import requests
from pytest_httpserver import HTTPServer

from mockams import __version__
from mockams.cli import main

SERVE = [sys.executable, "-m", "mockams.cli", "serve", "--port", "0"]
READY = re.compile(r" on (http://\S+); Ctrl-C to stop$")


@pytest.fixture
def mockams_logger() -> Iterator[logging.Logger]:
    """The ``mockams`` logger, put back as it was after ``serve`` configured it."""
    logger = logging.getLogger("mockams")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


# Options


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"mockams {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [pytest.param(["--help"], id="main"), pytest.param(["serve", "-h"], id="serve")],
)
def test_help_lists_the_options_and_exits_0(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    output = capsys.readouterr()
    assert exit_info.value.code == 0
    assert output.out.startswith("usage: mockams")
    assert output.err == ""


def test_serve_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])

    help_text = capsys.readouterr().out
    for option in ("--port", "--hook-url", "--content-type", "--ams-version"):
        assert option in help_text


def test_no_command_prints_help_and_returns_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main([])

    output = capsys.readouterr()
    assert code == 2
    assert output.err.startswith("usage: mockams")
    assert "serve" in output.err
    assert output.out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["serve", "--content-type", "jsn"],
            "content type 'jsn' is not 'form', 'json' or a media type; "
            "did you mean 'json'?",
            id="content-type-typo",
        ),
        pytest.param(
            ["serve", "--ams-version", "9.x"],
            "AMS version '9.x' is not a profile name",
            id="ams-version",
        ),
        pytest.param(
            ["serve", "--ams-version", "curent"],
            "did you mean 'current'?",
            id="ams-version-typo",
        ),
        pytest.param(
            ["serve", "--port", "70000"],
            "'70000' is not a port (0 to 65535)",
            id="port-too-high",
        ),
        pytest.param(
            ["serve", "--port", "http"], "'http' is not a whole number", id="port-text"
        ),
        pytest.param(
            ["serve", "--retry-count", "-1"], "'-1' is below 0", id="retry-count"
        ),
        pytest.param(
            ["serve", "--retry-delay", "1s"], "'1s' is not a whole number", id="delay"
        ),
        pytest.param(
            ["serve", "--app", "a/b"],
            "argument --app: application name 'a/b' is not a single path segment",
            id="app-with-slash",
        ),
        pytest.param(
            ["serve", "--app", ""],
            "argument --app: application name '' is not a single path segment",
            id="app-empty",
        ),
        pytest.param(
            ["serve", "--hook-url", "ftp://x"],
            "argument --hook-url: hook URL 'ftp://x' is not http or https",
            id="hook-url-ftp",
        ),
        pytest.param(
            ["serve", "--hook-url", "http://"],
            "argument --hook-url: hook URL 'http://' has no host",
            id="hook-url-no-host",
        ),
        pytest.param(["serve", "--colour"], "unrecognized arguments", id="unknown"),
        pytest.param(["sreve"], "invalid choice: 'sreve'", id="command-typo"),
    ],
)
def test_a_bad_option_is_one_error_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    output = capsys.readouterr()
    errors = [line for line in output.err.splitlines() if "error:" in line]
    assert exit_info.value.code == 2
    assert len(errors) == 1
    assert output.err.splitlines()[-1] == errors[0]
    assert message in errors[0]
    assert "Traceback" not in output.err
    assert output.out == ""


def test_serve_refuses_zero_workers(
    capsys: pytest.CaptureFixture[str], mockams_logger: logging.Logger
) -> None:
    code = main(["serve", "--port", "0", "--workers", "0"])

    assert code == 2
    assert capsys.readouterr().err == (
        "mockams serve: error: --workers must be 1 or more\n"
    )


# serve, as a user runs it


class Lines:
    """Lines of a stream, read on a thread so that each read has a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,))
        self._thread.start()
        self.seen: list[str] = []

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Read lines until one matches ``pattern``; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                pytest.fail(f"no line matched {pattern.pattern!r} in {timeout} s")
            if line is None:
                pytest.fail(f"output ended before {pattern.pattern!r}: {self.seen}")
            self.seen.append(line)
            match = pattern.search(line)
            if match:
                return match

    def rest(self, timeout: float) -> list[str]:
        """Every line up to the end of the stream."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the output did not end"
        while (line := self._lines.get_nowait()) is not None:
            self.seen.append(line)

        return self.seen


@pytest.fixture
def receiver(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")

    return httpserver


@pytest.mark.network
def test_serve_delivers_hooks_logs_each_call_and_stops_on_ctrl_c(
    receiver: HTTPServer,
) -> None:
    command = [*SERVE, "--hook-url", receiver.url_for("/hook")]
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stderr is not None
            output = Lines(process.stderr)
            url = output.until(READY, timeout=10)[1]

            created = requests.post(
                f"{url}/LiveApp/rest/v2/broadcasts/create",
                json={"streamId": "stream1", "name": "Demo"},
                timeout=5,
            )
            published = requests.post(
                f"{url}/mockams/apps/LiveApp/streams/stream1/publish", timeout=5
            )
            waited = requests.get(
                f"{url}/mockams/deliveries/wait?count=1&timeout=5", timeout=10
            )
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=10)
            lines = output.rest(timeout=5)
        finally:
            process.kill()

    assert created.status_code == 200
    assert published.json()["status"] == "broadcasting"
    assert waited.json()["complete"] is True
    [(request, _)] = receiver.log
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form["action"] == "liveStreamStarted"
    assert request.form["id"] == "stream1"
    assert request.form["streamName"] == "Demo"
    assert code == 0
    # The hook's log line may come after the summary: the worker logs it last.
    [stopped] = [line for line in lines if line.startswith("mockams stopped:")]
    assert stopped.startswith("mockams stopped: 1 deliveries made, 0 still pending")
    calls = [line for line in lines if " INFO 127.0.0.1 " in line]
    assert [line.split(" -> ")[0].split(" INFO ")[1] for line in calls] == [
        "127.0.0.1 POST /LiveApp/rest/v2/broadcasts/create",
        "127.0.0.1 POST /mockams/apps/LiveApp/streams/stream1/publish",
        "127.0.0.1 GET /mockams/deliveries/wait?count=1&timeout=5",
    ]
    hooks = [line for line in lines if " INFO hook " in line]
    assert len(hooks) == 1
    assert "hook liveStreamStarted stream1 -> " in hooks[0]
    assert "attempt 1: 200 in " in hooks[0]
    assert not any("Traceback" in line for line in lines)


@pytest.mark.network
def test_serve_on_a_port_already_taken_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        finished = subprocess.run(
            [*SERVE[:-1], str(port)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )

    assert finished.returncode == 1
    [line] = finished.stderr.splitlines()
    assert line.startswith(f"mockams serve: cannot listen on 127.0.0.1:{port}: ")
