"""``mockams load``: a scenario's hooks as load, on Locust.

Each simulated stream is a Locust user that lives a copy of the scenario:
its hooks are built by the same code as the mock's (bodies byte for byte),
sent at the scenario's pace (``--speed``), with AMS's delivery rules: 2 s
timeouts, only 200 succeeds, fixed-delay retries with the same body, the
hooks of one step in parallel. Every attempt is reported to Locust as a
request named after its action, so Locust's statistics, web UI, CSV output
and master/worker distribution all apply. The run fails (exit code 1) when a
p95 is over the latency budget or the share of 200 answers is too low.

Locust is an optional extra: ``pip install 'mockams[load]'``.
"""

from __future__ import annotations

# Locust runs on gevent: sockets and threads must be patched before anything
# else imports them, so this comes first.
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

import gevent  # noqa: E402
from locust import User, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from mockams.exchange import check_hook_url, post  # noqa: E402
from mockams.options import (  # noqa: E402
    content_type_option,
    positive_option,
    speed_option,
    version_option,
)
from mockams.replay import ReplayOptions, timeline  # noqa: E402
from mockams.scenario import Scenario, ScenarioError, Step, load_scenario  # noqa: E402
from mockams.sender import Hook  # noqa: E402

__all__ = ["StreamUser", "main"]

_copies = itertools.count(1)


class StreamUser(User):
    """One stream living the scenario, again and again, at the target."""

    wait_time = constant(0)
    scenario: ClassVar[Scenario]
    options: ClassVar[ReplayOptions]
    retry_count: ClassVar[int] = 0
    retry_delay_s: ClassVar[float] = 1.0

    @task
    def live(self) -> None:
        suffix = f"-{os.getpid()}-{next(_copies)}"
        options = ReplayOptions(
            target=self.options.target,
            content_type=self.options.content_type,
            ams_version=self.options.ams_version,
            seed=self.options.seed,
            id_suffix=suffix,
        )
        scale = 0.0 if self.options.speed <= 0 else 1.0 / self.options.speed
        for step, hooks in timeline(self.scenario, options):
            self._pause(step, scale)
            deliveries = [gevent.spawn(self._deliver, hook) for hook in hooks]
            gevent.joinall(deliveries)

    def _pause(self, step: Step, scale: float) -> None:
        if step.kind == "wait" and scale:
            gevent.sleep(float(step.args["duration"]) * scale)
        elif step.kind == "status" and scale:
            gevent.sleep(float(step.args.get("every", 1.0)) * scale)

    def _deliver(self, hook: Hook) -> None:
        """Every attempt of one hook, as AMS makes them, reported to Locust."""
        for attempt in range(1, self.retry_count + 2):
            started = time.perf_counter()
            outcome = post(hook.url, hook.body, hook.content_type)
            elapsed = (
                outcome.ttfb_ms if outcome.ttfb_ms is not None else outcome.elapsed_ms
            )
            failure = None
            if outcome.status != 200:
                answer = outcome.status if outcome.status is not None else outcome.error
                failure = RuntimeError(f"attempt {attempt}: {answer}")
            self.environment.events.request.fire(
                request_type="POST",
                name=hook.action,
                response_time=elapsed,
                response_length=0,
                exception=failure,
                context={"stream": hook.stream_id, "attempt": attempt},
                start_time=started,
                url=hook.url,
            )
            if failure is None:
                return
            if attempt <= self.retry_count:
                gevent.sleep(self.retry_delay_s)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockams load",
        description="Send a scenario's hooks as load at a receiver, on Locust.",
    )
    add = parser.add_argument
    add("scenario", help="A built-in scenario name or a scenario file")
    add("--target", metavar="URL", help="The receiver's hook URL (workers too)")
    add(
        "--streams",
        type=positive_option,
        default=10,
        metavar="N",
        help="Simulated streams",
    )
    add(
        "--rate",
        type=float,
        default=10.0,
        metavar="R",
        help="Streams started per second",
    )
    add("--duration", type=float, default=30.0, metavar="S", help="Run time in seconds")
    add(
        "--speed",
        type=speed_option,
        default=1.0,
        metavar="X",
        help="Scenario time factor",
    )
    add(
        "--content-type", type=content_type_option, metavar="TYPE", help="Hook encoding"
    )
    add("--ams-version", type=version_option, metavar="VERSION", help="AMS release")
    add("--seed", type=int, metavar="N", help="Seed for generated values")
    add(
        "--budget-ms",
        type=float,
        default=250.0,
        metavar="MS",
        help="p95 budget per action",
    )
    add(
        "--min-ok",
        type=float,
        default=100.0,
        metavar="PCT",
        help="Lowest share of attempts answered 200, in percent",
    )
    add(
        "--master",
        action="store_true",
        help="Run as Locust master (workers do the load)",
    )
    add(
        "--expect-workers",
        type=positive_option,
        default=1,
        metavar="N",
        help="Workers to wait for",
    )
    add("--worker", action="store_true", help="Run as a Locust worker of a master")
    add("--master-host", default="127.0.0.1", help="Master to join, for --worker")
    add("--master-port", type=int, default=5557, help="Master's port")
    add("--report", type=Path, metavar="FILE", help="Write the statistics as JSON")

    return parser


