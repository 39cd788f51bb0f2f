"""Replaying a scenario through the mock server at a receiver.

Every step goes through the mock as a client or an encoder would drive it:
creates and deletes through its AMS REST API, publishes and hooks through its
control API, so what the target receives is exactly what the server sends.
A step's deliveries (retries included) finish before the next step starts, so
hooks of different steps arrive in step order; hooks of one step (the
``liveStreamEnded`` and ``vodReady`` of an unpublish) race as in AMS unless a
``reorder`` step fixes their order.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from werkzeug.test import Client

from mockams.report import (
    CheckResult,
    RunReport,
    all_failed_note,
    answered_200_checks,
    latency_problem,
)
from mockams.scenario import Scenario, Step
from mockams.sender import Delivery, DeliveryLog, Hook, HookSender
from mockams.server import MockAMS
from mockams.settings import AmsVersion

__all__ = ["Dispatcher", "ReplayOptions", "replay", "timeline"]

logger = logging.getLogger("mockams")

# How long one attempt may take at most: 2 s to connect and 2 s to read, and
# a little more for the harness.
_ATTEMPT_BOUND_S = 4.5


@dataclass
class ReplayOptions:
    """How to replay: where to, how fast, and what to override."""

    target: str = ""
    speed: float = 0.0
    seed: int | None = None
    content_type: str | None = None
    ams_version: AmsVersion | None = None
    streams: int = 1
    concurrency: int = 1
    dry_run: bool = False
    id_suffix: str = ""
    progress: Callable[[str], None] | None = None


@dataclass
class _Reorder:
    stream_id: str
    first: str
    then: str
    first_event: int | None = None
    first_done: bool = False
    held: list[Hook] = field(default_factory=list)


class Dispatcher:
    """Stands between the lifecycle and the sender to duplicate or reorder hooks.

    It also counts, per stream, the sends whose last attempt has not been
    recorded yet, so a replay knows when a step's deliveries are over.
    """

    def __init__(self, sender: HookSender | None, log: DeliveryLog) -> None:
        self.sender = sender
        # Each hook as it leaves: in the order a reorder gives, twice if duplicated.
        self.hooks: list[Hook] = []
        self._mutex = threading.Lock()
        self._lock = threading.Condition(self._mutex)
        # One condition per copy of a scenario, all on one mutex: a delivery
        # wakes only the copy that waits for it, not every copy.
        self._groups: dict[str, threading.Condition] = {}
        self._duplicates: list[tuple[str, str]] = []
        self._reorders: list[_Reorder] = []
        self._waiting: dict[int, list[Hook]] = defaultdict(list)
        self._outstanding: dict[str, int] = defaultdict(int)
        self._sends_left: dict[int, int] = defaultdict(int)
        log.subscribe(self._delivered)

    def watch(self, stream_ids: Sequence[str]) -> None:
        """Group ``stream_ids``: :meth:`settle` on them wakes for them alone."""
        condition = threading.Condition(self._mutex)
        with self._lock:
            for stream_id in stream_ids:
                self._groups[stream_id] = condition

    def arm_duplicate(self, stream_id: str, action: str) -> None:
        """The next ``action`` hook of ``stream_id`` is delivered twice, same bytes."""
        with self._lock:
            self._duplicates.append((stream_id, action))

    def arm_reorder(self, stream_id: str, first: str, then: str) -> None:
        """Hold the next ``then`` hook of a stream until ``first`` is delivered."""
        with self._lock:
            self._reorders.append(_Reorder(stream_id, first, then))

    def send(self, hook: Hook) -> None:
        with self._lock:
            times = 1
            if (hook.stream_id, hook.action) in self._duplicates:
                self._duplicates.remove((hook.stream_id, hook.action))
                times = 2
            self._outstanding[hook.stream_id] += times
            self._sends_left[hook.event_id] += times
            if self._hold(hook, times):
                return
        for _ in range(times):
            self._forward(hook)

    def _hold(self, hook: Hook, times: int) -> bool:
        """Hold ``hook`` if a reorder rule says so; note a ``first`` hook."""
        for rule in self._reorders:
            if rule.stream_id != hook.stream_id:
                continue
            if hook.action == rule.first and rule.first_event is None:
                rule.first_event = hook.event_id
            elif hook.action == rule.then and not rule.first_done:
                rule.held.extend([hook] * times)
                if rule.first_event is not None:
                    self._waiting[rule.first_event].extend(rule.held)
                    rule.held.clear()
                    self._reorders.remove(rule)
                return True

        return False

    def _forward(self, hook: Hook) -> None:
        with self._lock:
            self.hooks.append(hook)
        if self.sender is not None:
            self.sender.send(hook)
            return
        # A dry run delivers nothing: a hook counts as delivered once forwarded,
        # so the hooks a reorder holds behind it are released too.
        self._settled(hook.stream_id, hook.event_id)

    def _delivered(self, delivery: Delivery) -> None:
        if delivery.retry_scheduled:
            return
        self._settled(delivery.stream_id, delivery.event_id)

    def _settled(self, stream_id: str, event_id: int) -> None:
        """The last attempt of one send is over: release what waited for it."""
        released: list[Hook] = []
        with self._lock:
            self._settle_one(stream_id, event_id)
            if self._sends_left[event_id] <= 0:
                released = self._waiting.pop(event_id, [])
            for rule in list(self._reorders):
                if rule.first_event == event_id:
                    rule.first_done = True
                    released += rule.held
                    self._reorders.remove(rule)
        for hook in released:
            self._forward(hook)

    def _settle_one(self, stream_id: str, event_id: int) -> None:
        """One send is over; the caller holds the lock."""
        self._outstanding[stream_id] -= 1
        self._sends_left[event_id] -= 1
        self._groups.get(stream_id, self._lock).notify_all()
        self._lock.notify_all()  # a wait over several copies, at the end of a run

    def settle(self, stream_ids: Sequence[str], timeout: float) -> list[str]:
        """Wait until the deliveries of ``stream_ids`` are over; say what was not."""
        notes: list[str] = []
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                busy = [item for item in stream_ids if self._outstanding[item] > 0]
                if not busy:
                    return notes
                held = self._held_for(busy)
                if held and self._only_held(busy, held):
                    notes.append(self._release(held))
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    notes.append(
                        f"deliveries for {', '.join(busy)} still pending "
                        f"after {timeout:g} s"
                    )
                    return notes
                waiter = self._groups.get(stream_ids[0], self._lock)
                waiter.wait(min(remaining, 0.5))

    def _held_for(self, stream_ids: Sequence[str]) -> list[Hook]:
        held = [hook for rule in self._reorders for hook in rule.held]
        return [hook for hook in held if hook.stream_id in stream_ids]

    def _only_held(self, stream_ids: Sequence[str], held: Sequence[Hook]) -> bool:
        waiting = sum(self._outstanding[item] for item in stream_ids)
        return waiting <= len(held)

    def _release(self, held: Sequence[Hook]) -> str:
        for rule in list(self._reorders):
            if any(hook in rule.held for hook in held):
                self._reorders.remove(rule)
                rule.held.clear()
        names = ", ".join(f"{hook.action}({hook.stream_id})" for hook in held)
        self._lock.release()
        try:
            for hook in held:
                self._forward(hook)
        finally:
            self._lock.acquire()

        return f"reorder: the awaited hook never came, so {names} went out anyway"


class _Clock:
    """Scenario time: ``speed`` 1 is real time, 10 ten times faster, 0 instant."""

    def __init__(self, speed: float) -> None:
        self.scale = 0.0 if speed <= 0 else 1.0 / speed

    def sleep(self, seconds: float) -> None:
        if self.scale and seconds > 0:
            time.sleep(seconds * self.scale)


class _Run:
    """One replay: the mock, its client, the dispatcher and the results."""

    def __init__(self, scenario: Scenario, options: ReplayOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.clock = _Clock(options.speed)
        self.rng = random.Random(options.seed)
        content_type = options.content_type or scenario.content_type or "form"
        version = (
            options.ams_version or scenario.ams_version or AmsVersion.parse("current")
        )
        self.ams = MockAMS(
            apps=[scenario.app],
            hook_url=options.target,
            content_type=content_type,
            retry_count=scenario.retry_count or 0,
            retry_delay_ms=scenario.retry_delay_ms
            if scenario.retry_delay_ms is not None
            else 1000,
            ams_version=version,
        )
        self.ams.lifecycle.time_scale = self.clock.scale
        self.ams.lifecycle.rng = random.Random(options.seed)
        sender = None if options.dry_run else self.ams.sender
        self.dispatcher = Dispatcher(sender, self.ams.log)
        self.ams.lifecycle.sender = self.dispatcher
        self.client = Client(self.ams.wsgi_app)
        settings = self.ams.settings(scenario.app)
        self.settle_timeout = (
            (settings.retry_count + 1) * _ATTEMPT_BOUND_S
            + (settings.retry_count * settings.retry_delay_ms * self.clock.scale / 1000)
            + 5.0
        )
        self.checks: dict[int, list[str]] = defaultdict(list)
        # The deliveries each expect of a failure status matched, by step number:
        # those alone are excused from the "answered 200" checks.
        self.excused: dict[int, set[int]] = defaultdict(set)
        self.errors: list[CheckResult] = []
        self.notes: list[str] = []
        self.steps_done = 0
        # Each step with the hooks it sent; meaningful with one copy at a time.
        self.timeline: list[tuple[Step, list[Hook]]] = []
        self._lock = threading.Lock()

    def stream_maps(self) -> list[dict[str, str]]:
        count = max(self.options.streams, 1)
        suffix = self.options.id_suffix
        if count == 1:
            return [{item.id: item.id + suffix for item in self.scenario.streams}]
        width = len(str(count))
        return [
            {item.id: f"{item.id}-{index:0{width}d}" for item in self.scenario.streams}
            for index in range(1, count + 1)
        ]

    def run(self) -> RunReport:
        started = time.perf_counter()
        maps = self.stream_maps()
        workers = max(1, min(self.options.concurrency, len(maps)))
        try:
            with ThreadPoolExecutor(
                workers, thread_name_prefix="mockams-replay"
            ) as pool:
                list(pool.map(self.run_copy, maps))
            self.ams.scheduler.wait_empty(self.settle_timeout)
            every = [stream_id for item in maps for stream_id in item.values()]
            for note in self.dispatcher.settle(every, self.settle_timeout):
                self._note(note)
        finally:
            self.ams.stop()
        report = RunReport(
            title=f"mockams replay {self.scenario.name}",
            target=self.options.target or "(dry run)",
            deliveries=self.ams.deliveries(),
            checks=self.build_checks(),
            notes=self.notes,
            duration_s=time.perf_counter() - started,
            details={
                "scenario": self.scenario.name,
                "streams": len(maps),
                "speed": self.options.speed,
                "seed": self.options.seed,
            },
        )
        note = all_failed_note(self.options.target, report.deliveries)
        if note:
            report.notes.insert(0, note)
        if self.options.dry_run:
            report.details["hooks"] = [
                _hook_json(hook) for hook in self.dispatcher.hooks
            ]

        return report

    def run_copy(self, stream_map: dict[str, str]) -> None:
        ids = list(stream_map.values())
        self.dispatcher.watch(ids)
        for step in self.scenario.steps:
            first_hook = len(self.dispatcher.hooks)
            try:
                self.run_step(step, stream_map)
            except _StepFailed as failed:
                with self._lock:
                    self.errors.append(
                        CheckResult(_step_name(step), False, str(failed), True)
                    )
            if step.kind not in ("duplicate", "reorder", "wait"):
                if not self.clock.scale:
                    # Instant time: the mock's own timers (idle expiry) are due now.
                    self.ams.scheduler.wait_empty(self.settle_timeout)
                for note in self.dispatcher.settle(ids, self.settle_timeout):
                    self._note(f"step {step.number}: {note}")
            with self._lock:
                self.steps_done += 1
                self.timeline.append((step, self.dispatcher.hooks[first_hook:]))
                self._progress()
        for note in self.dispatcher.settle(ids, self.settle_timeout):
            self._note(note)

    def _note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)

    def _progress(self) -> None:
        """Tell the progress; the caller holds the lock, so counts never go back."""
        if self.options.progress is None:
            return
        total = len(self.scenario.steps) * max(self.options.streams, 1)
        deliveries = len(self.ams.log)
        self.options.progress(
            f"{self.steps_done}/{total} steps, {deliveries} deliveries"
        )

    def call(self, step: Step, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(path, method=method, json=body)
        if response.status_code != 200:
            text = response.get_data(as_text=True)[:200]
            raise _StepFailed(f"the mock answered {response.status_code}: {text}")

        return response.get_json(silent=True)

    def run_step(self, step: Step, stream_map: dict[str, str]) -> None:
        app = self.scenario.app
        stream_id = stream_map.get(step.stream or "", "")
        args = step.args
        control = f"/mockams/apps/{app}/streams/{stream_id}"
        if step.kind == "create":
            spec = self.scenario.stream(step.stream or "")
            main_track = stream_map.get(spec.main_track or "")
            body = spec.broadcast_body(stream_id, main_track)
            self.call(step, "POST", f"/{app}/rest/v2/broadcasts/create", body)
        elif step.kind == "publish":
            body = {
                "subscriberId": args.get("subscriber_id"),
                "params": args.get("params"),
                "publishType": args.get("publish_type"),
            }
            self.call(step, "POST", f"{control}/publish", _without_none(body))
        elif step.kind == "unpublish":
            if self.scenario.stream(step.stream or "").max_idle_time:
                # AMS sends the idle hook seconds after the end; sped up, the
                # mock's idle timer could beat the end's delivery.
                self.dispatcher.arm_reorder(
                    stream_id, "liveStreamEnded", "idleTimeIsExpired"
                )
            body = {
                "record": args.get("record"),
                "renditions": args.get("renditions"),
                "durationMs": (
                    round(args["duration"] * 1000)
                    if args.get("duration") is not None
                    else None
                ),
            }
            self.call(step, "POST", f"{control}/unpublish", _without_none(body))
        elif step.kind == "delete":
            answer = self.call(step, "DELETE", f"/{app}/rest/v2/broadcasts/{stream_id}")
            if not answer or not answer.get("success"):
                raise _StepFailed(f"delete was refused: {answer}")
        elif step.kind == "wait":
            self.clock.sleep(float(args["duration"]))
            # A timer of the mock due as the wait ends (an idle expiry as long
            # as the wait) has run before the next step looks for its hook.
            self.ams.scheduler.wait_due(time.monotonic(), self.settle_timeout)
        elif step.kind == "fire":
            self.fire(step, app, str(args["action"]), stream_id, args)
        elif step.kind == "status":
            for tick in range(int(args.get("count", 1))):
                if tick:
                    self.clock.sleep(float(args.get("every", 1.0)))
                stats = {**self._stats(), **dict(args.get("stats") or {})}
                self.fire(step, app, "liveStreamStatus", stream_id, {"stats": stats})
        elif step.kind == "duplicate":
            self.dispatcher.arm_duplicate(stream_id, str(args["action"]))
        elif step.kind == "reorder":
            self.dispatcher.arm_reorder(
                stream_id, str(args["first"]), str(args["then"])
            )
        elif step.kind == "expect":
            self.expect(step, stream_map)
        elif step.kind == "stall":
            silent_ms = round(float(args.get("silent_for", 0.0)) * 1000)
            self.call(step, "POST", f"{control}/stall", {"silentForMs": silent_ms})
        elif step.kind == "configure":
            self.configure(step, app)

    def configure(self, step: Step, app: str) -> None:
        """Change application settings through AMS's settings API, as a client would."""
        path = f"/rest/v2/applications/settings/{app}"
        settings = dict(self.call(step, "GET", path))
        args = step.args
        if "hook_url" in args:
            wanted = str(args["hook_url"])
            targets = {"target": self.options.target, "none": ""}
            settings["listenerHookURL"] = targets.get(wanted, wanted)
        if "content_type" in args:
            settings["webhookContentType"] = args["content_type"]
        if "retry_count" in args:
            settings["webhookRetryCount"] = args["retry_count"]
        if "retry_delay" in args:
            settings["webhookRetryDelay"] = round(float(args["retry_delay"]) * 1000)
        self.call(step, "POST", path, settings)

    def fire(
        self, step: Step, app: str, action: str, stream_id: str, args: Any
    ) -> None:
        body = {
            "action": action,
            "id": stream_id,
            "fields": args.get("fields"),
            "params": args.get("params"),
            "subscriberId": args.get("subscriber_id"),
            "stats": args.get("stats"),
        }
        self.call(step, "POST", f"/mockams/apps/{app}/hooks", _without_none(body))

    def _stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "width": 1280,
                "height": 720,
                "totalByteReceived": self.rng.randrange(1_000_000, 50_000_000),
                "inputQueueSize": self.rng.randrange(0, 5),
                "speed": round(self.rng.uniform(0.95, 1.05), 3),
                "encodingQueueSize": self.rng.randrange(0, 5),
                "dropFrameCountInEncoding": 0,
                "dropPacketCountInIngestion": 0,
            }

    def expect(self, step: Step, stream_map: dict[str, str]) -> None:
        if self.options.dry_run:
            return
        self.dispatcher.settle(list(stream_map.values()), self.settle_timeout)
        action = step.args.get("action")
        wanted = {stream_map[step.stream]} if step.stream else set(stream_map.values())
        found = sorted(
            (
                item
                for stream_id in wanted
                for item in self.ams.deliveries(action, stream_id)
            ),
            key=lambda item: item.id,
        )
        problems = _expect_problems(step, found)
        status = step.args.get("status")
        with self._lock:
            if problems:
                self.checks[step.number].append("; ".join(problems))
            else:
                self.checks.setdefault(step.number, [])
            if status is not None and status != 200:
                self.excused[step.number] |= {
                    item.id for item in found if item.status == status
                }

    def build_checks(self) -> list[CheckResult]:
        checks = list(self.errors)
        for step in self.scenario.steps:
            if step.kind != "expect" or self.options.dry_run:
                continue
            problems = self.checks.get(step.number, [])
            message = problems[0] if problems else ""
            if len(problems) > 1:
                message += f" (and {len(problems) - 1} more copies)"
            checks.append(CheckResult(_step_name(step), not problems, message))
        excused_by: dict[int, int] = {}  # by the first step that excused it
        for number, ids in sorted(self.excused.items()):
            for delivery_id in ids:
                excused_by.setdefault(delivery_id, number)
        checks += answered_200_checks(self.ams.deliveries(), excused_by)

        return checks


