"""The pytest plugin, seen from a fresh test project that pytest runs inside pytest.

Each test writes a small project with ``pytester`` and runs it: in-process
where that is enough, in a subprocess where the plugin must start from a
clean interpreter or pytest-xdist starts workers. Inner tests that must tell
the outer one something (a port, a stream id) write it to a file in the
directory named by ``MOCKAMS_TEST_OUT``.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from urllib.parse import parse_qsl

# Imported here to stay loaded: an in-process pytester run unloads the modules
# it imported, and hypothesis's plugin imports hypothesis at the end of each run.
import hypothesis  # noqa: F401
import pytest
from pytest_httpserver import HTTPServer

from mockams import recorder, replay  # noqa: F401

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.network

STRICT_INI = """
[pytest]
filterwarnings = error
"""
# An inner fixture that writes what a test saw to MOCKAMS_TEST_OUT/<test name>.
RECORD_CONFTEST = """
import os
from pathlib import Path

import pytest


@pytest.fixture
def record(request):
    def write(*values):
        out = Path(os.environ["MOCKAMS_TEST_OUT"], request.node.name)
        out.write_text(" ".join(str(value) for value in values), "utf-8")

    return write
"""
FORM = "application/x-www-form-urlencoded"
JSON_HEADER = "application/json; charset=UTF-8"
OPTION_VALUES = {
    "target": "http://127.0.0.1:9/from-option",
    "content_type": "json",
    "version": "2.10",
    "budget_ms": "125",
}
INI_VALUES = {
    "target": "http://127.0.0.1:9/from-ini",
    "content_type": "json",
    "version": "seed",
    "budget_ms": "80",
}

Recorded = Callable[[], dict[str, list[str]]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_options(values: dict[str, str]) -> list[str]:
    """``{"budget_ms": "80"}`` as ``["--ams-budget-ms", "80"]``."""
    args = []
    for name, value in values.items():
        args += ["--ams-" + name.replace("_", "-"), value]

    return args


def write_ini(pytester: pytest.Pytester, kind: str, values: dict[str, str]) -> None:
    """The values as ``ams_*`` ini keys, in a pytest.ini or a pyproject.toml."""
    if kind == "pytest.ini":
        lines = [f"ams_{name} = {value}" for name, value in values.items()]
        pytester.makefile(".ini", pytest=STRICT_INI + "\n".join(lines))
    else:
        lines = [f'ams_{name} = "{value}"' for name, value in values.items()]
        pytester.makepyprojecttoml(
            '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n' + "\n".join(lines)
        )


def configure(pytester: pytest.Pytester, how: str, name: str, value: str) -> list[str]:
    """Set one mockams option on the command line or as an ini key."""
    if how == "ini key":
        pytester.makeini(f"{STRICT_INI}ams_{name} = {value}\n")
        return []
    pytester.makeini(STRICT_INI)

    return as_options({name: value})


@pytest.fixture
def strict(pytester: pytest.Pytester) -> pytest.Pytester:
    """A fresh project whose warnings are errors, as in this suite."""
    pytester.makeini(STRICT_INI)

    return pytester


@pytest.fixture
def recorded(
    strict: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Recorded:
    """Give the inner project a ``record`` fixture; read what it wrote, by test."""
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("MOCKAMS_TEST_OUT", str(out))
    strict.makeconftest(RECORD_CONFTEST)

    def read() -> dict[str, list[str]]:
        return {path.name: path.read_text("utf-8").split() for path in out.iterdir()}

    return read


# Registration and loading


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    found = metadata.entry_points(group="pytest11", name="mockams")

    assert [entry.value for entry in found] == ["mockams.plugin"]


def test_a_fresh_project_gets_the_plugin_without_asking(
    strict: pytest.Pytester,
) -> None:
    strict.makepyfile("def test_nothing():\n    pass\n")

    result = strict.runpytest()

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins:*mockams-*"])


def test_loading_the_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    heavy = {"mockams.server", "werkzeug", "hypothesis", "yaml", "pytest_httpserver"}
    code = (
        "import json, sys\n"
        "import pytest\n"
        "before = set(sys.modules)\n"
        "import mockams.plugin\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )

    result = pytester.run(sys.executable, "-c", code)

    assert result.ret == 0, result.stderr.str()
    added = json.loads(result.outlines[-1])
    assert "mockams.plugin" in added
    loaded = {name if name in heavy else name.split(".")[0] for name in added}
    assert loaded & heavy == set()


def test_p_no_mockams_removes_its_fixtures(strict: pytest.Pytester) -> None:
    strict.makepyfile("def test_uses_the_mock(ams):\n    pass\n")

    result = strict.runpytest("-p", "no:mockams")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ams' not found*"])


def test_p_no_mockams_removes_its_options(strict: pytest.Pytester) -> None:
    result = strict.runpytest("-p", "no:mockams", "--ams-target", "http://127.0.0.1/")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --ams-target*"])


# Fixtures


def test_ams_sends_the_hooks_of_a_published_broadcast_to_ams_receiver(
    strict: pytest.Pytester,
) -> None:
    strict.makepyfile(
        """
        def test_publish(ams, ams_receiver, ams_stream_id):
            ams.create_broadcast(streamId=ams_stream_id, name="Demo")
            ams.publish(ams_stream_id)

            [hook] = ams_receiver.wait_for("liveStreamStarted", id=ams_stream_id)

            assert hook.fields["streamName"] == "Demo"
            assert hook.fields["app"] == "LiveApp"
            assert hook.content_type == "application/x-www-form-urlencoded"
            assert ams.broadcast(ams_stream_id)["status"] == "broadcasting"
            [delivery] = ams.wait_for_deliveries(1)
            assert delivery.url == ams_receiver.url
            assert delivery.status == 200
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=1)


