"""The receiver contract: each test is one check, named for what it proves.

A failure says what the receiver did and what a real AMS does about it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest

from mockams.contract import (
    AMS_TIMEOUT_MS,
    Prober,
    StateProbe,
    ams_verdict,
    sample_fields,
)
from mockams.exchange import Outcome
from mockams.plugin import AmsOptions
from mockams.wire import HookValue

CONCURRENT_STREAMS = 50
LONG_TEXT = "Ω" + "long name " * 400  # AMS puts no limit on a stream name


def answered(outcome: Outcome) -> str:
    if outcome.status is not None:
        return f"answered {outcome.status}"
    return f"failed: {outcome.error}"


def require_200(outcomes: Sequence[tuple[str, Outcome]], what: str) -> None:
    """Fail with the first answer that was not a 200, and AMS's verdict on it."""
    for label, outcome in outcomes:
        if outcome.status != 200:
            pytest.fail(
                f"{what}: {label} {answered(outcome)}. {ams_verdict(outcome)}.",
                pytrace=False,
            )


def state_of(probe: StateProbe, stream_id: str) -> Any:
    return probe.read(stream_id)


def lifecycle(prober: Prober, stream_id: str, order: Sequence[str]) -> list[HookValue]:
    """Fields of a recorded stream's hooks, timestamps in AMS's order of events."""
    start = int(time.time() * 1000)
    stamps = {"liveStreamStarted": start, "liveStreamEnded": start + 60_000}
    stamps["vodReady"] = start + 60_001
    return [
        sample_fields(action, stream_id, version=prober.version, now_ms=stamps[action])
        for action in order
    ]


def test_answers_200_to_every_action(
    prober: Prober, action: str, content_type: str
) -> None:
    """Every action, with every field AMS sends, is answered with exactly 200."""
    fields = sample_fields(action, prober.stream_id(), version=prober.version)

    outcome, _ = prober.send(fields, content_type)

    require_200([(action, outcome)], "a complete hook")


def test_accepts_absent_optional_fields(
    prober: Prober, action: str, content_type: str
) -> None:
    """A hook with only the fields AMS always sends (no name, category, metadata)."""
    fields = sample_fields(
        action, prober.stream_id(), version=prober.version, full=False
    )
    if action == "liveStreamStatus" and content_type != "application/json":
        pytest.skip("AMS sends no form-encoded liveStreamStatus for an unnamed stream")

    outcome, _ = prober.send(fields, content_type)

    require_200([(action, outcome)], f"a hook with only {', '.join(sorted(fields))}")


def test_accepts_unknown_extra_fields(prober: Prober, content_type: str) -> None:
    """Fields a newer AMS may add, or a publisher's query parameters, are ignored."""
    fields = sample_fields(
        "liveStreamStarted", prober.stream_id(), version=prober.version
    )
    fields.update({"futureField": "x", "token": "abc", "orientation": "landscape"})

    outcome, _ = prober.send(fields, content_type)

    require_200([("liveStreamStarted with 3 unknown fields", outcome)], "extra fields")


def test_accepts_an_unknown_action(prober: Prober, content_type: str) -> None:
    """An action this receiver does not know (AMS adds them over releases) gets 200."""
    fields = sample_fields(
        "liveStreamStarted", prober.stream_id(), version=prober.version
    )
    fields["action"] = "someFutureAction"

    outcome, _ = prober.send(fields, content_type)

    require_200([("action someFutureAction", outcome)], "an unknown action")


def test_accepts_unicode_and_long_values(prober: Prober, content_type: str) -> None:
    """Names in any script, emoji, quotes and slashes, and a 4,000-character name."""
    names = ["Café société", "東京ライブ 🎥", 'a "quoted" / \\ name', LONG_TEXT]
    outcomes = []
    for name in names:
        fields = sample_fields(
            "liveStreamStarted", prober.stream_id(), version=prober.version, name=name
        )
        outcome, _ = prober.send(fields, content_type)
        outcomes.append(
            (f"a streamName of {len(name)} characters ({name[:12]!r}...)", outcome)
        )

    require_200(outcomes, "unicode and long values")


def test_accepts_metadata_as_text_and_object(prober: Prober, content_type: str) -> None:
    """``metadata`` arrives as a JSON object when it parses as one, else as text."""
    outcomes = []
    for metadata in ('{"course":"physics","seats":40}', "plain text, not JSON"):
        fields = sample_fields(
            "liveStreamStarted",
            prober.stream_id(),
            version=prober.version,
            metadata=metadata,
        )
        outcome, _ = prober.send(fields, content_type)
        kind = "an object" if metadata.startswith("{") else "text"
        outcomes.append((f"metadata as {kind}", outcome))

    require_200(outcomes, "metadata")


