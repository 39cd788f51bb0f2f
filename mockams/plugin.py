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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

    from mockams.recorder import HookRecorder
    from mockams.report import RunReport
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
# A test's own hooks are waited for at its end, at most this long: a little
# more than AMS's 2 s timeout, so that no attempt outlives the test.
_TEARDOWN_WAIT_S = 2.5
_stream_numbers = itertools.count(1)
_T = TypeVar("_T")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockams", "mock Ant Media Server")
    for name, metavar, text, default in _OPTIONS:
        flag = "--ams-" + name.replace("_", "-")
        group.addoption(
            flag, dest=f"ams_{name}", metavar=metavar, default=None, help=text
        )
        parser.addini(f"ams_{name}", text, default=default)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ams(app='LiveApp', **settings): settings of the mock AMS application for this "
        "test, e.g. content_type='json', retry_count=2, retry_delay_ms=50",
    )
    if not hasattr(config, "workerinput"):
        _read_options(config)  # a bad value stops the run at once, as a usage error


@dataclass(frozen=True)
class AmsOptions:
    """The plugin's options, from the command line or the ini file."""

    target: str
    content_type: str
    version: AmsVersion
    budget_ms: float


def _read_options(config: pytest.Config) -> AmsOptions:
    from mockams.errors import MockAMSError
    from mockams.exchange import check_hook_url
    from mockams.settings import AmsVersion, content_type_from_name

    def read(name: str, parse: Callable[[str], _T]) -> _T:
        given = config.getoption(f"ams_{name}")
        source = "--ams-" + name.replace("_", "-")
        if given is None:
            given = config.getini(f"ams_{name}")
            where = config.inipath.name if config.inipath else "the ini file"
            source = f"ams_{name} in {where}"
        try:
            return parse(str(given))
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
    )


@pytest.fixture(scope="session")
def ams_options(pytestconfig: pytest.Config) -> AmsOptions:
    """The mockams options in force for this run."""
    return _read_options(pytestconfig)


@pytest.fixture(scope="session")
def ams_listen_address(pytestconfig: pytest.Config) -> tuple[str, int]:
    """Where the mock listens: ``MOCKAMS_HOST``/``MOCKAMS_PORT``, else 127.0.0.1:0.

    Under pytest-xdist, worker ``gwN`` adds N to ``MOCKAMS_PORT``.
    """
    host = os.environ.get("MOCKAMS_HOST") or "127.0.0.1"
    port = int(os.environ.get("MOCKAMS_PORT") or 0)
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


@pytest.fixture
def ams(
    request: pytest.FixtureRequest,
    ams_server: MockAMS,
    ams_options: AmsOptions,
    ams_settings: dict[str, Any],
) -> Iterator[MockAMS]:
    """A running mock AMS, fresh for this test: no broadcasts, no deliveries.

    Hooks go to ``--ams-target`` when given, else to ``ams_receiver`` when the
    test uses it. ``@pytest.mark.ams(...)`` and ``ams_settings`` change the
    application settings for one test. Errors inside the server's threads fail
    the test that caused them.
    """
    ams_server.reset()
    settings: dict[str, Any] = {}
    if ams_options.target:
        settings["hook_url"] = ams_options.target
    elif "ams_receiver" in request.fixturenames:
        recorder: HookRecorder = request.getfixturevalue("ams_receiver")
        settings["hook_url"] = recorder.url
    settings.update(ams_settings)
    apps = list(ams_server.app_names)
    for marker in reversed(list(request.node.iter_markers("ams"))):
        if marker.args:
            pytest.fail(
                "mockams: @pytest.mark.ams takes keyword arguments only, "
                f"not {marker.args!r}",
                pytrace=False,
            )
        marked = dict(marker.kwargs)
        if "app" in marked:
            apps = [str(marked.pop("app"))]
        settings.update(marked)
    try:
        for app in apps:
            ams_server.configure(app, **settings)
    except (TypeError, ValueError, LookupError) as error:
        problem = f"mockams: cannot apply settings {settings}: {error}"
    else:
        problem = ""
    if problem:  # failed outside the except block, so no chained traceback shows
        pytest.fail(problem, pytrace=False)

    yield ams_server

    ams_server.wait_idle(_TEARDOWN_WAIT_S)
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
def ams_receiver(_ams_recorder: HookRecorder) -> Iterator[HookRecorder]:
    """A hook recorder on 127.0.0.1, cleared for this test.

    At the end of the test, hooks that match no ``expect(...)`` declaration
    (when the test made any) and errors in its handler fail the test.
    """
    _ams_recorder.clear()
    yield _ams_recorder
    _ams_recorder.check()


@pytest.fixture
def ams_replay(
    request: pytest.FixtureRequest, ams_options: AmsOptions
) -> Callable[..., RunReport]:
    """Run a scenario: ``ams_replay("basic-lifecycle", target=None, speed=0, ...)``.

    The target defaults to ``--ams-target``, else to ``ams_receiver``.
    """
    from mockams.replay import ReplayOptions, replay
    from mockams.scenario import load_scenario

    def run(scenario: str, target: str | None = None, **options: Any) -> RunReport:
        url = target or ams_options.target
        if not url:
            recorder: HookRecorder = request.getfixturevalue("ams_receiver")
            url = recorder.url

        return replay(load_scenario(scenario), ReplayOptions(target=url, **options))

    return run


@pytest.fixture
def ams_stream_id(request: pytest.FixtureRequest) -> str:
    """A stream id unique in this run, across xdist workers too."""
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")

    return f"stream-{worker}-{os.getpid()}-{next(_stream_numbers)}"
