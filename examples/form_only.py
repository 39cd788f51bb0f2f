"""A receiver whose one flaw is reading only form fields.

AMS sends forms only when ``webhookContentType`` is
``application/x-www-form-urlencoded``; since 2.10 it sends JSON by default.
A JSON hook has no ``action`` or ``id`` among the form fields, and this
receiver answers it ``400``.

Run it with ``python examples/form_only.py --port 8000``.
"""

from __future__ import annotations

import argparse

from good_receiver import Receiver
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response


class FormOnly(Receiver):
    """The good receiver behind a check that knows only form bodies."""

    def hook(self, request: Request) -> Response:
        # Cache the body first: parsing the form consumes it, and the parent
        # reads it again.
        request.get_data()
        if "action" not in request.form or "id" not in request.form:
            return Response("a hook needs the form fields action and id", status=400)

        return super().hook(request)


def main() -> None:
    parser = argparse.ArgumentParser(description="An AMS receiver that reads forms")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run_simple("127.0.0.1", options.port, FormOnly(), threaded=True)


if __name__ == "__main__":
    main()
