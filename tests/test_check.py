"""``mockams check`` against the sample receivers in ``examples/``.

The good receiver passes every check. Each bad one has one flaw and fails
exactly the checks that flaw explains, with a message that names it. A target
that cannot be checked at all is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import os
import re
import shlex
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
import yaml

from mockams.cli import main
from mockams.contract import Prober, sample_fields
from mockams.exchange import post
from mockams.payloads import ACTIONS
from mockams.settings import FORM

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENCODINGS = ("form", "json")
START_TIMEOUT_S = 10.0
DROPS = "drops the event (with webhookRetryCount set, it retries the same body first)"

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
    Flaw(
        "answers_204",
        every_hook_refused(ENCODINGS),
        ("answered 204", "only 200", DROPS),
    ),
    Flaw(
        "form_only",
        every_hook_refused(("json",)),
        ("answered 400: a JSON body (AMS's default since 2.10) was refused",),
    ),
    Flaw(
        "needs_stream_name",
        cells([ABSENT], ENCODINGS, ["liveStreamStarted", "liveStreamEnded"]),
        ("answered 500", "a hook without streamName, category"),
    ),
    Flaw(
        "not_idempotent",
        cells([DUPLICATE], ENCODINGS),
        (
            "not idempotent: a repeated vodReady changed the stored state from {",
            '"recordings":[',
            "AMS sends the same hook again, byte for byte",
        ),
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
    """Runs ``mockams check`` in-process with a JSON report, 3 latency samples.

    ``samples=None`` leaves the number of samples to the default.
    """

    def run(target: str, *options: str, samples: str | None = "3") -> Run:
        report = tmp_path / "report.json"
        report.unlink(missing_ok=True)
        argv = ["check", target, "--report", str(report)]
        if samples is not None:
            argv += ["--samples", samples]
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


def test_each_check_in_the_report_carries_the_statement_of_what_it_proves(
    check: Callable[..., Run], good: str
) -> None:
    run = check(f"{good}/hooks", "-k", "every_action or duplicate")

    statements = {item["check"]: item["statement"] for item in run.checks}
    assert statements == {
        ALL_200: "Every action, with every field AMS sends, is answered with "
        "exactly 200.",
        DUPLICATE: "The same hook twice, byte for byte, as after a timeout and a "
        "retry, gets 200 twice; with a state probe, the second changes nothing.",
    }


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
    for item in run.checks:
        if item["outcome"] == "failed":
            assert f"\n{item['check']}: {item['statement']}\n" in run.out


def test_a_slow_store_is_within_budget_one_by_one(check: Callable[..., Run]) -> None:
    with receiver("slow_under_load") as url:
        run = check(f"{url}/hooks", "--content-type", "json", "-k", "latency")

    assert run.code == 0, run.out
    [started] = [item for item in run.checks if item["action"] == "liveStreamStarted"]
    assert 100 < started["latency"]["p50_ms"] < 250


def test_latency_takes_100_samples_unless_told(
    check: Callable[..., Run], good: str
) -> None:
    run = check(
        f"{good}/hooks", "-k", "latency and json-liveStreamStarted", samples=None
    )

    [started] = run.checks
    assert started["latency"]["samples"] == started["latency"]["requested"] == 100
    assert re.search(r"^liveStreamStarted \(json\) +100 ", run.out, re.MULTILINE)
    assert "time limit" not in run.out


def test_sampling_cut_short_by_its_time_limit_says_so(
    check: Callable[..., Run],
) -> None:
    with receiver("slow_under_load") as url:
        run = check(
            f"{url}/hooks",
            "--content-type",
            "json",
            "-k",
            "latency and liveStreamStarted",
            "--sample-seconds",
            "0.3",
            samples="100",
        )

    [started] = run.checks
    figures = started["latency"]
    assert figures["stopped_at_time_limit"] is True
    assert figures["requested"] == 100
    assert 1 <= figures["samples"] < 100
    assert (
        "liveStreamStarted (json): sampling stopped at its 0.3 s time limit after "
        f"{figures['samples']} of 100 samples"
    ) in run.out


def test_stream_ids_are_new_in_every_run() -> None:
    first, second = Prober("http://127.0.0.1:9/hooks"), Prober("http://127.0.0.1:9/")

    ids = {
        first.stream_id("order"),
        first.stream_id("order"),
        second.stream_id("order"),
    }

    assert len(ids) == 3
    assert all(re.fullmatch(r"mockams-order-[a-z0-9]{8}-\d+", id_) for id_ in ids)


def test_every_recording_has_its_own_vod_id() -> None:
    vod_ids = {
        str(sample_fields("vodReady", stream_id)["vodId"])
        for stream_id in ("stream1", "stream2", "stream3")
    }

    assert len(vod_ids) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9]{24}", vod_id) for vod_id in vod_ids)


@contextmanager
def late_reader(delay_s: float) -> Iterator[str]:
    """A receiver busy for ``delay_s`` before it reads, then answering at once."""
    server = socket.create_server(("127.0.0.1", 0))
    # A small receive buffer, so that a big request waits for the reader.
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    server.settimeout(10)

    def serve() -> None:
        with server.accept()[0] as connection:
            connection.settimeout(10)
            time.sleep(delay_s)  # busy elsewhere: the delay is the receiver's
            data = b""
            for _ in range(100_000):
                data += connection.recv(1 << 20)
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hooks"
    finally:
        thread.join(timeout=10)
        server.close()


def test_a_receiver_that_reads_its_socket_late_is_slow_by_the_measure() -> None:
    # 4 MiB does not fit the kernel's buffers: the send waits for the reader.
    with late_reader(0.5) as url:
        outcome = post(url, b"x" * (4 << 20), FORM)

    assert outcome.status == 200
    assert outcome.ttfb_ms is not None
    assert outcome.ttfb_ms > 300


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


def test_pytest_contract_at_a_port_nobody_listens_on_is_one_usage_error() -> None:
    target = f"http://127.0.0.1:{free_port()}/hooks"
    environment = {
        name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"
    }

    argv = ["contract", "--ams-target", target, "-p", "no:cacheprovider"]

    done = subprocess.run(
        [sys.executable, "-m", "pytest", *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert done.stderr.split() == (
        f"ERROR: mockams contract: cannot reach {target}: connection refused".split()
    )
    assert "failed" not in done.stdout


@contextmanager
def not_http(answer: bytes, reset: bool = False) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that reads a request and answers ``answer``.

    With ``reset``, it then closes with a reset instead of a clean close.
    """
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
                if reset:
                    linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                try:
                    connection.recv(65536)
                    connection.sendall(answer)
                except OSError:
                    pass  # the client gave up on a flood, as it should

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


