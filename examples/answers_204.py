"""A receiver whose one flaw is answering ``204 No Content`` to every hook.

It stores each hook as the good receiver does, but AMS counts only ``200`` as
delivered: to AMS every hook it sends here has failed.

Run it with ``python examples/answers_204.py --port 8000``.
"""

from __future__ import annotations

import argparse

from good_receiver import Receiver
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response


class Answers204(Receiver):
    """The good receiver, answering 204 instead of 200."""

    def hook(self, request: Request) -> Response:
        super().hook(request)

        return Response(status=204)


def main() -> None:
    parser = argparse.ArgumentParser(description="An AMS receiver that answers 204")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, Answers204(), threaded=True)


if __name__ == "__main__":
    main()