def test_ams_is_reset_for_each_test(strict: pytest.Pytester) -> None:
    strict.makepyfile(
        """
        def test_leaves_a_broadcast_settings_and_deliveries(ams, ams_receiver):
            ams.create_broadcast(streamId="left-behind")
            ams.configure(retry_count=3)
            ams.publish("left-behind")

            assert len(ams.wait_for_deliveries(1)) == 1

        def test_finds_none_of_them(ams):
            assert ams.broadcast("left-behind") is None
            assert ams.deliveries() == []
            assert ams.settings().retry_count == 0
            assert ams.settings().hook_url == ""
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=2)


def test_ams_receiver_waits_for_asserts_and_answers_as_told(
    strict: pytest.Pytester,
) -> None:
    strict.makepyfile(
        """
        import pytest

        def test_answers(ams, ams_receiver, ams_stream_id):
            ams_receiver.respond("liveStreamEnded", status=500)
            ams.publish(ams_stream_id)
            ams.unpublish(ams_stream_id)

            ams_receiver.wait_for(count=2, id=ams_stream_id)

            ams_receiver.assert_received("liveStreamStarted", count=1)
            ams_receiver.assert_received("liveStreamEnded", id=ams_stream_id)
            with pytest.raises(AssertionError, match="expected some vodReady"):
                ams_receiver.assert_received("vodReady")
            with pytest.raises(AssertionError, match="waited 0.05 s for 1 vodReady"):
                ams_receiver.wait_for("vodReady", timeout=0.05)
            statuses = {item.action: item.status for item in ams.wait_for_deliveries(2)}
            assert statuses == {"liveStreamStarted": 200, "liveStreamEnded": 500}

        def test_a_500_for_every_action_fails_every_delivery(
            ams, ams_receiver, ams_stream_id
        ):
            ams_receiver.respond(status=500)
            ams.publish(ams_stream_id)

            [delivery] = ams.wait_for_deliveries(1)

            assert delivery.status == 500
            assert not delivery.ok
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=2)


