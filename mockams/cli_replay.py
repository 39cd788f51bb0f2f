"""``mockams replay`` and ``mockams scenarios``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
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

# The exit code of a command that wrote to a pipe nobody reads any more
# (``| head``): 128 + SIGPIPE, what a shell reports for ``yes | head``.
_EXIT_PIPE_CLOSED = 141
# At most ten progress redraws a second, however fast the steps go.
_REDRAW_S = 0.1


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
    try:
        for name in names:
            scenario = load_scenario(name)
            print(f"{name.ljust(width)}  {scenario.description}", file=stream)
        stream.flush()
    except BrokenPipeError:
        return _pipe_closed(stream)

    return 0


def _pipe_closed(out: TextIO) -> int:
    """End quietly: whoever read ``out`` has gone (``| head``)."""
    # Python flushes stdout once more on its way out; what is left in the
    # buffer goes to /dev/null then, not as a BrokenPipeError to stderr.
    try:
        fileno = out.fileno()
    except (AttributeError, OSError, ValueError):  # not a file: nothing to flush
        return _EXIT_PIPE_CLOSED
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)

    return _EXIT_PIPE_CLOSED


class _Progress:
    """A one-line progress display for a terminal, redrawn at most ten times a second.

    Lines printed meanwhile go through :meth:`aside`, which erases the
    progress first, so that no line starts after the progress text.
    """

    def __init__(
        self, out: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.out = out
        self.clock = clock
        self._lock = threading.Lock()
        self._text = ""
        self._shown = False
        self._drawn_at = -math.inf
        self._timer: threading.Timer | None = None

    def __call__(self, text: str) -> None:
        with self._lock:
            self._text = text
            self._draw_soon()

    def clear(self) -> None:
        """Erase the progress for good: the run is over."""
        with self._lock:
            self._text = ""
            self._cancel_late()
            self._erase()

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """Erase the progress while the caller prints a line; it comes back after."""
        with self._lock:
            self._erase()
            yield
            if self._text:
                self._draw_soon()

    def _draw_soon(self) -> None:
        """Draw now, or once the last drawing is old enough; the lock is held."""
        wait = self._drawn_at + _REDRAW_S - self.clock()
        if wait <= 0:
            self._draw()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._draw_late)
            self._timer.daemon = True
            self._timer.start()

    def _draw_late(self) -> None:
        with self._lock:
            self._timer = None
            if self._text:
                self._draw()

    def _cancel_late(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _draw(self) -> None:
        self._cancel_late()  # drawn now: a late drawing would only repeat it
        self._drawn_at = self.clock()
        self.out.write(f"\r{self._text}\x1b[K")
        self.out.flush()
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False


class _Printer:
    """Prints each hook the embedded receiver gets, numbered, in arrival order."""

    def __init__(self, out: TextIO, progress: _Progress | None = None) -> None:
        self.out = out
        self.progress = progress
        self.count = 0
        # Whoever read ``out`` has gone (``| head``): nothing more is printed.
        self.closed = False
        self._lock = threading.Lock()

    def __call__(self, hook: ReceivedHook) -> None:
        with self._lock:
            if self.closed:
                return
            self.count += 1
            fields = " ".join(
                f"{key}={_short(value)}"
                for key, value in hook.fields.items()
                if key != "action"
            )
            head = f"#{self.count} {hook.method} {hook.content_type} {hook.action}"
            aside = self.progress.aside() if self.progress else contextlib.nullcontext()
            try:
                with aside:
                    print(f"{head}: {fields}", file=self.out, flush=True)
            except BrokenPipeError:
                self.closed = True


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _print_report(report: RunReport, out: TextIO) -> None:
    print(report.table(), file=out)
    print(file=out)
    for check in report.checks:
        mark = "ERROR" if check.error else "ok" if check.passed else "FAIL"
        line = f"{mark:5} {check.name}"
        if check.message and check.passed:
            line += f" ({check.message})"  # what the check let pass, and why
        elif check.message:
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
    printer = None
    receiver = None
    target = options.target or ""
    if not target and not options.dry_run:
        printer = _Printer(sys.stdout, progress)
        receiver = RecordingReceiver(on_hook=printer).start()
        target = receiver.url
        try:
            print(f"hooks go to a receiver at {target}:", file=sys.stdout)
        except BrokenPipeError:
            printer.closed = True
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

    printed = _print_outcome(report, options.dry_run, printer, sys.stdout)
    # Written even when stdout was closed early: CI reads these files.
    if not _write_reports(report, options.report, options.junit):
        return 2
    if not printed:
        return _pipe_closed(sys.stdout)

    return 0 if report.passed or options.dry_run else 1


def _print_outcome(
    report: RunReport, dry_run: bool, printer: _Printer | None, out: TextIO
) -> bool:
    """Print the report, or a dry run's hooks; False if ``out`` was closed early."""
    if printer is not None and printer.closed:
        return False
    try:
        if dry_run:
            _print_dry_run(report, out)
        else:
            if printer is not None:
                print(file=out)  # between the hooks printed and the report
            _print_report(report, out)
        out.flush()
    except BrokenPipeError:
        return False

    return True


def _write_reports(
    report: RunReport, json_path: Path | None, junit_path: Path | None
) -> bool:
    """Write the reports asked for, folders and all; False (said) if one cannot be."""
    for path, write in (
        (json_path, report.write_json),
        (junit_path, report.write_junit),
    ):
        if path is None:
            continue
        try:
            with contextlib.suppress(FileExistsError):  # a file: write() says so
                path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
        except OSError as error:
            reason = error.strerror or str(error)
            print(
                f"mockams replay: error: cannot write {path}: {reason}", file=sys.stderr
            )
            return False

    return True
