"""Fixtures shared by mockams's own tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from mockams import MockAMS

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
AMS_OPENAPI = REFERENCE / "ams-openapi-3.0.1.json"


@pytest.fixture
def mock() -> Iterator[MockAMS]:
    """A mock AMS that is not listening: drive it in-process through ``client``."""
    ams = MockAMS()
    yield ams
    ams.stop()


@pytest.fixture
def client(mock: MockAMS) -> Client:
    """A werkzeug test client on the mock's WSGI app (REST and control API)."""
    return Client(mock.wsgi_app)


@pytest.fixture
def served() -> Iterator[MockAMS]:
    """A mock AMS listening on 127.0.0.1 on a port the OS picked."""
    with MockAMS() as ams:
        yield ams


@pytest.fixture(scope="session")
def ams_openapi() -> dict[str, Any]:
    """AMS's published OpenAPI document; tests that need it skip without it."""
    if not AMS_OPENAPI.exists():
        pytest.skip(f"AMS's OpenAPI document is not at {AMS_OPENAPI} (plain clone)")

    return dict(json.loads(AMS_OPENAPI.read_text("utf-8")))