@pytest.mark.parametrize(
    ("answer", "reset", "said"),
    [
        (b"", True, "reset the connection without an HTTP answer"),
        (b"x" * 100_000, False, "it sent 64 KiB with no HTTP answer"),
    ],
    ids=["reset", "flood"],
)
def test_a_server_that_resets_or_floods_is_named_for_what_it_did(
    check: Callable[..., Run], answer: bytes, reset: bool, said: str
) -> None:
    with not_http(answer, reset=reset) as port:
        run = check(f"http://127.0.0.1:{port}/hooks")

    assert run.code == 2
    assert run.err.splitlines() == [
        f"mockams check: error: http://127.0.0.1:{port}/hooks {said}"
        if reset
        else f"mockams check: error: http://127.0.0.1:{port}/hooks does not speak "
        f"HTTP: {said}"
    ]


def test_a_failing_state_probe_is_an_error_not_a_failure(
    check: Callable[..., Run], good: str
) -> None:
    streams = f"http://127.0.0.1:{free_port()}/streams/"

    run = check(
        f"{good}/hooks",
        "--state-probe",
        streams + "{id}",
        "-k",
        "duplicate or vod_ready_before",
    )

    assert run.code == 1
    assert run.where("error") == cells([DUPLICATE, ORDER], ENCODINGS)
    assert not run.where("failed")
    assert all(
        message.startswith(f"the check cannot run: state probe {streams}mockams-")
        for message in run.messages("error")
    )
    assert "0 failed, 4 errors" in run.out


def test_a_failing_state_probe_is_an_error_in_junit_too(
    check: Callable[..., Run], good: str, tmp_path: Path
) -> None:
    probe = f"http://127.0.0.1:{free_port()}/streams/{{id}}"
    junit = tmp_path / "junit.xml"

    check(f"{good}/hooks", "--state-probe", probe, "--junit", str(junit), "-k", "dup")

    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures")) == ("2", "0")


