"""``HookRecorder``: a webhook receiver for tests, built on pytest-httpserver.

It answers every hook (200 unless told otherwise), decodes both of AMS's
encodings, and lets a test wait for hooks instead of sleeping::

    recorder.respond("vodReady", status=500)      # make one action fail
    started = recorder.wait_for("liveStreamStarted")
    recorder.assert_received("liveStreamEnded", id="stream1")

A hook is recorded when it arrives, before any ``delay`` of its answer, and
belongs to the recorder's state of that moment: a hook still being answered
when :meth:`HookRecorder.clear` runs is not carried over into what follows.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from mockams.wire import decode_body

__all__ = ["HookRecorder", "RecordedHook"]


@dataclass(frozen=True)
class RecordedHook:
    """One hook the recorder got, decoded as a receiver decodes it."""

    method: str
    path: str
    content_type: str
    headers: dict[str, str]
    body: str
    fields: dict[str, Any]
    received_at: float

    @property
    def action(self) -> str:
        return str(self.fields.get("action", ""))

    @property
    def stream_id(self) -> str:
        return str(self.fields.get("id", ""))


@dataclass
class _Answer:
    status: int = 200
    delay_s: float = 0.0
    body: str = "OK"


class HookRecorder:
    """Records the hooks posted to it; ``url`` is the hook URL to give AMS."""

    def __init__(self, server: HTTPServer, path: str = "/hooks") -> None:
        self.server = server
        self.path = path
        self._hooks: list[RecordedHook] = []
        self._answers: dict[str, _Answer] = {}
        self._expected: list[tuple[str, dict[str, str]]] = []
        self._changed = threading.Condition()
        # Bumped by clear(): a request that arrived before it belongs to
        # what was cleared, however long its answer takes.
        self._generation = 0
        self._answering = 0
        server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for(self.path)

    @property
    def hooks(self) -> list[RecordedHook]:
        """Every hook received so far, in arrival order."""
        with self._changed:
            return list(self._hooks)

    def answering(self) -> int:
        """Hooks recorded since the last :meth:`clear` whose answer is not sent yet."""
        with self._changed:
            return self._answering

    def respond(
        self,
        action: str = "*",
        *,
        status: int = 200,
        delay: float = 0.0,
        body: str = "OK",
    ) -> None:
        """Answer ``action`` hooks (``*``: all) with ``status`` after ``delay`` s."""
        with self._changed:
            self._answers[action] = _Answer(status, delay, body)

    def expect(self, action: str, **fields: str) -> None:
        """Declare an expected hook; from then on, any other hook fails the test.

        Without any ``expect`` the recorder accepts every hook: checking for
        unexpected ones is opt-in.
        """
        with self._changed:
            self._expected.append(
                (action, {key: str(value) for key, value in fields.items()})
            )

    def received(self, action: str | None = None, **fields: Any) -> list[RecordedHook]:
        """The hooks of ``action`` whose fields include ``fields``."""
        return [hook for hook in self.hooks if _matches(hook, action, fields)]

    def wait_for(
        self,
        action: str | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
        **fields: Any,
    ) -> list[RecordedHook]:
        """Wait for ``count`` matching hooks and return them, or fail the test."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [hook for hook in self._hooks if _matches(hook, action, fields)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
        if len(found) < count:
            seen = (
                ", ".join(f"{hook.action}({hook.stream_id})" for hook in self.hooks)
                or "none"
            )
            wanted = action or "any action"
            raise AssertionError(
                f"waited {timeout:g} s for {count} {wanted} hook(s) "
                f"matching {fields or '{}'}, got {len(found)}; received: {seen}"
            )

        return found

    def assert_received(
        self, action: str, count: int | None = None, **fields: Any
    ) -> None:
        """Assert that ``action`` hooks with ``fields`` arrived, ``count`` if given."""
        __tracebackhide__ = True
        found = self.received(action, **fields)
        if (count is None and not found) or (count is not None and len(found) != count):
            seen = (
                ", ".join(f"{hook.action}({hook.stream_id})" for hook in self.hooks)
                or "none"
            )
            expected = "some" if count is None else str(count)
            raise AssertionError(
                f"expected {expected} {action} hook(s) matching {fields or '{}'}, "
                f"got {len(found)}; received: {seen}"
            )

    def unexpected(self) -> list[RecordedHook]:
        """Hooks that match no :meth:`expect` declaration (none if none was made)."""
        with self._changed:
            if not self._expected:
                return []
            expected = list(self._expected)
            hooks = list(self._hooks)

        return [
            hook
            for hook in hooks
            if not any(_matches(hook, action, fields) for action, fields in expected)
        ]

    def check(self) -> None:
        """Fail with the hooks no :meth:`expect` declared, and server-side errors."""
        __tracebackhide__ = True
        self.server.check_handler_errors()
        surprises = self.unexpected()
        if surprises:
            listed = "; ".join(f"{hook.action} {hook.fields}" for hook in surprises[:5])
            raise AssertionError(f"{len(surprises)} hook(s) no test expected: {listed}")

    def clear(self) -> None:
        """Forget hooks, answers and expectations (the server keeps running).

        Requests still being answered keep their answer but are not recorded.
        """
        with self._changed:
            self._generation += 1
            self._answering = 0
            self._hooks.clear()
            self._answers.clear()
            self._expected.clear()
        self.server.clear_log()
        self.server.clear_assertions()
        self.server.clear_handler_errors()

    def _handle(self, request: Request) -> Response:
        with self._changed:
            generation = self._generation
        text, fields = decode_body(request.get_data(), request.mimetype or "")
        hook = RecordedHook(
            request.method,
            request.path,
            request.content_type or "",
            dict(request.headers.items()),
            text,
            fields,
            time.time(),
        )
        with self._changed:
            answer = (
                self._answers.get(hook.action) or self._answers.get("*") or _Answer()
            )
            current = generation == self._generation
            if current:
                self._hooks.append(hook)
                self._answering += 1
                self._changed.notify_all()
        try:
            if answer.delay_s > 0:
                time.sleep(answer.delay_s)  # a slow receiver, on purpose
        finally:
            with self._changed:
                if current and generation == self._generation:
                    self._answering -= 1
                    self._changed.notify_all()

        return Response(answer.body, status=answer.status, content_type="text/plain")


def _matches(hook: RecordedHook, action: str | None, fields: Mapping[str, Any]) -> bool:
    if action is not None and hook.action != action:
        return False

    return all(str(hook.fields.get(key)) == str(value) for key, value in fields.items())
