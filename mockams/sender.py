"""The hook sender: a worker pool, fixed-delay retries and the delivery log.

AMS hands each hook to a pool of worker threads (20 in Vert.x), so a slow
receiver holds one worker and nothing else; since 2.11 the arrival order of
two hooks is therefore not fixed. A failed attempt is retried after a fixed
delay, with the very same body, ``webhookRetryCount`` times; then the event is
dropped. Every attempt, whatever its outcome, becomes one :class:`Delivery`.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from mockams.exchange import TIMEOUT_S, Outcome
from mockams.transport import Transport
from mockams.wire import HookValue, decode_body, encode_body

_FORM_PREFIX = "application/x-www-form-urlencoded"


def decode_body_text(body: bytes, content_type: str) -> str:
    """The body as text: ISO-8859-1 for a form, UTF-8 otherwise, as AMS encodes."""
    if content_type.startswith(_FORM_PREFIX):
        return body.decode("latin-1")

    return body.decode("utf-8", "replace")


__all__ = ["Delivery", "DeliveryLog", "Hook", "HookSender", "HookSink", "Scheduler"]

logger = logging.getLogger("mockams")

DEFAULT_WORKERS = 20


@dataclass(frozen=True)
class Hook:
    """One event to deliver: its fields, encoded once so retries are identical."""

    app: str
    action: str
    stream_id: str
    url: str
    fields: dict[str, HookValue]
    body: bytes
    content_type: str
    retry_count: int = 0
    retry_delay_ms: int = 1000
    event_id: int = 0

    @classmethod
    def build(
        cls,
        *,
        app: str,
        url: str,
        fields: dict[str, HookValue],
        content_type: str,
        retry_count: int = 0,
        retry_delay_ms: int = 1000,
    ) -> Hook:
        body, header = encode_body(fields, content_type)

        return cls(
            app=app,
            action=str(fields.get("action", "")),
            stream_id=str(fields.get("id", "")),
            url=url,
            fields=fields,
            body=body,
            content_type=header,
            retry_count=retry_count,
            retry_delay_ms=retry_delay_ms,
            event_id=next(_event_ids),
        )


_event_ids = itertools.count(1)


def _iso(epoch_s: float) -> str:
    moment = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Delivery:
    """One attempt to deliver a hook, and what came of it."""

    id: int
    event_id: int
    app: str
    action: str
    stream_id: str
    url: str
    content_type: str
    body: str
    attempt: int
    status: int | None
    error: str | None
    elapsed_ms: float
    ttfb_ms: float | None
    connect_ms: float | None
    sent_at: float
    finished_at: float
    retry_scheduled: bool = False
    redirected_to: str | None = None
    raw: bytes = field(default=b"", repr=False, compare=False)

    @functools.cached_property
    def fields(self) -> dict[str, Any]:
        """The body decoded as a receiver decodes it (worked out when first asked)."""
        return decode_body(self.raw, self.content_type.split(";")[0])[1]

    @property
    def ok(self) -> bool:
        """AMS counts exactly 200 as success."""
        return self.status == 200

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "app": self.app,
            "action": self.action,
            "stream_id": self.stream_id,
            "url": self.url,
            "content_type": self.content_type,
            "body": self.body,
            "fields": self.fields,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "ttfb_ms": None if self.ttfb_ms is None else round(self.ttfb_ms, 3),
            "connect_ms": None
            if self.connect_ms is None
            else round(self.connect_ms, 3),
            "sent_at": _iso(self.sent_at),
            "finished_at": _iso(self.finished_at),
            "retry_scheduled": self.retry_scheduled,
            "redirected_to": self.redirected_to,
        }


def _matches(delivery: Delivery, action: str | None, stream_id: str | None) -> bool:
    return (action is None or delivery.action == action) and (
        stream_id is None or delivery.stream_id == stream_id
    )


class HookSink(Protocol):
    """Where the lifecycle hands the hooks it builds: the sender, or a replay."""

    def send(self, hook: Hook) -> None: ...


class DeliveryLog:
    """Every delivery attempt, oldest first; safe to use from any thread."""

    def __init__(self) -> None:
        self._items: list[Delivery] = []
        # The same deliveries by stream id: a replay of thousands of streams
        # asks for one stream's at a time.
        self._by_stream: dict[str, list[Delivery]] = {}
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._listeners: list[Callable[[Delivery], None]] = []

    def subscribe(self, listener: Callable[[Delivery], None]) -> None:
        """Call ``listener`` with each new delivery, on the thread that made it."""
        with self._changed:
            self._listeners.append(listener)

    def add(self, delivery: Delivery) -> None:
        """Record ``delivery``, numbering it: ids follow the log's order."""
        with self._changed:
            delivery.id = next(self._ids)
            self._items.append(delivery)
            self._by_stream.setdefault(delivery.stream_id, []).append(delivery)
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(delivery)

    def select(
        self, action: str | None = None, stream_id: str | None = None
    ) -> list[Delivery]:
        with self._changed:
            items = self._by_stream.get(stream_id, []) if stream_id else self._items
            return [item for item in items if _matches(item, action, stream_id)]

    def wait(
        self,
        count: int,
        timeout: float,
        action: str | None = None,
        stream_id: str | None = None,
    ) -> tuple[bool, list[Delivery]]:
        """Block until ``count`` matching deliveries exist or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    item for item in self._items if _matches(item, action, stream_id)
                ]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return len(found) >= count, found
                self._changed.wait(remaining)

    def clear(self) -> int:
        with self._changed:
            dropped = len(self._items)
            self._items.clear()
            self._by_stream.clear()
            return dropped

    def __len__(self) -> int:
        with self._changed:
            return len(self._items)


class Scheduler:
    """Runs callables after a delay on one timer thread, like Vert.x timers.

    A task that raises is logged and handed to ``on_error``, so that its
    owner can report it (the pytest plugin fails the test that was running);
    the timer itself goes on with the next task.
    """

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.on_error = on_error
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        # When the running task was due; None while none runs.
        self._running_due: float | None = None
        self._thread = threading.Thread(
            target=self._run, name="mockams-timer", daemon=True
        )
        self._thread.start()

    def call_later(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._changed:
            due = time.monotonic() + delay_s
            heapq.heappush(self._queue, (due, next(self._order), action))
            # All: a notify() could wake a wait_due() or wait_empty() caller
            # instead of the timer thread, which would then miss an earlier task.
            self._changed.notify_all()

    def cancel_all(self) -> int:
        with self._changed:
            dropped = len(self._queue)
            self._queue.clear()
            self._changed.notify_all()
            return dropped

    def wait_empty(self, timeout: float) -> bool:
        """Block until no task waits and none runs, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue or self._running_due is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def wait_due(self, deadline: float, timeout: float) -> bool:
        """Block until every task due by ``deadline`` has run, or ``timeout`` passes.

        ``deadline`` is a :func:`time.monotonic` reading; tasks due later, and
        those the due ones schedule for later, are not waited for. A task due
        now may not have started yet: the timer thread can be busy or wake late.
        """
        give_up = time.monotonic() + timeout
        with self._changed:
            while (self._queue and self._queue[0][0] <= deadline) or (
                self._running_due is not None and self._running_due <= deadline
            ):
                remaining = give_up - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._changed.wait(remaining)
            return True

    def __len__(self) -> int:
        with self._changed:
            return len(self._queue)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._changed.wait(wait)
                if self._closed:
                    return
                due, _, action = heapq.heappop(self._queue)
                self._running_due = due
            try:
                action()
            except Exception as error:  # a timer must survive whatever one task does
                logger.exception("scheduled task failed")
                self._report(error)
            finally:
                with self._changed:
                    self._running_due = None
                    self._changed.notify_all()

    def _report(self, error: BaseException) -> None:
        if self.on_error is None:
            return
        try:
            self.on_error(error)
        except Exception:  # a broken sink must not stop the timer either
            logger.exception("reporting a failed scheduled task failed")


