"""pytest fixtures for the core's tests (re-exported by tests/conftest.py): an empty
BIANXIE_HOME with the canary key, and fake servers that BIANXIE_BASE_URL points at."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fakeapi import FakeServer

__all__ = ["cli_worker_on_a_thread", "home", "photo_and_selection", "srv", "srv1"]

KEY = "sk-CANARY-7f3a9b2c4d5e6f708192a3b4c5d6e7f8"
DIALECTS = ("openai", "new-api")
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def cli_worker_on_a_thread(request, monkeypatch):
    """A CLI run inside the test process (``run_cli``) has its request worker run on a thread
    of this process: the same ``worker.run`` on the same job folder, without a process start
    per test, and where a test's patches of the client or the history reach it. Tests marked
    ``real_worker``, and every CLI started as a process, get the detached worker process.
    Yields the threads started."""
    threads: list = []
    if request.node.get_closest_marker("real_worker"):
        yield threads
        return
    from bianxie_core import cli_waiting, worker

    def run(job) -> None:
        if worker.wait_for_request(job.folder, timeout=30):
            if worker.left_behind(job, worker.run(job)):
                job.remove()

    def start(job) -> None:
        thread = threading.Thread(target=run, args=(job,), daemon=True, name="test-worker")
        thread.start()
        threads.append(thread)

    monkeypatch.setattr(cli_waiting, "start_worker", start)
    yield threads
    for thread in threads:
        thread.join(60)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty BIANXIE_HOME and the canary key in the environment."""
    folder = tmp_path / "home"
    monkeypatch.setenv("BIANXIE_HOME", str(folder))
    monkeypatch.setenv("BIANXIE_API_KEY", KEY)
    monkeypatch.delenv("BIANXIE_BASE_URL", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANGUAGE", "en")
    return folder


@pytest.fixture(params=DIALECTS)
def srv(request, home, monkeypatch):
    """A fake server of each dialect, with the canary key; BIANXIE_BASE_URL points at it."""
    with FakeServer(dialect=request.param, key=KEY) as server:
        monkeypatch.setenv("BIANXIE_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def srv1(home, monkeypatch):
    """One fake server (openai dialect) for behaviour that does not depend on the dialect."""
    with FakeServer(dialect="openai", key=KEY) as server:
        monkeypatch.setenv("BIANXIE_BASE_URL", server.base_url)
        yield server


SELECTION = (250, 150, 350, 250)  # x0, y0, x1, y1 on coffee.png (600x400)


@pytest.fixture
def photo_and_selection(tmp_path):
    photo = tmp_path / "coffee.png"
    Image.open(DATA / "coffee.png").convert("RGB").save(photo)
    sel = np.zeros((400, 600), np.uint8)
    x0, y0, x1, y1 = SELECTION
    sel[y0:y1, x0:x1] = 255
    selection = tmp_path / "selection.png"
    Image.fromarray(sel, "L").save(selection)
    return photo, selection