def test_a_retry_still_waiting_at_the_end_of_a_test_never_reaches_the_next(
    strict: pytest.Pytester,
) -> None:
    # The first test's hook fails and its retry waits 300 ms; the second test,
    # which uses only the receiver, watches it for a second: far past the delay.
    strict.makepyfile(
        """
        import threading
        import pytest

        @pytest.mark.ams(retry_count=1, retry_delay_ms=300)
        def test_a_failing_hook(ams, ams_receiver, ams_stream_id):
            ams_receiver.respond("liveStreamStarted", status=500)
            ams.publish(ams_stream_id)
            ams_receiver.wait_for("liveStreamStarted")

        def test_only_the_receiver(ams_receiver):
            ams_receiver.expect("nothingFromTheLastTest")
            threading.Event().wait(1.0)
            assert ams_receiver.hooks == []
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=2)


def test_a_hook_no_test_expected_fails_that_test_at_teardown(
    strict: pytest.Pytester,
) -> None:
    strict.makepyfile(
        """
        def test_expects_only_the_start(ams, ams_receiver, ams_stream_id):
            ams_receiver.expect("liveStreamStarted", id=ams_stream_id)
            ams.publish(ams_stream_id)
            ams.unpublish(ams_stream_id)

            ams_receiver.wait_for("liveStreamEnded")

        def test_expects_both(ams, ams_receiver, ams_stream_id):
            ams_receiver.expect("liveStreamStarted")
            ams_receiver.expect("liveStreamEnded", id=ams_stream_id)
            ams.publish(ams_stream_id)
            ams.unpublish(ams_stream_id)

            ams_receiver.wait_for("liveStreamEnded")
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_expects_only_the_start*",
            "mockams: ams_receiver: 1 hook(s) no test expected: liveStreamEnded *",
        ]
    )


def test_ams_replay_runs_a_built_in_scenario_at_ams_receiver(
    strict: pytest.Pytester,
) -> None:
    strict.makepyfile(
        """
        from mockams.report import RunReport

        def test_replay(ams_replay, ams_receiver):
            report = ams_replay("basic-lifecycle")

            assert isinstance(report, RunReport)
            assert report.passed, report.table()
            assert report.checks
            assert report.target == ams_receiver.url
            assert [hook.action for hook in ams_receiver.hooks] == [
                "liveStreamStarted",
                "liveStreamEnded",
            ]
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=1)


def test_ams_stream_id_differs_in_every_test(
    strict: pytest.Pytester, recorded: Recorded
) -> None:
    strict.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("number", range(4))
        def test_stream(ams_stream_id, record, number):
            record(ams_stream_id)

        def test_another(ams_stream_id, record):
            record(ams_stream_id)
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=5)
    stream_ids = [values[0] for values in recorded().values()]
    assert len(stream_ids) == 5
    assert len(set(stream_ids)) == 5


def test_ams_server_keeps_one_port_for_the_session(
    strict: pytest.Pytester, recorded: Recorded
) -> None:
    strict.makepyfile(
        """
        def test_first(ams_server, ams, record):
            record(ams_server.port, ams.url)

        def test_second(ams_server, ams, record):
            record(ams_server.port, ams.url)
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=2)
    seen = recorded()
    assert seen["test_first"] == seen["test_second"]
    port, url = seen["test_first"]
    assert url == f"http://127.0.0.1:{port}"


def test_overriding_ams_apps_serves_other_applications(
    strict: pytest.Pytester,
) -> None:
    strict.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def ams_apps():
            return ["WebRTCAppEE"]
        """
    )
    strict.makepyfile(
        """
        import json
        import urllib.error
        import urllib.request

        import pytest

        def test_serves_webrtc_app_ee_only(ams, ams_receiver, ams_stream_id):
            count = ams.url + "/WebRTCAppEE/rest/v2/broadcasts/count"
            with urllib.request.urlopen(count, timeout=5) as answer:
                assert json.load(answer) == {"number": 0}
            missing = ams.url + "/LiveApp/rest/v2/broadcasts/count"
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(missing, timeout=5)
            refused.value.close()
            assert refused.value.code == 404

            ams.publish(ams_stream_id, app="WebRTCAppEE")

            [hook] = ams_receiver.wait_for("liveStreamStarted")
            assert hook.fields["app"] == "WebRTCAppEE"
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=1)


