"""pytest fixtures around FakeServer (re-exported by tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.fakeapi.server import FakeServer

__all__ = ["fake_server", "fake_newapi_server"]


@pytest.fixture
def fake_server():
    """A running FakeServer in the openai dialect, key ``sk-test-key``."""
    with FakeServer(dialect="openai", key="sk-test-key") as srv:
        yield srv


@pytest.fixture
def fake_newapi_server():
    """A running FakeServer in the new-api relay dialect, key ``sk-test-key``."""
    with FakeServer(dialect="new-api", key="sk-test-key") as srv:
        yield srv
