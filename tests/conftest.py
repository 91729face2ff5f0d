"""Shared fixtures: each group lives in its own module and is imported here."""

import pytest

from tests.core_fixtures import *  # noqa: F401,F403
from tests.fakeapi.fixtures import *  # noqa: F401,F403
from tests.gimp.fixtures import *  # noqa: F401,F403


@pytest.fixture(autouse=True)
def _isolated_user(tmp_path_factory, monkeypatch):
    """No test reads or writes the developer's own settings, key or history."""
    monkeypatch.setenv("BIANXIE_HOME", str(tmp_path_factory.mktemp("bianxie-home")))
    for name in ("BIANXIE_API_KEY", "BIANXIE_BASE_URL", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
