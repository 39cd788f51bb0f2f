"""The exceptions mockams raises.

::

    MockAMSError
     ├── ConfigError        a setting, option or argument with a value mockams
     │                      cannot use (names the setting and the value)
     ├── CreateRejected     a broadcast create that AMS refuses (a taken or
     │                      invalid stream id); carries AMS's message
     └── StreamStateError   an operation that cannot happen to a stream in its
                            current state (unpublishing one that is not live)

Each message names the value at fault and where it came from.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "CreateRejected",
    "MockAMSError",
    "StreamStateError",
    "did_you_mean",
]


class MockAMSError(Exception):
    """Base class of every error mockams raises on purpose."""


class ConfigError(MockAMSError, ValueError):
    """A setting, option or argument has a value mockams cannot use."""


class CreateRejected(MockAMSError):
    """AMS refuses this create with 400; ``message`` is AMS's own text."""

    def __init__(self, message: str, stream_id: str) -> None:
        super().__init__(f"create of stream id {stream_id!r} refused: {message}")
        self.message = message
        self.stream_id = stream_id


class StreamStateError(MockAMSError):
    """The operation cannot happen to the stream in its current state."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)

    return f"; did you mean {close[0]!r}?" if close else ""
