"""Ctrl-C, SIGTERM and SIGKILL while a paid request runs, sent to a real ``bianxie`` process
(which hands the request to a real detached worker): the first keeps waiting (and says why),
so the billed image still arrives in the history and the output; the second stops, and the
image still reaches the history; a killed CLI loses nothing either."""

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


def cli_env(srv, tmp: Path) -> dict:
    """The CLI's environment; its job folders go to ``tmp`` (TMPDIR)."""
    tmp.mkdir(exist_ok=True)
    return dict(os.environ, PYTHONPATH=str(ROOT), BIANXIE_BASE_URL=srv.base_url,
                BIANXIE_API_KEY=KEY, LANGUAGE="en", TMPDIR=str(tmp))


def start(srv, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x",
                             "-o", str(out), "--quiet"], env=cli_env(srv, out.parent / "tmp"),
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def history_cli(srv, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bianxie_core.cli", "history", *argv],
                          env=cli_env(srv, tmp_path / "tmp"), cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)


def worker_done(tmp_path: Path, limit: float = 60.0) -> None:
    """Wait until the worker of a CLI that is gone has finished and removed its job folder."""
    end = time.monotonic() + limit
    while list((tmp_path / "tmp").iterdir()):
        assert time.monotonic() < end, list((tmp_path / "tmp").iterdir())
        time.sleep(0.05)


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


def test_a_second_interruption_stops_and_the_image_still_reaches_the_history(srv1, tmp_path):
    srv1.latency = 3.0
    proc = start(srv1, tmp_path / "o.png")
    when_sent(srv1, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert "may have been charged" in last and "history --pending" in last
    assert "lost" not in last
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()
    worker_done(tmp_path)
    (entry,) = History(configmod.home() / "history").pending()
    assert entry.image_path.read_bytes() == srv1.responses[0]
    assert len(srv1.requests) == 1


def test_a_killed_cli_loses_nothing_history_pending_finds_the_image(srv1, tmp_path):
    """SIGKILL after the request is sent: the worker finishes, the image is in the history as
    not imported, `history --pending` lists it and `--export` copies it out."""
    srv1.latency = 4.0
    proc = start(srv1, tmp_path / "o.png")
    when_sent(srv1, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert History(configmod.home() / "history").entries() == []  # still on its way
    worker_done(tmp_path)
    listed = history_cli(srv1, tmp_path, "--pending")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert "not imported" in line
    exported = history_cli(srv1, tmp_path, "--pending", "--export", str(tmp_path / "got"))
    assert exported.returncode == 0, exported.stderr
    (path,) = exported.stdout.split()
    assert Path(path).read_bytes() == srv1.responses[0]
    assert history_cli(srv1, tmp_path, "--pending").stdout == ""
    assert not (tmp_path / "o.png").exists() and len(srv1.requests) == 1
    assert_no_key(listed.stdout, listed.stderr, exported.stdout, exported.stderr)


def test_a_delivered_result_is_not_pending_and_leaves_no_job_folder(srv1, tmp_path):
    done = subprocess.run([sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x",
                           "-o", str(tmp_path / "o.png"), "--quiet"],
                          env=cli_env(srv1, tmp_path / "tmp"), cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
    assert History(configmod.home() / "history").pending() == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_closed_terminal_does_not_stop_the_wait(srv1, tmp_path):
    srv1.latency = 1.5
    proc = start(srv1, tmp_path / "o.png")
    when_sent(srv1, proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
