"""Ctrl-C and SIGTERM while a paid request runs, sent to a real ``bianxie`` process: the
first keeps waiting (and says why), so the billed image still arrives in the history and the
output; the second stops, saying what is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bianxie_core import config as configmod
from bianxie_core.history import History
from tests.test_client import KEY, assert_no_key

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def start(srv, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), BIANXIE_BASE_URL=srv.base_url,
               BIANXIE_API_KEY=KEY, LANGUAGE="en")
    return subprocess.Popen([sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x",
                             "-o", str(out), "--quiet"], env=env, cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def when_sent(srv, proc, limit: float = 30.0) -> None:
    """Wait until the fake holds the request (its answer is delayed by ``srv.latency``)."""
    end = time.monotonic() + limit
    while not srv.requests:
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_interruption_keeps_waiting_and_delivers(signum, srv1, tmp_path):
    srv1.latency = 2.0
    proc = start(srv1, tmp_path / "o.png")
    when_sent(srv1, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Still waiting" in err and "Ctrl-C again" in err
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
    (entry,) = History(configmod.home() / "history").entries()
    assert entry.image_path.read_bytes() == srv1.responses[0]
    assert_no_key(out, err)


def test_a_second_interruption_stops_and_says_what_is_lost(srv1, tmp_path):
    srv1.latency = 5.0
    proc = start(srv1, tmp_path / "o.png")
    when_sent(srv1, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert "may have been charged" in last and "lost" in last and "history --pending" in last
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()


def test_a_closed_terminal_does_not_stop_the_wait(srv1, tmp_path):
    srv1.latency = 1.5
    proc = start(srv1, tmp_path / "o.png")
    when_sent(srv1, proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
