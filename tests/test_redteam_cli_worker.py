"""Red team of the CLI's paid requests through the detached request worker (issue 13): what a
user's environment, the world around the history and a dying worker do to a run that has
paid. Each is a real ``bianxie`` process (or the CLI in the test process with its worker on a
thread, where the history must be tampered with between the worker and the CLI)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bianxie_core import config as configmod
from bianxie_core.history import History
from tests.test_cli_interrupt import ROOT, cli_env, when_sent
from tests.test_client import KEY, assert_no_key, run_cli

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX paths and signals")


def bianxie(srv, tmp_path: Path, *argv: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    """A real ``bianxie`` process run in ``cwd`` with ``env`` added to its environment."""
    return subprocess.run([sys.executable, "-m", "bianxie_core.cli", *argv],
                          env=dict(cli_env(srv, tmp_path / "tmp"), **env), cwd=str(cwd),
                          capture_output=True, text=True, timeout=120)


# --- the worker runs in the job folder, not in the CLI's folder -------------------------------
def test_a_relative_bianxie_home_is_the_clis_folder_for_the_worker_too(srv1, tmp_path):
    """The worker's working folder is its job folder: a relative BIANXIE_HOME, resolved there,
    put the paid image in a history inside the temporary job folder, and the CLI said "no
    history entry" with exit 2 ("nothing was sent")."""
    work = tmp_path / "work"
    work.mkdir()
    done = bianxie(srv1, tmp_path, "generate", "-p", "x", "-o", "o.png", "--quiet", cwd=work,
                   BIANXIE_HOME="relhome")
    assert done.returncode == 0, done.stderr
    assert (work / "o.png").read_bytes() == srv1.responses[0]
    (entry,) = History(work / "relhome" / "history").entries()
    assert entry.imported and entry.image_path.read_bytes() == srv1.responses[0]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert_no_key(done.stdout, done.stderr)


def test_a_relative_ca_bundle_variable_reaches_the_worker_as_the_cli_meant_it(home, tmp_path):
    """REQUESTS_CA_BUNDLE=ca.pem, relative to where the user runs bianxie: the worker, started
    in its job folder, did not find it and the request failed."""
    from tests.fakeapi import FakeServer
    from tests.netkit import Pki

    pki = Pki(tmp_path / "pki")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(pki.ca_file, work / "ca.pem")
    with FakeServer(key=KEY, tls=pki.server_context()) as https:
        done = bianxie(https, tmp_path, "generate", "-p", "x", "-o", "o.png", "--quiet",
                       cwd=work, REQUESTS_CA_BUNDLE="ca.pem", BIANXIE_HOME=str(home))
        assert done.returncode == 0, done.stderr
        assert (work / "o.png").read_bytes() == https.responses[0]


