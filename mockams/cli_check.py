"""``mockams check URL``: the receiver contract suite, from an installed package."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import pytest

from mockams.contract import (
    SAMPLE_TIME_LIMIT_S,
    LatencyFigures,
    harness_overhead,
    preflight,
)
from mockams.options import content_type_option, version_option

__all__ = ["add_check_command", "contract_folder", "run_check"]

# Each would let the user's environment change which checks run, in what
# order, or how often: the suite loads only mockams's own plugin.
_SUITE_ENVIRONMENT = {
    "PYTEST_ADDOPTS": None,
    "PYTEST_PLUGINS": None,
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
}


def contract_folder() -> Path:
    """``contract/``: inside the installed package, or beside it in a checkout."""
    installed = Path(str(resources.files("mockams"))) / "contract"
    if installed.is_dir():
        return installed

    return Path(__file__).resolve().parent.parent / "contract"


def add_check_command(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="Check that a webhook receiver holds up against AMS",
        description=(
            "Run the receiver contract suite at URL: every action in both encodings, "
            "absent and unknown fields, duplicates, reordering, concurrency and "
            "latency."
        ),
    )
    add = parser.add_argument
    add("target", metavar="URL", help="The receiver's hook URL")
    add(
        "--content-type",
        type=content_type_option,
        metavar="TYPE",
        help="Check one encoding",
    )
    add("--ams-version", type=version_option, metavar="VERSION", help="AMS release")
    add(
        "--budget-ms",
        type=float,
        default=250.0,
        metavar="MS",
        help="Latency budget at p95",
    )
    add(
        "--samples",
        type=int,
        default=100,
        metavar="N",
        help="Hooks per action and encoding for latency",
    )
    add(
        "--sample-seconds",
        type=float,
        default=SAMPLE_TIME_LIMIT_S,
        metavar="S",
        help="Time limit of the latency samples of one action and encoding",
    )
    add(
        "--state-probe",
        metavar="URL",
        help="URL template of the stored state, with {id}",
    )
    add(
        "--state-command",
        metavar="CMD",
        help="Command template printing the state, {id}",
    )
    add("--report", type=Path, metavar="FILE", help="Write a JSON report")
    add("--junit", type=Path, metavar="FILE", help="Write a JUnit XML report")
    add("-k", dest="keyword", metavar="EXPR", help="Run only the checks matching EXPR")


@dataclass
class _Result:
    check: str
    encoding: str
    action: str
    outcome: str
    statement: str = ""
    message: str = ""
    latency: dict[str, Any] | None = None


@dataclass
class _Collector:
    """A pytest plugin that keeps each check's outcome instead of printing it."""

    results: list[_Result] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    statements: dict[str, str] = field(default_factory=dict)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(
                f"cannot collect {report.nodeid}: {report.longreprtext}"
            )

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.statements[item.nodeid] = _statement(getattr(item, "function", None))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        name, _, params = report.nodeid.split("::")[-1].partition("[")
        parts = params.rstrip("]").split("-") if params else []
        encoding = next((part for part in parts if part in ("form", "json")), "")
        action = next((part for part in parts if part not in ("form", "json")), "")
        if report.passed:
            outcome = "passed"
        elif report.skipped:
            outcome = "skipped"
        elif report.when == "call":
            outcome = "failed"
        else:
            # As pytest and JUnit count it: the check could not run.
            outcome = "error"
        message = _short(report) if outcome in ("failed", "error", "skipped") else ""
        recorded = dict(report.user_properties).get("latency")
        latency = recorded if isinstance(recorded, dict) else None
        self.results.append(
            _Result(
                _check_name(name),
                encoding,
                action,
                outcome,
                self.statements.get(report.nodeid, ""),
                message,
                latency,
            )
        )


def _check_name(function: str) -> str:
    return function.removeprefix("test_").replace("_", " ")


def _statement(function: object) -> str:
    """A check's statement: the first paragraph of its docstring, on one line."""
    doc = inspect.getdoc(function) if function is not None else None
    first = (doc or "").split("\n\n")[0]

    return " ".join(first.replace("``", "").split())


