"""The receiver contract: what a webhook receiver must do to hold up against AMS.

The contract suite (``contract/``, run by ``mockams check``) is built from
these pieces: a :class:`Prober` that posts hooks exactly as AMS does and
times the receiver, the verdict AMS would reach on each answer, latency
figures, and an optional state probe that reads what the receiver stored.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

from mockams.exchange import TIMEOUT_S, Outcome, post
from mockams.payloads import (
    ACTIONS,
    HookInputs,
    build_fields,
    inputs_for,
    status_fields,
)
from mockams.report import percentile
from mockams.settings import CURRENT_VERSION, FORM, JSON, AmsVersion
from mockams.wire import HookValue, encode_body

__all__ = [
    "AMS_TIMEOUT_MS",
    "LatencyFigures",
    "Prober",
    "StateProbe",
    "StateProbeError",
    "TrivialReceiver",
    "ams_verdict",
    "sample_fields",
]

AMS_TIMEOUT_MS = TIMEOUT_S * 1000


def ams_verdict(outcome: Outcome, retries: int = 0) -> str:
    """What a real AMS does about this answer, in one sentence."""
    after = (
        f"retries it {retries} time(s) with the same body, then drops the event"
        if retries
        else "drops the event (webhookRetryCount is 0 by default; with retries set it "
        "would send the same body again)"
    )
    if outcome.status == 200:
        return "AMS counts it as delivered"
    if outcome.error and "timed out" in outcome.error:
        return (
            f"AMS gives up after {AMS_TIMEOUT_MS:.0f} ms and {after}; a receiver "
            "that finishes its work after the timeout sees the hook twice when "
            "retries are on"
        )
    if outcome.status is None:
        return (
            f"AMS counts a failed connection ({outcome.error}) as a failure and {after}"
        )
    if 200 < outcome.status < 300:
        return (
            f"AMS counts {outcome.status} as a failure (only 200 succeeds) and {after}"
        )
    if 300 <= outcome.status < 400:
        return (
            f"AMS does not follow a {outcome.status} for a POST: it fails and {after}"
        )

    return f"AMS counts {outcome.status} as a failure and {after}"


def sample_fields(
    action: str,
    stream_id: str,
    *,
    version: AmsVersion = CURRENT_VERSION,
    full: bool = True,
    name: str | None = "Contract check",
    metadata: str | None = '{"source":"mockams check"}',
    now_ms: int | None = None,
) -> dict[str, HookValue]:
    """The fields AMS sends for ``action``: with every optional (``full``) or none."""
    if action == "liveStreamStatus":
        stats = {"width": 1280, "height": 720, "totalByteReceived": 1_000_000}
        return status_fields(stream_id, name if full else None, stats, now_ms=now_ms)

    broadcast: dict[str, Any] = {}
    if full:
        broadcast = {
            "name": name,
            "category": "contract",
            "metaData": metadata,
            "mainTrackStreamId": "room-" + stream_id if "Track" in action else None,
        }
    room = {"streamId": "room-" + stream_id, "name": name, "category": "contract"}
    inputs = inputs_for(
        action,
        stream_id,
        broadcast,
        room=room if full else None,
        subscriber_id="subscriber1" if full else None,
        params={"token": "t0k3n"}
        if full and action.startswith(("live", "play"))
        else {},
    )
    if action == "vodReady":
        inputs = HookInputs(
            stream_id,
            vod_name=stream_id,
            vod_id="aBcDeFgHiJkLmNoPqRsTuVwX",
            metadata=metadata if full else None,
        )
        if version.sends_vod_duration:
            inputs.params = {"duration": "61000"}

    return build_fields(action, inputs, app="LiveApp", version=version, now_ms=now_ms)


@dataclass
class LatencyFigures:
    """Receiver latency (ms, request sent to first response byte)."""

    samples: list[float] = field(default_factory=list)
    timeouts: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.ttfb_ms is not None:
            self.samples.append(outcome.ttfb_ms)
        if outcome.error and "timed out" in outcome.error:
            self.timeouts += 1

    @property
    def p50(self) -> float:
        return percentile(self.samples, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 0.99)

    @property
    def max(self) -> float:
        worst = max(self.samples, default=0.0)
        return AMS_TIMEOUT_MS if self.timeouts else worst

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float) -> float | None:
            return None if value != value else round(value, 3)

        return {
            "samples": len(self.samples) + self.timeouts,
            "timeouts": self.timeouts,
            "p50_ms": rounded(self.p50),
            "p95_ms": rounded(self.p95),
            "p99_ms": rounded(self.p99),
            "max_ms": rounded(self.max),
        }


class Prober:
    """Posts hooks to a receiver the way AMS does, and remembers every outcome."""

    def __init__(self, target: str, version: AmsVersion = CURRENT_VERSION) -> None:
        self.target = target
        self.version = version
        self.outcomes: list[tuple[str, str, Outcome]] = []
        self._lock = threading.Lock()
        self._numbers = iter(range(1, 10**9))

    def stream_id(self, label: str = "check") -> str:
        with self._lock:
            return f"mockams-{label}-{next(self._numbers)}"

    def send(
        self, fields: Mapping[str, HookValue], content_type: str
    ) -> tuple[Outcome, bytes]:
        """Post ``fields`` encoded as AMS encodes them; return the outcome and body."""
        body, header = encode_body(fields, content_type)
        outcome = post(self.target, body, header)
        with self._lock:
            self.outcomes.append((str(fields.get("action")), content_type, outcome))

        return outcome, body

    def send_body(self, body: bytes, content_type: str, action: str) -> Outcome:
        """Post a body as it is (a duplicate must be byte-identical)."""
        header = (
            content_type if content_type == FORM else "application/json; charset=UTF-8"
        )
        outcome = post(self.target, body, header)
        with self._lock:
            self.outcomes.append((action, content_type, outcome))

        return outcome

    def sample_latency(
        self,
        action: str,
        content_type: str,
        count: int,
        *,
        time_limit_s: float = 10.0,
    ) -> LatencyFigures:
        """``count`` hooks of ``action`` one after another; stops at a timeout.

        A receiver that times out once would time out again: sampling stops
        there, and at ``time_limit_s`` in any case.
        """
        figures = LatencyFigures()
        deadline = time.monotonic() + time_limit_s
        for _ in range(count):
            fields = sample_fields(
                action, self.stream_id("latency"), version=self.version
            )
            outcome, _ = self.send(fields, content_type)
            figures.add(outcome)
            if figures.timeouts or time.monotonic() > deadline:
                break

        return figures

    def send_concurrently(
        self, hooks: Sequence[tuple[Mapping[str, HookValue], str]], workers: int = 20
    ) -> list[Outcome]:
        """Post every hook from ``workers`` threads at once, as AMS's pool does."""
        with ThreadPoolExecutor(workers, thread_name_prefix="mockams-check") as pool:
            results = list(pool.map(lambda item: self.send(*item)[0], hooks))

        return results


