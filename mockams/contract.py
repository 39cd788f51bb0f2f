"""The receiver contract: what a webhook receiver must do to hold up against AMS.

The contract suite (``contract/``, run by ``mockams check``) is built from
these pieces: a :class:`Prober` that posts hooks exactly as AMS does and
times the receiver, the verdict AMS would reach on each answer, latency
figures, and an optional state probe that reads what the receiver stored.

Every stream id carries a token drawn for the run, so a receiver that keeps
its data between runs is never checked against what an earlier run stored.
"""

from __future__ import annotations

import json
import secrets
import shlex
import string
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

from mockams.exchange import TIMEOUT_S, Outcome, check_hook_url, post
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
    "compact",
    "new_vod_id",
    "preflight",
    "sample_fields",
]

AMS_TIMEOUT_MS = TIMEOUT_S * 1000
SAMPLE_TIME_LIMIT_S = 10.0
_ALPHANUMERIC = string.ascii_letters + string.digits
# What AMS does after a failed attempt: webhookRetryCount is 0 unless set.
_DROPS = "drops the event (with webhookRetryCount set, it retries the same body first)"


def ams_verdict(outcome: Outcome) -> str:
    """What a real AMS does about this answer, in one sentence."""
    if outcome.status == 200:
        return "AMS counts it as delivered"
    if outcome.error and "timed out" in outcome.error:
        return (
            f"AMS gives up after {AMS_TIMEOUT_MS:.0f} ms and {_DROPS}; a receiver "
            "that finishes its work after the timeout sees the hook twice when "
            "retries are set"
        )
    if outcome.status is None:
        failure = f"a failed connection ({outcome.error})"
        return f"AMS counts {failure} as a failure and {_DROPS}"
    if 200 < outcome.status < 300:
        return (
            f"AMS counts {outcome.status} as a failure (only 200 succeeds) and {_DROPS}"
        )
    if 300 <= outcome.status < 400:
        return (
            f"AMS does not follow a {outcome.status} for a POST: it fails and {_DROPS}"
        )

    return f"AMS counts {outcome.status} as a failure and {_DROPS}"


def new_vod_id() -> str:
    """A recording's id as AMS draws it: 24 random alphanumerics."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(24))


def compact(value: Any, limit: int = 160) -> str:
    """``value`` as one line of JSON (or text), cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text

    return f"{text[:limit]}... ({len(text)} characters)"


def sample_fields(
    action: str,
    stream_id: str,
    *,
    version: AmsVersion = CURRENT_VERSION,
    full: bool = True,
    name: str | None = "Contract check",
    metadata: str | None = '{"source":"mockams check"}',
    now_ms: int | None = None,
    vod_id: str | None = None,
) -> dict[str, HookValue]:
    """The fields AMS sends for ``action``: with every optional (``full``) or none.

    A ``vodReady`` gets ``vod_id``, or a new one: each recording has its own.
    """
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
            vod_id=vod_id or new_vod_id(),
            metadata=metadata if full else None,
        )
        if version.sends_vod_duration:
            inputs.params = {"duration": "61000"}

    return build_fields(action, inputs, app="LiveApp", version=version, now_ms=now_ms)


@dataclass
class LatencyFigures:
    """Receiver latency in ms, each sample from handing a hook to the kernel
    to the first byte of its answer (see :mod:`mockams.exchange`).

    ``requested`` is how many samples were asked for; ``stopped_at_time_limit``
    tells that sampling ran out of time before it had them all.
    """

    samples: list[float] = field(default_factory=list)
    timeouts: int = 0
    requested: int = 0
    stopped_at_time_limit: bool = False
    time_limit_s: float = SAMPLE_TIME_LIMIT_S

    @property
    def count(self) -> int:
        """Hooks sent: those answered and those that timed out."""
        return len(self.samples) + self.timeouts

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
            "samples": self.count,
            "requested": self.requested,
            "stopped_at_time_limit": self.stopped_at_time_limit,
            "time_limit_s": self.time_limit_s,
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
        self.run_token = "".join(
            secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8)
        )
        self._lock = threading.Lock()
        self._numbers = iter(range(1, 10**9))

    def stream_id(self, label: str = "check") -> str:
        """A stream id no other stream of this run, or of any other run, has."""
        with self._lock:
            return f"mockams-{label}-{self.run_token}-{next(self._numbers)}"

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
        time_limit_s: float = SAMPLE_TIME_LIMIT_S,
    ) -> LatencyFigures:
        """``count`` hooks of ``action`` one after another; stops at a timeout.

        A receiver that times out once would time out again: sampling stops
        there, and at ``time_limit_s`` in any case, which the figures record.
        """
        figures = LatencyFigures(requested=count, time_limit_s=time_limit_s)
        deadline = time.monotonic() + time_limit_s
        for _ in range(count):
            fields = sample_fields(
                action, self.stream_id("latency"), version=self.version
            )
            outcome, _ = self.send(fields, content_type)
            figures.add(outcome)
            if figures.timeouts:
                break
            if time.monotonic() > deadline:
                figures.stopped_at_time_limit = figures.count < count
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


def preflight(target: str) -> str | None:
    """Why ``target`` cannot be checked at all, in one line, or ``None``."""
    reason = check_hook_url(target)
    if reason:
        return reason
    body = b"id=mockams-preflight&action=mockamsPreflight"
    outcome = post(target, body, FORM)
    if outcome.status is not None:
        return None
    error = outcome.error or "no answer"
    unreachable = ("connect timed out", "connection refused", "cannot connect", "TLS")
    if error.startswith(unreachable):
        return f"cannot reach {target}: {error}"
    if error.startswith(("redirected", "more than")):
        return f"{target} redirects where no hook can follow: {error}"
    if error.startswith("not an HTTP"):
        return f"{target} does not speak HTTP: {error}"
    if error.startswith("response head larger"):
        return f"{target} does not speak HTTP: it sent 64 KiB with no HTTP answer"
    if error.startswith("connection closed"):
        return f"{target} closed the connection without an HTTP answer"
    if error.startswith("connection reset"):
        return f"{target} reset the connection without an HTTP answer"
    if "timed out" in error:
        return f"{target} gave no HTTP answer within 2 s ({error})"

    return f"{target} broke off the exchange without an HTTP answer ({error})"


def harness_overhead(samples: int = 200) -> LatencyFigures:
    """Latency the harness itself adds, measured against :class:`TrivialReceiver`."""
    with TrivialReceiver().running() as receiver:
        prober = Prober(receiver.url)
        return prober.sample_latency("liveStreamStarted", FORM, samples)


ALL_ACTIONS = tuple(ACTIONS)
ENCODINGS = {"form": FORM, "json": JSON}
