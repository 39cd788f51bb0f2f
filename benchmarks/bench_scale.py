"""Replay cost as streams grow: time and peak memory for 100, 1,000, 10,000 streams.

Each size runs ``mockams replay basic-lifecycle --streams N --concurrency 20``
in a fresh process against a trivial receiver (nginx if installed), so that
its peak resident memory is its own.

Run: python benchmarks/bench_scale.py [--sizes 100 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receivers import fast_receiver

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from mockams.replay import ReplayOptions, replay
    from mockams.scenario import load_scenario

    url, streams = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    report = replay(
        load_scenario("basic-lifecycle"),
        ReplayOptions(target=url, streams=streams, concurrency=20),
    )
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "streams": streams,
        "seconds": elapsed,
        "deliveries": len(report.deliveries),
        "passed": report.passed,
        "peak_mib": peak_kib / 1024,
    }))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    options = parser.parse_args()

    with fast_receiver() as (name, url):
        print(f"receiver: {name}")
        columns = ("streams", "seconds", "ms/stream", "hooks/s", "peak MiB")
        print(" ".join(f"{column:>10}" for column in columns))
        for size in options.sizes:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, url, str(size)],
                capture_output=True,
                text=True,
                check=True,
                timeout=900,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            per_stream = row["seconds"] * 1000 / size
            rate = row["deliveries"] / row["seconds"]
            print(
                f"{size:>10} {row['seconds']:>10.2f} {per_stream:>10.3f} "
                f"{rate:>10,.0f} {row['peak_mib']:>10.1f}"
                + ("" if row["passed"] else "  (run failed)")
            )


if __name__ == "__main__":
    main()
