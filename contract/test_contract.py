"""The receiver contract: each test is one check, named for what it proves.

The first paragraph of each check's docstring is its statement: the one line
``mockams check`` prints and reports. A failure says what the receiver did and
what a real AMS does about it. The checks that read a state probe do their
deliveries in a fixture, so that a probe that cannot be read is an error at
setup (the check could not run), never a failure of the receiver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from mockams.contract import (
    AMS_TIMEOUT_MS,
    Prober,
    StateProbe,
    StateProbeError,
    ams_verdict,
    compact,
    new_vod_id,
    sample_fields,
)
from mockams.exchange import Outcome
from mockams.plugin import AmsOptions
from mockams.settings import JSON
from mockams.wire import HookValue

CONCURRENT_STREAMS = 50
LONG_TEXT = "Ω" + "long name " * 400  # AMS puts no limit on a stream name
USUAL_ORDER = ["liveStreamStarted", "liveStreamEnded", "vodReady"]
SWAPPED_ORDER = ["liveStreamStarted", "vodReady", "liveStreamEnded"]
RESENT = (
    "AMS sends the same hook again, byte for byte, when retries are set and an "
    "answer takes over 2 s"
)


def answered(outcome: Outcome, content_type: str) -> str:
    if outcome.status is None:
        return f"failed: {outcome.error}"
    if content_type == JSON and 400 <= outcome.status < 500:
        return (
            f"answered {outcome.status}: a JSON body (AMS's default since 2.10) "
            "was refused"
        )

    return f"answered {outcome.status}"


def require_200(
    outcomes: Sequence[tuple[str, Outcome]], what: str, content_type: str
) -> None:
    """Fail with the first answer that was not a 200, and AMS's verdict on it."""
    for label, outcome in outcomes:
        if outcome.status != 200:
            pytest.fail(
                f"{what}: {label} {answered(outcome, content_type)}. "
                f"{ams_verdict(outcome)}.",
                pytrace=False,
            )


def lifecycle(
    prober: Prober, stream_id: str, order: Sequence[str], vod_id: str = ""
) -> list[dict[str, HookValue]]:
    """Fields of a recorded stream's hooks, timestamps in AMS's order of events."""
    start = int(time.time() * 1000)
    stamps = {"liveStreamStarted": start, "liveStreamEnded": start + 60_000}
    stamps["vodReady"] = start + 60_001
    vod_id = vod_id or new_vod_id()

    return [
        sample_fields(
            action,
            stream_id,
            version=prober.version,
            now_ms=stamps[action],
            vod_id=vod_id,
        )
        for action in order
    ]


def absent_optional_fields(action: str, minimal: dict[str, HookValue]) -> str:
    """What a hook with only the fields AMS always sends leaves out."""
    full = sample_fields(action, "any", full=True)
    left_out = [name for name in full if name not in minimal]
    nulls = [name for name, value in minimal.items() if value is None]
    parts = []
    if left_out:
        parts.append("without " + ", ".join(left_out))
    if nulls:
        parts.append("with " + ", ".join(nulls) + " null")

    return " and ".join(parts) or "with every field"


@dataclass
class Deliveries:
    """A check's answers, and what the state probe read between them."""

    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)
    states: dict[str, Any] = field(default_factory=dict)

    @property
    def all_200(self) -> bool:
        return all(outcome.status == 200 for _, outcome in self.outcomes)


def read_state(probe: StateProbe, stream_id: str) -> Any:
    """The stored state of ``stream_id``; a probe that fails stops the check."""
    try:
        return probe.read(stream_id)
    except StateProbeError as error:
        problem = str(error)
    # Outside the handler, so that the report is this one line, not the chain.
    pytest.fail(f"the check cannot run: {problem}", pytrace=False)


@pytest.fixture
def redelivered(
    prober: Prober, content_type: str, state_probe: StateProbe
) -> Deliveries:
    """A stream's liveStreamStarted and vodReady, then the same vodReady again.

    With a state probe, the state is read before and after the repeat.
    """
    stream_id = prober.stream_id("duplicate")
    done = Deliveries()
    body = b""
    for fields in lifecycle(prober, stream_id, ["liveStreamStarted", "vodReady"]):
        outcome, body = prober.send(fields, content_type)
        done.outcomes.append((f"{fields['action']} (first delivery)", outcome))
    if not done.all_200:
        return done
    if state_probe:
        done.states["before"] = read_state(state_probe, stream_id)

    again = prober.send_body(body, content_type, "vodReady")

    done.outcomes.append(("vodReady delivered again", again))
    if state_probe and again.status == 200:
        done.states["after"] = read_state(state_probe, stream_id)

    return done


@pytest.fixture
def reordered(prober: Prober, content_type: str, state_probe: StateProbe) -> Deliveries:
    """A stream's hooks in the usual order, another's with vodReady before the end.

    With a state probe, each stream's state is read with its own stream id and
    recording id written as ``ID`` and ``VOD``, so that the two compare.
    """
    done = Deliveries()
    streams = {}
    for order in (USUAL_ORDER, SWAPPED_ORDER):
        stream_id, vod_id = prober.stream_id("order"), new_vod_id()
        streams[" > ".join(order)] = (stream_id, vod_id)
        for fields in lifecycle(prober, stream_id, order, vod_id):
            outcome, _ = prober.send(fields, content_type)
            done.outcomes.append(
                (f"{fields['action']} of {' > '.join(order)}", outcome)
            )
    if not (state_probe and done.all_200):
        return done

    for order, (stream_id, vod_id) in streams.items():
        text = json.dumps(read_state(state_probe, stream_id), sort_keys=True)
        done.states[order] = json.loads(
            text.replace(stream_id, "ID").replace(vod_id, "VOD")
        )

    return done