def _short(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = report.longreprtext.strip()
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    if lines:
        # A traceback: the check's own code broke, and its tail is enough.
        return " ".join(line[2:].strip() for line in lines)[:600]

    # A message the check wrote for this failure: whole, verdict included.
    return " ".join(text.split())


def _pytest_args(options: argparse.Namespace, folder: Path) -> list[str]:
    args = [
        str(folder),
        "--rootdir",
        str(folder),
        "-c",
        str(folder / "pytest.ini"),
        "-p",
        "mockams.plugin",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "--ams-target",
        options.target,
        "--ams-budget-ms",
        str(options.budget_ms),
        "--ams-samples",
        str(options.samples),
        "--ams-sample-seconds",
        str(options.sample_seconds),
    ]
    if options.content_type:
        args += ["--ams-content-type", options.content_type]
    if options.ams_version:
        args += ["--ams-version", str(options.ams_version)]
    if options.state_probe:
        args += ["--ams-state-probe", options.state_probe]
    if options.state_command:
        args += ["--ams-state-command", options.state_command]
    if options.junit:
        args += ["--junitxml", str(options.junit)]
    if options.keyword:
        args += ["-k", options.keyword]

    return args


@contextmanager
def _suite_environment() -> Iterator[None]:
    """The environment variables of the in-process run, restored afterwards."""
    saved = {name: os.environ.get(name) for name in _SUITE_ENVIRONMENT}
    try:
        for name, value in _SUITE_ENVIRONMENT.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _unwritable(path: Path, flag: str) -> str | None:
    """Why ``path`` cannot be written, or ``None``; creates its folders."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with path.open("a", encoding="utf-8"):
            pass
        if not existed:
            path.unlink()
    except OSError as error:
        return f"{flag} {path}: cannot write it ({error.strerror or error})"

    return None


def _grouped(results: list[_Result]) -> Iterator[tuple[str, dict[str, list[_Result]]]]:
    checks: dict[str, dict[str, list[_Result]]] = {}
    for result in results:
        checks.setdefault(result.check, {}).setdefault(result.encoding, []).append(
            result
        )

    yield from checks.items()


_RANK = {"error": 3, "failed": 2, "passed": 1, "skipped": 0}
_MARK = {"error": "ERROR", "failed": "FAIL", "passed": "ok", "skipped": "skip"}


def _print_details(details: list[_Result], out: TextIO) -> None:
    """Each check that did not pass: its statement, then what went wrong where."""
    by_check: dict[str, list[_Result]] = {}
    for item in details:
        by_check.setdefault(item.check, []).append(item)
    for check, items in by_check.items():
        print(f"\n{check}: {items[0].statement}", file=out)
        for item in items:
            where = ", ".join(part for part in (item.encoding, item.action) if part)
            print(f"  {_MARK[item.outcome]} [{where}] {item.message}", file=out)


def _print_latency(results: list[_Result], out: TextIO) -> None:
    latency = [result for result in results if result.latency]
    if not latency:
        return
    width = max(len(f"{item.action} ({item.encoding})") for item in latency) + 2
    heading = "latency, ms (receiver time)"
    print(f"\n{heading:{width}}     n    p50    p95    p99    max", file=out)
    cut_short = []
    for result in latency:
        figures = result.latency or {}
        label = f"{result.action} ({result.encoding})"
        values = [figures.get(key) for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        shown = "".join(
            f"{value:7.1f}" if value is not None else "      -" for value in values
        )
        print(f"{label:{width}}{figures.get('samples', 0):6}{shown}", file=out)
        if figures.get("stopped_at_time_limit"):
            cut_short.append(
                f"{label}: sampling stopped at its {figures['time_limit_s']:g} s "
                f"time limit after {figures['samples']} of {figures['requested']} "
                "samples"
            )
    for line in cut_short:
        print(line, file=out)


def _print_report(
    options: argparse.Namespace,
    collector: _Collector,
    overhead: LatencyFigures,
    out: TextIO,
) -> dict[str, int]:
    encodings = sorted(
        {result.encoding for result in collector.results if result.encoding}
    )
    width = max((len(result.check) for result in collector.results), default=10) + 2
    print(f"{'check':{width}}" + "".join(f"{name:>8}" for name in encodings), file=out)
    counts = {"passed": 0, "failed": 0, "error": 0}
    details = []
    for check, by_encoding in _grouped(collector.results):
        cells = []
        for encoding in encodings or [""]:
            items = by_encoding.get(encoding, [])
            worst = max(
                (item.outcome for item in items), key=_RANK.__getitem__, default=""
            )
            cells.append(_MARK.get(worst, "-"))
            if worst in counts:
                counts[worst] += 1
            details += [item for item in items if item.outcome in ("failed", "error")]
        print(f"{check:{width}}" + "".join(f"{cell:>8}" for cell in cells), file=out)

    _print_details(details, out)
    _print_latency(collector.results, out)
    print(
        "\nharness overhead, measured against a trivial receiver: "
        f"p50 {overhead.p50:.3f} ms, p95 {overhead.p95:.3f} ms "
        "(included in the figures above)",
        file=out,
    )
    for problem in collector.problems:
        print(f"ERROR {problem}", file=out)
    total = sum(counts.values())
    print(
        f"\n{total} checks: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors (budget {options.budget_ms:g} ms at p95)",
        file=out,
    )

    return counts


def _usage_problem(options: argparse.Namespace) -> str | None:
    """Why the options cannot run, in one line, before anything is sent."""
    if options.samples < 1 or not options.budget_ms > 0:
        return "--samples and --budget-ms must be above 0"
    if not options.sample_seconds > 0:
        return f"--sample-seconds must be above 0, not {options.sample_seconds:g}"
    for path, flag in ((options.report, "--report"), (options.junit, "--junit")):
        problem = _unwritable(path, flag) if path else None
        if problem:
            return problem

    return preflight(options.target)


def run_check(options: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``mockams check``; 0 when every check passed."""
    stream = out or sys.stdout
    problem = _usage_problem(options)
    if problem:
        print(f"mockams check: error: {problem}", file=sys.stderr)
        return 2

    folder = contract_folder()
    collector = _Collector()
    print(f"mockams check {options.target}", file=stream, flush=True)
    with _suite_environment():
        code = pytest.main(_pytest_args(options, folder), plugins=[collector])
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        print(
            f"mockams check: error: the contract suite could not run ({code!r})",
            file=sys.stderr,
        )
        return 2
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print(
            f"mockams check: error: no check matches -k {options.keyword!r}",
            file=sys.stderr,
        )
        return 2
    overhead = harness_overhead()
    counts = _print_report(options, collector, overhead, stream)
    if options.report:
        report = {
            "target": options.target,
            "budget_ms": options.budget_ms,
            "passed": not counts["failed"]
            and not counts["error"]
            and not collector.problems,
            "harness_overhead": overhead.to_json(),
            "checks": [vars(result) for result in collector.results],
            "problems": collector.problems,
        }
        try:
            options.report.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
        except OSError as error:
            print(
                f"mockams check: error: cannot write {options.report}: {error}",
                file=sys.stderr,
            )
            return 2

    return 0 if code == pytest.ExitCode.OK else 1
