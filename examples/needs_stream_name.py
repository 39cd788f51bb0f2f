"""A receiver whose one flaw is assuming every stream hook has a ``streamName``.

AMS leaves ``streamName`` out when the broadcast has no name, for instance a
stream published without being created over REST first. This receiver then
raises ``KeyError`` and answers ``500``.

Run it with ``python examples/needs_stream_name.py --port 8000``.
"""

from __future__ import annotations

import argparse

from good_receiver import STATES, Receiver, read_fields
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response


class NeedsStreamName(Receiver):
    """The good receiver, plus a title for each stream taken from its name."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: dict[str, str] = {}

    def hook(self, request: Request) -> Response:
        fields = read_fields(request)
        if fields.get("action") in STATES:
            title = str(fields["streamName"]).title()
            with self.lock:
                self.titles[str(fields.get("id"))] = title

        return super().hook(request)


def main() -> None:
    parser = argparse.ArgumentParser(description="An AMS receiver that needs names")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, NeedsStreamName(), threaded=True)


if __name__ == "__main__":
    main()