def test_overriding_ams_settings_changes_every_test(strict: pytest.Pytester) -> None:
    strict.makeconftest(
        """
        import pytest

        @pytest.fixture
        def ams_settings():
            return {"content_type": "json", "retry_count": 1}
        """
    )
    strict.makepyfile(
        """
        import json

        def test_hooks_are_json(ams, ams_receiver, ams_stream_id):
            assert ams.settings().retry_count == 1
            ams.publish(ams_stream_id)

            [hook] = ams_receiver.wait_for("liveStreamStarted")

            assert hook.content_type == "application/json; charset=UTF-8"
            assert json.loads(hook.body)["id"] == ams_stream_id
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "how", ["ams_listen_address fixture", "MOCKAMS_HOST and MOCKAMS_PORT"]
)
def test_the_listen_address_can_be_chosen(
    strict: pytest.Pytester,
    recorded: Recorded,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    port = free_port()
    if how == "ams_listen_address fixture":
        strict.makeconftest(
            RECORD_CONFTEST
            + "\n\n@pytest.fixture(scope='session')\n"
            + f"def ams_listen_address():\n    return '127.0.0.1', {port}\n"
        )
    else:
        monkeypatch.setenv("MOCKAMS_HOST", "127.0.0.1")
        monkeypatch.setenv("MOCKAMS_PORT", str(port))
    strict.makepyfile("def test_listens(ams, record):\n    record(ams.url)\n")

    result = strict.runpytest()

    result.assert_outcomes(passed=1)
    assert recorded() == {"test_listens": [f"http://127.0.0.1:{port}"]}


# Options and ini keys


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({}, ("", FORM, (3, 0, 2), 250.0), id="defaults"),
        pytest.param(
            {"option": OPTION_VALUES},
            (OPTION_VALUES["target"], "application/json", (2, 10, 0), 125.0),
            id="options",
        ),
        pytest.param(
            {"pytest.ini": INI_VALUES},
            (INI_VALUES["target"], "application/json", (1, 9, 0), 80.0),
            id="pytest.ini",
        ),
        pytest.param(
            {"pyproject.toml": INI_VALUES},
            (INI_VALUES["target"], "application/json", (1, 9, 0), 80.0),
            id="pyproject.toml",
        ),
        pytest.param(
            {"pytest.ini": INI_VALUES, "option": OPTION_VALUES},
            (OPTION_VALUES["target"], "application/json", (2, 10, 0), 125.0),
            id="options beat the ini file",
        ),
        pytest.param(
            {
                "pytest.ini": INI_VALUES,
                "option": {"content_type": "form", "budget_ms": "2.5"},
            },
            (INI_VALUES["target"], FORM, (1, 9, 0), 2.5),
            id="one option beats its ini key only",
        ),
    ],
)
def test_ams_options_come_from_the_command_line_then_the_ini_file(
    pytester: pytest.Pytester,
    given: dict[str, dict[str, str]],
    expected: tuple[str, str, tuple[int, int, int], float],
) -> None:
    ini_kind = next((kind for kind in given if kind != "option"), "pytest.ini")
    write_ini(pytester, ini_kind, given.get(ini_kind, {}))
    target, content_type, version, budget_ms = expected
    pytester.makepyfile(
        f"""
        def test_options(ams_options):
            assert ams_options.target == {target!r}
            assert ams_options.content_type == {content_type!r}
            assert ams_options.version.parts == {version!r}
            assert ams_options.budget_ms == {budget_ms!r}
        """
    )

    result = pytester.runpytest(*as_options(given.get("option", {})))

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["option", "ini key"])
def test_ams_target_sends_every_hook_there_rather_than_to_ams_receiver(
    pytester: pytest.Pytester, httpserver: HTTPServer, how: str
) -> None:
    httpserver.expect_request("/elsewhere", method="POST").respond_with_data("OK")
    args = configure(pytester, how, "target", httpserver.url_for("/elsewhere"))
    pytester.makepyfile(
        """
        def test_publish(ams, ams_receiver):
            ams.publish("sent-elsewhere")

            [delivery] = ams.wait_for_deliveries(1)

            assert delivery.status == 200
            assert ams_receiver.hooks == []
        """
    )

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)
    [(request, _)] = httpserver.log
    assert request.content_type == FORM
    fields = dict(parse_qsl(request.get_data().decode("latin-1")))
    assert fields["action"] == "liveStreamStarted"
    assert fields["id"] == "sent-elsewhere"


@pytest.mark.parametrize("how", ["option", "ini key"])
def test_ams_content_type_json_makes_json_bodies(
    pytester: pytest.Pytester, how: str
) -> None:
    args = configure(pytester, how, "content_type", "json")
    pytester.makepyfile(
        f"""
        import json

        def test_publish(ams, ams_receiver, ams_stream_id):
            ams.publish(ams_stream_id)

            [hook] = ams_receiver.wait_for("liveStreamStarted")

            assert hook.content_type == {JSON_HEADER!r}
            assert json.loads(hook.body)["id"] == ams_stream_id
        """
    )

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["option", "ini key"])
def test_ams_version_2_10_sends_no_app_field(
    pytester: pytest.Pytester, how: str
) -> None:
    args = configure(pytester, how, "version", "2.10")
    pytester.makepyfile(
        """
        def test_publish(ams, ams_receiver, ams_stream_id):
            ams.publish(ams_stream_id)

            [hook] = ams_receiver.wait_for("liveStreamStarted")

            assert "app" not in hook.fields
            assert "timestamp" in hook.fields
            assert ams.version.parts == (2, 10, 0)
        """
    )

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--ams-content-type", "jsn"],
            "ERROR: mockams: --ams-content-type: content type 'jsn' is not 'form', "
            "'json' or a media type; did you mean 'json'?",
            id="content type",
        ),
        pytest.param(
            ["--ams-version", "9.x"],
            "ERROR: mockams: --ams-version: AMS version '9.x' is not a profile name*",
            id="version",
        ),
        pytest.param(
            ["--ams-budget-ms", "0"],
            "ERROR: mockams: --ams-budget-ms: must be above 0, not 0",
            id="budget of 0",
        ),
        pytest.param(
            ["--ams-budget-ms", "fast"],
            "ERROR: mockams: --ams-budget-ms: *'fast'*",
            id="budget not a number",
        ),
        pytest.param(
            ["--ams-target", "ftp://x"],
            "ERROR: mockams: --ams-target: hook URL 'ftp://x' is not http or https",
            id="target",
        ),
    ],
)
def test_a_bad_option_value_is_a_one_line_usage_error(
    strict: pytest.Pytester, args: list[str], message: str
) -> None:
    strict.makepyfile("def test_nothing():\n    pass\n")

    result = strict.runpytest(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert len([line for line in result.errlines if "mockams" in line]) == 1
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_bad_ini_value_is_a_usage_error_that_names_the_ini_key(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(f"{STRICT_INI}ams_version = 9.x\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: mockams: ams_version in tox.ini: AMS version '9.x' is not*"]
    )


# The marker


def test_the_ams_marker_changes_the_settings_of_its_test_only(
    strict: pytest.Pytester,
) -> None:
    strict.makepyfile(
        """
        import json

        import pytest

        @pytest.mark.ams(content_type="json", retry_count=2, retry_delay_ms=10)
        def test_marked(ams, ams_receiver, ams_stream_id):
            ams_receiver.respond(status=500)
            ams.publish(ams_stream_id)

            deliveries = ams.wait_for_deliveries(3)

            assert [item.attempt for item in deliveries] == [1, 2, 3]
            assert json.loads(deliveries[0].body)["id"] == ams_stream_id

        def test_unmarked(ams):
            settings = ams.settings()
            assert settings.content_type == "application/x-www-form-urlencoded"
            assert (settings.retry_count, settings.retry_delay_ms) == (0, 1000)
        """
    )

    result = strict.runpytest("--strict-markers")

    result.assert_outcomes(passed=2)


def test_the_closest_ams_marker_wins(strict: pytest.Pytester) -> None:
    strict.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.ams(content_type="json", retry_count=1)

        @pytest.mark.ams(retry_count=3)
        def test_marked_twice(ams):
            settings = ams.settings()
            assert settings.content_type == "application/json"
            assert settings.retry_count == 3
        """
    )

    result = strict.runpytest("--strict-markers")

    result.assert_outcomes(passed=1)


