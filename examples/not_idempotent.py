"""A receiver whose one flaw is recording every ``vodReady`` it is sent.

AMS sends the same hook again, byte for byte, when an answer takes over 2 s
and retries are on; this receiver then lists the same recording twice.
``GET /streams/{id}`` tells what it stored, as the good receiver's does.

Run it with ``python examples/not_idempotent.py --port 8000``.
"""

from __future__ import annotations

import argparse

from good_receiver import Receiver, Stream, read_fields
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response


class NotIdempotent(Receiver):
    """The good receiver, without the check for a recording it already has."""

    def hook(self, request: Request) -> Response:
        fields = read_fields(request)
        if fields.get("action") != "vodReady" or not fields.get("id"):
            return super().hook(request)

        with self.lock:
            stream = self.streams.setdefault(str(fields["id"]), Stream())
            stream.recordings.append(str(fields.get("vodId")))

        return Response("ok", status=200)


def main() -> None:
    parser = argparse.ArgumentParser(description="An AMS receiver that double-counts")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, NotIdempotent(), threaded=True)


if __name__ == "__main__":
    main()
