"""Latency accuracy: a receiver with a known fixed delay, and what mockams measures.

The receiver (its own process) answers every hook after DELAY ms; mockams's
figures for it, as the contract checks take them and as the hook sender
records them on its deliveries, are shown next to a plain ``http.client``
loop's view of the same receiver, so that the receiver's own jitter is told
apart from the harness's. The harness's share is also measured against a
trivial receiver.

Run: python benchmarks/bench_latency.py [--delay-ms 50] [--hooks 200]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receivers import python_receiver

from mockams.contract import Prober, harness_overhead, sample_fields
from mockams.report import percentile
from mockams.sender import DeliveryLog, Hook, HookSender
from mockams.settings import FORM


def plain_client(url: str, hooks: int) -> list[float]:
    """A plain http.client loop's view of the same receiver, for reference."""
    parts = urlsplit(url)
    samples = []
    for _ in range(hooks):
        connection = http.client.HTTPConnection(
            parts.hostname or "", parts.port, timeout=2
        )
        started = time.perf_counter()
        connection.request("POST", parts.path, b"id=s&action=liveStreamStarted")
        connection.getresponse().read()
        samples.append((time.perf_counter() - started) * 1000)
        connection.close()

    return samples


def sender_latencies(url: str, hooks: int) -> list[float]:
    """What the hook sender records, one hook on the wire at a time."""
    fields = sample_fields("liveStreamStarted", "stream1")
    hook = Hook.build(app="LiveApp", url=url, fields=fields, content_type=FORM)
    log = DeliveryLog()
    sender = HookSender(log, workers=1)
    try:
        for _ in range(hooks):
            sender.send(hook)
            if not sender.wait_idle(5):
                raise RuntimeError("a hook was not recorded within 5 s")
    finally:
        sender.close()

    return [item.ttfb_ms for item in log.select() if item.ttfb_ms is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=50.0, help="receiver delay")
    parser.add_argument("--hooks", type=int, default=200, help="hooks to time")
    options = parser.parse_args()

    with python_receiver(options.delay_ms / 1000) as url:
        prober = Prober(url)
        figures = prober.sample_latency(
            "liveStreamStarted", FORM, options.hooks, time_limit_s=120
        )
        recorded = sender_latencies(url, options.hooks)
        reference = plain_client(url, options.hooks)
    delay = options.delay_ms
    print(f"receiver delay {delay:g} ms, {len(figures.samples)} hooks, one at a time")
    print(
        f"{'':6}{'check':>10}{'error':>9}   {'sender':>10}{'error':>9}   "
        f"{'http.client':>11}{'error':>9}"
    )
    rows = (
        ("p50", figures.p50, percentile(recorded, 0.50), percentile(reference, 0.50)),
        ("p99", figures.p99, percentile(recorded, 0.99), percentile(reference, 0.99)),
        ("max", figures.max, max(recorded), max(reference)),
    )
    for name, value, sent, plain in rows:
        print(
            f"{name:6}{value:10.3f}{value - delay:+9.3f}   "
            f"{sent:10.3f}{sent - delay:+9.3f}   "
            f"{plain:11.3f}{plain - delay:+9.3f}"
        )
    overhead = harness_overhead(500)
    print(
        f"harness against a trivial receiver: p50 {overhead.p50:.3f} ms, "
        f"p99 {overhead.p99:.3f} ms"
    )


if __name__ == "__main__":
    main()
