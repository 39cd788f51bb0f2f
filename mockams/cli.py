"""The ``mockams`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from mockams import __version__
from mockams.options import (
    content_type_option,
    count_option,
    port_option,
    version_option,
)

__all__ = ["main"]

logger = logging.getLogger("mockams")


def _app_option(value: str) -> str:
    from mockams.errors import ConfigError
    from mockams.lifecycle import check_app_name

    try:
        return check_app_name(value)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _hook_url_option(value: str) -> str:
    from mockams.exchange import check_hook_url

    problem = check_hook_url(value) if value else None
    if problem:
        raise argparse.ArgumentTypeError(problem)

    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockams",
        description="A mock Ant Media Server that sends webhooks exactly as AMS does.",
    )
    parser.add_argument("--version", action="version", version=f"mockams {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="Run the mock AMS: REST API, hook sender and control API",
        description="Run the mock AMS until Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="Address to listen on")
    serve.add_argument(
        "--port", type=port_option, default=5080, help="Port to listen on (0: any)"
    )
    serve.add_argument(
        "--app",
        dest="apps",
        action="append",
        type=_app_option,
        metavar="NAME",
        help="Application to serve; repeat for more (default: LiveApp)",
    )
    serve.add_argument(
        "--hook-url",
        type=_hook_url_option,
        default="",
        metavar="URL",
        help="Application hook URL (listenerHookURL)",
    )
    serve.add_argument(
        "--content-type",
        type=content_type_option,
        default="form",
        metavar="TYPE",
        help="Hook encoding: form (default), json, or a media type",
    )
    serve.add_argument(
        "--retry-count",
        type=count_option,
        default=0,
        metavar="N",
        help="Retries after a failed hook",
    )
    serve.add_argument(
        "--retry-delay",
        type=count_option,
        default=1000,
        metavar="MS",
        help="Delay between retries",
    )
    serve.add_argument(
        "--ams-version",
        type=version_option,
        default="current",
        metavar="VERSION",
        help="AMS release to imitate: current, seed, or a number like 2.10",
    )
    serve.add_argument(
        "--workers", type=count_option, default=20, metavar="N", help="Hook workers"
    )
    serve.add_argument(
        "-v", "--verbose", action="store_true", help="Also log hook bodies"
    )
    serve.add_argument("-q", "--quiet", action="store_true", help="Log warnings only")
    # Imported here: ``mockams load`` must start Locust before anything else
    # imports sockets or starts threads (see mockams.load).
    from mockams.cli_check import add_check_command
    from mockams.cli_replay import add_replay_commands

    add_replay_commands(commands)
    add_check_command(commands)
    commands.add_parser(
        "load",
        help="Send a scenario's hooks as load on Locust (mockams load --help)",
        add_help=False,
    )

    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(
        logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    )
    logger.propagate = False


def _serve(options: argparse.Namespace) -> int:
    from mockams.errors import ConfigError
    from mockams.server import MockAMS

    if options.workers < 1:
        print("mockams serve: error: --workers must be 1 or more", file=sys.stderr)
        return 2
    try:
        ams = MockAMS(
            apps=options.apps or ("LiveApp",),
            host=options.host,
            port=options.port,
            hook_url=options.hook_url,
            content_type=options.content_type,
            retry_count=options.retry_count,
            retry_delay_ms=options.retry_delay,
            ams_version=options.ams_version,
            workers=options.workers,
        )
    except ConfigError as error:
        print(f"mockams serve: error: {error}", file=sys.stderr)
        return 2
    _configure_logging(options.verbose, options.quiet)
    try:
        ams.start()
    except OSError as error:
        ams.stop()
        reason = error.strerror or str(error)
        print(
            f"mockams serve: cannot listen on {options.host}:{options.port}: {reason}",
            file=sys.stderr,
        )
        return 1

    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(
        f"mockams {__version__} imitating AMS {options.ams_version} on {ams.url}; "
        "Ctrl-C to stop",
        file=sys.stderr,
    )
    while not stop.wait(0.5):
        pass
    delivered = len(ams.log)
    pending = ams.stop()
    print(
        f"mockams stopped: {delivered} deliveries made, "
        f"{pending} still pending were dropped",
        file=sys.stderr,
    )

    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mockams`` command; return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["load"]:
        from mockams.load import main as load

        return load(arguments[1:])
    parser = _parser()
    options = parser.parse_args(arguments)
    if options.command == "serve":
        return _serve(options)
    if options.command == "replay":
        from mockams.cli_replay import run_replay

        return run_replay(options)
    if options.command == "scenarios":
        from mockams.cli_replay import list_scenarios

        return list_scenarios()
    if options.command == "check":
        from mockams.cli_check import run_check

        return run_check(options)

    parser.print_help(sys.stderr)

    return 2


if __name__ == "__main__":
    sys.exit(main())