def test_a_long_changing_state_is_cut_but_the_verdict_is_kept(
    check: Callable[..., Run], good: str
) -> None:
    state = "import time; print('x' * 5000, time.time_ns())"
    command = shlex.join([sys.executable, "-c", state])

    run = check(
        f"{good}/hooks",
        "--state-command",
        command,
        "-k",
        "dup",
        "--content-type",
        "json",
    )

    [message] = run.messages("failed")
    assert message.startswith(
        'not idempotent: a repeated vodReady changed the stored state from "xxx'
    )
    assert "characters) to " in message
    assert message.endswith("when retries are set and an answer takes over 2 s.")
    assert len(message) < 600


def test_content_type_json_checks_only_the_json_column(
    check: Callable[..., Run], good: str
) -> None:
    run = check(f"{good}/hooks", "--content-type", "json")

    assert run.code == 0, run.out
    assert {item["encoding"] for item in run.checks} == {"json"}
    header = run.out.splitlines()[1]
    assert header.split() == ["check", "json"]


@pytest.mark.parametrize(
    ("version", "encodings", "status_hooks"),
    [("2.9", {"form"}, False), ("2.11", {"form", "json"}, False)],
    ids=["before-json", "before-status-hooks"],
)
def test_a_release_is_checked_with_only_what_it_sends(
    check: Callable[..., Run],
    version: str,
    encodings: set[str],
    status_hooks: bool,
) -> None:
    # form_only refuses JSON bodies: an AMS before 2.10 never sends one.
    with receiver("form_only") as url:
        run = check(f"{url}/hooks", "--ams-version", version, "-k", "every_action")

    assert {item["encoding"] for item in run.checks} == encodings
    actions = {item["action"] for item in run.checks}
    assert ("liveStreamStatus" in actions) is status_hooks
    if version == "2.9":
        assert run.code == 0, run.out


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


def test_a_report_into_a_new_folder_creates_it(
    check: Callable[..., Run], good: str, tmp_path: Path
) -> None:
    report = tmp_path / "reports" / "contract" / "report.json"

    run = check(f"{good}/hooks", "-k", "unknown_action", "--report", str(report))

    assert run.code == 0, run.err
    assert json.loads(report.read_text("utf-8"))["passed"] is True


@pytest.mark.parametrize("flag", ["--report", "--junit"])
def test_a_report_that_cannot_be_written_stops_before_the_run(
    check: Callable[..., Run], good: str, tmp_path: Path, flag: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", "utf-8")
    path = blocker / "report.json"

    run = check(f"{good}/hooks", flag, str(path))

    assert run.code == 2
    [line] = run.err.splitlines()
    assert line.startswith(f"mockams check: error: {flag} {path}: cannot write it")
    assert run.out == ""


def test_pytest_addopts_of_the_user_do_not_change_the_run(
    check: Callable[..., Run], good: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "--collect-only")

    run = check(f"{good}/hooks", "-k", "unknown_action")

    assert run.code == 0, run.err
    assert run.where("passed") == cells([UNKNOWN_ACTION], ENCODINGS)
    assert os.environ["PYTEST_ADDOPTS"] == "--collect-only"


def test_an_installed_pytest_plugin_does_not_change_the_run(
    check: Callable[..., Run],
    good: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = tmp_path / "site"
    info = site / "deselect_everything-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: deselect-everything\nVersion: 1.0\n", "utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[pytest11]\ndeselect_everything = deselect_everything\n", "utf-8"
    )
    (site / "deselect_everything.py").write_text(
        "def pytest_collection_modifyitems(config, items):\n"
        "    config.hook.pytest_deselected(items=list(items))\n"
        "    items[:] = []\n",
        "utf-8",
    )
    monkeypatch.syspath_prepend(str(site))

    try:
        run = check(f"{good}/hooks", "-k", "unknown_action")
    finally:
        sys.modules.pop("deselect_everything", None)

    assert run.code == 0, run.err
    assert run.where("passed") == cells([UNKNOWN_ACTION], ENCODINGS)


def test_the_ci_example_waits_for_the_receiver_before_checking() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Check your receiver in CI", 1)[1].split("\n## ", 1)[0]
    [job] = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    steps = [
        str(step.get("run", ""))
        for step in yaml.safe_load(job)["jobs"]["webhooks"]["steps"]
    ]

    started = next(n for n, run in enumerate(steps) if run.rstrip().endswith("&"))
    checked = next(n for n, run in enumerate(steps) if "mockams check" in run)
    waits = [run for run in steps[started + 1 : checked] if "curl" in run]
    assert waits, steps
    assert "--retry" in waits[0]


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
