"""What a run found: per-action delivery figures, checks, and their reports.

The same :class:`RunReport` is printed as a table, written as JSON and as
JUnit XML for CI.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mockams.exchange import TIMEOUT_S
from mockams.sender import Delivery

__all__ = [
    "ActionSummary",
    "CheckResult",
    "RunReport",
    "all_failed_note",
    "answered_200_checks",
    "latency_problem",
    "percentile",
    "summarise",
]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)

    return ordered[rank - 1]


def _latency(delivery: Delivery) -> float | None:
    """The receiver's own time: request sent to first response byte."""
    if delivery.ttfb_ms is not None:
        return delivery.ttfb_ms
    return None if delivery.status is None else delivery.elapsed_ms


@dataclass
class ActionSummary:
    """Delivery figures of one action."""

    action: str
    sent: int = 0
    ok: int = 0
    failed: int = 0
    retries: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, delivery: Delivery) -> None:
        self.sent += 1
        self.ok += delivery.ok
        self.failed += not delivery.ok
        self.retries += delivery.attempt > 1
        latency = _latency(delivery)
        if latency is not None:
            self.latencies.append(latency)

    def figures(self) -> dict[str, float]:
        return {
            "p50_ms": percentile(self.latencies, 0.50),
            "p95_ms": percentile(self.latencies, 0.95),
            "p99_ms": percentile(self.latencies, 0.99),
            "max_ms": max(self.latencies) if self.latencies else math.nan,
        }

    def to_json(self) -> dict[str, Any]:
        figures = {
            key: None if math.isnan(value) else round(value, 3)
            for key, value in self.figures().items()
        }

        return {
            "action": self.action,
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "retries": self.retries,
            **figures,
        }


def summarise(deliveries: Iterable[Delivery]) -> list[ActionSummary]:
    """Figures per action, in the order actions first appeared."""
    by_action: dict[str, ActionSummary] = {}
    for delivery in deliveries:
        summary = by_action.setdefault(delivery.action, ActionSummary(delivery.action))
        summary.add(delivery)

    return list(by_action.values())


@dataclass
class CheckResult:
    """One check: its name, whether it held, and why not."""

    name: str
    passed: bool
    message: str = ""
    error: bool = False

    def to_json(self) -> dict[str, Any]:
        outcome = "error" if self.error else "passed" if self.passed else "failed"
        return {"name": self.name, "outcome": outcome, "message": self.message}


@dataclass
class RunReport:
    """Everything a run found, ready to print or to save."""

    title: str
    target: str
    deliveries: list[Delivery]
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def summaries(self) -> list[ActionSummary]:
        return summarise(self.deliveries)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "target": self.target,
            "passed": self.passed,
            "duration_s": round(self.duration_s, 3),
            "actions": [summary.to_json() for summary in self.summaries],
            "checks": [check.to_json() for check in self.checks],
            "notes": self.notes,
            "deliveries": [delivery.to_json() for delivery in self.deliveries],
            **self.details,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(
            json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8"
        )

    def write_junit(self, path: Path) -> None:
        failures = sum(not check.passed and not check.error for check in self.checks)
        errors = sum(check.error for check in self.checks)
        suite = ET.Element(
            "testsuite",
            name=self.title,
            tests=str(len(self.checks)),
            failures=str(failures),
            errors=str(errors),
            time=f"{self.duration_s:.3f}",
        )
        for check in self.checks:
            case = ET.SubElement(
                suite, "testcase", classname=self.title, name=check.name
            )
            if check.error:
                ET.SubElement(case, "error", message=check.message).text = check.message
            elif not check.passed:
                ET.SubElement(
                    case, "failure", message=check.message
                ).text = check.message
        output = ET.SubElement(suite, "system-out")
        output.text = self.table()
        root = ET.Element("testsuites")
        root.append(suite)
        tree = ET.ElementTree(root)
        ET.indent(tree)
        tree.write(path, encoding="utf-8", xml_declaration=True)

    def table(self) -> str:
        """The per-action figures as an aligned text table."""
        header = (
            "action",
            "sent",
            "200",
            "failed",
            "retries",
            "p50",
            "p95",
            "p99",
            "max",
        )
        rows: list[tuple[str, ...]] = [header]
        for summary in self.summaries:
            figures = [
                "-" if math.isnan(value) else f"{value:.1f}ms"
                for value in summary.figures().values()
            ]
            rows.append(
                (
                    summary.action,
                    str(summary.sent),
                    str(summary.ok),
                    str(summary.failed),
                    str(summary.retries),
                    *figures,
                )
            )
        if len(rows) == 1:
            return "no deliveries"
        widths = [
            max(len(row[column]) for row in rows) for column in range(len(header))
        ]
        lines = [
            "  ".join(
                cell.ljust(width) if column == 0 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]

        return "\n".join(lines)


def _by_action(deliveries: Sequence[Delivery]) -> Iterator[tuple[str, list[Delivery]]]:
    grouped: dict[str, list[Delivery]] = {}
    for item in deliveries:
        grouped.setdefault(item.action, [])
        if not item.ok:
            grouped[item.action].append(item)

    yield from grouped.items()


def answered_200_checks(
    deliveries: Sequence[Delivery], excused_by: Mapping[int, int]
) -> list[CheckResult]:
    """One "answered 200" check per action, in the order actions first appeared.

    ``excused_by`` maps the id of a delivery that was meant to fail to the
    step that said so (an expect of its failure status): it does not count.
    """
    checks = []
    for action, failed in _by_action(deliveries):
        failures = [item for item in failed if item.id not in excused_by]
        message = ""
        if failures:
            first = failures[0]
            outcome = first.status if first.status is not None else first.error
            message = (
                f"{len(failures)} deliveries did not get a 200; first: attempt "
                f"{first.attempt} for {first.stream_id} got {outcome}"
            )
        steps = sorted(
            {excused_by[item.id] for item in failed if item.id in excused_by}
        )
        if steps:
            which = "step" if len(steps) == 1 else "steps"
            numbers = ", ".join(map(str, steps))
            excuse = f"{len(failed) - len(failures)} excused by {which} {numbers}"
            message = f"{message} ({excuse})" if message else excuse
        checks.append(
            CheckResult(f"{action} deliveries answered 200", not failures, message)
        )

    return checks


def all_failed_note(target: str, deliveries: Sequence[Delivery]) -> str:
    """What it means when every delivery failed the same way; ``""`` otherwise."""
    errors = {item.error for item in deliveries}
    if not deliveries or len(errors) != 1 or None in errors:
        return ""
    error = str(errors.pop())
    note = f"every delivery to {target} failed with '{error}'"
    if error.startswith(("connection refused", "cannot connect")):
        return f"{note}: is the receiver running there?"
    if "timed out" in error:
        return (
            f"{note}: the receiver did not answer within the {TIMEOUT_S:g} s AMS waits"
        )

    return note


def latency_problem(limit_s: float, found: Sequence[Delivery]) -> str:
    """Why answers in ``found`` were too slow for ``limit_s``; ``""`` if none was."""
    limit_ms = limit_s * 1000
    slow = [item for item in found if item.ttfb_ms is None or item.ttfb_ms > limit_ms]
    if not slow:
        return ""
    answered = [item.ttfb_ms for item in slow if item.ttfb_ms is not None]
    unanswered = len(slow) - len(answered)
    details = [f"worst {max(answered):.1f} ms"] if answered else []
    if unanswered:
        details.append(f"{unanswered} got no answer" if answered else "no answer")

    return (
        f"expected answers within {limit_ms:g} ms, {len(slow)} took longer "
        f"({'; '.join(details)})"
    )
