"""A strict local fake of the OpenAI images API (and of new-api relays) for tests.

    with FakeServer(dialect="openai", key="sk-test-key") as srv:
        requests.post(srv.base_url + "/images/generations", ...)
"""

from __future__ import annotations

from tests.fakeapi.envelope import DIALECTS
from tests.fakeapi.faults import FAULTS
from tests.fakeapi.images import FILL_MODES
from tests.fakeapi.records import FilePart, Recorded
from tests.fakeapi.server import FakeServer

__all__ = ["DIALECTS", "FAULTS", "FILL_MODES", "FakeServer", "FilePart", "Recorded"]
