"""Shared fixtures: each group lives in its own module and is imported here."""

from tests.fakeapi.fixtures import *  # noqa: F401,F403
from tests.gimp.fixtures import *  # noqa: F401,F403