def test_the_ams_marker_app_argument_chooses_the_application(
    strict: pytest.Pytester,
) -> None:
    strict.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def ams_apps():
            return ["LiveApp", "WebRTCAppEE"]
        """
    )
    strict.makepyfile(
        """
        import pytest

        @pytest.mark.ams(app="WebRTCAppEE", content_type="json")
        def test_marked(ams, ams_receiver, ams_stream_id):
            assert ams.settings("WebRTCAppEE").content_type == "application/json"
            assert ams.settings("LiveApp").content_type == (
                "application/x-www-form-urlencoded"
            )
            ams.publish(ams_stream_id, app="WebRTCAppEE")

            [hook] = ams_receiver.wait_for("liveStreamStarted")

            assert hook.fields["app"] == "WebRTCAppEE"
            assert hook.content_type.startswith("application/json")
        """
    )

    result = strict.runpytest("--strict-markers")

    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        pytest.param(
            "ams('json')",
            "mockams: @pytest.mark.ams takes keyword arguments only, not ('json',)",
            id="positional argument",
        ),
        pytest.param(
            "ams(retries=2)",
            "mockams: cannot apply settings {'retries': 2} to LiveApp: "
            "*unexpected keyword argument 'retries'",
            id="unknown setting",
        ),
        pytest.param(
            "ams(retry_count='2')",
            "mockams: cannot apply settings {'retry_count': '2'} to LiveApp: "
            "setting 'webhookRetryCount' must be int, not '2'",
            id="setting of the wrong type",
        ),
        pytest.param(
            "ams(app='NoSuchApp')",
            "mockams: @pytest.mark.ams(app='NoSuchApp'): no application "
            "'NoSuchApp' on this server, which serves LiveApp *",
            id="application not served",
        ),
    ],
)
def test_a_wrong_ams_marker_errors_its_test_only(
    strict: pytest.Pytester, marker: str, message: str
) -> None:
    strict.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked(ams):
            pass

        def test_unmarked(ams):
            pass
        """
    )

    result = strict.runpytest()

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_marked*", message])
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_the_ams_marker_is_registered(strict: pytest.Pytester) -> None:
    result = strict.runpytest("--markers")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["@pytest.mark.ams(app='LiveApp', **settings):*"])