def test_a_history_folder_whose_name_is_not_utf8_still_delivers(srv1, tmp_path):
    """A home folder named in Latin-1 (``café``): the worker wrote the history path into
    status.json as UTF-8, failed after the image was paid and recorded, and the CLI said the
    worker had stopped unexpectedly, with no output."""
    home = tmp_path / os.fsdecode(b"caf\xe9")
    done = bianxie(srv1, tmp_path, "generate", "-p", "x", "-o", "o.png", "--quiet",
                   cwd=tmp_path, BIANXIE_HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
    (entry,) = History(home / "history").entries()
    assert entry.imported


# --- the history changes between the worker keeping an image and the CLI reading it ----------
def _after_the_worker(monkeypatch, change) -> None:
    """``change(entry)`` on the first image the worker keeps, right after keeping it and before
    the CLI reads it (another run pruning the history, a user cleaning it, a failing disk)."""
    real = History.record
    changed = []

    def record(self, data, meta, ext=None):
        entry = real(self, data, meta, ext)
        if not changed:
            changed.append(change(entry))
        return entry

    monkeypatch.setattr(History, "record", record)


def test_a_history_entry_removed_before_the_cli_reads_it_is_said_lost(srv1, tmp_path, capsys,
                                                                      monkeypatch):
    """The CLI reads each image back from its history entry: one pruned or removed meanwhile
    ended the run with "There is no history entry" and exit 2 ("nothing was sent"), and the
    other image, there all along, was never written."""
    _after_the_worker(monkeypatch, lambda entry: [
        p.unlink() for p in (entry.image_path, entry.meta_path)])
    code, out, err = run_cli(["generate", "-p", "x", "-n", "2", "-o", str(tmp_path / "o.png")],
                             capsys)
    assert code == 1, err
    assert (tmp_path / "o-2.png").read_bytes() == srv1.responses[1]
    assert not (tmp_path / "o-1.png").exists()
    assert "paid" in err and "lost" in err and "Traceback" not in err
    assert "nothing was sent" not in err


def test_a_history_image_changed_before_the_cli_reads_it_is_not_written_as_the_result(
        srv1, tmp_path, capsys, monkeypatch):
    """A history image cut short (a failing disk, a sync tool) after the worker kept it: the CLI
    wrote those bytes as the paid result, exit 0. The sidecar's sha256 tells."""
    def cut(entry) -> None:
        entry.image_path.write_bytes(entry.image_path.read_bytes()[:100])

    _after_the_worker(monkeypatch, cut)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 1, err
    assert not (tmp_path / "o.png").exists()
    assert "paid" in err and "Traceback" not in err


# --- how long the CLI waits for its worker ------------------------------------------------
def test_the_cli_waits_as_long_as_its_worker_may_legitimately_take(srv1, tmp_path, capsys,
                                                                   monkeypatch):
    """The CLI gave its worker twice the timeout plus a minute, but the worker may take longer
    and still be right: a relay that refuses n > 1 gets n single requests, ``max_parallel`` at
    a time, each with its own deadline, renewed for each ``--retries`` attempt. The CLI then
    stopped waiting ("did not finish") while the worker went on paying."""
    from bianxie_core.jobs import Job

    waited = []
    real = Job.wait

    def wait(self, **kw):
        waited.append(kw["timeout"])
        return real(self, **kw)

    monkeypatch.setattr(Job, "wait", wait)
    configmod.update(max_parallel=1)
    srv1.fault = "refuse_n"
    code, out, err = run_cli(["generate", "-p", "x", "-n", "3", "--timeout", "10",
                              "--retries", "2", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 0, err
    waves, attempts, timeout = 3, 3, 10.0  # 3 single requests one at a time, 1 + 2 retries
    assert waited[0] >= waves * attempts * timeout


# --- handing the request over -----------------------------------------------------------------
def test_an_interruption_just_after_the_request_is_handed_over_says_it_may_be_charged(
        srv1, tmp_path, capsys, monkeypatch, cli_worker_on_a_thread):
    """Ctrl-C lands after ``request.json`` is written, before the CLI starts waiting: the CLI
    removed the job folder under a worker already sending, and said nothing was charged."""
    from bianxie_core.jobs import Job

    real = Job.submit

    def submit(self, *a, **kw):
        record = real(self, *a, **kw)
        raise KeyboardInterrupt  # the signal's handler runs here
        return record

    monkeypatch.setattr(Job, "submit", submit)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 130
    assert "nothing was charged" not in err and "history --pending" in err
    for thread in cli_worker_on_a_thread:
        thread.join(60)
    (entry,) = History(configmod.home() / "history").pending()
    assert entry.image_path.read_bytes() == srv1.responses[0]


def test_a_full_temporary_disk_before_sending_is_exit_2_nothing_sent(srv1, tmp_path, capsys,
                                                                    monkeypatch):
    """The job folder cannot be made (its disk is full): nothing was sent, so exit 2 and one
    sentence saying so, not "Cannot use …/status.json" with exit 1."""
    import tempfile

    from tests.test_cli_paid import fill, small_disk

    with small_disk(tmp_path / "full", "64k") as folder:
        fill(folder, 0)
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
        code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
        assert [p.name for p in folder.iterdir()] == ["filler"]
    assert code == 2, err
    assert "nothing was sent" in err and srv1.requests == []
    assert err.count("\n") == 1


# --- the job folder's disk fills while the answer streams --------------------------------------
def test_a_full_temporary_disk_while_previews_stream_still_delivers_the_image(srv1, tmp_path):
    """The CLI's job folder is in the temporary folder, often a small tmpfs. A streamed preview
    that did not fit there stopped the stream: the paid final image never arrived, and the
    worker died saying nothing. A preview is worth losing; the image is not."""
    from tests.test_cli_paid import fill, small_disk

    srv1.partial_delay = 0.1
    with small_disk(tmp_path / "small", "256k") as small:
        fill(small, 12 * 1024)  # the request and its status fit, a preview does not
        done = subprocess.run(
            [sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x", "--stream",
             "--partial-images", "2", "-o", str(tmp_path / "o.png")],
            env=dict(cli_env(srv1, tmp_path / "tmp"), TMPDIR=str(small)), cwd=str(ROOT),
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert [p.name for p in small.iterdir()] == ["filler"]
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
    (entry,) = History(configmod.home() / "history").entries()
    assert entry.imported


# --- the worker dies ------------------------------------------------------------------------------
def test_a_worker_that_dies_before_sending_is_exit_2_nothing_sent(srv1, tmp_path, capsys,
                                                                  monkeypatch):
    """A worker that ends before it took the request (a broken Python, killed at start) sent
    nothing: the CLI said the request may have been charged, exit 1."""
    from bianxie_core import cli_waiting

    monkeypatch.setattr(cli_waiting, "start_worker", lambda job: job.start(python="/bin/false"))
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2, err
    assert "nothing was sent" in err and "charged" not in err and srv1.requests == []


def generating(srv, tmp_path, latency: float):
    """A `bianxie generate` whose request the fake holds ``latency`` seconds: the process,
    once the request arrived, and its job folder."""
    srv.latency = latency
    proc = subprocess.Popen([sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x",
                             "-o", str(tmp_path / "o.png"), "--quiet"],
                            env=cli_env(srv, tmp_path / "tmp"), cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    when_sent(srv, proc)
    (folder,) = (tmp_path / "tmp").iterdir()
    return proc, folder


def test_a_worker_killed_while_waiting_says_a_later_image_is_lost(srv1, tmp_path):
    """The worker killed (OOM, a user's kill) after sending: nobody will keep an image the
    server finishes now, but the CLI said "any image it returns is kept in the history"."""
    import json

    proc, folder = generating(srv1, tmp_path, latency=3.0)
    pid = json.loads((folder / "status.json").read_text("utf-8"))["pid"]
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    (line,) = err.strip().splitlines()
    assert "charged" in line and "lost" in line and "kept in the history" not in line


def test_a_plugin_style_host_with_a_relative_bianxie_home_gets_its_jobs_done(
        srv1, tmp_path, monkeypatch):
    """A host (the plug-in's way: jobs under BIANXIE_HOME/jobs, a worker waiting on standby)
    whose BIANXIE_HOME is relative: the worker, started in the job folder, read the relative
    folder name against it and never found its request."""
    from bianxie_core import jobs, standby
    from bianxie_core.params import GenerateRequest

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BIANXIE_HOME", "relhome")
    terms = standby.Terms.for_host(30, os.getpid())
    pids = [jobs.warm_up(terms)]
    try:
        end = time.monotonic() + 30
        while not standby.waiting(terms.key, jobs.jobs_root()):
            assert time.monotonic() < end, "no worker waits on standby"
            time.sleep(0.05)
        warm = jobs.Job.ready(terms=terms)
        fresh = jobs.Job.ready()
        pids.append(fresh._process.pid)
        assert warm.warm
        for job in (warm, fresh):
            job.submit(GenerateRequest(prompt="x"))
            status = job.wait(timeout=60, interval=0.05, worker_gone=job.worker_exited)
            assert status.state == "done", status.error
            job.remove()
        assert len(History(tmp_path / "relhome" / "history").entries()) == 2
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(pid, signal.SIGKILL)


def test_a_relative_ca_bundle_setting_is_read_where_the_cli_runs(home, tmp_path):
    """`bianxie config set ca-bundle corp-ca.pem` keeps the name as typed; the CLI read it in
    its own folder, the worker in its job folder, where it does not exist."""
    from tests.fakeapi import FakeServer
    from tests.netkit import Pki

    pki = Pki(tmp_path / "pki")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(pki.ca_file, work / "corp-ca.pem")
    configmod.update(ca_bundle="corp-ca.pem")
    with FakeServer(key=KEY, tls=pki.server_context()) as https:
        done = bianxie(https, tmp_path, "generate", "-p", "x", "-o", "o.png", "--quiet",
                       cwd=work, BIANXIE_HOME=str(home))
        assert done.returncode == 0, done.stderr
        assert (work / "o.png").read_bytes() == https.responses[0]


# --- the terminal closes ----------------------------------------------------------------------
def test_a_closed_terminal_still_gets_the_composited_result_written(srv1, photo_and_selection,
                                                                    tmp_path):
    """A real terminal (a pty) closed while waiting: SIGHUP is ignored, but every line the CLI
    then writes fails (EIO). The alignment note said before the outputs are written raised,
    and the composited result, paid for, was never written (its raw answer only in the
    history)."""
    import pty

    from tests.fakeapi.redraw import Redraw

    photo, selection = photo_and_selection
    srv1.fill = "echo"
    srv1.redraw = Redraw(dx=6, dy=-4, scale=1.02, rotation=0.6)  # aligned: a note is said
    srv1.latency = 2.0
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bianxie_core.cli", "inpaint", "--image", str(photo),
         "--selection", str(selection), "-p", "keep everything", "-m", "gpt-image-1", "-q",
         "low", "--context", "200", "-o", str(tmp_path / "out.png")],
        env=cli_env(srv1, tmp_path / "tmp"), cwd=str(ROOT), stdin=slave, stdout=slave,
        stderr=slave)
    os.close(slave)
    when_sent(srv1, proc)
    os.close(master)  # the terminal window closes ...
    proc.send_signal(signal.SIGHUP)  # ... and the kernel says so
    assert proc.wait(timeout=120) == 0
    assert (tmp_path / "out.png").exists()
    (entry,) = History(configmod.home() / "history").entries()
    assert entry.imported


def test_a_hangup_while_the_results_are_composited_does_not_stop_their_writing(
        srv1, photo_and_selection, tmp_path, capsys, monkeypatch):
    """SIGHUP was ignored only while waiting; one that came while the answers were placed into
    the photo (seconds for a large one) killed the CLI: the composited results, paid for, were
    never written. Here SIGHUP's default action is a handler that raises, as a test can see."""
    from bianxie_core import inpaint

    class HungUp(Exception):
        pass

    def hung_up(signum, frame):
        raise HungUp

    real = inpaint.FileEdit.composite

    def composite(self, outcome):
        os.kill(os.getpid(), signal.SIGHUP)  # the terminal closes now
        return real(self, outcome)

    monkeypatch.setattr(inpaint.FileEdit, "composite", composite)
    photo, selection = photo_and_selection
    saved = signal.signal(signal.SIGHUP, hung_up)
    try:
        code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection",
                                  str(selection), "-p", "x", "-o", str(tmp_path / "o.png")],
                                 capsys)
    finally:
        signal.signal(signal.SIGHUP, saved)
    assert code == 0, err
    assert (tmp_path / "o.png").exists()


# --- names that are not UTF-8 --------------------------------------------------------------------
def test_an_output_name_that_is_not_utf8_is_written_and_its_entry_imported(srv1, tmp_path,
                                                                           capsys):
    """The output written, but its history entry could not record where it went (JSON in UTF-8
    cannot hold the name): it stayed pending, and `history --pending --export` offered the
    delivered image again."""
    out = tmp_path / os.fsdecode(b"caf\xe9.png")
    code, _out, err = run_cli(["generate", "-p", "x", "-o", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert out.read_bytes() == srv1.responses[0]
    (entry,) = History(configmod.home() / "history").entries()
    assert entry.imported and "caf" in entry.meta["imported_to"]


def test_a_job_folder_removed_while_the_request_runs_is_not_said_unsent(srv1, tmp_path):
    """A temporary-folder cleaner (or `rm -rf /tmp/*`) removes the job folder while the
    request runs: the CLI said the worker gave up "before sending it; run it again", which
    re-sends and pays twice. The worker goes on, and its image reaches the history."""
    proc, folder = generating(srv1, tmp_path, latency=2.0)
    shutil.rmtree(folder)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    (line,) = err.strip().splitlines()
    assert "charged" in line and "run it again" not in line and "before sending" not in line
    end = time.monotonic() + 30
    while not History(configmod.home() / "history").pending():
        assert time.monotonic() < end, "the image never reached the history"
        time.sleep(0.1)


def test_history_export_to_a_folder_whose_name_is_not_utf8(srv1, tmp_path, capsys):
    """`history --pending --export` into a folder named in Latin-1: the first image was copied,
    then marking it imported failed (its sidecar is UTF-8 JSON) with "unexpected
    UnicodeEncodeError", and the other images were not exported."""
    from bianxie_core.params import GenerateRequest
    from bianxie_core.service import Service

    Service().generate(GenerateRequest(prompt="x", n=2))
    target = tmp_path / os.fsdecode(b"export-\xe9")
    code, out, err = run_cli(["history", "--pending", "--export", str(target)], capsys)
    assert code == 0, err
    assert len(list(target.iterdir())) == 2
    assert History(configmod.home() / "history").pending() == []


# --- the history's disk is full and the CLI is gone ---------------------------------------------
def test_history_pending_points_at_a_paid_image_the_full_history_could_not_keep(srv1, tmp_path):
    """The history's disk full and the CLI killed while waiting: the worker kept the paid image
    in its job folder in the temporary folder (JobStatus.unkept) for a CLI that never came
    back, and nothing ever said where it was."""
    import json

    from tests.test_cli_paid import fill, small_disk

    home = tmp_path / "home-disk"
    srv1.latency = 2.0
    with small_disk(home, "256k"):
        History(home / "history").check_writable()
        fill(home, leave=8192)  # room for the probe, not for an image
        env = dict(cli_env(srv1, tmp_path / "tmp"), BIANXIE_HOME=str(home))
        proc = subprocess.Popen([sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x",
                                 "-o", str(tmp_path / "o.png"), "--quiet"], env=env,
                                cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        when_sent(srv1, proc)
        proc.kill()
        proc.communicate(timeout=60)
        (folder,) = (tmp_path / "tmp").iterdir()
        end = time.monotonic() + 60
        while json.loads((folder / "status.json").read_text("utf-8"))["state"] == "running":
            assert time.monotonic() < end
            time.sleep(0.05)
        listed = subprocess.run([sys.executable, "-m", "bianxie_core.cli", "history",
                                 "--pending"], env=env, cwd=str(ROOT), capture_output=True,
                                text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    (kept,) = folder.glob("unkept-*")
    assert kept.read_bytes() == srv1.responses[0]
    assert str(kept) in listed.stderr and "paid" in listed.stderr


def test_the_photos_sent_are_not_left_in_the_temporary_folder(srv1, photo_and_selection,
                                                              tmp_path):
    """A CLI killed after its worker finished (here while waiting, the worker then ends) or
    stopped before removing its job folder left a copy of the user's photo and mask in the
    temporary folder, for anybody with access to it later. The worker holds them in memory
    once read: the copies go as soon as the request is made."""
    photo, selection = photo_and_selection
    srv1.latency = 2.0
    proc = subprocess.Popen([sys.executable, "-m", "bianxie_core.cli", "inpaint", "--image",
                             str(photo), "--selection", str(selection), "-p", "x",
                             "-o", str(tmp_path / "o.png"), "--quiet"],
                            env=cli_env(srv1, tmp_path / "tmp"), cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    when_sent(srv1, proc)
    (folder,) = (tmp_path / "tmp").iterdir()
    left = sorted(p.name for p in folder.iterdir())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not [name for name in left if name.startswith("input-") or name == "mask.png"], left


# --- a host that goes before handing the request over -------------------------------------------
def test_a_worker_whose_host_died_before_handing_over_does_not_linger(home, tmp_path):
    """The CLI starts its worker, then writes the request. Killed in between (SIGTERM, SIGKILL,
    a closed terminal before the wait began), it left the worker waiting five minutes for a
    request that could never come, with the job folder."""
    import json

    host = subprocess.run(  # the CLI's first step: a job folder and its worker
        [sys.executable, "-c", "import json; from bianxie_core.jobs import Job; "
         "from bianxie_core.cli_waiting import start_worker; job = Job.private(); "
         "start_worker(job); print(json.dumps([str(job.folder), job._process.pid]))"],
        env=dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path)), cwd=str(ROOT),
        capture_output=True, text=True, timeout=60)
    folder, pid = json.loads(host.stdout)  # the host is gone now, nothing handed over
    try:
        end = time.monotonic() + 30
        while Path(folder).exists() or _running(pid):
            assert time.monotonic() < end, "the worker still waits for its gone host"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    from bianxie_core import standby

    return standby.alive(pid)
