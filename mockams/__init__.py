"""mockams: a mock Ant Media Server that sends hooks exactly as AMS does.

Run ``mockams serve`` and point a webhook receiver at it, or use
:class:`MockAMS` from Python tests.
"""

from __future__ import annotations

from mockams.errors import ConfigError, MockAMSError, StreamStateError
from mockams.payloads import ACTIONS
from mockams.sender import Delivery
from mockams.server import DeliveryTimeout, MockAMS
from mockams.settings import FORM, JSON, AmsVersion, AppSettings

__version__ = "0.1.0"

__all__ = [
    "ACTIONS",
    "FORM",
    "JSON",
    "AmsVersion",
    "AppSettings",
    "ConfigError",
    "Delivery",
    "DeliveryTimeout",
    "MockAMS",
    "MockAMSError",
    "StreamStateError",
    "__version__",
]