def test_accepts_a_duplicate_delivery(
    prober: Prober, content_type: str, state_probe: StateProbe
) -> None:
    """The same hook twice, byte for byte (AMS retries after a timeout): 200 twice.

    With a state probe, the second delivery must change nothing.
    """
    stream_id = prober.stream_id("duplicate")
    for fields in lifecycle(prober, stream_id, ["liveStreamStarted", "vodReady"]):
        first, body = prober.send(fields, content_type)
        require_200([(f"{fields['action']} (first delivery)", first)], "a duplicate")
    before = state_of(state_probe, stream_id) if state_probe else None

    again = prober.send_body(body, content_type, "vodReady")

    require_200([("vodReady delivered again", again)], "a duplicate")
    if state_probe:
        after = state_of(state_probe, stream_id)
        assert after == before, (
            f"not idempotent: a repeated vodReady changed the stored state from "
            f"{before!r} to {after!r}. AMS sends the same hook again whenever an "
            "answer takes over 2 s and retries are on"
        )


def test_accepts_vod_ready_before_ended(
    prober: Prober, content_type: str, state_probe: StateProbe
) -> None:
    """``vodReady`` may come before ``liveStreamEnded`` (AMS sends them in parallel).

    With a state probe, both orders must leave the same state.
    """
    in_order = prober.stream_id("order")
    reordered = prober.stream_id("order")
    normal = ["liveStreamStarted", "liveStreamEnded", "vodReady"]
    swapped = ["liveStreamStarted", "vodReady", "liveStreamEnded"]
    outcomes = []
    for stream_id, order in ((in_order, normal), (reordered, swapped)):
        for fields in lifecycle(prober, stream_id, order):
            outcome, _ = prober.send(fields, content_type)
            outcomes.append((f"{fields['action']} of {' > '.join(order)}", outcome))

    require_200(outcomes, "hooks out of order")
    if state_probe:
        expected = json.dumps(state_of(state_probe, in_order)).replace(in_order, "ID")
        found = json.dumps(state_of(state_probe, reordered)).replace(reordered, "ID")
        assert found == expected, (
            f"order-dependent: after vodReady then liveStreamEnded the state is "
            f"{found}, after the usual order {expected}. AMS does not order them: "
            "use timestamp"
        )


def test_latency_within_budget(
    prober: Prober,
    action: str,
    content_type: str,
    samples: int,
    ams_options: AmsOptions,
    record_property: Any,
) -> None:
    """Answers come within the budget at p95, and always before AMS's 2 s timeout."""
    figures = prober.sample_latency(action, content_type, samples)
    record_property("latency", figures.to_json())
    budget = ams_options.budget_ms

    if figures.timeouts:
        pytest.fail(
            f"{action} took over {AMS_TIMEOUT_MS:.0f} ms: AMS times out, counts it as "
            "failed and, with retries on, sends it again while the first is still "
            "being processed",
            pytrace=False,
        )
    if not figures.samples:
        pytest.fail(f"{action}: no answer to time", pytrace=False)
    if figures.p95 > budget:
        pytest.fail(
            f"{action} p95 is {figures.p95:.1f} ms over the {budget:g} ms budget "
            f"(p50 {figures.p50:.1f}, max {figures.max:.1f}); AMS sends hooks from a "
            "pool of 20 threads, so slow answers pile up under load",
            pytrace=False,
        )


# Last: a receiver this overloads may still be busy with the hooks AMS gave up
# on, and would fail whichever check came next for the same flaw.
def test_answers_concurrent_deliveries(prober: Prober, content_type: str) -> None:
    """Hooks of many streams at once, from AMS's pool of 20 senders, all get 200."""
    hooks = []
    for number in range(CONCURRENT_STREAMS):
        stream_id = prober.stream_id(f"busy{number}")
        for fields in lifecycle(
            prober, stream_id, ["liveStreamStarted", "liveStreamEnded"]
        ):
            hooks.append((fields, content_type))

    outcomes = prober.send_concurrently(hooks)

    failed = [outcome for outcome in outcomes if outcome.status != 200]
    if failed:
        pytest.fail(
            f"{len(failed)} of {len(outcomes)} hooks sent 20 at a time were not "
            f"answered 200; first: {answered(failed[0])}. {ams_verdict(failed[0])}.",
            pytrace=False,
        )
