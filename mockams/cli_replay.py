"""``mockams replay`` and ``mockams scenarios``."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from mockams.exchange import check_hook_url
from mockams.options import (
    content_type_option,
    positive_option,
    speed_option,
    version_option,
)
from mockams.receiver import ReceivedHook, RecordingReceiver
from mockams.replay import ReplayOptions, replay
from mockams.report import RunReport
from mockams.scenario import ScenarioError, builtin_names, load_scenario

__all__ = ["add_replay_commands", "list_scenarios", "run_replay"]


def add_replay_commands(commands: Any) -> None:
    """Add ``replay`` and ``scenarios`` to the command parser."""
    replay_parser = commands.add_parser(
        "replay",
        help="Replay a scenario's hooks at a receiver",
        description=(
            "Replay a scenario through the mock AMS at a receiver and report what it "
            "answered. Without --target, the hooks go to a receiver that mockams "
            "starts and prints."
        ),
    )
    add = replay_parser.add_argument
    add("scenario", help="A built-in scenario name or a scenario file")
    add("--target", metavar="URL", help="The receiver's hook URL")
    add(
        "--speed",
        type=speed_option,
        default=0.0,
        metavar="X",
        help="Scenario time: 0 no waiting (default), 1 real time, 10 ten times faster",
    )
    add("--seed", type=int, metavar="N", help="Seed for generated values")
    add(
        "--content-type", type=content_type_option, metavar="TYPE", help="Hook encoding"
    )
    add("--ams-version", type=version_option, metavar="VERSION", help="AMS release")
    add("--streams", type=positive_option, default=1, metavar="N", help="Copies to run")
    add(
        "--concurrency",
        type=positive_option,
        default=1,
        metavar="N",
        help="Copies at once",
    )
    add("--report", type=Path, metavar="FILE", help="Write a JSON report")
    add("--junit", type=Path, metavar="FILE", help="Write a JUnit XML report")
    add("--dry-run", action="store_true", help="Print the hooks without sending them")
    add("-v", "--verbose", action="store_true", help="Log every delivery")

    commands.add_parser(
        "scenarios",
        help="List the built-in scenarios",
        description="List the built-in scenarios with their descriptions.",
    )


def list_scenarios(out: TextIO | None = None) -> int:
    """Print each built-in scenario with its description."""
    stream = out or sys.stdout
    names = builtin_names()
    width = max((len(name) for name in names), default=0)
    for name in names:
        scenario = load_scenario(name)
        print(f"{name.ljust(width)}  {scenario.description}", file=stream)

    return 0


class _Printer:
    """Prints each hook the embedded receiver gets, numbered, in arrival order."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, hook: ReceivedHook) -> None:
        with self._lock:
            self.count += 1
            fields = " ".join(
                f"{key}={_short(value)}"
                for key, value in hook.fields.items()
                if key != "action"
            )
            head = f"#{self.count} {hook.method} {hook.content_type} {hook.action}"
            print(
                f"{head}: {fields}",
                file=self.out,
                flush=True,
            )


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Progress:
    """A one-line progress display, on a terminal only."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown = False

    def __call__(self, text: str) -> None:
        self.out.write(f"\r{text}\x1b[K")
        self.out.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.out.write("\r\x1b[K")
            self.out.flush()


def _print_report(report: RunReport, out: TextIO) -> None:
    print(report.table(), file=out)
    print(file=out)
    for check in report.checks:
        mark = "ERROR" if check.error else "ok" if check.passed else "FAIL"
        line = f"{mark:5} {check.name}"
        if check.message:
            line += f": {check.message}"
        print(line, file=out)
    for note in report.notes:
        print(f"note  {note}", file=out)
    verdict = "passed" if report.passed else "failed"
    print(f"\n{report.title}: {verdict} in {report.duration_s:.2f} s", file=out)


def _print_dry_run(report: RunReport, out: TextIO) -> None:
    for number, hook in enumerate(report.details.get("hooks", []), start=1):
        print(
            f"#{number} {hook['action']} {hook['stream_id']} ({hook['content_type']})",
            file=out,
        )
        print(f"   {hook['body']}", file=out)


def run_replay(options: argparse.Namespace) -> int:
    """Run ``mockams replay``; 0 when every check held and every delivery got 200."""
    # The report tells of every failed delivery; the log repeats it only on demand.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("mockams")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if options.verbose else logging.ERROR)
    logger.propagate = False
    if options.target and check_hook_url(options.target):
        print(
            f"mockams replay: error: --target: {check_hook_url(options.target)}",
            file=sys.stderr,
        )
        return 2
    try:
        scenario = load_scenario(options.scenario)
    except ScenarioError as error:
        print(f"mockams replay: error: {error}", file=sys.stderr)
        return 2

    progress = (
        _Progress(sys.stderr) if sys.stderr.isatty() and not options.dry_run else None
    )
    receiver = None
    target = options.target or ""
    if not target and not options.dry_run:
        receiver = RecordingReceiver(on_hook=_Printer(sys.stdout)).start()
        target = receiver.url
        print(f"hooks go to a receiver at {target}:", file=sys.stdout)
    replay_options = ReplayOptions(
        target=target or "http://127.0.0.1/hooks",
        speed=options.speed,
        seed=options.seed,
        content_type=options.content_type,
        ams_version=options.ams_version,
        streams=options.streams,
        concurrency=options.concurrency,
        dry_run=options.dry_run,
        progress=progress,
    )
    try:
        report = replay(scenario, replay_options)
    finally:
        if receiver is not None:
            receiver.stop()
        if progress is not None:
            progress.clear()

    if options.dry_run:
        _print_dry_run(report, sys.stdout)
    else:
        print(file=sys.stdout)
        _print_report(report, sys.stdout)
    for path, write in (
        (options.report, report.write_json),
        (options.junit, report.write_junit),
    ):
        if path is not None:
            try:
                write(path)
            except OSError as error:
                print(
                    f"mockams replay: error: cannot write {path}: {error.strerror}",
                    file=sys.stderr,
                )
                return 2

    return 0 if report.passed or options.dry_run else 1
