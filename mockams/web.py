"""Small helpers shared by the AMS REST routes and the control routes."""

from __future__ import annotations

import html
import json
import socket
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.serving import LISTEN_QUEUE, get_sockaddr, select_address_family
from werkzeug.wrappers import Request, Response

__all__ = [
    "MAX_BODY",
    "BadBody",
    "json_response",
    "raw_body",
    "read_json",
    "text_response",
]

# AMS reads JSON bodies without a limit; the mock stops at 1 MiB so that a
# runaway client cannot exhaust it, and says so with a 413.
MAX_BODY = 1024 * 1024


class BadBody(Exception):
    """The request body cannot be used; carries the status and message to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))

    return Response(body, status=status, content_type="application/json")


def text_response(message: str, status: int) -> Response:
    return Response(message, status=status, content_type="text/plain; charset=UTF-8")


def raw_body(request: Request) -> bytes:
    """The request body, read once and kept; :class:`BadBody` (413) past 1 MiB."""
    cached = request.environ.get("mockams.body")
    if cached is not None:
        return bytes(cached)
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise BadBody(
            413, f"Request body of {length} bytes is larger than {MAX_BODY} bytes"
        )
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadBody(413, f"Request body is larger than {MAX_BODY} bytes")
    request.environ["mockams.body"] = raw

    return raw


def read_json(request: Request, *, allow_empty: bool = True) -> Any:
    """The decoded JSON body; ``None`` for an empty one when ``allow_empty``.

    Raises :class:`BadBody` for a body that is too large, not UTF-8, or not JSON.
    """
    raw = raw_body(request)
    if not raw.strip():
        if allow_empty:
            return None
        raise BadBody(400, "No content to map due to end-of-input")
    try:
        text = raw.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError as error:
        raise BadBody(
            400, f"Invalid UTF-8 in request body at byte {error.start}"
        ) from error
    except json.JSONDecodeError as error:
        message = (
            f"Unexpected character: {error.msg} at [Source: REDACTED; "
            f"line: {error.lineno}, column: {error.colno}]"
        )
        raise BadBody(400, message) from error


_TOMCAT_STYLE = (
    "body {font-family:Tahoma,Arial,sans-serif;} h1, h2, h3, b {color:white;"
    "background-color:#525D76;} h1 {font-size:22px;} h2 {font-size:16px;} "
    "h3 {font-size:14px;} p {font-size:12px;} a {color:black;} .line {height:1px;"
    "background-color:#525D76;border:none;}"
)
_TOMCAT_STATUS = {
    400: (
        "Bad Request",
        "The server cannot or will not process the request due to something that "
        "is perceived to be a client error (e.g., malformed request syntax, invalid "
        "request message framing, or deceptive request routing).",
    ),
    403: (
        "Forbidden",
        "The server understood the request but refuses to authorize it.",
    ),
    404: (
        "Not Found",
        "The origin server did not find a current representation for the target "
        "resource or is not willing to disclose that one exists.",
    ),
    405: (
        "Method Not Allowed",
        "The method received in the request-line is known by the origin server but not "
        "supported by the target resource.",
    ),
    415: (
        "Unsupported Media Type",
        "The origin server is refusing to service the request because the content "
        "is in a format not supported by this method on the target resource.",
    ),
    500: (
        "Internal Server Error",
        "The server encountered an unexpected condition that prevented it from "
        "fulfilling the request.",
    ),
}


def tomcat_error(status: int, message: str | None = None) -> Response:
    """The HTML error page of AMS's embedded Tomcat, as AMS sends it."""
    title, description = _TOMCAT_STATUS.get(status, ("Error", ""))
    kind = "Exception Report" if status == 500 else "Status Report"
    shown = html.escape(message or title, quote=True).replace("/", "&#47;")
    heading = f"HTTP Status {status} \u2013 {title}"
    page = (
        f'<!doctype html><html lang="en"><head><title>{heading}</title>'
        f'<style type="text/css">{_TOMCAT_STYLE}</style></head><body>'
        f'<h1>{heading}</h1><hr class="line" />'
        f"<p><b>Type</b> {kind}</p><p><b>Message</b> {shown}</p>"
        f'<p><b>Description</b> {description}</p><hr class="line" /></body></html>'
    )
    response = Response(page, status=status, content_type="text/html;charset=utf-8")
    response.headers["Content-Language"] = "en"

    return response


def http_error_response(error: HTTPException) -> Response:
    """A werkzeug routing error (404, 405) as AMS's Tomcat page."""
    response = tomcat_error(error.code or 500)
    if error.code == 405:
        allowed = getattr(error, "valid_methods", None) or []
        response.headers["Allow"] = ",".join(allowed)

    return response


__all__ += ["http_error_response", "tomcat_error"]


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``; raises :class:`OSError` if it cannot.

    Werkzeug binds by itself only to print the error and call ``sys.exit``,
    which a library must not do; given a bound socket, it leaves that alone.
    """
    family = select_address_family(host, port)
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(get_sockaddr(host, port, family))
        listener.listen(LISTEN_QUEUE)
    except BaseException:
        listener.close()
        raise

    return listener


__all__ += ["listen"]
