"""The mockams pytest plugin: a mock AMS and a hook recorder as fixtures.

Registered through the ``pytest11`` entry point; ``-p no:mockams`` turns it
off. Loading it imports nothing but pytest: the mock is imported when a test
first asks for it.

Fixtures: ``ams`` (a running :class:`~mockams.MockAMS`, reset for each
test), ``ams_receiver`` (a :class:`~mockams.recorder.HookRecorder`; when a
test uses both, hooks go to it), ``ams_replay`` (run a scenario), and
``ams_stream_id`` (an id no other test or xdist worker uses). Override points:
``ams_listen_address``, ``ams_apps``, ``ams_settings``, and the environment
variables ``MOCKAMS_HOST`` and ``MOCKAMS_PORT``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

    from mockams.recorder import HookRecorder
    from mockams.report import RunReport
    from mockams.sender import Delivery
    from mockams.server import MockAMS
    from mockams.settings import AmsVersion

__all__ = [
    "AmsOptions",
    "ams",
    "ams_apps",
    "ams_listen_address",
    "ams_options",
    "ams_receiver",
    "ams_replay",
    "ams_server",
    "ams_settings",
    "ams_stream_id",
    "read_options",
]

_OPTIONS = (
    (
        "target",
        "URL",
        "Hook URL the ams fixture sends to (default: ams_receiver if used)",
        "",
    ),
    (
        "content_type",
        "TYPE",
        "Hook encoding of the mock AMS: form, json or a media type",
        "form",
    ),
    (
        "version",
        "VERSION",
        "AMS release the mock imitates: current, seed or e.g. 2.10",
        "current",
    ),
    ("budget_ms", "MS", "Latency budget of a receiver at p95, in ms", "250"),
)
_DEFAULTS = {name: default for name, _, _, default in _OPTIONS}
# A test's own hooks are waited for at its end, at most this long: a little
# more than AMS's 2 s timeout, so that no attempt outlives the test.
_TEARDOWN_WAIT_S = 2.5
# A hook reaching ams_receiver does not wake the sender's condition, so the
# teardown looks again this often while it waits.
_SETTLE_POLL_S = 0.01
_stream_numbers = itertools.count(1)
_T = TypeVar("_T")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockams", "mock Ant Media Server")
    for name, metavar, text, _ in _OPTIONS:
        flag = "--ams-" + name.replace("_", "-")
        group.addoption(
            flag,
            dest=f"ams_{name}",
            metavar=metavar,
            default=None,
            help=text,
        )
        # No default here: an empty value tells "not set" from "set to the default".
        parser.addini(f"ams_{name}", text, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ams(app='LiveApp', **settings): settings of the mock AMS application for this "
        "test, e.g. content_type='json', retry_count=2, retry_delay_ms=50",
    )
    if not hasattr(config, "workerinput"):
        # A bad value stops the run at once, as a usage error.
        read_options(config)
        _port_from_environment()


@dataclass(frozen=True)
class AmsOptions:
    """The plugin's options, from the command line or the ini file.

    ``given`` names the options set on the command line or in the ini file;
    the others hold their defaults.
    """

    target: str
    content_type: str
    version: AmsVersion
    budget_ms: float
    given: frozenset[str] = field(default=frozenset())

    def assert_within_budget(self, deliveries: Iterable[Delivery]) -> None:
        """Fail when an action's answers took longer than ``budget_ms`` at p95.

        ``ams_options.assert_within_budget(ams.deliveries())`` flags a slow
        receiver; deliveries that got no answer count for nothing here.
        """
        __tracebackhide__ = True
        problem = _over_budget(deliveries, self.budget_ms)
        if problem:
            raise AssertionError(problem)


def _over_budget(deliveries: Iterable[Delivery], budget_ms: float) -> str:
    """Which actions were answered slower than ``budget_ms`` at p95; "" if none."""
    from mockams.report import summarise

    slow = []
    for summary in summarise(deliveries):
        p95 = summary.figures()["p95_ms"]
        if p95 > budget_ms:  # NaN, for no answer at all, is never over
            slow.append(
                f"{summary.action} {p95:.1f} ms at p95 "
                f"of {len(summary.latencies)} answer(s)"
            )
    if not slow:
        return ""

    return (
        f"over the latency budget of {budget_ms:g} ms (--ams-budget-ms): "
        + "; ".join(slow)
    )


def read_options(config: pytest.Config) -> AmsOptions:
    """The mockams options of ``config``: command line, then ini file, then defaults.

    Raises :class:`pytest.UsageError` naming the option for a bad value.
    """
    from mockams.errors import MockAMSError
    from mockams.exchange import check_hook_url
    from mockams.settings import AmsVersion, content_type_from_name

    given: set[str] = set()

    def read(name: str, parse: Callable[[str], _T]) -> _T:
        value = config.getoption(f"ams_{name}")
        source = "--ams-" + name.replace("_", "-")
        if value is None:
            value = config.getini(f"ams_{name}")
            where = config.inipath.name if config.inipath else "the ini file"
            source = f"ams_{name} in {where}"
        text = str(value)
        if text:
            given.add(name)
        else:
            text = _DEFAULTS[name]
        try:
            return parse(text)
        except (MockAMSError, ValueError) as error:
            raise pytest.UsageError(f"mockams: {source}: {error}") from None

    def target(url: str) -> str:
        problem = check_hook_url(url) if url else None
        if problem:
            raise MockAMSError(problem)

        return url

    def budget(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number of milliseconds") from None
        if not value > 0:
            raise ValueError(f"must be above 0, not {value:g}")

        return value

    return AmsOptions(
        read("target", target),
        read("content_type", content_type_from_name),
        read("version", AmsVersion.parse),
        read("budget_ms", budget),
        frozenset(given),
    )


def _port_from_environment() -> int:
    text = os.environ.get("MOCKAMS_PORT") or ""
    if not text:
        return 0
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise pytest.UsageError(
            f"mockams: environment variable MOCKAMS_PORT={text!r} "
            "is not a port number from 0 to 65535"
        )

    return port


@pytest.fixture(scope="session")
def ams_options(pytestconfig: pytest.Config) -> AmsOptions:
    """The mockams options in force for this run."""
    return read_options(pytestconfig)


@pytest.fixture(scope="session")
def ams_listen_address(pytestconfig: pytest.Config) -> tuple[str, int]:
    """Where the mock listens: ``MOCKAMS_HOST``/``MOCKAMS_PORT``, else 127.0.0.1:0.

    Under pytest-xdist, worker ``gwN`` adds N to ``MOCKAMS_PORT``.
    """
    host = os.environ.get("MOCKAMS_HOST") or "127.0.0.1"
    port = _port_from_environment()
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "")
    if port and worker.startswith("gw") and worker[2:].isdigit():
        port += int(worker[2:])

    return host, port


@pytest.fixture(scope="session")
def ams_apps() -> list[str]:
    """The applications the mock serves; override to serve others."""
    return ["LiveApp"]


@pytest.fixture
def ams_settings() -> dict[str, Any]:
    """Settings applied to every application for a test; override to change them."""
    return {}


@pytest.fixture(scope="session")
def ams_server(
    ams_listen_address: tuple[str, int], ams_apps: list[str], ams_options: AmsOptions
) -> Iterator[MockAMS]:
    """The session's mock AMS, started once; tests use ``ams``, which resets it."""
    from mockams.server import MockAMS

    host, port = ams_listen_address
    server = MockAMS(
        apps=ams_apps,
        host=host,
        port=port,
        content_type=ams_options.content_type,
        ams_version=ams_options.version,
    )
    server.start()
    yield server
    server.stop()


