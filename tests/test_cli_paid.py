"""What the paying commands do when part of a paid answer cannot be delivered: a damaged item
among good ones, a history or an output on a full disk, an output that is a dangling link."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from bianxie_core import client as clientmod
from bianxie_core import config as configmod
from bianxie_core.history import History
from tests.test_client import KEY, assert_no_key, assert_plain, png_bytes, run_cli


def pending() -> list:
    return History(configmod.home() / "history").pending()


def error_lines(err: str) -> list:
    return [line for line in err.splitlines() if line.startswith("error:")]


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A tmpfs of ``size`` at ``folder``: a real full disk (ENOSPC), not a mock."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Fill the disk holding ``folder`` until about ``leave`` bytes are free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


# --- 1. a damaged item among good ones --------------------------------------------------------
def test_a_damaged_first_item_loses_only_itself(srv1, tmp_path, capsys, monkeypatch):
    """n=4, the first item damaged: the three good images are in the history and written,
    the exit is 1 and the message says how many arrived and why one did not."""
    good = [png_bytes(Image.new("RGB", (8, 8), (i * 60, 0, 0))) for i in range(1, 4)]

    def answer(self, request, *, on_image=None, on_partial=None, on_transfer=None):
        on_image(0, b"not base64 !!", {"broken": "base64", "usage": None})
        for i, data in enumerate(good, start=1):
            on_image(i, data, {"usage": None})
        return clientmod.ImagesResult(
            images=[clientmod.ResultImage(data=d, index=i) for i, d in enumerate(good, 1)],
            usage={"input_tokens": 10, "output_tokens": 400, "total_tokens": 410},
            failures=["Image 1 of 4 is damaged (invalid base64): it is kept in the history as "
                      "received."])

    monkeypatch.setattr(clientmod.ImagesClient, "generate", answer)
    code, out, err = run_cli(["generate", "-p", "x", "-n", "4", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 1
    written = [tmp_path / f"o-{i}.png" for i in (1, 2, 3)]
    assert out.split() == [str(p) for p in written]
    assert [p.read_bytes() for p in written] == good
    assert not (tmp_path / "o-4.png").exists()
    history = History(configmod.home() / "history").entries()
    assert sorted(e.image_path.read_bytes() for e in history if not e.meta.get("broken")) == \
        sorted(good)
    assert [e.meta.get("broken") for e in history].count("base64") == 1
    (line,) = error_lines(err)
    assert "3 of 4 images arrived" in line and "damaged" in line
    assert_plain(line)


def test_a_parallel_variant_that_fails_is_an_exit_1_with_the_rest_written(
        srv1, tmp_path, capsys):
    configmod.remember_quirk(srv1.base_url, "no_n")
    srv1.fault, srv1.fault_count = "server_error", 1
    code, out, err = run_cli(["generate", "-p", "x", "-n", "3", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 1 and len(out.split()) == 2
    (line,) = error_lines(err)
    assert "2 of 3 images arrived" in line and "1 of 3 variants failed" in line
    assert_no_key(err)


# --- 2. the history cannot keep a paid image ------------------------------------------------
@pytest.mark.parametrize("worker", ["thread", pytest.param("process",
                                                           marks=pytest.mark.real_worker)])
def test_a_full_history_disk_still_writes_the_paid_output(worker, srv1, tmp_path, capsys,
                                                          monkeypatch):
    hist_home = tmp_path / "home-disk"
    with small_disk(hist_home, "256k"):
        monkeypatch.setenv("BIANXIE_HOME", str(hist_home))
        History(hist_home / "history").check_writable()
        fill(hist_home, leave=8192)  # room for the probe, not for an image
        code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"),
                                  "--quiet"], capsys)
        assert code == 1, err  # not 2: something was sent and paid
        assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
        assert out.split() == [str(tmp_path / "o.png")]
        (line,) = error_lines(err)
        assert "paid" in line and str(tmp_path / "o.png") in line and "history" in line
        assert "disk is full" in line and "nothing was sent" not in line.lower()
        assert_plain(line)


def test_neither_history_nor_output_can_keep_it_says_it_is_lost(srv1, tmp_path, capsys,
                                                                 monkeypatch):
    disk = tmp_path / "disk"
    with small_disk(disk, "256k"):
        monkeypatch.setenv("BIANXIE_HOME", str(disk / "home"))
        History(disk / "home" / "history").check_writable()
        fill(disk, leave=8192)
        code, out, err = run_cli(["generate", "-p", "x", "-o", str(disk / "o.png"), "--quiet"],
                                 capsys)
    assert code == 1 and out == ""
    (line,) = error_lines(err)
    assert "lost" in line and "paid" in line


# --- 3. outputs are written atomically, and checked before paying ---------------------------
def test_a_full_disk_leaves_the_old_output_intact(srv1, tmp_path, capsys):
    disk = tmp_path / "disk"
    with small_disk(disk, "128k"):
        old = os.urandom(20000)
        (disk / "o.png").write_bytes(old)
        fill(disk, leave=8192)
        code, out, err = run_cli(["generate", "-p", "x", "-o", str(disk / "o.png"), "--quiet"],
                                 capsys)
        assert code == 1
        assert (disk / "o.png").read_bytes() == old
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "o.png"]  # no temp left
    (line,) = error_lines(err)
    assert "bianxie history --pending --export" in line
    (entry,) = pending()
    assert entry.image_path.read_bytes() == srv1.responses[0]


def test_replacing_an_output_keeps_its_mode_and_writes_through_a_link(srv1, tmp_path, capsys):
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    os.chmod(real, 0o640)
    (tmp_path / "link.png").symlink_to(real)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "link.png"),
                              "--quiet"], capsys)
    assert code == 0, err
    assert (tmp_path / "link.png").is_symlink() and real.read_bytes() == srv1.responses[0]
    assert real.stat().st_mode & 0o777 == 0o640


def test_a_dangling_link_as_output_is_refused_before_paying(srv1, tmp_path, capsys):
    (tmp_path / "o.png").symlink_to(tmp_path / "gone" / "x.png")
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 2 and srv1.requests == []
    assert "does not exist" in err and err.count("\n") == 1


def test_an_output_name_too_long_for_a_file_is_refused_before_paying(srv1, tmp_path, capsys):
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / ("é" * 130 + ".png")),
                              "--quiet"], capsys)
    assert code == 2 and srv1.requests == []
    assert "255" in err and err.count("\n") == 1


# --- 11. one check before paying ------------------------------------------------------------
def test_the_history_is_probed_once_per_run(srv1, tmp_path, capsys, monkeypatch):
    """Once by the CLI (a refusal before the worker starts) and once by the worker, which
    checks what it is handed before paying; never per image or per variant."""
    import threading

    calls = []
    real = History.check_writable
    monkeypatch.setattr(History, "check_writable", lambda self: (
        calls.append(threading.current_thread().name), real(self))[1])
    code, out, err = run_cli(["generate", "-p", "x", "-n", "3", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 0, err
    assert sorted(calls) == ["MainThread", "test-worker"]


def test_model_spec_needs_no_service():
    from bianxie_core.service import model_spec

    cfg = configmod.Config(model="gpt-image-1", models={"mine": {"sizes": ["1024x1024"]}})
    assert model_spec(cfg).name == "gpt-image-1"
    assert model_spec(cfg, "mine").name == "mine"


# --- 7. -n is checked before any output is probed -------------------------------------------
@pytest.mark.parametrize("n", ["-1", "0", "11", "10000000"])
def test_a_bad_n_is_refused_before_any_probe(n, srv1, tmp_path, capsys, monkeypatch):
    import tempfile

    made = []
    real = tempfile.NamedTemporaryFile
    monkeypatch.setattr(tempfile, "NamedTemporaryFile",
                        lambda *a, **kw: (made.append(1), real(*a, **kw))[1])
    code, out, err = run_cli(["generate", "-p", "x", "-n", n, "-o", str(tmp_path / "o.png")],
                             capsys)
    assert code == 2 and srv1.requests == [] and made == []
    assert err.count("\n") == 1 and "n must be" in err


def test_many_outputs_in_one_folder_probe_it_once(srv1, tmp_path, capsys, monkeypatch):
    import tempfile

    made = []
    real = tempfile.NamedTemporaryFile
    monkeypatch.setattr(tempfile, "NamedTemporaryFile",
                        lambda *a, **kw: (made.append(1), real(*a, **kw))[1])
    code, out, err = run_cli(["generate", "-p", "x", "-n", "10", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 0, err
    assert len(made) == 1


def test_a_single_damaged_item_is_an_error_not_an_empty_success(srv1, tmp_path, capsys,
                                                                monkeypatch):
    def answer(self, request, *, on_image=None, on_partial=None, on_transfer=None):
        on_image(0, b"not base64 !!", {"broken": "base64", "usage": None})
        return clientmod.ImagesResult(images=[], failures=[
            "Image 1 of 1 is damaged (invalid base64): it is kept in the history as received."])

    monkeypatch.setattr(clientmod.ImagesClient, "generate", answer)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 1 and out == "" and not (tmp_path / "o.png").exists()
    (line,) = error_lines(err)
    assert "damaged" in line and "history" in line
    assert_plain(line)


def test_a_file_size_limit_after_paying_is_said_not_exit_2(srv1, tmp_path):
    """RLIMIT_FSIZE (EFBIG) in a real process: neither the history nor the output can hold
    the image; the run says it was paid and lost, and exits 1, never 2."""
    import resource
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent),
               BIANXIE_BASE_URL=srv1.base_url, BIANXIE_API_KEY=KEY, LANGUAGE="en")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = subprocess.run([sys.executable, "-m", "bianxie_core.cli", "generate", "-p", "x",
                           "--quiet", "-o", str(tmp_path / "o.png")], env=env,
                          preexec_fn=limit, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert len(srv1.requests) == 1 and "Traceback" not in done.stderr
    (line,) = error_lines(done.stderr)
    assert "paid" in line and "lost" in line and "larger than this disk or your limits" in line
    assert not (tmp_path / "o.png").exists()


# --- 12. the request worker -------------------------------------------------------------------
def test_a_run_refused_before_sending_cancels_its_early_worker(srv1, tmp_path, capsys,
                                                              monkeypatch):
    """The worker starts while the CLI checks; a run refused at the cost question sends
    nothing, the worker exits and the job folder goes."""
    import tempfile

    from bianxie_core import cli_waiting

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    started = []
    monkeypatch.setattr(cli_waiting, "start_worker", lambda job: (started.append(job),
                                                                  job.start()))
    configmod.update(cost_confirm_above=0.0001)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and "Add --yes" in err and srv1.requests == []
    (job,) = started
    assert job._process.wait(timeout=30) == 0
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.real_worker
def test_the_worker_process_takes_this_runs_flags(srv1, tmp_path, capsys, monkeypatch):
    """--base-url and --timeout reach the detached worker (the config says otherwise)."""
    monkeypatch.delenv("BIANXIE_BASE_URL")
    configmod.update(base_url="https://relay.invalid/v1", timeout=5)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet",
                              "--base-url", srv1.base_url, "--timeout", "120"], capsys)
    assert code == 0, err
    assert (tmp_path / "o.png").read_bytes() == srv1.responses[0]
    assert pending() == []  # written, so imported


@pytest.mark.parametrize("fault", ["moderation", "unauthorized", "token_exhausted",
                                   "server_error", "bad_gateway_html"])
def test_the_workers_error_is_the_error_the_cli_had(fault, srv1, tmp_path, capsys):
    """The CLI says the worker's error as it said the client's own: the same sentence, the
    same exit code, the same billing note."""
    from bianxie_core import cli
    from bianxie_core.errors import BianxieError
    from tests.test_client import gen, make_client

    srv1.fault = fault
    with pytest.raises(BianxieError) as info:
        make_client(srv1).generate(gen())
    srv1.reset()
    srv1.fault = fault
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-o",
                              str(tmp_path / "o.png"), "--quiet"], capsys)
    assert code == info.value.exit_code
    assert err.count("\n") == 1
    ids = re.compile(r"req_[0-9a-f]+|\d{20,}[A-Za-z0-9]{8}")
    assert ids.sub("ID", err.strip()) == ids.sub("ID", "error: " + cli.error_text(info.value))


def test_a_bug_in_the_worker_is_one_line_naming_its_log(srv1, tmp_path, capsys, monkeypatch):
    from bianxie_core import worker

    def boom(*args):
        raise KeyError("a bug")

    monkeypatch.setattr(worker, "_request", boom)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 1 and out == ""
    (line,) = error_lines(err)  # the traceback above it is the worker thread's (its log)
    assert "KeyError" in line and "history --pending" in line
    log = Path(re.search(r"see (\S+worker\.log)", line).group(1))
    assert (log.parent / "status.json").is_file()  # the job folder is kept for its log
    import shutil

    shutil.rmtree(log.parent)
