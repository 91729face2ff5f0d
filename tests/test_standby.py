"""A worker waiting on standby for the host's next job: real worker processes, fake server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bianxie_core import errors, jobs, standby, worker
from bianxie_core.job_folder import JobRecord
from bianxie_core.jobs import Job
from bianxie_core.raw import RawPixels
from bianxie_core.standby import Terms
from tests.test_client import KEY, gen  # noqa: F401
from tests.test_region_job import photo, selection_edit, settings

ROOT = Path(__file__).resolve().parent.parent


def markers(root: Path) -> list:
    return sorted(root.glob(f"*/{standby.MARKER}*"))


def wait_until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not standby.alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def workers(home):
    """Every worker process these tests started ends with the test."""
    started = []
    yield started
    root = home / "jobs"
    pids = set(started) | {Job(m.parent).status().pid for m in markers(root)}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        gone(pid)


def terms(seconds: float = 30.0, host: int | None = None) -> Terms:
    return Terms.for_host(seconds, host or os.getpid())


def first_job(t: Terms, workers) -> Job:
    job = Job.ready(terms=t)
    assert not job.warm
    workers.append(job._process.pid)
    job.submit(gen())
    status = job.wait(timeout=30, interval=0.02)
    assert status.state == "done", status.error
    job.remove()
    return job


def waiting_after_a_job(t: Terms, workers, home) -> Job:
    """A first job, done: its worker now waits for the next."""
    first = first_job(t, workers)
    wait_until(lambda: markers(home / "jobs"))
    return first


def test_the_next_job_goes_to_the_waiting_worker(srv1, home, workers):
    t = terms()
    first = waiting_after_a_job(t, workers, home)
    job = Job.ready(region=True, terms=t)
    assert job.warm and job._pid == first._process.pid
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = job.wait(timeout=30, interval=0.02, worker_gone=job.worker_exited)
    assert status.state == "done", status.error
    assert status.pid == first._process.pid and len(status.placements) == 1
    assert len(srv1.requests) == 2
    assert "Traceback" not in (job.folder / "worker.log").read_text()
    job.remove()
    wait_until(lambda: markers(home / "jobs"))  # and waits again


def test_a_different_key_starts_a_new_worker(srv1, home, workers):
    waiting_after_a_job(terms(), workers, home)
    other = Terms.for_host(30, os.getpid(), dict(os.environ, LANGUAGE="zh_CN"))
    job = Job.ready(terms=other)
    workers.append(job._process.pid)
    assert not job.warm and len(markers(home / "jobs")) == 1
    job.cancel()


def test_the_key_follows_the_core_files_the_python_and_the_host(tmp_path):
    copy = tmp_path / "bianxie_core"
    shutil.copytree(ROOT / "bianxie_core", copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = "import os; from bianxie_core import standby; print(standby.key(7, {'A': '1'}))"

    def key_of_copy():
        out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), text=True,
                             capture_output=True, timeout=60, env={"PYTHONPATH": str(tmp_path)})
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    before = key_of_copy()
    assert key_of_copy() == before
    stat = (copy / "placement.py").stat()
    os.utime(copy / "placement.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert key_of_copy() != before  # an updated install never meets an old worker
    assert standby.key(7, {"A": "1"}) != standby.key(8, {"A": "1"})
    assert standby.key(7, {"A": "1"}) != standby.key(7, {"A": "2"})


def test_an_idle_worker_retires(srv1, home, workers):
    first = first_job(terms(seconds=1.0), workers)
    assert gone(first._process.pid, timeout=20)
    assert markers(home / "jobs") == [] and list((home / "jobs").iterdir()) == []


def test_a_worker_leaves_with_its_gimp(srv1, home, workers):
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        first = first_job(terms(host=host.pid), workers)
        wait_until(lambda: markers(home / "jobs"))
    finally:
        host.kill()
        host.wait()
    assert gone(first._process.pid, timeout=20)
    assert list((home / "jobs").iterdir()) == []


def test_a_dead_waiting_worker_is_replaced_and_the_request_sent_once(srv1, home, workers):
    t = terms()
    first = waiting_after_a_job(t, workers, home)
    os.kill(first._process.pid, signal.SIGKILL)  # as a crash while waiting would
    assert gone(first._process.pid)
    job = Job.ready(terms=t)
    assert job.warm  # its marker was still there
    job.submit(gen())  # no taker: the folder is taken back and a new worker started
    assert not job.warm
    workers.append(job._process.pid)
    status = job.wait(timeout=30, interval=0.02, worker_gone=job.worker_exited)
    assert status.state == "done" and status.pid == job._process.pid
    assert len(srv1.requests) == 2  # the first job's, and this one once
    assert (job.folder / "abandoned").exists()


def test_waiting_ends_plainly_when_a_warm_worker_dies_during_the_job(srv1, home, workers):
    t = terms()
    first = waiting_after_a_job(t, workers, home)
    srv1.latency = 5.0
    job = Job.ready(terms=t)
    job.submit(gen())
    assert job.warm
    wait_until(lambda: srv1.requests[1:])
    os.kill(first._process.pid, signal.SIGKILL)
    with pytest.raises(errors.ConnectionLostError) as caught:
        job.wait(timeout=30, interval=0.02, worker_gone=job.worker_exited)
    assert "worker.log" in str(caught.value)


def test_claim_take_and_abandon_decide_once(tmp_path):
    making = tmp_path / ".job"
    making.mkdir()
    standby.mark(making, "k")
    assert standby.claim("k", tmp_path) is None  # not there yet: the worker makes it
    folder = making.rename(tmp_path / "job")
    assert standby.claim("other", tmp_path) is None
    assert standby.claim("k", tmp_path) == folder
    assert standby.claim("k", tmp_path) is None  # one host only
    assert standby._take(folder)
    assert standby.taken(folder, timeout=0)
    (folder / "taken").rename(folder / "claimed")
    assert not standby.taken(folder, timeout=0.05)  # nobody took it: the host takes it back
    assert not standby._take(folder)  # a late worker finds it gone


def test_a_cancelled_warm_job_sends_nothing_and_the_worker_waits_again(srv1, home, workers):
    t = terms()
    waiting_after_a_job(t, workers, home)
    job = Job.ready(terms=t)
    assert job.warm
    wait_until(lambda: (job.folder / "taken").exists())
    job.cancel()
    wait_until(lambda: markers(home / "jobs"))
    time.sleep(0.2)
    assert len(srv1.requests) == 1 and not job.folder.exists()


def test_one_worker_waits_per_host(srv1, home, workers):
    t = terms()
    jobs = [Job.ready(terms=t) for _ in range(2)]
    for job in jobs:
        workers.append(job._process.pid)
        job.submit(gen())
    for job in jobs:
        assert job.wait(timeout=30, interval=0.02).state == "done"
        job.remove()
    wait_until(lambda: len(markers(home / "jobs")) == 1 and sum(
        standby.alive(job._process.pid) and job._process.poll() is None for job in jobs) == 1)
    time.sleep(standby.HOST_CHECK + 0.5)  # and it stays
    assert len(markers(home / "jobs")) == 1


def test_zombies_and_missing_processes_are_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and standby.alive(child.pid):
        time.sleep(0.02)
    assert not standby.alive(child.pid)  # exited, not yet reaped
    child.wait()
    assert standby.alive(os.getpid()) and not standby.alive(0)


def test_a_worker_warmed_up_before_a_dialog_takes_the_edit(srv1, home, workers):
    t = terms()
    pid = jobs.warm_up(t)
    workers.append(pid)
    wait_until(lambda: markers(home / "jobs"))
    assert jobs.warm_up(t) is None  # one waits already
    assert jobs.warm_up(terms(seconds=0)) is None  # turned off
    job = Job.ready(region=True, terms=t)
    assert job.warm and job._pid == pid
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = job.wait(timeout=30, interval=0.02, worker_gone=job.worker_exited)
    assert status.state == "done" and status.pid == pid and len(status.placements) == 1


def test_a_warm_job_cancelled_before_the_worker_took_it_sends_nothing(srv1, home, workers):
    t = terms()
    waiting_after_a_job(t, workers, home)
    job = Job.ready(terms=t)
    assert job.warm
    job.cancel()  # at once: the worker may not have taken it yet
    wait_until(lambda: not job.folder.exists())
    time.sleep(0.2)
    assert len(srv1.requests) == 1


def test_a_cancel_that_cannot_remove_the_log_leaves_the_word_for_the_worker(home, monkeypatch):
    job = Job.reserve()
    (job.folder / "worker.log").write_text("held open (Windows)")
    real = jobs._unlink
    monkeypatch.setattr(jobs, "_unlink", lambda p: None if p.name == "worker.log" else real(p))
    job.cancel()
    assert sorted(p.name for p in job.folder.iterdir()) == ["cancel", "worker.log"]
    assert not worker.wait_for_request(job.folder, timeout=1)  # the worker stops and removes it


def test_waiting_ends_plainly_when_the_worker_dropped_the_job(home):
    job = Job.reserve()
    job.remove()  # as a worker does when no request came in time
    with pytest.raises(errors.BianxieError) as caught:
        job.wait(timeout=5, interval=0.01)
    assert "gave up" in str(caught.value) and not caught.value.may_be_billed

