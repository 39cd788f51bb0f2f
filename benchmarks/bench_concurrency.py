"""Concurrent delivery throughput, every delivery recorded, next to Locust.

Side by side against the same trivial receiver (nginx if installed):
- mockams's hook sender: AMS's pool of 20 workers, a new connection per hook,
  every attempt recorded as a delivery;
- ``mockams replay basic-lifecycle --streams N --concurrency 20``: the whole
  path, REST create, publish and unpublish included;
- Locust's FastHttpUser posting the same body, 20 users, in its own process
  (its own measure of requests per second): once on kept-alive connections,
  its usual way, and once with a new connection per request, as AMS and
  mockams send hooks.

Run: python benchmarks/bench_concurrency.py [--hooks 20000] [--streams 2000]
     [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receivers import fast_receiver

from mockams.contract import sample_fields
from mockams.replay import ReplayOptions, replay
from mockams.scenario import load_scenario
from mockams.sender import DeliveryLog, Hook, HookSender
from mockams.settings import FORM
from mockams.wire import encode_body

LOCUSTFILE = textwrap.dedent(
    """
    from locust import constant, task
    from locust.contrib.fasthttp import FastHttpUser

    BODY = {body!r}
    HEADERS = {{"Content-Type": {content_type!r}{extra}}}

    class Poster(FastHttpUser):
        wait_time = constant(0)

        @task
        def post_hook(self):
            self.client.post("/hooks", data=BODY, headers=HEADERS)
    """
)


def sender_rate(url: str, hooks: int, workers: int) -> tuple[float, int]:
    """Hooks per second through HookSender, and how many deliveries it recorded."""
    log = DeliveryLog()
    sender = HookSender(log, workers=workers)
    fields = sample_fields("liveStreamStarted", "stream1")
    hook = Hook.build(app="LiveApp", url=url, fields=fields, content_type=FORM)
    started = time.perf_counter()
    for _ in range(hooks):
        sender.send(hook)
    sender.wait_idle(120)
    elapsed = time.perf_counter() - started
    sender.close()

    return hooks / elapsed, len(log)


def replay_rate(url: str, streams: int, concurrency: int) -> tuple[float, int]:
    scenario = load_scenario("basic-lifecycle")
    started = time.perf_counter()
    report = replay(
        scenario, ReplayOptions(target=url, streams=streams, concurrency=concurrency)
    )
    elapsed = time.perf_counter() - started
    if not report.passed:
        raise RuntimeError(f"replay failed: {report.notes}")

    return len(report.deliveries) / elapsed, len(report.deliveries)


def locust_rate(url: str, users: int, seconds: int, keep_alive: bool = True) -> float:
    fields = sample_fields("liveStreamStarted", "stream1")
    body, content_type = encode_body(fields, FORM)
    # Asking for "Connection: close" makes the receiver close each connection.
    extra = "" if keep_alive else ', "Connection": "close"'
    host = url.rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "locustfile.py"
        locustfile.write_text(
            LOCUSTFILE.format(
                body=body.decode(), content_type=content_type, extra=extra
            )
        )
        prefix = Path(folder) / "stats"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(locustfile),
                "--headless",
                "--host",
                host,
                "-u",
                str(users),
                "-r",
                str(users),
                "--run-time",
                f"{seconds}s",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            check=True,
            capture_output=True,
            timeout=seconds + 60,
        )
        with open(f"{prefix}_stats.csv", newline="") as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}

    return float(rows["Aggregated"]["Requests/s"])


def spread(values: list[float]) -> str:
    """Median, with the lowest and highest of the rounds."""
    return (
        f"{statistics.median(values):9,.0f}  [{min(values):,.0f} to {max(values):,.0f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hooks", type=int, default=20000, help="hooks through the sender"
    )
    parser.add_argument("--streams", type=int, default=2000, help="replay copies")
    parser.add_argument("--seconds", type=int, default=10, help="Locust run time")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of each client"
    )
    options = parser.parse_args()

    with fast_receiver() as (name, url):
        print(
            f"receiver: {name} at {url}; median of {options.rounds} alternating "
            "rounds [lowest to highest]\n"
        )
        sender_rate(url, 1000, 20)  # warm-up
        rates: dict[str, list[float]] = {}
        recorded = 0
        for _ in range(options.rounds):
            rate, recorded = sender_rate(url, options.hooks, 20)
            rates.setdefault("mockams HookSender, 20 workers", []).append(rate)
            for keep_alive, policy in ((True, "kept alive"), (False, "new each")):
                name = f"Locust FastHttpUser, 20 users, {policy}"
                try:
                    locust = locust_rate(url, 20, options.seconds, keep_alive)
                except (OSError, subprocess.SubprocessError, KeyError) as error:
                    print(f"{name}: not measured ({error})")
                    continue
                rates.setdefault(name, []).append(locust)
        for name, values in rates.items():
            unit = "hooks/s" if name.startswith("mockams") else "requests/s"
            print(f"{name:48} {spread(values)} {unit}")
        print(f"(every round of the hook sender recorded {recorded} deliveries)")
        rate, count = replay_rate(url, options.streams, 20)
        print(
            f"{f'mockams replay --streams {options.streams} --concurrency 20':48} "
            f"{rate:9,.0f} hooks/s  ({count} recorded)"
        )


if __name__ == "__main__":
    main()