def _configure(scenario: Scenario, options: argparse.Namespace) -> None:
    StreamUser.scenario = scenario
    StreamUser.options = ReplayOptions(
        target=options.target or "http://127.0.0.1/hooks",
        speed=options.speed,
        seed=options.seed,
        content_type=options.content_type,
        ams_version=options.ams_version,
    )
    StreamUser.retry_count = scenario.retry_count or 0
    delay_ms = scenario.retry_delay_ms if scenario.retry_delay_ms is not None else 1000
    StreamUser.retry_delay_s = delay_ms / 1000


def _figures(environment: Environment) -> list[dict[str, Any]]:
    rows = []
    for entry in sorted(environment.stats.entries.values(), key=lambda item: item.name):
        rows.append(
            {
                "action": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.50),
                "p95_ms": entry.get_response_time_percentile(0.95),
                "p99_ms": entry.get_response_time_percentile(0.99),
                "max_ms": entry.max_response_time,
                "rps": round(entry.total_rps, 1),
            }
        )

    return rows


def _verdict(rows: Sequence[dict[str, Any]], options: argparse.Namespace) -> list[str]:
    problems = []
    requests = sum(row["requests"] for row in rows)
    failures = sum(row["failures"] for row in rows)
    if not requests:
        return ["no hook was sent"]
    ok = 100.0 * (requests - failures) / requests
    if ok < options.min_ok:
        problems.append(
            f"{ok:.2f}% of attempts got a 200, under --min-ok {options.min_ok:g}%"
        )
    for row in rows:
        if (row["p95_ms"] or 0) > options.budget_ms:
            problems.append(
                f"{row['action']} p95 {row['p95_ms']:.0f} ms is over the "
                f"{options.budget_ms:g} ms budget"
            )

    return problems


def _print(rows: Sequence[dict[str, Any]], problems: Sequence[str]) -> None:
    header = (
        f"{'action':34}{'requests':>10}{'failures':>10}"
        f"{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'rps':>9}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['action']:34}{row['requests']:>10}{row['failures']:>10}"
            f"{row['p50_ms']:>8.0f}{row['p95_ms']:>8.0f}{row['p99_ms']:>8.0f}"
            f"{row['max_ms']:>8.0f}{row['rps']:>9}"
        )
    for problem in problems:
        print(f"FAIL {problem}")
    print("passed" if not problems else "failed")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mockams load``; 0 when the budget and the 200 share held."""
    options = _parser().parse_args(argv)
    if not options.target:
        print("mockams load: error: --target URL is required", file=sys.stderr)
        return 2
    reason = check_hook_url(options.target)
    if reason:
        print(f"mockams load: error: --target: {reason}", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(options.scenario)
    except ScenarioError as error:
        print(f"mockams load: error: {error}", file=sys.stderr)
        return 2
    _configure(scenario, options)

    environment = Environment(user_classes=[StreamUser])
    if options.worker:
        worker = environment.create_worker_runner(
            options.master_host, options.master_port
        )
        worker.greenlet.join()
        return 0
    runner: Any
    if options.master:
        runner = environment.create_master_runner("127.0.0.1", options.master_port)
        deadline = time.monotonic() + 60
        while len(runner.clients.ready) < options.expect_workers:
            if time.monotonic() > deadline:
                print(
                    "mockams load: error: workers did not connect in 60 s",
                    file=sys.stderr,
                )
                runner.quit()
                return 2
            gevent.sleep(0.1)
    else:
        runner = environment.create_local_runner()

    runner.start(options.streams, spawn_rate=options.rate)

    def finish() -> None:
        runner.stop()
        # Workers report their figures every 3 s: wait for the last report.
        gevent.sleep(3.5 if options.master else 0)
        runner.quit()

    gevent.spawn_later(options.duration, finish)
    runner.greenlet.join()

    rows = _figures(environment)
    problems = _verdict(rows, options)
    _print(rows, problems)
    if options.report:
        options.report.write_text(
            json.dumps({"actions": rows, "problems": problems}, indent=2)
        )

    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