class HookSender:
    """Delivers hooks from a worker pool and records every attempt.

    As in AMS, at most ``workers`` hooks are on the wire at once, each on a
    connection of its own, so a slow receiver holds one place and nothing
    else. The exchanges run on one event-loop thread (:mod:`mockams.transport`)
    rather than a thread each. ``ordered=True`` sends one hook at a time in
    order, as AMS did before 2.11.
    """

    def __init__(
        self,
        log: DeliveryLog,
        *,
        workers: int = DEFAULT_WORKERS,
        ordered: bool = False,
        timeout_s: float = TIMEOUT_S,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.log = log
        self.timeout_s = timeout_s
        self._transport = Transport(
            1 if ordered else workers, on_error=self._exchange_failed
        )
        self._scheduler = scheduler or Scheduler()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        # Held while an attempt is checked and recorded, and by reset: not
        # self._lock, because the log's listeners may send hooks themselves.
        self._record_lock = threading.RLock()
        self._pending = 0
        # Attempts queued or being sent, by hook URL; unlike _pending, not the
        # retries waiting for their delay, which a reset cancels before they go.
        self._in_flight: Counter[str] = Counter()
        self._generation = 0
        self._closed = False
        self.errors: list[BaseException] = []

    def send(self, hook: Hook) -> None:
        """Queue the first attempt of ``hook``; returns at once."""
        self._submit(hook, 1, self._generation)

    def pending(self) -> int:
        """Attempts queued, in flight or waiting for their retry delay."""
        with self._lock:
            return self._pending

    def in_flight(self, url: str | None = None) -> int:
        """Attempts queued or being sent (to ``url`` if given); not retries."""
        with self._lock:
            return self._in_flight[url] if url else self._in_flight.total()

    def wait_idle(self, timeout: float, *, retries: bool = True) -> bool:
        """Block until nothing is pending or ``timeout`` passes.

        ``retries=False`` does not wait for retries still in their delay.
        """
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending if retries else self._in_flight.total():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def reset(self) -> None:
        """Forget queued attempts and retries; attempts in flight are not recorded."""
        with self._record_lock, self._lock:
            self._generation += 1
            self._scheduler.cancel_all()
            self._transport.drop_queued()
            self._pending = 0
            self._in_flight.clear()
            self._idle.notify_all()

    def close(self, wait: bool = False) -> int:
        """Stop sending; return how many attempts were still pending."""
        with self._lock:
            self._closed = True
            left = self._pending
        self._scheduler.cancel_all()
        self._scheduler.close()
        self._transport.close(wait=wait)

        return left

    def _submit(self, hook: Hook, attempt: int, generation: int) -> None:
        with self._lock:
            if self._closed or generation != self._generation:
                return
            self._pending += 1
            self._in_flight[hook.url] += 1
        done = functools.partial(self._attempted, hook, attempt, generation)
        try:
            self._transport.submit(
                hook.url, hook.body, hook.content_type, self.timeout_s, done
            )
        except RuntimeError:  # the transport closed between the check and here
            self._done(generation, hook.url)

    def _retry_later(self, hook: Hook, attempt: int, generation: int) -> None:
        with self._lock:
            if self._closed or generation != self._generation:
                return
            self._pending += 1

        def fire() -> None:
            self._submit(hook, attempt, generation)
            self._done(generation)

        self._scheduler.call_later(hook.retry_delay_ms / 1000, fire)

    def _done(self, generation: int, url: str | None = None) -> None:
        """One pending attempt is over; ``url`` when it was in flight, not a timer."""
        with self._lock:
            if generation == self._generation:
                if self._pending:
                    self._pending -= 1
                if url is not None and self._in_flight[url]:
                    self._in_flight[url] -= 1
            self._idle.notify_all()

    def _attempted(
        self,
        hook: Hook,
        attempt: int,
        generation: int,
        outcome: Outcome,
        sent_at: float,
        finished_at: float,
    ) -> None:
        """Record one attempt's outcome; called on the transport's thread."""
        try:
            self._record(hook, attempt, generation, outcome, sent_at, finished_at)
        except BaseException as error:
            self._exchange_failed(error, generation)
            logger.exception(
                "hook %s for %s failed inside mockams", hook.action, hook.stream_id
            )
        finally:
            self._done(generation, hook.url)

    def _exchange_failed(
        self, error: BaseException, generation: int | None = None
    ) -> None:
        with self._lock:
            current = generation is None or generation == self._generation
        # Recorded so a test can report it; an attempt from before a reset
        # belongs to a test that is over, and blaming the next one misleads.
        if current:
            self.errors.append(error)

    def _record(
        self,
        hook: Hook,
        attempt: int,
        generation: int,
        outcome: Outcome,
        sent_at: float,
        finished_at: float,
    ) -> None:
        retry = outcome.status != 200 and attempt <= hook.retry_count
        with self._lock:
            if generation != self._generation:
                return
        text = decode_body_text(hook.body, hook.content_type)
        delivery = Delivery(
            id=0,
            event_id=hook.event_id,
            app=hook.app,
            action=hook.action,
            stream_id=hook.stream_id,
            url=hook.url,
            content_type=hook.content_type,
            body=text,
            raw=hook.body,
            attempt=attempt,
            status=outcome.status,
            error=outcome.error,
            elapsed_ms=outcome.elapsed_ms,
            ttfb_ms=outcome.ttfb_ms,
            connect_ms=outcome.connect_ms,
            sent_at=sent_at,
            finished_at=finished_at,
            retry_scheduled=retry,
            redirected_to=outcome.redirected_to,
        )
        with self._record_lock:
            # Checked again: a reset since the first check must not find this
            # attempt recorded after it has cleared the log.
            if generation != self._generation:
                return
            self.log.add(delivery)
        _log_delivery(delivery)
        if retry:
            self._retry_later(hook, attempt + 1, generation)


def _log_delivery(delivery: Delivery) -> None:
    result = str(delivery.status) if delivery.status is not None else delivery.error
    line = "hook %s %s -> %s attempt %d: %s in %.1f ms"
    args = (
        delivery.action,
        delivery.stream_id,
        delivery.url,
        delivery.attempt,
        result,
        delivery.elapsed_ms,
    )
    if delivery.ok:
        logger.info(line, *args)
    else:
        logger.warning(line, *args)
    logger.debug("hook body: %s", delivery.body)
