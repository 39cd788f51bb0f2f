"""A receiver whose one flaw is taking 2.5 s to answer ``vodReady``.

It does its slow work, say moving the recording, before answering. AMS gives
up after 2 s, counts the hook as failed and, with retries on, sends it again
while the first is still being processed. Every other action is answered at
once.

Run it with ``python examples/slow_vod_ready.py --port 8000``.
"""

from __future__ import annotations

import argparse
import time

from good_receiver import Receiver, read_fields
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

VOD_READY_WORK_S = 2.5


class SlowVodReady(Receiver):
    """The good receiver, with slow work done before answering vodReady."""

    def hook(self, request: Request) -> Response:
        if read_fields(request).get("action") == "vodReady":
            time.sleep(VOD_READY_WORK_S)

        return super().hook(request)


def main() -> None:
    parser = argparse.ArgumentParser(description="An AMS receiver slow on vodReady")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, SlowVodReady(), threaded=True)


if __name__ == "__main__":
    main()
