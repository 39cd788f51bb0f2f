"""Hook bodies and request heads, byte for byte as AMS's Java stack writes them.

AMS builds a hook's fields in a ``java.util.HashMap``, encodes a form body with
Apache HttpClient 4.5 (ISO-8859-1, ``java.net.URLEncoder``'s safe set) and a
JSON body with json-simple, then posts it with a default HttpClient. So the key
order of a body is the iteration order of a Java ``HashMap`` (fixed by the keys'
``String.hashCode``, not by insertion), JSON escapes ``/`` as ``\\/`` and
doubles print as Java prints them. This module reproduces all of that, so that
a receiver sees the same bytes from the mock as from a real server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import SplitResult, parse_qsl

from mockams.settings import FORM

__all__ = [
    "HTTP_CLIENT_AGENT",
    "HookValue",
    "decode_body",
    "encode_body",
    "encode_form",
    "encode_json",
    "java_double",
    "java_hash",
    "java_hashmap_order",
    "request_head",
]

HookValue = str | int | float | bool | dict[str, Any] | None

# What AMS 3.0 (Apache HttpClient 4.5.13 on Java 17) sends as its user agent.
HTTP_CLIENT_AGENT = "Apache-HttpClient/4.5.13 (Java/17.0.13)"
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"

_FORM_SAFE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.*"
)
_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "/": "\\/",
}


def java_hash(text: str) -> int:
    """``String.hashCode()``: over UTF-16 code units, as a signed 32-bit int."""
    code_units = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for index in range(0, len(code_units), 2):
        unit = (code_units[index] << 8) | code_units[index + 1]
        value = (31 * value + unit) & 0xFFFFFFFF

    return value


def _bucket(key: str, capacity: int) -> int:
    spread = java_hash(key)
    spread ^= spread >> 16

    return spread & (capacity - 1)


def _grown_capacity(size: int) -> int:
    """Table size of a ``HashMap`` filled by ``size`` calls to ``put``."""
    capacity = 16
    while size > capacity * 3 // 4:
        capacity *= 2

    return capacity


def _copied_capacity(size: int) -> int:
    """Table size of ``new HashMap(map)`` for a map of ``size`` entries (Java 17)."""
    wanted = int(size / 0.75 + 1.0)
    capacity = 1
    while capacity < wanted:
        capacity *= 2

    return capacity


def java_hashmap_order(keys: Iterable[str], *, copied: bool = False) -> list[str]:
    """The iteration order of a ``HashMap`` into which ``keys`` were put in order.

    ``copied`` gives the order of a map made by the copy constructor instead
    (json-simple's ``new JSONObject(map)``), whose table may be larger.
    """
    unique = list(dict.fromkeys(keys))
    size = len(unique)
    capacity = _copied_capacity(size) if copied else _grown_capacity(size)
    # A stable sort keeps insertion order within a bucket, as the chains do.
    return sorted(unique, key=lambda key: _bucket(key, capacity))


def java_double(value: float) -> str:
    """``Double.toString``: ``1.0``, ``0.25``, ``1.0E7``, ``1.5E-4``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"

    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits_tuple = Decimal(repr(magnitude)).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = len(digits) + int(digits_tuple.exponent) - 1

    if 1e-3 <= magnitude < 1e7:
        text = format(Decimal(repr(magnitude)), "f")
        if "." not in text:
            text += ".0"
        return sign + text

    fraction = digits[1:] or "0"

    return f"{sign}{digits[0]}.{fraction}E{exponent}"


def _java_scalar(value: HookValue) -> str:
    """``toString()`` of a field value, as the form encoder calls it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, dict | list):
        return _json_value(value)

    return str(value)


def _json_string(text: str) -> str:
    out = ['"']
    for char in text:
        escaped = _JSON_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
            continue
        code = ord(char)
        if code <= 0x1F or 0x7F <= code <= 0x9F or 0x2000 <= code <= 0x20FF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')

    return "".join(out)


def _json_value(value: Any, *, copied: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "null" if math.isnan(value) or math.isinf(value) else java_double(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, Mapping):
        keys = java_hashmap_order(value, copied=copied)
        members = (f"{_json_string(key)}:{_json_value(value[key])}" for key in keys)
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_value(item) for item in value) + "]"

    return _json_string(str(value))


def encode_json(fields: Mapping[str, HookValue]) -> bytes:
    """json-simple's ``new JSONObject(fields).toString()``, in UTF-8."""
    return _json_value(fields, copied=True).encode("utf-8", "replace")


def _form_escape(text: str) -> str:
    out = []
    for byte in text.encode("latin-1", "replace"):
        if byte in _FORM_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")

    return "".join(out)


def encode_form(fields: Mapping[str, HookValue]) -> bytes:
    """Apache's ``UrlEncodedFormEntity`` of the fields, in ``HashMap`` order."""
    pairs = (
        f"{_form_escape(key)}={_form_escape(_java_scalar(fields[key]))}"
        for key in java_hashmap_order(fields)
    )

    return "&".join(pairs).encode("ascii")


def encode_body(
    fields: Mapping[str, HookValue], content_type: str
) -> tuple[bytes, str]:
    """The body and ``Content-Type`` header AMS sends for ``content_type``.

    Exactly ``application/x-www-form-urlencoded`` gives a form; anything else
    gives JSON, as in AMS.
    """
    if content_type == FORM:
        return encode_form(fields), FORM

    return encode_json(fields), JSON_CONTENT_TYPE


def decode_body(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """The body as text and its fields, decoded as a receiver would."""
    if content_type == FORM:
        text = body.decode("latin-1")
        return text, dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1"))

    text = body.decode("utf-8", "replace")
    try:
        decoded = json.loads(text)
    except ValueError:
        return text, {}

    return text, decoded if isinstance(decoded, dict) else {}


def request_head(
    url: SplitResult, method: str, body_length: int, content_type: str
) -> bytes:
    """The request line and headers of Apache HttpClient 4.5, in its order."""
    target = url.path or "/"
    if url.query:
        target += "?" + url.query
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if url.port is not None:
        host += f":{url.port}"

    lines = [f"{method} {target} HTTP/1.1"]
    if method == "POST":
        lines += [f"Content-Length: {body_length}", f"Content-Type: {content_type}"]
    lines += [
        f"Host: {host}",
        "Connection: Keep-Alive",
        f"User-Agent: {HTTP_CLIENT_AGENT}",
        "Accept-Encoding: gzip,deflate",
    ]

    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
