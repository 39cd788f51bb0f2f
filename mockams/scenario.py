"""Scenario files: the streams of a run and the steps that happen to them.

A scenario is YAML::

    name: recorded-lifecycle
    description: A stream goes live, stops, and its recording is ready.
    settings: {content_type: form}
    streams:
      - {id: stream1, name: Demo, category: news}
    steps:
      - create: stream1
      - publish: stream1
      - wait: 2s
      - unpublish: {stream: stream1, record: true}
      - expect: {action: vodReady, count: 1}

Everything is checked before anything is sent: a mistake is reported as one
:class:`ScenarioError` line naming the file, the step, its line and the field,
with the closest valid word for a misspelling.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mockams.broadcasts import is_valid_stream_id
from mockams.errors import ConfigError, MockAMSError, did_you_mean
from mockams.lifecycle import parse_rendition
from mockams.payloads import ACTIONS
from mockams.settings import AmsVersion, content_type_from_name

__all__ = [
    "STEP_KINDS",
    "Scenario",
    "ScenarioError",
    "Step",
    "StreamSpec",
    "builtin_names",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]

_TOP_FIELDS = ("name", "description", "app", "settings", "streams", "steps")
_SETTINGS = ("content_type", "retry_count", "retry_delay", "ams_version")
_STREAM_FIELDS = (
    "id",
    "name",
    "category",
    "metadata",
    "hook_url",
    "max_idle_time",
    "main_track",
    "record",
)

# Each step kind, the fields it takes, and which one a bare value stands for.
STEP_KINDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "create": (("stream",), "stream"),
    "publish": (("stream", "subscriber_id", "params", "publish_type"), "stream"),
    "unpublish": (("stream", "record", "renditions", "duration"), "stream"),
    "delete": (("stream",), "stream"),
    "wait": (("duration",), "duration"),
    "fire": (("action", "stream", "fields", "params", "subscriber_id"), None),
    "status": (("stream", "count", "every", "stats"), "stream"),
    "duplicate": (("stream", "action"), None),
    "reorder": (("stream", "first", "then"), None),
    "expect": (("action", "stream", "status", "count", "max_latency"), None),
    "stall": (("stream", "silent_for"), "stream"),
    "configure": (("hook_url", "content_type", "retry_count", "retry_delay"), None),
}
_REQUIRED = {
    "create": ("stream",),
    "publish": ("stream",),
    "unpublish": ("stream",),
    "delete": ("stream",),
    "wait": ("duration",),
    "fire": ("action", "stream"),
    "status": ("stream",),
    "duplicate": ("stream", "action"),
    "reorder": ("stream", "first", "then"),
    "expect": (),
    "stall": ("stream",),
    "configure": (),
}
# What AMS trims off a stream id before it checks it: what Java's String.trim()
# strips, every character up to the space.
_TRIMMED = "".join(map(chr, range(0x21)))
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_PUBLISH_TYPES = ("RTMP", "WebRTC", "SRT", "Pull")


class ScenarioError(MockAMSError):
    """A scenario file that cannot be run; the message says where and why."""


def parse_duration(value: object) -> float:
    """Seconds in ``"150ms"``, ``"2s"``, ``"1.5s"``, ``"1m"`` or a plain number."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not 0 <= value < math.inf:
            raise ValueError(f"{value!r} is not a duration")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 150ms, 2s or 1m")
    number, unit = float(match.group(1)), match.group(2) or "s"

    return number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


