"""Options and fixtures of the receiver contract suite.

Run it at a receiver with ``pytest contract --ams-target URL`` from a
checkout, or ``mockams check URL`` from an installed package. The session
starts by posting one hook to the target: a target that cannot be checked at
all is one usage error, not a failure of every check.
"""

from __future__ import annotations

import pytest

from mockams.contract import (
    ENCODINGS,
    SAMPLE_TIME_LIMIT_S,
    Prober,
    StateProbe,
    preflight,
)
from mockams.payloads import actions_sent_by
from mockams.plugin import AmsOptions, read_options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockams contract")
    group.addoption(
        "--ams-state-probe",
        metavar="URL",
        default="",
        help="URL template telling what the receiver stored, e.g. http://host/streams/{id}",
    )
    group.addoption(
        "--ams-state-command",
        metavar="CMD",
        default="",
        help="Command template printing what the receiver stored, e.g. './state {id}'",
    )
    group.addoption(
        "--ams-samples",
        metavar="N",
        type=int,
        default=100,
        help="Hooks per action and encoding for the latency figures",
    )
    group.addoption(
        "--ams-sample-seconds",
        metavar="S",
        type=float,
        default=SAMPLE_TIME_LIMIT_S,
        help="Time limit of the latency samples of one action and encoding",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    target = config.getoption("ams_target") or config.getini("ams_target")
    if not target:
        raise pytest.UsageError(
            "mockams contract: give the receiver with --ams-target URL"
        )
    if config.getoption("ams_samples") < 1:
        raise pytest.UsageError("mockams contract: --ams-samples must be 1 or more")
    if not config.getoption("ams_sample_seconds") > 0:
        raise pytest.UsageError(
            "mockams contract: --ams-sample-seconds must be above 0"
        )
    problem = preflight(target)
    if problem:
        raise pytest.UsageError(f"mockams contract: {problem}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    options = read_options(metafunc.config)
    encodings = sorted(ENCODINGS)
    if "content_type" in options.given:
        encodings = [
            name
            for name, value in ENCODINGS.items()
            if options.content_type in (name, value)
        ]
        encodings = encodings or ["json"]  # any other media type gives JSON, as in AMS
    if not options.version.has_json_hooks:
        encodings = ["form"]  # before 2.10 every hook is a form, whatever is set
    if "encoding" in metafunc.fixturenames:
        metafunc.parametrize("encoding", encodings)
    if "action" in metafunc.fixturenames:
        metafunc.parametrize("action", actions_sent_by(options.version))


@pytest.fixture(scope="session")
def prober(ams_options: AmsOptions) -> Prober:
    """Posts hooks to the receiver as AMS does and keeps every outcome."""
    return Prober(ams_options.target, ams_options.version)


@pytest.fixture
def content_type(encoding: str) -> str:
    return ENCODINGS[encoding]


@pytest.fixture(scope="session")
def state_probe(pytestconfig: pytest.Config) -> StateProbe:
    return StateProbe(
        url=pytestconfig.getoption("ams_state_probe"),
        command=pytestconfig.getoption("ams_state_command"),
    )


@pytest.fixture(scope="session")
def samples(pytestconfig: pytest.Config) -> int:
    return int(pytestconfig.getoption("ams_samples"))


@pytest.fixture(scope="session")
def sample_seconds(pytestconfig: pytest.Config) -> float:
    return float(pytestconfig.getoption("ams_sample_seconds"))
