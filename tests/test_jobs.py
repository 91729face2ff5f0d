"""The detached job worker: a real subprocess against the fake server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from pathlib import Path

import pytest

from bianxie_core import errors, job_folder, jobs, standby, worker
from bianxie_core.history import History
from bianxie_core.job_folder import JobStatus, write_status
from bianxie_core.jobs import Job
from tests.test_client import (  # noqa: F401
    KEY, assert_no_key, assert_plain, edit_request, gen, image_file, mask_image, product,
)

ROOT = Path(__file__).resolve().parent.parent


def all_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(folder.rglob("*"))
                     if p.is_file())


def test_job_runs_detached_and_fills_the_history(srv, home):
    request = edit_request(images=[image_file(product("coffee.png"))],
                           mask=image_file(mask_image()), stream=True, partial_images=2)
    job = Job.create(request, meta={"tool": "test"})
    assert job.folder.parent == home / "jobs"
    assert job.status().state == "queued"
    pid = job.start()
    status = job.wait(timeout=30, interval=0.05)
    assert status.state == "done", status.error
    assert status.pid == pid and status.partials == ["partial-0.png", "partial-1.png"]
    assert [(job.folder / p).read_bytes() for p in status.partials] == srv.partials
    (result,) = status.results
    assert Path(result.path).read_bytes() == srv.responses[0]
    entry = History(home / "history").get(result.entry)
    assert entry.meta["job"] == job.id and entry.meta["tool"] == "test"
    assert status.usage["output_tokens"] > 0 and status.request_ids
    rec = srv.requests[0]
    assert sorted(f.field for f in rec.files) == ["image", "mask"]
    assert rec.field("prompt") == request.prompt
    assert_no_key(all_text(job.folder))


def test_worker_outlives_the_process_that_started_it(srv1, home):
    srv1.latency = 1.0  # the worker is still waiting when its launcher is gone
    job = Job.create(gen())
    launcher = ("import sys; from pathlib import Path; from bianxie_core.jobs import Job; "
                "print(Job(Path(sys.argv[1])).start())")
    done = subprocess.run([sys.executable, "-c", launcher, str(job.folder)], cwd=str(ROOT),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.strip())
    assert not job.status().finished  # the launcher is gone, the request still runs
    if hasattr(os, "getsid"):
        assert os.getsid(pid) == pid  # a session of its own: a host's kill does not reach it
    status = job.wait(timeout=30, interval=0.05)
    assert status.state == "done", status.error
    assert status.pid == pid
    assert Path(status.results[0].path).read_bytes() == srv1.responses[0]


@pytest.mark.parametrize("fault,error_type,billed", [
    ("unauthorized", "AuthenticationError", False),
    ("server_error", "ServerError", True),
], ids=["401", "500"])
def test_failed_job_has_a_plain_message(fault, error_type, billed, srv1, home):
    srv1.fault = fault
    job = Job.create(gen())
    job.start()
    status = job.wait(timeout=30, interval=0.05)
    assert status.state == "failed"
    assert status.error_type == error_type and status.may_be_billed is billed
    assert_plain(status.error)
    assert_no_key(all_text(job.folder), all_text(home / "history") if (
        home / "history").exists() else "")


def test_worker_without_key_fails_plainly(srv1, home, monkeypatch):
    monkeypatch.delenv("BIANXIE_API_KEY")
    job = Job.create(gen())
    status = worker.run(job)  # in-process: the same code the worker runs
    assert status.state == "failed" and status.error_type == "ConfigError"
    assert "BIANXIE_API_KEY" in status.error
    assert srv1.requests == []


def test_run_in_process_records_results(srv1, home):
    job = Job.create(gen(n=2))
    status = worker.run(job)
    assert status.state == "done" and len(status.results) == 2
    assert sorted(Path(r.path).read_bytes() for r in status.results) == sorted(
        srv1.responses)
    assert Job(job.folder).status().state == "done"


class ConcurrentService:
    """Saves ``n`` images from ``n`` threads at once, as parallel single requests do."""

    def __init__(self, history: History, n: int):
        self.history, self.n = history, n

    def generate(self, request, *, on_partial, on_saved, meta, job_id, on_transfer=None):
        from bianxie_core.service import Outcome, SavedImage

        barrier = threading.Barrier(self.n)

        def save(i):
            entry = self.history.record(b"\x89PNG-%d" % i, {"index": i})
            barrier.wait()
            on_saved(SavedImage(entry=entry, index=i))

        with ThreadPoolExecutor(self.n) as pool:
            for future in [pool.submit(save, i) for i in range(self.n)]:
                future.result()
        return Outcome(images=[], usage={}, price=0.0, currency="USD", request_ids=[],
                       warnings=[], job_id=job_id, streamed=False)


def test_images_saved_from_parallel_requests_all_reach_the_status(home):
    history = History(home / "history")
    for _ in range(20):
        job = Job.create(gen(n=8))
        status = worker.run(job, ConcurrentService(history, 8))
        assert status.state == "done", status.error
        assert sorted(r.index for r in job.status().results) == list(range(8))
        assert [p.name for p in job.folder.iterdir() if p.name.endswith(".tmp")] == []


class CrashAfterSaving(ConcurrentService):
    def generate(self, request, *, on_saved, **kw):
        from bianxie_core.service import SavedImage

        on_saved(SavedImage(entry=self.history.record(b"\x89PNG", {}), index=0))
        raise KeyError("a bug after the image was saved")


def test_a_worker_failing_after_saving_says_the_images_are_kept(home, monkeypatch):
    history = History(home / "history")
    status = worker.run(Job.create(gen()), CrashAfterSaving(history, 1))
    assert status.state == "failed" and len(status.results) == 1
    assert "KeyError" in status.error and "Recover Results" in status.error
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    status = worker.run(Job.create(gen()), CrashAfterSaving(history, 1))
    assert "恢复结果" in status.error


def test_refused_n_becomes_parallel_singles_in_the_worker(srv1, home):
    srv1.fault = "refuse_n"
    job = Job.create(gen(n=4))
    status = worker.run(job)
    assert status.state == "done", status.error
    assert sorted(r.index for r in status.results) == [0, 1, 2, 3]
    assert len(srv1.requests) == 5


def test_status_of_a_missing_or_damaged_folder(tmp_path):
    assert Job(tmp_path / "nope").status() == JobStatus()
    (tmp_path / "status.json").write_text("{broken")
    assert Job(tmp_path).status().state == "queued"


def test_clean_stale_removes_folders_untouched_for_long(home):
    root = home / "jobs"
    old, crashed, fresh, running = (Job.create(gen(), root=root) for _ in range(4))
    for job, state in ((old, "done"), (crashed, "running"), (fresh, "failed"),
                       (running, "running")):
        write_status(job.folder, JobStatus(state=state))
    past = time.time() - 10
    for job in (old, crashed):  # a finished job, and a worker that died without a word
        for item in [job.folder, *job.folder.iterdir()]:
            os.utime(item, (past, past))
    assert sorted(jobs.clean_stale(root, older_than=5)) == sorted([old.id, crashed.id])
    assert not old.folder.exists() and not crashed.folder.exists()
    assert fresh.folder.exists() and running.folder.exists()


def test_worker_usage_line(tmp_path, capsys):
    assert worker.main(["bogus"]) == 2
    assert worker.main(["run", str(tmp_path), "--standby", "soon", "1", "key"]) == 2
    assert worker.main(["standby", str(tmp_path)]) == 2  # standby needs its terms
    assert worker.main(["run", str(tmp_path), "--standby", "1"]) == 2
    assert "usage: python -m bianxie_core.worker" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing was started or written


def _gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def test_early_worker_sends_once_the_request_is_submitted(srv1, home):
    job = Job.reserve()
    job.start()
    time.sleep(0.5)  # the worker is up and waiting: nothing may be sent yet
    assert srv1.requests == []
    job.submit(gen())
    status = job.wait(timeout=30, interval=0.05)
    assert status.state == "done", status.error
    assert len(srv1.requests) == 1
    assert Path(status.results[0].path).read_bytes() == srv1.responses[0]


def test_starting_a_worker_loads_neither_requests_nor_numpy_in_the_host(home):
    """The plug-in starts the worker first, so it loads while the plug-in loads the rest."""
    code = ("import sys; from bianxie_core.jobs import Job; job = Job.reserve(); job.start(); "
            "job.cancel(); print(sorted({'requests', 'numpy', 'PIL'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(Path(__file__).resolve().parent.parent))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_failed_head_start_is_left_to_the_run_to_report(srv1, home, monkeypatch):
    """The worker builds its Service before the request comes; if that fails (no key here, or
    anything unexpected), the run builds it again and ends with a plain message."""
    def unreadable(self, *args, **kwargs):
        raise OSError("disk")

    assert worker._ready_service() is not None
    with monkeypatch.context() as patch:
        patch.setattr("bianxie_core.service.Service.__init__", unreadable)
        assert worker._ready_service() is None
    monkeypatch.delenv("BIANXIE_API_KEY", raising=False)
    assert worker._ready_service() is None
    status = worker.run(Job.create(gen()), None)
    assert status.state == "failed" and status.error_type == "ConfigError", status


def test_cancelled_early_worker_sends_nothing_and_leaves_nothing(srv1, home):
    job = Job.reserve()
    pid = job.start()
    job.cancel()
    assert _gone(pid)
    assert srv1.requests == [] and not job.folder.exists()


def test_cancel_after_submit_leaves_the_request_alone(srv1, home):
    job = Job.create(gen())
    job.cancel()
    assert (job.folder / "request.json").exists()


def test_waiting_ends_plainly_when_the_worker_dies_without_a_word(home):
    job = Job.reserve()
    pid = job.start()
    assert not job.worker_exited()
    os.kill(pid, 9)  # as a crash would: no final status is written
    with pytest.raises(errors.UsageError) as caught:  # it never took a request
        job.wait(timeout=30, interval=0.05, worker_gone=job.worker_exited)
    assert "worker.log" in str(caught.value) and job.worker_exited()
    assert "nothing was sent" in str(caught.value)
    assert Job(job.folder).worker_exited() is False  # a Job that started no worker


def test_status_replace_retries_while_the_file_is_held(tmp_path, monkeypatch):
    real, calls = os.replace, []

    def held_twice(src, dst):  # what Windows does while a reader has the file open
        calls.append(dst)
        if len(calls) <= 2:
            raise PermissionError(13, "in use")
        real(src, dst)

    monkeypatch.setattr(job_folder.os, "replace", held_twice)
    job_folder.write_json(tmp_path / "status.json", {"state": "done"})
    assert len(calls) == 3 and Job(tmp_path).status().state == "done"


def test_discard_removes_only_what_is_no_longer_needed(srv1, home):
    done = Job.create(gen())
    worker.run(done)
    done.discard()  # the images are in the history
    assert not done.folder.exists()
    srv1.fault = "server_error"
    failed = Job.create(gen())
    worker.run(failed)
    failed.discard()  # its log says why
    assert failed.folder.exists()
    waiting = Job.create(gen())  # submitted, its worker not finished
    waiting.discard()
    assert (waiting.folder / "request.json").exists()
    unsent = Job.reserve()
    unsent.discard()
    assert not unsent.folder.exists()


class FullHistory(History):
    def record(self, data, meta, ext=None):
        raise errors.ConfigError("The history folder cannot be written (the disk is full).")


def test_an_image_the_history_cannot_keep_is_handed_over_in_the_folder(srv1, home):
    """Paid, but the history's disk is full: the worker writes the image into the job folder
    (``unkept``) for a host that can still write it out, and says why; never "done"."""
    from bianxie_core.service import Service

    job = Job.create(gen(n=2))
    status = worker.run(job, Service(history=FullHistory(home / "history")))
    assert status.state == "failed" and status.results == []
    assert "disk is full" in status.history_error and "paid" in status.error_message
    assert [u.index for u in status.unkept] == [0, 1]
    assert [(job.folder / u.file).read_bytes() for u in status.unkept] == srv1.responses
    assert job.status().unkept == status.unkept


def test_a_cli_job_whose_host_has_gone_leaves_no_folder(srv1, home, tmp_path):
    """A CLI killed while its worker ran: the worker removes the folder when it ends (the
    images wait in the history); a host still waiting keeps it."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for host, kept in ((gone.pid, False), (os.getpid(), True)):
        job = Job.private()
        job.submit(gen(), host_pid=host)
        status = worker.run(job)
        assert status.state == "done" and worker.left_behind(job, status) is not kept
        job.remove()
    assert len(History(home / "history").pending()) == 2