@dataclass(frozen=True)
class StreamSpec:
    """A stream the scenario uses, as it would be created over REST."""

    id: str
    name: str | None = None
    category: str | None = None
    metadata: str | None = None
    hook_url: str | None = None
    max_idle_time: int = 0
    main_track: str | None = None
    # True or False sets the broadcast's mp4Enabled (1 or -1); None follows the app.
    record: bool | None = None

    def broadcast_body(
        self, stream_id: str | None = None, main_track_id: str | None = None
    ) -> dict[str, Any]:
        """The JSON body of the REST create for this stream."""
        body: dict[str, Any] = {"streamId": stream_id or self.id}
        if self.main_track:
            body["mainTrackStreamId"] = main_track_id or self.main_track
        for key, value in (
            ("name", self.name),
            ("category", self.category),
            ("metaData", self.metadata),
            ("listenerHookURL", self.hook_url),
        ):
            if value is not None:
                body[key] = value
        if self.max_idle_time:
            body["maxIdleTime"] = self.max_idle_time
        if self.record is not None:
            body["mp4Enabled"] = 1 if self.record else -1

        return body


@dataclass(frozen=True)
class Step:
    """One step: its kind, its stream if any, its other fields, and its place."""

    kind: str
    number: int
    line: int | None
    stream: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        target = f" {self.stream}" if self.stream else ""
        extra = ""
        if self.kind in ("fire", "duplicate", "expect") and self.args.get("action"):
            extra = f" {self.args['action']}"
        if self.kind == "wait":
            extra = f" {self.args['duration']:g}s"

        return f"{self.kind}{extra}{target}"


@dataclass(frozen=True)
class Scenario:
    """A parsed, checked scenario."""

    name: str
    description: str
    source: str
    app: str = "LiveApp"
    content_type: str | None = None
    retry_count: int | None = None
    retry_delay_ms: int | None = None
    ams_version: AmsVersion | None = None
    streams: tuple[StreamSpec, ...] = ()
    steps: tuple[Step, ...] = ()

    def stream(self, stream_id: str) -> StreamSpec:
        return next(item for item in self.streams if item.id == stream_id)


