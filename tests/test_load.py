"""``mockams load``: a scenario as Locust load, alone and as master plus workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockams.payloads import ACTIONS
from mockams.receiver import RecordingReceiver

pytestmark = pytest.mark.network

EVERY_ACTION = """
name: every-action
description: One stream fires every action once per pass, then rests a second.
streams:
  - {id: load1, name: Load test, category: load}
steps:
  - create: load1
  - publish: load1
  - status: load1
  - fire: {action: publishTimeoutError, stream: load1}
  - fire: {action: encoderNotOpenedError, stream: load1}
  - fire: {action: endpointFailed, stream: load1}
  - fire: {action: playStarted, stream: load1, params: {subscriberId: viewer1}}
  - fire: {action: playStopped, stream: load1, params: {subscriberId: viewer1}}
  - fire: {action: subtrackAddedInTheMainTrack, stream: load1}
  - fire: {action: firstActiveTrackAddedInMainTrack, stream: load1}
  - fire: {action: subtrackLeftTheMainTrack, stream: load1}
  - fire: {action: noActiveSubtracksLeftInMainTrack, stream: load1}
  - fire: {action: idleTimeIsExpired, stream: load1}
  - unpublish: {stream: load1, record: true}
  - wait: 1s
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "every-action.yaml"
    path.write_text(EVERY_ACTION, "utf-8")

    return path


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as running:
        yield running


def load(*arguments: str, timeout: float = 90) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mockams.cli", "load", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 90) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    return process.returncode, out, err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_local_run_reports_every_action_by_name(
    scenario: Path, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    report = tmp_path / "load.json"

    code, out, err = finish(
        load(
            str(scenario),
            "--target",
            receiver.url,
            "--streams",
            "3",
            "--rate",
            "10",
            "--duration",
            "3",
            "--report",
            str(report),
        )
    )

    assert code == 0, out + err
    figures = json.loads(report.read_text("utf-8"))
    assert {row["action"] for row in figures["actions"]} == set(ACTIONS)
    assert all(row["failures"] == 0 for row in figures["actions"])
    assert "passed" in out
    assert {hook.action for hook in receiver.received} == set(ACTIONS)


def test_a_master_and_two_workers_share_the_load(
    scenario: Path, receiver: RecordingReceiver, tmp_path: Path
) -> None:
    port = str(free_port())
    common = [str(scenario), "--target", receiver.url, "--master-port", port]
    workers = [load(*common, "--worker") for _ in range(2)]
    report = tmp_path / "load.json"
    master = load(
        *common,
        "--master",
        "--expect-workers",
        "2",
        "--streams",
        "4",
        "--rate",
        "10",
        "--duration",
        "3",
        "--report",
        str(report),
    )

    code, out, err = finish(master)
    results = [finish(worker, timeout=30) for worker in workers]

    assert code == 0, out + err
    assert all(result[0] == 0 for result in results), results
    figures = json.loads(report.read_text("utf-8"))
    assert {row["action"] for row in figures["actions"]} == set(ACTIONS)
    # Stream ids carry the sending process's id: both workers sent hooks.
    senders = {hook.stream_id.split("-")[1] for hook in receiver.received}
    assert len(senders) == 2
    assert str(os.getpid()) not in senders


def test_a_missed_latency_budget_fails_the_run(
    scenario: Path, receiver: RecordingReceiver
) -> None:
    code, out, _ = finish(
        load(
            str(scenario),
            "--target",
            receiver.url,
            "--streams",
            "1",
            "--duration",
            "2",
            "--budget-ms",
            "0.0001",
        )
    )

    assert code == 1
    assert "over the 0.0001 ms budget" in out


def test_a_failing_receiver_misses_the_success_share(scenario: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/hooks"

    code, out, _ = finish(
        load(str(scenario), "--target", refused, "--streams", "1", "--duration", "2")
    )

    assert code == 1
    assert "got a 200, under --min-ok 100%" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["basic-lifecycle"], "--target URL is required"),
        (["basic-lifecycle", "--target", "ftp://x"], "is not http or https"),
        (["no-such", "--target", "http://127.0.0.1:9/h"], "no built-in scenario"),
    ],
    ids=["no-target", "bad-target", "unknown-scenario"],
)
def test_a_bad_invocation_is_one_line_and_exit_2(
    arguments: list[str], message: str
) -> None:
    code, _, err = finish(load(*arguments), timeout=60)

    assert code == 2
    assert message in err
    assert "Traceback" not in err