# Errors inside the mock


@pytest.mark.parametrize(
    "breaking",
    [
        pytest.param(
            """
            def test_breaks_the_mock(ams, monkeypatch):
                def fail(request):
                    raise RuntimeError("the mock broke")

                monkeypatch.setattr(ams.rest, "handle", fail)
                url = ams.url + "/LiveApp/rest/v2/broadcasts/count"
                with pytest.raises(urllib.error.HTTPError) as answer:
                    urllib.request.urlopen(url, timeout=5)
                answer.value.close()
                assert answer.value.code == 500
            """,
            id="in a REST request",
        ),
        pytest.param(
            """
            def test_breaks_the_mock(ams, ams_receiver, ams_stream_id, monkeypatch):
                def fail(*args, **kwargs):
                    raise RuntimeError("the mock broke")

                monkeypatch.setattr("mockams.sender.decode_body_text", fail)
                ams.publish(ams_stream_id)
                assert ams.wait_idle(5)
            """,
            id="in the hook sender",
        ),
    ],
)
def test_an_error_inside_the_mock_fails_the_test_that_caused_it(
    strict: pytest.Pytester, breaking: str
) -> None:
    strict.makepyfile(
        test_inner="import urllib.error\nimport urllib.request\n\nimport pytest\n\n"
        + textwrap.dedent(breaking)
        + textwrap.dedent(
            """
            def test_runs_after_it(ams):
                url = ams.url + "/LiveApp/rest/v2/broadcasts/count"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    assert answer.status == 200
            """
        )
    )

    reports = strict.inline_run().getreports("pytest_runtest_logreport")

    failed = [(report.nodeid, report.when) for report in reports if report.failed]
    assert failed == [("test_inner.py::test_breaks_the_mock", "teardown")]
    [failure] = [report for report in reports if report.failed]
    assert (
        "mockams: 1 error(s) inside the mock AMS during this test; "
        "first: RuntimeError: the mock broke"
    ) in failure.longreprtext
    calls = [report.nodeid for report in reports if report.when == "call"]
    assert calls == [
        "test_inner.py::test_breaks_the_mock",
        "test_inner.py::test_runs_after_it",
    ]
    assert all(report.passed for report in reports if report.when == "call")


