"""Command-line option types: each turns a bad value into one clear line."""

from __future__ import annotations

import argparse
import math

from mockams.errors import MockAMSError
from mockams.settings import AmsVersion, content_type_from_name

__all__ = [
    "content_type_option",
    "count_option",
    "port_option",
    "positive_option",
    "speed_option",
    "version_option",
]


def content_type_option(value: str) -> str:
    try:
        return content_type_from_name(value)
    except MockAMSError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def version_option(value: str) -> AmsVersion:
    try:
        return AmsVersion.parse(value)
    except MockAMSError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def count_option(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is below 0")

    return number


def port_option(value: str) -> int:
    number = count_option(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0 to 65535)")

    return number


def positive_option(value: str) -> int:
    number = count_option(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is below 1")

    return number


# A thousand times slower than real time: a 1 s wait then lasts 17 minutes.
# Slower speeds are mistakes, and make waits too long for the clock to hold.
_SLOWEST_SPEED = 0.001


def speed_option(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number < math.inf:
        raise argparse.ArgumentTypeError(f"{value!r} is not 0 or a positive number")
    if 0 < number < _SLOWEST_SPEED:
        raise argparse.ArgumentTypeError(
            f"{value!r} is too slow: 0 for no waiting, or {_SLOWEST_SPEED:g} or more"
        )

    return number
