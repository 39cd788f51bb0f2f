"""A receiver whose one flaw is handling one hook at a time.

It runs on a single-threaded server and spends 150 ms storing each
``liveStreamStarted`` and ``liveStreamEnded`` (other actions are answered at
once). One by one, every hook is answered well within a 250 ms budget. But
AMS sends from a pool of 20 threads: 20 hooks at once queue behind each other
for 20 x 150 ms = 3 s, past AMS's 2 s timeout, and the hooks AMS gave up on
still take their turn, so the queue only grows.

Run it with ``python examples/slow_under_load.py --port 8000``.
"""

from __future__ import annotations

import argparse
import time

from good_receiver import STATES, Receiver, read_fields
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

STORE_TIME_S = 0.15


class SlowUnderLoad(Receiver):
    """The good receiver with a slow store for stream states."""

    def hook(self, request: Request) -> Response:
        if read_fields(request).get("action") in STATES:
            time.sleep(STORE_TIME_S)

        return super().hook(request)


def main() -> None:
    parser = argparse.ArgumentParser(description="A single-threaded AMS receiver")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, SlowUnderLoad(), threaded=False)


if __name__ == "__main__":
    main()
