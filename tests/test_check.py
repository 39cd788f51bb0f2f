"""``mockams check`` against the sample receivers in ``examples/``.

The good receiver passes every check. Each bad one has one flaw and fails
exactly the checks that flaw explains, with a message that names it. A target
that cannot be checked at all is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockams.cli import main
from mockams.payloads import ACTIONS

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENCODINGS = ("form", "json")
START_TIMEOUT_S = 10.0

ALL_200 = "answers 200 to every action"
ABSENT = "accepts absent optional fields"
EXTRA = "accepts unknown extra fields"
UNKNOWN_ACTION = "accepts an unknown action"
UNICODE = "accepts unicode and long values"
METADATA = "accepts metadata as text and object"
DUPLICATE = "accepts a duplicate delivery"
ORDER = "accepts vod ready before ended"
LATENCY = "latency within budget"
CONCURRENT = "answers concurrent deliveries"
ONCE_PER_ENCODING = (EXTRA, UNKNOWN_ACTION, UNICODE, METADATA, DUPLICATE, ORDER)

Cell = tuple[str, str, str]  # check, encoding, action ("" for checks of no action)


def cells(
    checks: Iterable[str], encodings: Iterable[str], actions: Iterable[str] = ("",)
) -> set[Cell]:
    return {
        (check, encoding, action)
        for check in checks
        for encoding in encodings
        for action in actions
    }


# The contract skips this one: AMS sends no form-encoded status of an unnamed stream.
SKIPPED = {(ABSENT, "form", "liveStreamStatus")}


def every_hook_refused(encodings: tuple[str, ...]) -> set[Cell]:
    """Every check that needs a 200, in ``encodings``; latency only times answers."""
    per_action = cells((ALL_200, ABSENT), encodings, ACTIONS) - SKIPPED

    return per_action | cells((*ONCE_PER_ENCODING, CONCURRENT), encodings)


@dataclass(frozen=True)
class Flaw:
    """A sample receiver's one flaw: the checks it fails, what their messages say."""

    receiver: str
    failed: set[Cell]
    phrases: tuple[str, ...]  # each in every failure's message
    options: tuple[str, ...] = ()


# The two slow receivers cost AMS's 2 s timeout per failed hook, and their
# flaws do not depend on the encoding: they are checked in JSON only.
FLAWS = [
    Flaw("answers_204", every_hook_refused(ENCODINGS), ("answered 204", "only 200")),
    Flaw("form_only", every_hook_refused(("json",)), ("answered 400",)),
    Flaw(
        "needs_stream_name",
        cells([ABSENT], ENCODINGS, ["liveStreamStarted", "liveStreamEnded"]),
        ("answered 500", "a hook with only action, app, id, timestamp"),
    ),
    Flaw(
        "not_idempotent",
        cells([DUPLICATE], ENCODINGS),
        ("not idempotent", "a repeated vodReady changed the stored state"),
    ),
    Flaw(
        "slow_vod_ready",
        cells([ALL_200, ABSENT, LATENCY], ["json"], ["vodReady"])
        | cells([DUPLICATE, ORDER], ["json"]),
        ("vodReady", "2000 ms"),
        ("--content-type", "json"),
    ),
    Flaw(
        "slow_under_load",
        cells([CONCURRENT], ["json"]),
        ("sent 20 at a time", "read timed out after 2000 ms"),
        ("--content-type", "json"),
    ),
]


@dataclass
class Run:
    """One ``mockams check``: its exit code, output and JSON report."""

    code: int
    out: str
    err: str
    report: dict[str, Any]

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.report.get("checks", []))

    def where(self, outcome: str) -> set[Cell]:
        return {
            (item["check"], item["encoding"], item["action"])
            for item in self.checks
            if item["outcome"] == outcome
        }

    def messages(self, outcome: str) -> list[str]:
        return [item["message"] for item in self.checks if item["outcome"] == outcome]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for _ in range(1000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            break
        try:
            code = process.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"the receiver exited with {code} before listening")

    raise RuntimeError(f"the receiver did not listen on port {port} in time")