@dataclass
class _TestAms:
    """The ``ams`` of one test, kept on the test item for ``ams_receiver``.

    Whichever of the two fixtures a test asks for second joins them, so that
    the order of the request (an argument, ``getfixturevalue``) does not matter.
    """

    server: MockAMS
    # Applications whose hook URL no option, ams_settings or marker chose.
    unaddressed: tuple[str, ...]
    recorder: HookRecorder | None = None

    def attach(self, recorder: HookRecorder) -> None:
        if self.recorder is recorder:
            return
        self.recorder = recorder
        for app in self.unaddressed:
            self.server.configure(app, hook_url=recorder.url)

    def settle(self, timeout: float) -> None:
        """Wait until no hook of this test is queued or on its way, at most ``timeout``.

        Not for answers: a hook ``ams_receiver`` is answering slowly is already
        recorded. Not for retries still in their delay: the next reset cancels
        them before they leave.
        """
        sender = self.server.sender
        deadline = time.monotonic() + timeout
        while True:
            waiting = sender.in_flight()
            if self.recorder is not None:
                arrived = self.recorder.answering()
                waiting -= min(sender.in_flight(self.recorder.url), arrived)
            remaining = deadline - time.monotonic()
            if waiting <= 0 or remaining <= 0:
                return
            sender.wait_idle(min(remaining, _SETTLE_POLL_S), retries=False)