def test_answers_200_to_every_action(
    prober: Prober, action: str, content_type: str
) -> None:
    """Every action, with every field AMS sends, is answered with exactly 200."""
    fields = sample_fields(action, prober.stream_id(), version=prober.version)

    outcome, _ = prober.send(fields, content_type)

    require_200([(action, outcome)], "a complete hook", content_type)


def test_accepts_absent_optional_fields(
    prober: Prober, action: str, content_type: str
) -> None:
    """A hook with only the fields AMS always sends (no name, category or metadata)
    gets 200.
    """
    fields = sample_fields(
        action, prober.stream_id(), version=prober.version, full=False
    )
    if action == "liveStreamStatus" and content_type != JSON:
        pytest.skip("AMS sends no form-encoded liveStreamStatus for an unnamed stream")

    outcome, _ = prober.send(fields, content_type)

    what = f"a hook {absent_optional_fields(action, fields)}"
    require_200([(action, outcome)], what, content_type)


def test_accepts_unknown_extra_fields(prober: Prober, content_type: str) -> None:
    """Fields a newer AMS or a publisher's query string adds are ignored: 200."""
    fields = sample_fields(
        "liveStreamStarted", prober.stream_id(), version=prober.version
    )
    fields.update({"futureField": "x", "token": "abc", "orientation": "landscape"})

    outcome, _ = prober.send(fields, content_type)

    require_200(
        [("liveStreamStarted with 3 unknown fields", outcome)],
        "extra fields",
        content_type,
    )


def test_accepts_an_unknown_action(prober: Prober, content_type: str) -> None:
    """An action this receiver does not know (AMS adds them over releases) gets 200."""
    fields = sample_fields(
        "liveStreamStarted", prober.stream_id(), version=prober.version
    )
    fields["action"] = "someFutureAction"

    outcome, _ = prober.send(fields, content_type)

    require_200(
        [("action someFutureAction", outcome)], "an unknown action", content_type
    )


def test_accepts_unicode_and_long_values(prober: Prober, content_type: str) -> None:
    """Names in any script, emoji, quotes, slashes and 4,000 characters get 200."""
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

    require_200(outcomes, "unicode and long values", content_type)


def test_accepts_metadata_as_text_and_object(prober: Prober, content_type: str) -> None:
    """Metadata gets 200 both as a JSON object and as plain text, as AMS sends it.

    In JSON, AMS sends ``metadata`` as an object when it parses as one.
    """
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

    require_200(outcomes, "metadata", content_type)


def test_accepts_a_duplicate_delivery(
    redelivered: Deliveries, content_type: str
) -> None:
    """The same hook twice, byte for byte, as after a timeout and a retry, gets 200
    twice; with a state probe, the second changes nothing.
    """
    require_200(redelivered.outcomes, "a duplicate", content_type)

    before = redelivered.states.get("before")
    after = redelivered.states.get("after")
    if after != before:
        pytest.fail(
            "not idempotent: a repeated vodReady changed the stored state from "
            f"{compact(before)} to {compact(after)}. {RESENT}.",
            pytrace=False,
        )


def test_accepts_vod_ready_before_ended(
    reordered: Deliveries, content_type: str
) -> None:
    """vodReady before liveStreamEnded (AMS sends them in parallel) gets 200; with a
    state probe, both orders leave the same state.
    """
    require_200(reordered.outcomes, "hooks out of order", content_type)

    usual = reordered.states.get(" > ".join(USUAL_ORDER))
    swapped = reordered.states.get(" > ".join(SWAPPED_ORDER))
    if swapped != usual:
        pytest.fail(
            "order-dependent: after vodReady then liveStreamEnded the state is "
            f"{compact(swapped)}, after the usual order {compact(usual)}. AMS sends "
            "the two in no fixed order: order them by timestamp.",
            pytrace=False,
        )


def test_latency_within_budget(
    prober: Prober,
    action: str,
    content_type: str,
    samples: int,
    sample_seconds: float,
    ams_options: AmsOptions,
    record_property: Any,
) -> None:
    """Answers come within the budget at p95, and always before AMS's 2 s timeout."""
    figures = prober.sample_latency(
        action, content_type, samples, time_limit_s=sample_seconds
    )
    record_property("latency", figures.to_json())
    budget = ams_options.budget_ms

    if figures.timeouts:
        pytest.fail(
            f"{action} took over {AMS_TIMEOUT_MS:.0f} ms: AMS times out, counts it as "
            "failed and, with retries set, sends it again while the first is still "
            "being processed",
            pytrace=False,
        )
    if not figures.samples:
        pytest.fail(f"{action}: no answer to time", pytrace=False)
    if figures.p95 > budget:
        pytest.fail(
            f"{action} p95 is {figures.p95:.1f} ms over the {budget:g} ms budget "
            f"(p50 {figures.p50:.1f}, max {figures.max:.1f}, {figures.count} "
            "samples); AMS sends hooks from a pool of 20 threads, so slow answers "
            "pile up under load",
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
            f"answered 200; first: {answered(failed[0], content_type)}. "
            f"{ams_verdict(failed[0])}.",
            pytrace=False,
        )