class _Reader:
    """Turns the YAML tree into a Scenario, with every error located."""

    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root

    def fail(
        self,
        message: str,
        node: yaml.Node | None = None,
        step: int = 0,
        line: int | None = None,
    ) -> ScenarioError:
        where = [self.source]
        if step:
            where.append(f"step {step}")
        if node is not None:
            line = node.start_mark.line + 1
        if line is not None:
            where.append(f"line {line}")

        return ScenarioError(f"{', '.join(where)}: {message}")

    def mapping(
        self, node: yaml.Node, what: str, step: int = 0
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping", node, step)
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in result:
                raise self.fail(f"{what} has {key!r} twice", key_node, step)
            result[key] = value_node

        return result

    def check_keys(
        self,
        found: Mapping[str, yaml.Node],
        allowed: Sequence[str],
        what: str,
        step: int = 0,
    ) -> None:
        for key, node in found.items():
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                raise self.fail(f"{what}: unknown field {key!r}{hint}", node, step)

    def value(self, node: yaml.Node, step: int = 0) -> Any:
        what = repr(node.value) if isinstance(node, yaml.ScalarNode) else "a value"
        try:
            result = yaml.constructor.SafeConstructor().construct_document(node)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error)
            raise self.fail(f"cannot read {what}: {problem}", node, step) from None
        except (ValueError, TypeError, AttributeError) as error:
            # A scalar that looks like its type but is not one (2001-13-45).
            raise self.fail(f"cannot read {what}: {error}", node, step) from None
        try:
            json.dumps(result, default=str, skipkeys=True)
        except ValueError:
            raise self.fail(f"{what} contains itself", node, step) from None

        return result

    def text(self, node: yaml.Node, what: str, step: int = 0) -> str:
        value = self.value(node)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(f"{what} must be text, not {value!r}", node, step)

        return str(value)

    def stream_id(self, node: yaml.Node) -> str:
        """A declared stream id, trimmed as AMS's create trims it; one AMS accepts."""
        written = self.text(node, "stream id")
        stream_id = written.strip(_TRIMMED)
        if not stream_id or not is_valid_stream_id(stream_id):
            raise self.fail(
                f"stream id {written!r} is not one AMS accepts: letters, digits, "
                "'-', '_' and '.' only",
                node,
            )

        return stream_id

    def read(self) -> Scenario:
        if self.root is None:
            raise self.fail("the file is empty")
        top = self.mapping(self.root, "the scenario")
        self.check_keys(top, _TOP_FIELDS, "the scenario")
        if "steps" not in top:
            raise self.fail("the scenario has no 'steps'", self.root)

        settings = self._settings(top.get("settings"))
        streams = self._streams(top.get("streams"))
        steps = self._steps(top["steps"], {item.id for item in streams})
        name_node = top.get("name")
        description_node = top.get("description")
        app_node = top.get("app")

        return Scenario(
            name=self.text(name_node, "name") if name_node else Path(self.source).stem,
            description=self.text(description_node, "description")
            if description_node
            else "",
            source=self.source,
            app=self.text(app_node, "app") if app_node else "LiveApp",
            streams=tuple(streams),
            steps=tuple(steps),
            **settings,
        )

    def _settings(self, node: yaml.Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        found = self.mapping(node, "settings")
        self.check_keys(found, _SETTINGS, "settings")
        settings: dict[str, Any] = {}
        current = node
        try:
            if "content_type" in found:
                current = found["content_type"]
                text = self.text(current, "settings.content_type")
                settings["content_type"] = content_type_from_name(text)
            if "ams_version" in found:
                current = found["ams_version"]
                text = self.text(current, "settings.ams_version")
                if isinstance(current, yaml.ScalarNode):
                    text = str(current.value)  # as written: YAML reads 2.10 as 2.1
                settings["ams_version"] = AmsVersion.parse(text)
        except ConfigError as error:
            raise self.fail(f"settings: {error}", current) from None
        if "retry_count" in found:
            count = self.value(found["retry_count"])
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise self.fail(
                    "settings.retry_count must be 0 or more", found["retry_count"]
                )
            settings["retry_count"] = count
        if "retry_delay" in found:
            try:
                delay = parse_duration(self.value(found["retry_delay"]))
            except ValueError as error:
                raise self.fail(
                    f"settings.retry_delay: {error}", found["retry_delay"]
                ) from None
            settings["retry_delay_ms"] = round(delay * 1000)

        return settings

    def _streams(self, node: yaml.Node | None) -> list[StreamSpec]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail("streams must be a list", node)
        streams = []
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                streams.append(StreamSpec(self.stream_id(item)))
                continue
            found = self.mapping(item, "a stream")
            self.check_keys(found, _STREAM_FIELDS, "a stream")
            if "id" not in found:
                raise self.fail("a stream needs an 'id'", item)
            metadata = None
            if "metadata" in found:
                raw = self.value(found["metadata"])
                metadata = (
                    raw
                    if isinstance(raw, str)
                    else json.dumps(raw, separators=(",", ":"))
                )
            idle = self.value(found["max_idle_time"]) if "max_idle_time" in found else 0
            if not isinstance(idle, int) or isinstance(idle, bool) or idle < 0:
                raise self.fail(
                    "max_idle_time must be whole seconds", found["max_idle_time"]
                )
            record = self.value(found["record"]) if "record" in found else None
            if record is not None and not isinstance(record, bool):
                raise self.fail("record must be true or false", found["record"])
            streams.append(
                StreamSpec(
                    id=self.stream_id(found["id"]),
                    name=self.text(found["name"], "name") if "name" in found else None,
                    category=(
                        self.text(found["category"], "category")
                        if "category" in found
                        else None
                    ),
                    metadata=metadata,
                    hook_url=(
                        self.text(found["hook_url"], "hook_url")
                        if "hook_url" in found
                        else None
                    ),
                    max_idle_time=idle,
                    main_track=(
                        self.text(found["main_track"], "main_track").strip(_TRIMMED)
                        if "main_track" in found
                        else None
                    ),
                    record=record,
                )
            )
        ids = [item.id for item in streams]
        for stream_id in ids:
            if ids.count(stream_id) > 1:
                raise self.fail(f"stream {stream_id!r} is declared twice", node)
        for spec in streams:
            if spec.main_track is not None and spec.main_track not in ids:
                hint = did_you_mean(spec.main_track, ids)
                raise self.fail(
                    f"stream {spec.id!r}: main_track {spec.main_track!r} is not "
                    f"a declared stream{hint}",
                    node,
                )

        return streams

    def _steps(self, node: yaml.Node, declared: set[str]) -> list[Step]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail("steps must be a non-empty list", node)
        steps = []
        for number, item in enumerate(node.value, start=1):
            steps.append(self._step(item, number, declared))
        _check_feasible(steps, self)

        return steps

    def _step(self, node: yaml.Node, number: int, declared: set[str]) -> Step:
        if isinstance(node, yaml.ScalarNode):
            raise self.fail(
                "a step must be a mapping like '- publish: stream1', "
                f"not {node.value!r}",
                node,
                number,
            )
        found = self.mapping(node, "a step", number)
        if len(found) != 1:
            kinds = ", ".join(map(repr, found)) or "nothing"
            raise self.fail(f"a step has exactly one kind, found {kinds}", node, number)
        kind, body = next(iter(found.items()))
        if kind not in STEP_KINDS:
            hint = did_you_mean(kind, STEP_KINDS)
            raise self.fail(f"unknown step {kind!r}{hint}", node, number)
        fields, shorthand = STEP_KINDS[kind]

        if isinstance(body, yaml.MappingNode):
            args_nodes = self.mapping(body, kind, number)
            self.check_keys(args_nodes, fields, kind, number)
            args = {key: self.value(value, number) for key, value in args_nodes.items()}
        elif shorthand is not None:
            args_nodes = {shorthand: body}
            args = {shorthand: self.value(body, number)}
        else:
            raise self.fail(
                f"{kind} needs a mapping of {', '.join(fields)}", body, number
            )
        for required in _REQUIRED[kind]:
            if args.get(required) is None:
                raise self.fail(f"{kind} needs '{required}'", body, number)

        def located(message: str, key: str) -> ScenarioError:
            return self.fail(
                f"{kind}.{key}: {message}", args_nodes.get(key, body), number
            )

        stream = args.pop("stream", None)
        if stream is not None:
            stream = str(stream).strip(_TRIMMED)  # as declared, trimmed
            if stream not in declared:
                hint = did_you_mean(stream, declared)
                raise located(
                    f"stream {stream!r} is not declared in 'streams'{hint}", "stream"
                )
        _check_args(kind, args, located)

        return Step(kind, number, node.start_mark.line + 1, stream, args)


def _check_action(action: object, key: str, located: Any) -> None:
    if not isinstance(action, str) or action not in ACTIONS:
        hint = did_you_mean(str(action), ACTIONS)
        raise located(f"unknown action {action!r}{hint}", key)


def _check_args(kind: str, args: dict[str, Any], located: Any) -> None:
    """Check and normalise the fields of one step, in place."""
    for key in ("duration", "every", "max_latency", "silent_for", "retry_delay"):
        if key in args:
            try:
                args[key] = parse_duration(args[key])
            except ValueError as error:
                raise located(str(error), key) from None
    for key in ("params", "fields", "stats"):
        if key in args and not isinstance(args[key], dict):
            raise located("must be a mapping", key)
    if "params" in args:
        args["params"] = {str(k): str(v) for k, v in args["params"].items()}
    for key in ("count", "status"):
        if key in args and (
            not isinstance(args[key], int)
            or isinstance(args[key], bool)
            or args[key] < 0
        ):
            raise located("must be a whole number", key)
    if "record" in args and not isinstance(args["record"], bool):
        raise located("must be true or false", "record")
    if "renditions" in args:
        if not isinstance(args["renditions"], list):
            raise located("must be a list like [720p2500kbps, 480]", "renditions")
        try:
            args["renditions"] = [parse_rendition(item) for item in args["renditions"]]
        except ConfigError as error:
            raise located(str(error), "renditions") from None
    if "publish_type" in args and args["publish_type"] not in _PUBLISH_TYPES:
        hint = did_you_mean(str(args["publish_type"]), _PUBLISH_TYPES)
        raise located(
            f"must be one of {', '.join(_PUBLISH_TYPES)}{hint}", "publish_type"
        )
    if "subscriber_id" in args:
        args["subscriber_id"] = str(args["subscriber_id"])
    if "retry_count" in args and (
        not isinstance(args["retry_count"], int)
        or isinstance(args["retry_count"], bool)
        or args["retry_count"] < 0
    ):
        raise located("must be a whole number", "retry_count")
    if "content_type" in args:
        try:
            args["content_type"] = content_type_from_name(str(args["content_type"]))
        except ConfigError as error:
            raise located(str(error), "content_type") from None
    if "hook_url" in args and not isinstance(args["hook_url"], str):
        raise located("must be 'target', 'none' or a URL", "hook_url")
    if kind in ("fire", "duplicate", "expect") and "action" in args:
        _check_action(args["action"], "action", located)
    if kind == "reorder":
        _check_action(args["first"], "first", located)
        _check_action(args["then"], "then", located)
        if args["first"] == args["then"]:
            raise located("first and then must be different actions", "then")


def _check_feasible(steps: Sequence[Step], reader: _Reader) -> None:
    """Refuse steps that cannot happen, walking the streams' states."""
    created: set[str] = set()
    live: set[str] = set()
    stalled: set[str] = set()
    for step in steps:
        stream = step.stream or ""
        problem = None
        if step.kind == "create":
            if stream in created or stream in live:
                problem = f"stream {stream!r} already exists (delete it first)"
            created.add(stream)
        elif step.kind == "publish":
            if stream in live and stream not in stalled:
                problem = f"stream {stream!r} is already live"
            live.add(stream)
            stalled.discard(stream)
        elif step.kind in ("unpublish", "status", "stall"):
            if stream not in live or (step.kind != "unpublish" and stream in stalled):
                problem = f"stream {stream!r} is not live (never published, or stopped)"
            if step.kind == "unpublish":
                live.discard(stream)
                stalled.discard(stream)
            if step.kind == "stall":
                stalled.add(stream)
        elif step.kind == "delete":
            if stream not in created and stream not in live:
                problem = f"stream {stream!r} was never created"
            created.discard(stream)
            live.discard(stream)
            stalled.discard(stream)
        if problem:
            raise reader.fail(f"{step.kind}: {problem}", None, step.number, step.line)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and check a scenario; raise :class:`ScenarioError` with its place."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        if isinstance(error, yaml.reader.ReaderError):
            where = f", line {text.count(chr(10), 0, error.position) + 1}"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ScenarioError(f"{source}{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: nested too deeply to read") from None

    return _Reader(source, root).read()


def _builtin_folder() -> Path:
    """``scenarios/``: inside the installed package, or beside it in a checkout."""
    installed = Path(str(resources.files("mockams"))) / "scenarios"
    if installed.is_dir():
        return installed

    return Path(__file__).resolve().parent.parent / "scenarios"


def builtin_names() -> list[str]:
    """The names of the scenarios shipped with mockams."""
    folder = _builtin_folder()
    if not folder.is_dir():
        return []

    return sorted(entry.stem for entry in folder.glob("*.yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text("utf-8")
        except OSError as error:
            raise ScenarioError(
                f"{name_or_path}: cannot read: {error.strerror}"
            ) from None
        except UnicodeDecodeError as error:
            raise ScenarioError(
                f"{name_or_path}: not UTF-8 text: {error.reason}"
            ) from None
        return parse_scenario(text, str(path))

    names = builtin_names()
    if name_or_path not in names:
        hint = did_you_mean(name_or_path, names)
        raise ScenarioError(
            f"{name_or_path}: no such file and no built-in scenario of that name{hint}"
        )
    entry = _builtin_folder() / f"{name_or_path}.yaml"

    return parse_scenario(entry.read_text("utf-8"), f"{name_or_path}.yaml")
