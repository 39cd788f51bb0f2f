"""Sequential hook delivery against a trivial fast receiver (nginx if installed).

Side by side on the same receiver, one request at a time:
- mockams's hook client (a new connection per hook, as AMS opens one), the
  blocking exchange the contract checks time hooks with;
- mockams's hook sender with one worker, the path every mock delivery takes
  (event-loop transport, delivery recorded), one hook sent when the last is
  recorded;
- a plain ``http.client`` loop with a new connection per request, the same
  policy, and with one kept-alive connection (the usual reference);
- ``wrk`` with one connection, when installed.

Two figures say what the harness adds. The latency mockams reports for a hook
(``ttfb_ms``, request sent to first response byte) against nginx, whose own
time is a few microseconds, is what the harness and the kernel add to every
latency figure. Its whole time per hook minus the plain ``http.client``
loop's, new connections both, is what it adds to a hook's cost.

Run: python benchmarks/bench_delivery.py [--hooks 3000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receivers import fast_receiver

from mockams.contract import sample_fields
from mockams.exchange import post
from mockams.sender import DeliveryLog, Hook, HookSender
from mockams.settings import FORM
from mockams.wire import encode_body


def body_and_type() -> tuple[bytes, str]:
    fields = sample_fields("liveStreamStarted", "stream1", now_ms=1_796_000_000_000)
    return encode_body(fields, FORM)


def run_mockams(
    url: str, hooks: int, seconds: float, reported: list[float] | None = None
) -> tuple[int, float, list[float]]:
    """Hooks sent, seconds taken, ms per hook; ``reported`` gets each ``ttfb_ms``."""
    body, content_type = body_and_type()
    per_hook = []
    started = time.perf_counter()
    deadline = started + seconds
    sent = 0
    while sent < hooks and time.perf_counter() < deadline:
        before = time.perf_counter()
        outcome = post(url, body, content_type)
        per_hook.append((time.perf_counter() - before) * 1000)
        if outcome.status != 200:
            raise RuntimeError(f"receiver answered {outcome.status or outcome.error}")
        if reported is not None and outcome.ttfb_ms is not None:
            reported.append(outcome.ttfb_ms)
        sent += 1

    return sent, time.perf_counter() - started, per_hook


def run_sender(
    url: str, hooks: int, seconds: float, reported: list[float] | None = None
) -> tuple[int, float, list[float]]:
    """The same through HookSender, one hook on the wire at a time, each recorded."""
    fields = sample_fields("liveStreamStarted", "stream1", now_ms=1_796_000_000_000)
    hook = Hook.build(app="LiveApp", url=url, fields=fields, content_type=FORM)
    log = DeliveryLog()
    sender = HookSender(log, workers=1)
    per_hook = []
    started = time.perf_counter()
    deadline = started + seconds
    sent = 0
    try:
        while sent < hooks and time.perf_counter() < deadline:
            before = time.perf_counter()
            sender.send(hook)
            if not sender.wait_idle(5):
                raise RuntimeError("a hook was not recorded within 5 s")
            per_hook.append((time.perf_counter() - before) * 1000)
            sent += 1
    finally:
        sender.close()
    elapsed = time.perf_counter() - started
    deliveries = log.select()
    if len(deliveries) != sent or any(item.status != 200 for item in deliveries):
        raise RuntimeError(f"{sent} sent, {len(deliveries)} recorded, not all 200")
    if reported is not None:
        reported.extend(item.ttfb_ms for item in deliveries if item.ttfb_ms is not None)

    return sent, elapsed, per_hook


def run_http_client(
    url: str, hooks: int, seconds: float, keep_alive: bool
) -> tuple[int, float, list[float]]:
    body, content_type = body_and_type()
    parts = urlsplit(url)
    headers = {"Content-Type": content_type}
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
    per_hook = []
    started = time.perf_counter()
    deadline = started + seconds
    sent = 0
    while sent < hooks and time.perf_counter() < deadline:
        before = time.perf_counter()
        if not keep_alive:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=2
            )
        connection.request("POST", parts.path, body, headers)
        response = connection.getresponse()
        response.read()
        if not keep_alive:
            connection.close()
        per_hook.append((time.perf_counter() - before) * 1000)
        if response.status != 200:
            raise RuntimeError(f"receiver answered {response.status}")
        sent += 1
    connection.close()

    return sent, time.perf_counter() - started, per_hook


def run_wrk(url: str, seconds: float) -> str:
    binary = shutil.which("wrk")
    if not binary:
        return "wrk not installed"
    body, content_type = body_and_type()
    script = (
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f"wrk.body = {body.decode()!r}\n".replace("'", '"')
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    done = subprocess.run(
        [
            binary,
            "-t1",
            "-c1",
            f"-d{max(int(seconds), 1)}s",
            "--latency",
            "-s",
            handle.name,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    Path(handle.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms)", done.stdout)
    latency = ""
    if p50:
        value = float(p50.group(1)) / (1000 if p50.group(2) == "us" else 1)
        latency = f", p50 {value:.3f} ms per request"

    rate_value = float(rate.group(1)) if rate else 0.0
    return f"{rate_value:,.0f} requests/s{latency} (one kept-alive connection)"


def line(name: str, sent: int, elapsed: float, per_hook: list[float]) -> str:
    rate = sent / elapsed
    ordered = sorted(per_hook)
    p50 = statistics.median(per_hook)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"{name:44} {rate:9,.0f} /s   p50 {p50:.3f} ms   p99 {p99:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", type=int, default=3000, help="requests per client")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="time limit per client"
    )
    options = parser.parse_args()

    with fast_receiver() as (name, url):
        print(
            f"receiver: {name} at {url}; {options.hooks} requests "
            f"or {options.seconds:g} s each\n"
        )
        run_mockams(url, 200, 2)  # warm-up
        reported: list[float] = []
        mockams = run_mockams(url, options.hooks, options.seconds, reported)
        fresh = run_http_client(url, options.hooks, options.seconds, keep_alive=False)
        kept = run_http_client(url, options.hooks, options.seconds, keep_alive=True)
        through_sender: list[float] = []
        sender = run_sender(url, options.hooks, options.seconds, through_sender)
        print(line("mockams hook client (new connection each)", *mockams))
        print(line("mockams HookSender, 1 worker, each recorded", *sender))
        print(line("http.client, new connection each", *fresh))
        print(line("http.client, one kept-alive connection", *kept))
        print(f"{'wrk -t1 -c1':44} {run_wrk(url, options.seconds)}")
        ordered = sorted(reported)
        print(
            "\nlatency mockams reports for nginx (the harness's share of every "
            f"figure): p50 {statistics.median(ordered):.3f} ms, "
            f"p99 {ordered[int(len(ordered) * 0.99) - 1]:.3f} ms"
        )
        ordered = sorted(through_sender)
        print(
            "latency the hook sender records for nginx: "
            f"p50 {statistics.median(ordered):.3f} ms, "
            f"p99 {ordered[int(len(ordered) * 0.99) - 1]:.3f} ms"
        )
        added = statistics.median(mockams[2]) - statistics.median(fresh[2])
        print(
            "time per hook, mockams minus http.client (p50, new connections "
            f"both): {added:+.3f} ms"
        )


if __name__ == "__main__":
    main()