@contextmanager
def receiver(name: str) -> Iterator[str]:
    """Run ``examples/<name>.py`` as documented; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(process, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def good() -> Iterator[str]:
    with receiver("good_receiver") as url:
        yield url


@pytest.fixture
def check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Callable[..., Run]:
    """Runs ``mockams check`` in-process with a JSON report, 3 latency samples."""

    def run(target: str, *options: str) -> Run:
        report = tmp_path / "report.json"
        report.unlink(missing_ok=True)
        argv = ["check", target, "--samples", "3", "--report", str(report)]
        code = main([*argv, *options])
        captured = capsys.readouterr()
        found = json.loads(report.read_text("utf-8")) if report.exists() else {}

        return Run(code, captured.out, captured.err, found)

    return run


def probe_of(url: str) -> tuple[str, str]:
    return "--state-probe", f"{url}/streams/{{id}}"


def test_the_good_receiver_passes_every_check(
    check: Callable[..., Run], good: str
) -> None:
    run = check(f"{good}/hooks", *probe_of(good))

    assert run.code == 0, run.out
    assert run.where("skipped") == SKIPPED
    assert not run.where("failed") | run.where("error")
    assert {item["check"] for item in run.checks} == {
        ALL_200,
        *ONCE_PER_ENCODING,
        ABSENT,
        LATENCY,
        CONCURRENT,
    }
    assert run.report["passed"] is True
    assert "0 failed, 0 errors" in run.out


@pytest.mark.parametrize("flaw", FLAWS, ids=[flaw.receiver for flaw in FLAWS])
def test_a_bad_receiver_fails_exactly_the_checks_its_flaw_explains(
    check: Callable[..., Run], flaw: Flaw
) -> None:
    with receiver(flaw.receiver) as url:
        run = check(f"{url}/hooks", *probe_of(url), *flaw.options)

    assert run.code == 1
    assert run.where("failed") == flaw.failed
    assert not run.where("error")
    assert run.report["passed"] is False
    for message in run.messages("failed"):
        for phrase in flaw.phrases:
            assert phrase in message, f"{phrase!r} not in {message!r}"


def test_a_slow_store_is_within_budget_one_by_one(check: Callable[..., Run]) -> None:
    with receiver("slow_under_load") as url:
        run = check(f"{url}/hooks", "--content-type", "json", "-k", "latency")

    assert run.code == 0, run.out
    [started] = [item for item in run.checks if item["action"] == "liveStreamStarted"]
    assert 100 < started["latency"]["p50_ms"] < 250


@pytest.mark.parametrize(
    "target",
    [
        "not a url",
        "ftp://127.0.0.1/hooks",
        "http:///hooks",
        "http://127.0.0.1:port/hooks",
    ],
    ids=["words", "ftp", "no-host", "port-not-a-number"],
)
def test_a_target_that_is_not_a_usable_url_is_one_line_and_exit_2(
    check: Callable[..., Run], target: str
) -> None:
    run = check(target)

    assert run.code == 2
    assert len(run.err.splitlines()) == 1
    assert target in run.err
    assert "Traceback" not in run.err
    assert run.out == ""


def test_a_port_nobody_listens_on_is_cannot_reach_and_exit_2(
    check: Callable[..., Run],
) -> None:
    run = check(f"http://127.0.0.1:{free_port()}/hooks")

    assert run.code == 2
    assert run.err.startswith("mockams check: error: cannot reach")
    assert "connection refused" in run.err
    assert len(run.err.splitlines()) == 1
    assert run.out == ""


@contextmanager
def not_http(answer: bytes) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that reads a request and answers ``answer``."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    done = threading.Event()

    def serve() -> None:
        deadline = time.monotonic() + 30
        for _ in range(1000):
            if done.is_set() or time.monotonic() > deadline:
                return
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                connection.recv(65536)
                connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        done.set()
        thread.join(timeout=10)
        server.close()


@pytest.mark.parametrize(
    "answer",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"220 smtp.example ESMTP ready\r\n\r\n"],
    ids=["ssh-banner-then-close", "smtp-greeting"],
)
def test_a_server_that_does_not_speak_http_is_one_line_and_exit_2(
    check: Callable[..., Run], answer: bytes
) -> None:
    with not_http(answer) as port:
        run = check(f"http://127.0.0.1:{port}/hooks")

    assert run.code == 2
    assert run.err.startswith(f"mockams check: error: http://127.0.0.1:{port}/hooks")
    assert "HTTP answer" in run.err or "does not speak HTTP" in run.err
    assert len(run.err.splitlines()) == 1
    assert "Traceback" not in run.err


def test_a_failing_state_probe_is_an_error_not_a_failure(
    check: Callable[..., Run], good: str
) -> None:
    probe = f"http://127.0.0.1:{free_port()}/streams/{{id}}"

    run = check(
        f"{good}/hooks", "--state-probe", probe, "-k", "duplicate or vod_ready_before"
    )

    assert run.code == 1
    assert run.where("error") == cells([DUPLICATE, ORDER], ENCODINGS)
    assert not run.where("failed")
    assert all("state probe" in message for message in run.messages("error"))
    assert "0 failed, 4 errors" in run.out


def test_content_type_json_checks_only_the_json_column(
    check: Callable[..., Run], good: str
) -> None:
    run = check(f"{good}/hooks", "--content-type", "json")

    assert run.code == 0, run.out
    assert {item["encoding"] for item in run.checks} == {"json"}
    header = run.out.splitlines()[1]
    assert header.split() == ["check", "json"]


def test_k_selects_the_checks_to_run(check: Callable[..., Run], good: str) -> None:
    run = check(f"{good}/hooks", "-k", "unknown_action or unicode")

    assert run.code == 0, run.out
    assert run.where("passed") == cells([UNKNOWN_ACTION, UNICODE], ENCODINGS)


def test_k_that_selects_no_check_is_a_usage_error(
    check: Callable[..., Run], good: str
) -> None:
    run = check(f"{good}/hooks", "-k", "no_such_check")

    assert run.code == 2
    assert run.err.splitlines() == [
        "mockams check: error: no check matches -k 'no_such_check'"
    ]


def test_junit_writes_a_testcase_per_check(
    check: Callable[..., Run], good: str, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"

    run = check(f"{good}/hooks", "--junit", str(junit), "-k", "unknown_action")

    assert run.code == 0, run.out
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    assert sorted(case.get("name", "") for case in cases) == [
        "test_accepts_an_unknown_action[form]",
        "test_accepts_an_unknown_action[json]",
    ]


@pytest.mark.parametrize(
    "option", [["--samples", "0"], ["--budget-ms", "0"]], ids=["samples", "budget"]
)
def test_a_count_below_one_is_a_usage_error(
    check: Callable[..., Run], option: list[str]
) -> None:
    run = check("http://127.0.0.1:9/hooks", *option)

    assert run.code == 2
    assert len(run.err.splitlines()) == 1