class _StepFailed(Exception):
    pass


def _hook_json(hook: Hook) -> dict[str, Any]:
    return {
        "action": hook.action,
        "stream_id": hook.stream_id,
        "url": hook.url,
        "content_type": hook.content_type,
        "body": hook.body.decode("utf-8", "replace"),
    }


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _step_name(step: Step) -> str:
    return f"step {step.number}: {step.describe()}"


def _expect_problems(step: Step, found: Sequence[Delivery]) -> list[str]:
    args = step.args
    action = args.get("action") or "any action"
    problems = []
    if "count" in args and len(found) != args["count"]:
        problems.append(
            f"expected {args['count']} {action} deliveries, got {len(found)}"
        )
    if "count" not in args and not found:
        problems.append(f"expected {action} deliveries, got none")
    status = args.get("status")
    if status is not None:
        wrong = [item for item in found if item.status != status]
        if wrong:
            got = wrong[0].status if wrong[0].status is not None else wrong[0].error
            problems.append(
                f"expected status {status}, got {got} ({len(wrong)} deliveries)"
            )
    limit = args.get("max_latency")
    latency = latency_problem(limit, found) if limit is not None else ""
    if latency:
        problems.append(latency)

    return problems


def timeline(
    scenario: Scenario, options: ReplayOptions
) -> list[tuple[Step, list[Hook]]]:
    """Each step of one copy of ``scenario`` with the hooks it sends, unsent.

    The hooks are built as a replay builds them (bodies final, byte for byte);
    nothing goes out. ``options.id_suffix`` makes the copy's stream ids unique.
    """
    run = _Run(scenario, replace(options, dry_run=True, streams=1))
    run.run()

    return run.timeline


def replay(scenario: Scenario, options: ReplayOptions) -> RunReport:
    """Replay ``scenario`` at ``options.target`` and report what happened."""
    return _Run(scenario, options).run()