class StateProbeError(Exception):
    """The state probe itself failed: the check cannot run."""


@dataclass(frozen=True)
class StateProbe:
    """Asks the receiver what it stored about a stream.

    ``url`` is a template like ``http://127.0.0.1:8000/streams/{id}``;
    ``command`` a shell-like template like ``./state {id}``. Either answers
    with text (JSON or not) that is compared between deliveries.
    """

    url: str = ""
    command: str = ""
    timeout_s: float = 5.0

    def __bool__(self) -> bool:
        return bool(self.url or self.command)

    def read(self, stream_id: str) -> Any:
        if self.url:
            target = self.url.replace("{id}", stream_id)
            try:
                with urlopen(target, timeout=self.timeout_s) as answer:
                    text = answer.read().decode("utf-8", "replace")
            except (URLError, OSError, ValueError) as error:
                raise StateProbeError(
                    f"state probe {target} failed: {error}"
                ) from error
        else:
            argv = [
                part.replace("{id}", stream_id) for part in shlex.split(self.command)
            ]
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout_s,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                raise StateProbeError(
                    f"state command {argv[0]!r} failed: {error}"
                ) from error
            if done.returncode != 0:
                reason = done.stderr.strip()[:200]
                raise StateProbeError(
                    f"state command exited {done.returncode}: {reason}"
                )
            text = done.stdout
        try:
            return json.loads(text)
        except ValueError:
            return text.strip()


_TRIVIAL_SERVER = r"""
import socket, sys
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", 0))
server.listen(128)
print(server.getsockname()[1], flush=True)
while True:
    connection, _ = server.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    connection.close()
"""


class TrivialReceiver:
    """A receiver that answers 200 as soon as a request is read, in its own process.

    Timing hooks against it measures the harness's own share of a latency
    figure. It runs in another process so that it never waits for this one's
    threads, as a real receiver would not.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @contextmanager
    def running(self) -> Iterator[TrivialReceiver]:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _TRIVIAL_SERVER],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = self._process.stdout.readline() if self._process.stdout else ""
            self.port = int(line.strip() or 0)
            if not self.port:
                raise RuntimeError("the trivial receiver did not start")
            yield self
        finally:
            self._process.kill()
            self._process.wait(timeout=5)
            if self._process.stdout:
                self._process.stdout.close()


def harness_overhead(samples: int = 200) -> LatencyFigures:
    """Latency the harness itself adds, measured against :class:`TrivialReceiver`."""
    with TrivialReceiver().running() as receiver:
        prober = Prober(receiver.url)
        return prober.sample_latency("liveStreamStarted", FORM, samples)


ALL_ACTIONS = tuple(ACTIONS)
ENCODINGS = {"form": FORM, "json": JSON}