# pytest-xdist


def test_under_xdist_each_worker_has_its_own_server_and_stream_ids(
    strict: pytest.Pytester, recorded: Recorded
) -> None:
    strict.makeini(f"{STRICT_INI}ams_budget_ms = 99\n")
    strict.makepyfile(
        """
        import os

        import pytest

        @pytest.mark.ams(retry_count=1)
        @pytest.mark.parametrize("number", range(8))
        def test_stream(ams, ams_options, ams_receiver, ams_stream_id, record, number):
            ams_receiver.expect("liveStreamStarted", id=ams_stream_id)
            ams.publish(ams_stream_id)

            [hook] = ams_receiver.wait_for("liveStreamStarted", id=ams_stream_id)

            assert "app" not in hook.fields
            assert ams.settings().retry_count == 1
            assert ams_options.budget_ms == 99
            record(os.environ["PYTEST_XDIST_WORKER"], ams.url, ams_stream_id)
        """
    )

    result = strict.runpytest_subprocess("-n", "2", "--ams-version", "2.10")

    result.assert_outcomes(passed=8)
    seen = list(recorded().values())
    urls_by_worker: dict[str, set[str]] = {}
    for worker, url, _ in seen:
        urls_by_worker.setdefault(worker, set()).add(url)
    assert sorted(urls_by_worker) == ["gw0", "gw1"]
    assert all(len(urls) == 1 for urls in urls_by_worker.values())
    assert urls_by_worker["gw0"] != urls_by_worker["gw1"]
    assert len({stream_id for _, _, stream_id in seen}) == 8


def two_free_ports() -> int:
    """A port that is free, with the next one free too (for workers gw0, gw1)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two neighbouring free ports on 127.0.0.1")


def test_under_xdist_every_override_and_option_holds_in_each_worker(
    strict: pytest.Pytester, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = two_free_ports()
    monkeypatch.setenv("MOCKAMS_PORT", str(port))
    strict.makeini(f"{STRICT_INI}ams_version = 2.10\nams_budget_ms = 500\n")
    strict.makeconftest(
        RECORD_CONFTEST
        + """

@pytest.fixture(scope="session")
def ams_apps():
    return ["LiveApp", "WebRTCAppEE"]


@pytest.fixture
def ams_settings():
    return {"retry_delay_ms": 20}
"""
    )
    strict.makepyfile(
        """
        import json
        import os

        import pytest

        @pytest.mark.parametrize("number", range(4))
        def test_server(ams, ams_receiver, ams_server, ams_stream_id, record, number):
            ams.publish(ams_stream_id, app="WebRTCAppEE")
            [hook] = ams_receiver.wait_for("liveStreamStarted", id=ams_stream_id)

            assert ams is ams_server
            assert hook.content_type.startswith("application/json")
            assert "app" not in json.loads(hook.body)
            assert ams.settings("WebRTCAppEE").retry_delay_ms == 20
            record("server", os.environ["PYTEST_XDIST_WORKER"], ams.url)

        @pytest.mark.parametrize("number", range(4))
        def test_replay(ams_replay, ams_receiver, record, number):
            report = ams_replay("basic-lifecycle")

            assert report.passed
            assert [hook.action for hook in ams_receiver.hooks] == [
                "liveStreamStarted",
                "liveStreamEnded",
            ]
            assert all(
                hook.content_type.startswith("application/json")
                for hook in ams_receiver.hooks
            )
            record("replay", os.environ["PYTEST_XDIST_WORKER"], report.passed)
        """
    )

    result = strict.runpytest_subprocess("-n", "2", "--ams-content-type", "json")

    result.assert_outcomes(passed=8)
    seen = recorded().values()
    servers = {worker: url for kind, worker, url in seen if kind == "server"}
    replays = [worker for kind, worker, _ in seen if kind == "replay"]
    assert servers
    for worker, url in servers.items():
        # MOCKAMS_PORT for gw0, one more for gw1.
        assert url == f"http://127.0.0.1:{port + int(worker.removeprefix('gw'))}"
    assert len(replays) == 4
