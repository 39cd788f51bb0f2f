"""A small AMS webhook receiver that does everything right.

It answers 200 at once, reads both encodings, ignores actions it does not
know, keeps the latest state of each stream by the hook's ``timestamp`` (so
a late or repeated hook changes nothing, and an end beats a start of the same
millisecond), and records each recording once.
``GET /streams/{id}`` tells what it stored.

Run it with ``python examples/good_receiver.py --port 8000``.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

STATES = {"liveStreamStarted": "live", "liveStreamEnded": "ended"}


@dataclass
class Stream:
    state: str = "unknown"
    changed_at: int = -1
    name: str | None = None
    recordings: list[str] = field(default_factory=list)


class Receiver:
    """The receiver's WSGI app and its store."""

    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}
        self.lock = threading.Lock()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        request = Request(environ)
        if request.method == "GET" and request.path.startswith("/streams/"):
            response = self.show(request.path.removeprefix("/streams/"))
        elif request.method == "POST" and request.path == "/hooks":
            response = self.hook(request)
        else:
            response = Response("not found", status=404)

        return response(environ, start_response)

    def hook(self, request: Request) -> Response:
        fields = read_fields(request)
        stream_id = str(fields.get("id", ""))
        action = str(fields.get("action", ""))
        if not stream_id or not action:
            return Response("ignored", status=200)
        stamp = int(str(fields.get("timestamp") or 0))
        with self.lock:
            stream = self.streams.setdefault(stream_id, Stream())
            # Hooks of one millisecond may come in any order: the end wins a tie.
            later = stamp > stream.changed_at or (
                stamp == stream.changed_at and action == "liveStreamEnded"
            )
            if action in STATES and later:
                stream.state, stream.changed_at = STATES[action], stamp
                stream.name = (
                    str(fields["streamName"]) if "streamName" in fields else None
                )
            vod_id = str(fields.get("vodId") or "")
            if action == "vodReady" and vod_id and vod_id not in stream.recordings:
                stream.recordings.append(vod_id)

        return Response("ok", status=200)

    def show(self, stream_id: str) -> Response:
        with self.lock:
            stream = self.streams.get(stream_id)
            state = {
                "id": stream_id,
                "state": stream.state if stream else "unknown",
                "name": stream.name if stream else None,
                "recordings": list(stream.recordings) if stream else [],
            }

        return Response(json.dumps(state), content_type="application/json")


def read_fields(request: Request) -> dict[str, Any]:
    """The hook's fields, whichever encoding AMS was configured with."""
    body = request.get_data()
    if request.mimetype == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}

    # AMS sends forms in ISO-8859-1.
    return dict(parse_qsl(body.decode("latin-1"), encoding="latin-1"))


def main() -> None:
    parser = argparse.ArgumentParser(description="A well-behaved AMS webhook receiver")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, Receiver(), threaded=True)


if __name__ == "__main__":
    main()