_TEST_AMS = pytest.StashKey[_TestAms]()


def _settings_by_app(
    request: pytest.FixtureRequest,
    apps: Iterable[str],
    base: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """``base`` for every application, then each ``ams`` marker, farthest first."""
    by_app = {app: dict(base) for app in apps}
    for marker in reversed(list(request.node.iter_markers("ams"))):
        if marker.args:
            pytest.fail(
                "mockams: @pytest.mark.ams takes keyword arguments only, "
                f"not {marker.args!r}",
                pytrace=False,
            )
        marked = dict(marker.kwargs)
        chosen = list(by_app)
        if "app" in marked:
            app = str(marked.pop("app"))
            if app not in by_app:
                pytest.fail(
                    f"mockams: @pytest.mark.ams(app={app!r}): no application "
                    f"{app!r} on this server, which serves {', '.join(by_app)} "
                    "(override ams_apps to serve it)",
                    pytrace=False,
                )
            chosen = [app]
        for app in chosen:
            by_app[app].update(marked)

    return by_app


@pytest.fixture
def ams(
    request: pytest.FixtureRequest,
    ams_server: MockAMS,
    ams_options: AmsOptions,
    ams_settings: dict[str, Any],
) -> Iterator[MockAMS]:
    """A running mock AMS, fresh for this test: no broadcasts, no deliveries.

    Hooks go to ``--ams-target`` when given, else to ``ams_receiver`` when the
    test uses it. ``ams_settings`` changes the settings of every application,
    ``@pytest.mark.ams(...)`` those of one test (of one application with
    ``app=``). Errors inside the server's threads fail the test that caused
    them.
    """
    ams_server.reset()
    base: dict[str, Any] = {}
    if ams_options.target:
        base["hook_url"] = ams_options.target
    base.update(ams_settings)
    by_app = _settings_by_app(request, ams_server.app_names, base)
    problem = ""
    for app, settings in by_app.items():
        try:
            ams_server.configure(app, **settings)
        except (TypeError, ValueError, LookupError) as error:
            problem = f"mockams: cannot apply settings {settings} to {app}: {error}"
            break
    if problem:  # failed outside the except block, so no chained traceback shows
        pytest.fail(problem, pytrace=False)
    unaddressed = tuple(
        app for app, values in by_app.items() if "hook_url" not in values
    )
    state = _TestAms(ams_server, unaddressed)
    request.node.stash[_TEST_AMS] = state
    if "ams_receiver" in request.fixturenames:
        state.attach(request.getfixturevalue("ams_receiver"))

    yield ams_server

    state.settle(_TEARDOWN_WAIT_S)
    # Retries still in their delay, and the mock's own timers (status ticks,
    # idle expiry), belong to this test: cancelled, none lands in the next.
    ams_server.sender.reset()
    del request.node.stash[_TEST_AMS]
    failures = list(ams_server.errors) + list(ams_server.sender.errors)
    ams_server.errors.clear()
    ams_server.sender.errors.clear()
    if failures:
        first = failures[0]
        pytest.fail(
            f"mockams: {len(failures)} error(s) inside the mock AMS during this test; "
            f"first: {type(first).__name__}: {first}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def _ams_recorder_server() -> Iterator[HTTPServer]:
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(scope="session")
def _ams_recorder(_ams_recorder_server: HTTPServer) -> HookRecorder:
    from mockams.recorder import HookRecorder

    return HookRecorder(_ams_recorder_server)


@pytest.fixture
def ams_receiver(
    request: pytest.FixtureRequest, _ams_recorder: HookRecorder
) -> Iterator[HookRecorder]:
    """A hook recorder on 127.0.0.1, cleared for this test.

    At the end of the test, errors in its handler fail the test, and so do
    hooks that match no ``expect(...)`` declaration once the test made one
    (without any, every hook is welcome).
    """
    _ams_recorder.clear()
    state = request.node.stash.get(_TEST_AMS, None)
    if state is not None:
        state.attach(_ams_recorder)

    yield _ams_recorder

    # ams is still set up when it was asked for after this fixture: its hooks
    # must have arrived before they are checked.
    state = request.node.stash.get(_TEST_AMS, None)
    if state is not None:
        state.settle(_TEARDOWN_WAIT_S)
    try:
        _ams_recorder.check()
    except AssertionError as failure:
        problem = f"mockams: ams_receiver: {failure}"
    else:
        problem = ""
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def ams_replay(
    request: pytest.FixtureRequest, ams_options: AmsOptions
) -> Callable[..., RunReport]:
    """Run a scenario and return its report: ``ams_replay("basic-lifecycle")``.

    ``ams_replay(scenario, target=None, *, content_type=None, ams_version=None,
    budget_ms=None, speed=0, seed=None, streams=1, concurrency=1)``:
    ``scenario`` is a built-in name or a file path. The hooks go to ``target``,
    else to ``--ams-target``, else to ``ams_receiver``; they come from a mock
    of the replay's own, not from ``ams``. ``content_type`` and
    ``ams_version`` default to ``--ams-content-type`` and ``--ams-version``
    when set, else to the scenario's. The report gets one more check: every
    action answered within ``budget_ms`` (default ``--ams-budget-ms``) at p95.
    """
    from mockams.errors import MockAMSError
    from mockams.replay import ReplayOptions, replay
    from mockams.report import CheckResult
    from mockams.scenario import load_scenario
    from mockams.settings import AmsVersion, content_type_from_name

    def run(
        scenario: str | os.PathLike[str],
        target: str | None = None,
        *,
        content_type: str | None = None,
        ams_version: str | AmsVersion | None = None,
        budget_ms: float | None = None,
        **options: Any,
    ) -> RunReport:
        url = target or ams_options.target
        if not url:
            recorder: HookRecorder = request.getfixturevalue("ams_receiver")
            url = recorder.url
        if content_type is None and "content_type" in ams_options.given:
            content_type = ams_options.content_type
        if ams_version is None and "version" in ams_options.given:
            ams_version = ams_options.version
        try:
            if content_type is not None:
                content_type = content_type_from_name(content_type)
            version = (
                AmsVersion.parse(ams_version)
                if isinstance(ams_version, str)
                else ams_version
            )
            loaded = load_scenario(os.fspath(scenario))
        except MockAMSError as error:
            problem = f"mockams: ams_replay: {error}"
        else:
            problem = ""
        if problem:  # failed outside the except block, so no chained traceback shows
            pytest.fail(problem, pytrace=False)

        report = replay(
            loaded,
            ReplayOptions(
                target=url, content_type=content_type, ams_version=version, **options
            ),
        )
        limit = ams_options.budget_ms if budget_ms is None else budget_ms
        slow = _over_budget(report.deliveries, limit)
        report.checks.append(
            CheckResult(f"answers within {limit:g} ms at p95", not slow, slow)
        )

        return report

    return run


@pytest.fixture
def ams_stream_id(request: pytest.FixtureRequest) -> str:
    """A stream id unique in this run, across xdist workers too."""
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")

    return f"stream-{worker}-{os.getpid()}-{next(_stream_numbers)}"
