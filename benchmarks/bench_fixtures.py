"""Fixture cost: the ams fixture next to pytest-httpserver's, measured two ways.

1. Direct: how long a session start and a per-test reset take, repeated.
2. End to end: pytest runs N empty tests, N tests using ``httpserver`` and N
   tests using ``ams``; the difference per test is what a user's suite pays.

Run: python benchmarks/bench_fixtures.py [--tests 400] [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from pytest_httpserver import HTTPServer

from mockams import MockAMS


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    """Milliseconds of each of ``rounds`` calls."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)

    return samples


def start_times(make: Callable[[], object], rounds: int) -> list[float]:
    """Milliseconds from nothing to a server that answers; stopping is not counted."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        server = make()
        samples.append((time.perf_counter() - started) * 1000)
        server.stop()  # type: ignore[attr-defined]

    return samples


def start_mockams() -> MockAMS:
    return MockAMS().start()


def start_httpserver() -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()  # includes its readiness check, a real request
    return server


def direct(rounds: int) -> list[tuple[str, list[float]]]:
    ams = MockAMS().start()
    recorder_server = HTTPServer(host="127.0.0.1", port=0)
    recorder_server.start()

    def ams_reset() -> None:
        # What the ams fixture does before each test.
        ams.reset()
        ams.configure("LiveApp", hook_url="http://127.0.0.1:9/hooks")
        ams.wait_idle(2.5)

    rows = [
        ("session start: MockAMS", start_times(start_mockams, max(rounds // 10, 10))),
        (
            "session start: pytest-httpserver",
            start_times(start_httpserver, max(rounds // 10, 10)),
        ),
        ("per-test reset: ams fixture", timed(ams_reset, rounds)),
        ("per-test clear: httpserver fixture", timed(recorder_server.clear, rounds)),
    ]
    ams.stop()
    recorder_server.stop()

    return rows


SUITES = {
    "empty": "def test_{n}():\n    pass\n",
    "httpserver": "def test_{n}(httpserver):\n    pass\n",
    "ams": "def test_{n}(ams):\n    pass\n",
    "ams+ams_receiver": "def test_{n}(ams, ams_receiver):\n    pass\n",
}


# Collects what pytest itself times for each phase of each test, so that
# interpreter start and collection do not blur the comparison. The first
# test's setup starts the session's server and the last test's teardown stops
# it: those two are reported apart from the per-test cost.
CONFTEST = textwrap.dedent(
    """
    import json, os

    PHASES = []

    def pytest_runtest_logreport(report):
        PHASES.append((report.when, report.duration))

    def pytest_sessionfinish(session):
        with open(os.environ["BENCH_OUT"], "w") as out:
            json.dump(PHASES, out)
    """
)


def end_to_end(tests: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Per suite: ms per test, and ms of the session's start plus stop.

    Best of ``repeats`` runs.
    """
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "conftest.py").write_text(CONFTEST)
        out = root / "total.json"
        for name, template in SUITES.items():
            path = root / f"test_{name.replace('+', '_')}.py"
            path.write_text("".join(template.format(n=n) for n in range(tests)))
            runs = []
            for _ in range(repeats):
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        str(path),
                    ],
                    cwd=root,
                    check=True,
                    capture_output=True,
                    timeout=300,
                    env={**os.environ, "BENCH_OUT": str(out)},
                )
                phases = json.loads(out.read_text())
                session = phases[0][1] + phases[-1][1]
                per_test = sum(duration for _, duration in phases[1:-1]) / tests
                runs.append((per_test * 1000, session * 1000))
            results[name] = min(runs)
            path.unlink()

    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=400, help="tests per pytest run")
    parser.add_argument(
        "--rounds", type=int, default=200, help="repeats of each direct measure"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="pytest runs per suite (best kept)"
    )
    options = parser.parse_args()

    print("Direct measures (ms)")
    print(f"{'what':42} {'p50':>8} {'p95':>8} {'max':>8}")
    for name, samples in direct(options.rounds):
        ordered = sorted(samples)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(
            f"{name:42} {statistics.median(samples):8.3f} {p95:8.3f} "
            f"{max(samples):8.3f}"
        )

    print(
        f"\nEnd to end: pytest with {options.tests} tests, setup+call+teardown per "
        f"test, best of {options.repeats} runs; session = first setup + last teardown"
    )
    results = end_to_end(options.tests, options.repeats)
    baseline = results["empty"][0]
    print(f"{'suite':20} {'ms per test':>12} {'over empty':>12} {'session ms':>12}")
    for name, (per_test, session) in results.items():
        print(f"{name:20} {per_test:12.4f} {per_test - baseline:12.4f} {session:12.1f}")


if __name__ == "__main__":
    main()
