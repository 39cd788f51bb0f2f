"""mockams: a mock Ant Media Server that sends hooks exactly as AMS does.

Run ``mockams serve`` and point a webhook receiver at it, or use
:class:`MockAMS` from Python tests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockams.errors import (
        ConfigError,
        CreateRejected,
        MockAMSError,
        StreamStateError,
    )
    from mockams.payloads import ACTIONS
    from mockams.sender import Delivery
    from mockams.server import DeliveryTimeout, MockAMS
    from mockams.settings import FORM, JSON, AmsVersion, AppSettings

__version__ = "0.1.0"

# Each public name is imported on first use, so that loading the pytest plugin
# (``mockams.plugin``, loaded by every pytest run) does not import werkzeug.
_HOMES = {
    "ACTIONS": "mockams.payloads",
    "AmsVersion": "mockams.settings",
    "AppSettings": "mockams.settings",
    "ConfigError": "mockams.errors",
    "CreateRejected": "mockams.errors",
    "Delivery": "mockams.sender",
    "DeliveryTimeout": "mockams.server",
    "FORM": "mockams.settings",
    "JSON": "mockams.settings",
    "MockAMS": "mockams.server",
    "MockAMSError": "mockams.errors",
    "StreamStateError": "mockams.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mockams' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value

    return value


__all__ = [
    "ACTIONS",
    "FORM",
    "JSON",
    "AmsVersion",
    "AppSettings",
    "ConfigError",
    "CreateRejected",
    "Delivery",
    "DeliveryTimeout",
    "MockAMS",
    "MockAMSError",
    "StreamStateError",
    "__version__",
]