def test_a_worker_whose_host_dies_before_submitting_goes(home, tmp_path):
    """The CLI starts its worker early; killed before it hands the request over (a closed
    terminal at the cost question), the worker removes the folder and exits instead of
    waiting minutes for a request that never comes."""
    launcher = ("import os; from bianxie_core.jobs import Job; job = Job.private(); "
                "print(job.folder, job.start(host=os.getpid()), flush=True)")
    done = subprocess.run([sys.executable, "-c", launcher], cwd=str(ROOT),
                          env=dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=30)
    folder, pid = done.stdout.split()
    end = time.monotonic() + 30
    while Path(folder).exists() or standby.alive(int(pid)):
        assert time.monotonic() < end, list(Path(folder).iterdir())
        time.sleep(0.05)
    assert list(tmp_path.iterdir()) == []


def test_a_host_waits_for_every_wave_of_parallel_requests_and_each_retry():
    """The plug-in and the CLI stop waiting on a worker only after all the time its requests
    may rightly take: n single requests go max_parallel at a time, after one refused n > 1."""
    from bianxie_core.config import Config

    cfg = Config(timeout=100, max_parallel=2)
    one = jobs.longest_wait(cfg, 1)
    assert one == 100 * 2 + 60
    assert jobs.longest_wait(cfg, 4) == 100 * 3 * 2 + 60  # refused n, then two waves of two
    assert jobs.longest_wait(cfg, 4, retries=2) == 100 * 3 * 2 * 3 + 60


def test_a_job_says_how_many_images_it_asks_for(tmp_path):
    from bianxie_core.edit_settings import EditSettings
    from bianxie_core.job_folder import JobRecord, Kind

    assert JobRecord(Kind.GENERATE, fields={"n": 3}).n == 3
    assert JobRecord(Kind.GENERATE, fields={}).n == 1
    assert JobRecord(Kind.REGION, settings=EditSettings(n=4)).n == 4
    job = Job.reserve(tmp_path)
    job.submit(gen(n=2))
    assert job.record.n == 2
