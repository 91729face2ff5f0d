"""A hostile server and a careless user against the real CLI: what a paid run says, keeps and
leaks when the server echoes the key, the terminal cannot show a name, the config file is
hostile, the output is a device, or the user interrupts a run of parallel requests."""

from __future__ import annotations

import base64
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from bianxie_core import config as configmod
from bianxie_core.cli import main
from bianxie_core.history import History
from tests.fakeapi import server as fakeserver
from tests.test_client import KEY, assert_no_key, assert_plain, png_bytes, run_cli

ROOT = Path(__file__).resolve().parent.parent
B64_KEY = base64.b64encode(KEY.encode()).decode()


def entries() -> list:
    return History(configmod.home() / "history").entries()


def error_lines(err: str) -> list:
    return [line for line in err.splitlines() if line.startswith("error:")]


def cli_env(srv, **extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), BIANXIE_BASE_URL=srv.base_url,
                BIANXIE_API_KEY=KEY, LANGUAGE="en", **extra)


# --- the key, echoed by a server in any field the CLI prints ------------------------------
@pytest.mark.parametrize("field", ["param", "code", "type", "message", "header"])
def test_a_key_echoed_in_any_error_field_never_reaches_the_terminal(field, srv1, tmp_path,
                                                                    capsys, monkeypatch):
    def api(self, rec, fault):
        err = {"message": "bad size", "type": "invalid_request_error", "param": "size",
               "code": "invalid_value"}
        if field != "header":  # the key, its base64, and split by an invisible character
            err[field] = f"echo {KEY} {B64_KEY} {KEY[:10]}\u200b{KEY[10:]}"
        self._send_json(400, {"error": err}, {"X-Request-Id": f"{KEY}"})

    monkeypatch.setattr(fakeserver._Handler, "_api", api)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 1
    assert_no_key(out, err)


def test_model_ids_that_echo_the_key_are_listed_without_it(srv1, capsys, monkeypatch):
    monkeypatch.setattr(fakeserver, "_models_body", lambda dialect: {"object": "list", "data": [
        {"id": "gpt-image-" + KEY, "object": "model"}, {"id": "gpt-image-x" + B64_KEY}]})
    code, out, err = run_cli(["models", "--remote"], capsys)
    assert code == 0 and "gpt-image-1" in out
    assert_no_key(out, err)


def test_a_key_typed_without_the_setting_name_is_not_echoed(home, capsys):
    typed = "sk-NEWKEY-0123456789abcdef0123"
    with pytest.raises(SystemExit) as stop:
        main(["config", "set", typed])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and typed not in err
    assert "key" in err and err.count("\n") == 1
    assert not configmod.config_path().exists()


# --- the terminal cannot show an output's name ---------------------------------------------
def test_an_output_name_the_terminal_cannot_encode_still_writes_every_image(srv1, tmp_path):
    """stdout redirected on a system whose encoding lacks a character of the name (a GBK or
    cp1252 console, PYTHONIOENCODING=ascii): printing the name came after the first paid
    file and stopped the second one."""
    out = tmp_path / "狐狸🦊.png"
    done = subprocess.run([sys.executable, "-m", "bianxie_core", "generate", "-p", "x", "-n",
                           "2", "-q", "low", "--quiet", "-o", str(out)],
                          env=cli_env(srv1, PYTHONIOENCODING="ascii"), capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [(tmp_path / f"狐狸🦊-{i}.png").exists() for i in (1, 2)] == [True, True]
    assert len(done.stdout.splitlines()) == 2


# --- a hostile config file -----------------------------------------------------------------
@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, '{"timeout": ' + "9" * 5000 + "}"],
                         ids=["nested", "huge-number"])
@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_a_config_that_breaks_the_json_parser_is_one_line(text, mode, home, capsys):
    path = configmod.config_path()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    os.chmod(path, mode)
    code = main(["config", "get", "model"])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.splitlines()
    assert "is damaged" in line and "not valid JSON" in line


# --- interruptions while parallel single requests run --------------------------------------
def when_sent(srv, proc, count: int = 1, limit: float = 30.0) -> None:
    end = time.monotonic() + limit
    while len(srv.requests) < count:
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.02)


def one_variant_at_a_time(srv, tmp_path, n: int, latency: float):
    """`bianxie generate -n N` against a relay known to refuse n > 1, one single request at a
    time (max-parallel 1), each held ``latency`` seconds: the process, once the first arrived."""
    configmod.update(max_parallel=1)
    configmod.remember_quirk(srv.base_url, "no_n")
    srv.latency = latency
    proc = subprocess.Popen([sys.executable, "-m", "bianxie_core", "generate", "-p", "x", "-n",
                             str(n), "-q", "low", "--quiet", "-o", str(tmp_path / "o.png")],
                            env=cli_env(srv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    when_sent(srv, proc)
    return proc


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_a_second_ctrl_c_during_parallel_variants_stops_and_sends_no_more(srv1, tmp_path):
    """A relay that refuses n>1 gets single requests, one at a time here (max-parallel 1).
    The second Ctrl-C used to wait for the one in flight and then send the next one, billed,
    while saying it had stopped."""
    proc = one_variant_at_a_time(srv1, tmp_path, n=2, latency=3.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    stopped_with = len(entries())
    time.sleep(srv1.latency + 1.0)  # what a run that had not stopped would send meanwhile
    assert len(srv1.requests) == 1
    assert stopped_with == 0  # the message "an image the server finishes now is lost" is true
    assert "Stopped waiting" in err.strip().splitlines()[-1] and out == ""


# --- outputs that are not files --------------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="POSIX special files")
@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device"])
def test_an_output_that_is_a_device_or_pipe_is_refused_before_paying(kind, srv1, tmp_path,
                                                                    capsys):
    """The atomic write renames a file over the output: a FIFO, a device node or, through a
    link, /dev/null itself (as root) was replaced by a regular file."""
    special = tmp_path / "special.png"
    if kind == "fifo":
        os.mkfifo(special)
    else:
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        os.mknod(special, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null
    target = special
    if kind == "link-to-device":
        target = tmp_path / "o.png"
        target.symlink_to(special)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(target), "--quiet"], capsys)
    assert code == 2 and srv1.requests == [], err
    assert "not a file" in err and err.count("\n") == 1
    assert not special.is_file() and special.exists()


# --- inpaint: one answer that cannot be placed among good ones ------------------------------
@pytest.mark.parametrize("bad", [b"<html><body>502</body></html>",
                                 b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_an_inpaint_answer_that_cannot_be_placed_loses_only_itself(bad, srv1, tmp_path, capsys,
                                                                  monkeypatch):
    """n=2, the first answer not an image: the second, paid too, is written; the exit is 1 and
    the line says which image failed and that it is in the history (it used to fail the whole
    run with "try again", which pays again)."""
    from tests.core_fixtures import SELECTION

    photo, selection = tmp_path / "photo.png", tmp_path / "selection.png"
    Image.new("RGB", (600, 400), (20, 120, 40)).save(photo)
    sel = Image.new("L", (600, 400), 0)
    sel.paste(255, SELECTION)
    sel.save(selection)
    real = fakeserver._Handler._image_entry
    sent = []

    def entry(self, job, data, fault):
        sent.append(1)
        if len(sent) == 1:
            return {"b64_json": base64.b64encode(bad).decode()}
        return real(self, job, data, fault)

    monkeypatch.setattr(fakeserver._Handler, "_image_entry", entry)
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "x", "-n", "2", "-q", "low", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 1, err
    assert out.split() == [str(tmp_path / "o-1.png")]
    assert Image.open(tmp_path / "o-1.png").size == (600, 400)
    (line,) = error_lines(err)
    assert "1 of 2" in line and "Image 1 of 2" in line and "damaged" in line
    assert "kept in the history" in line and "try again" not in line
    assert_plain(line)
    assert sorted(e.image_path.read_bytes() == bad for e in entries()) == [False, True]


# --- more images than asked ------------------------------------------------------------------
def test_images_beyond_those_asked_are_said_to_be_in_the_history(srv1, tmp_path, capsys,
                                                                 monkeypatch):
    """n=1 answered with three images, all billed: one output is written, the two others were
    in the history with nothing said about them."""
    real = fakeserver._Handler._answer

    def answer(self, job, fault):
        job.n = 3
        return real(self, job, fault)

    monkeypatch.setattr(fakeserver._Handler, "_answer", answer)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-o", str(tmp_path / "o.png"),
                              "--quiet"], capsys)
    assert code == 0, err
    assert out.split() == [str(tmp_path / "o.png")]
    (line,) = [line for line in err.splitlines() if "more than" in line]
    assert "2 images more than the 1 asked" in line and "2 are kept in the history" in line
    assert len(History(configmod.home() / "history").pending()) == 2


# --- a config.json that is a link ------------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_a_linked_config_stays_a_link_and_its_target_is_updated(home, tmp_path, capsys):
    """config.json linked into a dotfiles folder: `config set` replaced the link by a file, so
    the dotfiles copy silently stopped being the settings."""
    dotfiles = tmp_path / "dotfiles" / "bianxie.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text('{"model": "gpt-image-1"}')
    configmod.config_path().parent.mkdir(parents=True)
    configmod.config_path().symlink_to(dotfiles)
    assert main(["config", "set", "timeout", "42"]) == 0
    assert configmod.config_path().is_symlink()
    assert configmod.load().timeout == 42 and configmod.load().model == "gpt-image-1"
    assert '"timeout": 42' in dotfiles.read_text()
    assert dotfiles.stat().st_mode & 0o777 == 0o600


# --- stdout and stderr that are gone ---------------------------------------------------------
def _generate_3(srv, tmp_path, **kw):
    return subprocess.run([sys.executable, "-m", "bianxie_core", "generate", "-p", "x", "-n",
                           "3", "-q", "low", "--quiet", "-o", str(tmp_path / "o.png")],
                          env=cli_env(srv), timeout=120, **kw)


@pytest.mark.skipif(os.name == "nt", reason="POSIX pipes")
def test_a_reader_that_goes_away_stops_no_paid_file(srv1, tmp_path):
    """`bianxie generate -n 3 | head -1`: the second name hit a closed pipe, so files 2 and 3
    were never written and the run said "Cannot use a file (EPIPE): try again"."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _generate_3(srv1, tmp_path, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert [(tmp_path / f"o-{i}.png").exists() for i in (1, 2, 3)] == [True] * 3
    assert b"Traceback" not in done.stderr and b"EPIPE" not in done.stderr


@pytest.mark.skipif(os.name == "nt", reason="POSIX file descriptors")
@pytest.mark.parametrize("closed", [1, 2], ids=["stdout", "stderr"])
def test_a_closed_stdout_or_stderr_stops_nothing(closed, srv1, tmp_path):
    """Run from a service or a script with `>&-` or `2>&-`: Python's None stream made the
    waiting line an AttributeError before sending (exit 1, "unexpected"), and what is meant
    for stderr went to stdout, among the names."""
    done = _generate_3(srv1, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=lambda: os.close(closed))
    assert done.returncode == 0, done.stderr
    assert [(tmp_path / f"o-{i}.png").exists() for i in (1, 2, 3)] == [True] * 3
    if closed == 2:
        assert done.stdout.decode().split() == [str(tmp_path / f"o-{i}.png") for i in (1, 2, 3)]


def test_a_huge_config_file_is_refused_unread(home, capsys):
    """Every command reads config.json (twice when its mode is loose): a 1.5 GB one took
    15 s and 3 GB of memory to be called "not valid JSON"."""
    path = configmod.config_path()
    path.parent.mkdir(parents=True)
    with open(path, "wb") as file:
        file.truncate(1500 * 2**20)  # sparse: no disk used
    os.chmod(path, 0o644)
    code = main(["config", "get", "model"])
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 2 and "larger than 4 MB" in line


def test_model_ids_that_echo_the_key_are_never_cached(srv1, capsys, monkeypatch):
    """The models cache (BIANXIE_HOME/cache/models.json, read by the plug-in's dialogs too)
    kept a model id holding the key."""
    from bianxie_core import catalog

    monkeypatch.setattr(fakeserver, "_models_body", lambda dialect: {"object": "list", "data": [
        {"id": "gpt-image-1", "object": "model"}, {"id": "gpt-image-" + KEY, "object": "model"},
        {"id": "gpt-image-x" + B64_KEY}]})
    code, out, err = run_cli(["models", "--remote"], capsys)
    assert code == 0
    cached = catalog.cache_path().read_text()
    assert "gpt-image-1" in cached
    assert_no_key(cached, out, err)


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_a_first_ctrl_c_waits_for_what_was_sent_and_sends_nothing_more(srv1, tmp_path):
    """The first Ctrl-C keeps waiting for the request in flight (it may be billed), but the
    single requests not yet sent are not: they used to go out after the user asked to stop."""
    proc = one_variant_at_a_time(srv1, tmp_path, n=3, latency=2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert len(srv1.requests) == 1
    assert proc.returncode == 1, err
    assert out.split() == [str(tmp_path / "o-1.png")]
    assert (tmp_path / "o-1.png").read_bytes() == srv1.responses[0]
    (line,) = error_lines(err)
    assert "1 of 3 images arrived" in line and "2 of 3 were not sent" in line
    assert_plain(line)


def test_an_output_path_too_long_for_the_system_is_exit_2_before_sending(srv1, tmp_path,
                                                                         capsys):
    """Each name under 255 bytes, the whole over PATH_MAX (4096): the checks before paying
    raised ENAMETOOLONG, reported as exit 1 although nothing was sent."""
    deep = tmp_path.joinpath(*["d" * 200] * 22) / "o.png"
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(deep), "--quiet"], capsys)
    assert code == 2 and srv1.requests == [], err
    assert "too long" in err and err.count("\n") == 1


@pytest.mark.parametrize("module", ["bianxie_core", "bianxie_core.cli"])
def test_traceback_for_a_bug_report_never_holds_the_key(module, srv1, tmp_path, monkeypatch):
    """--traceback, which the CLI asks users to run and report: Python printed the exception
    after main() had given the terminal back, with a server's echo of the key in it."""
    def api(self, rec, fault):
        self._send_json(400, {"error": {"message": "bad", "type": "invalid_request_error",
                                        "param": KEY, "code": "x"}})

    monkeypatch.setattr(fakeserver._Handler, "_api", api)
    done = subprocess.run([sys.executable, "-m", module, "--traceback", "generate", "-p", "x",
                           "-o", str(tmp_path / "o.png")], env=cli_env(srv1),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "BadRequestError" in done.stderr
    assert_no_key(done.stdout, done.stderr)


def test_the_log_file_never_holds_the_key(home, monkeypatch):
    """The plug-in logs error messages and tracebacks; an error whose ``param`` or request id
    echoes the key (not scrubbed by the client yet) put it in logs/bianxie.log."""
    import logging

    from bianxie_core import logs

    logger = logging.getLogger("bianxie")
    monkeypatch.setattr(logger, "handlers", [])
    log = logs.get_logger()
    log.info("job failed: The server rejected the parameter %s (request id: %s)", KEY, B64_KEY)
    try:
        raise ValueError("echo " + KEY)
    except ValueError:
        log.exception("unexpected error in %s", "edit")
    for handler in log.handlers:
        handler.flush()
        handler.close()
    text = (configmod.home() / "logs" / "bianxie.log").read_text()
    assert "job failed" in text and "unexpected error" in text and "ValueError" in text
    assert_no_key(text)


# --- a deadline shorter than images take ---------------------------------------------------
def test_a_deadline_shorter_than_images_take_is_warned(srv1, tmp_path, capsys):
    """`config set timeout 5` (meant as minutes?) or `--timeout 10` makes a run pay for an
    image it stops waiting for; nothing said so."""
    code, out, err = run_cli(["config", "set", "timeout", "5"], capsys)
    assert code == 0 and "warning:" in err and "charges" in err and err.count("\n") == 1
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-o", str(tmp_path / "o.png"),
                              "--quiet", "--timeout", "300"], capsys)
    assert code == 0 and "warning" not in err
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-o", str(tmp_path / "o.png"),
                              "--quiet", "--timeout", "10"], capsys)
    assert code == 0
    (line,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "10 s is shorter than many images take" in line


# --- what an interruption says depends on whether anything was sent -------------------------
def test_an_interruption_before_sending_says_nothing_was_charged(srv1, tmp_path, capsys,
                                                                 monkeypatch):
    from bianxie_core import cli_paid

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_paid, "_input_file", interrupted)
    photo = tmp_path / "in.png"
    Image.new("RGB", (64, 64)).save(photo)
    code, out, err = run_cli(["edit", "--image", str(photo), "-p", "x", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert code == 130 and srv1.requests == []
    assert err.strip() == "Interrupted before anything was sent: nothing was charged."


def test_an_interruption_after_sending_points_to_the_history(srv1, tmp_path, capsys,
                                                             monkeypatch):
    from bianxie_core import cli_paid

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_paid, "_write_outputs", interrupted)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "--quiet", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert code == 130 and len(srv1.requests) == 1
    assert "history --pending" in err.strip().splitlines()[-1]
    assert len(entries()) == 1


# --- input files that are far too big -------------------------------------------------------
@pytest.mark.parametrize("command", ["edit", "inpaint"])
@pytest.mark.parametrize("source", ["sparse-3GB", "dev-zero"])
def test_a_huge_input_is_refused_unread(command, source, srv1, tmp_path, capsys):
    """--image /dev/zero, or a 3 GB file given by mistake, was read whole: MemoryError (or
    the machine swapping) and "unexpected MemoryError", exit 1, although nothing was sent."""
    if source == "dev-zero":
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero")
        big = Path("/dev/zero")
    else:
        big = tmp_path / "big.png"
        with open(big, "wb") as file:
            file.truncate(3 * 2**30)
    argv = {"edit": ["edit", "--image", str(big)],
            "inpaint": ["inpaint", "--image", str(big), "--selection", str(big)]}[command]
    code, out, err = run_cli(argv + ["-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and srv1.requests == [], err
    assert "larger than" in err and err.count("\n") == 1


# --- another user's link where the output goes ----------------------------------------------
def _links_by_nobody(tmp_path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("making a link owned by another user needs root")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    victim = tmp_path / "precious.txt"
    victim.write_text("precious")
    return shared, victim


def test_another_users_link_as_output_is_refused_before_paying(srv1, tmp_path, capsys):
    """-o /tmp/out.png where another user made out.png a link to one of your files: the
    atomic write resolved the link and replaced that file (which open() through the link would
    be refused under fs.protected_symlinks)."""
    shared, victim = _links_by_nobody(tmp_path)
    link = shared / "out.png"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(link), "--quiet"], capsys)
    assert code == 2 and srv1.requests == [], err
    assert "another user" in err and victim.read_text() == "precious"


def test_a_link_made_by_another_user_while_waiting_is_not_followed(srv1, tmp_path, capsys,
                                                                   monkeypatch):
    shared, victim = _links_by_nobody(tmp_path)
    link = shared / "out.png"
    real_generate = __import__("bianxie_core.service", fromlist=["Service"]).Service.generate

    def generate_then_plant(self, *args, **kw):
        outcome = real_generate(self, *args, **kw)
        link.symlink_to(victim)
        os.lchown(link, 65534, 65534)
        return outcome

    monkeypatch.setattr("bianxie_core.service.Service.generate", generate_then_plant)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(link), "--quiet"], capsys)
    assert code == 1 and victim.read_text() == "precious"
    (line,) = error_lines(err)
    assert "another user" in line and "bianxie history --pending --export" in line


def test_fewer_images_than_asked_is_an_exit_1_that_says_so(srv1, tmp_path, capsys, monkeypatch):
    """-n 4 answered with two images and no error: exit 0 and nothing said, so a script
    waiting for o-3.png and o-4.png found them missing."""
    real = fakeserver._Handler._answer

    def answer(self, job, fault):
        job.n = 2
        return real(self, job, fault)

    monkeypatch.setattr(fakeserver._Handler, "_answer", answer)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-n", "4", "--quiet", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert code == 1
    assert out.split() == [str(tmp_path / f"o-{i}.png") for i in (1, 2)]
    (line,) = error_lines(err)
    assert "sent 2 images of the 4 asked for" in line
    assert_plain(line)


def test_a_pasted_file_is_not_taken_as_the_key(home, capsys, monkeypatch):
    """`config set key - < wrong-file` with a base64 blob (no spaces): a 4 MB "key" was saved,
    sent as a 4 MB header, and made config.json too large to be read back."""
    import io

    monkeypatch.delenv("BIANXIE_API_KEY")
    monkeypatch.setattr(sys, "stdin", io.StringIO("QUJD" * 1_000_000 + "\n"))
    code, out, err = run_cli(["config", "set", "key", "-"], capsys)
    assert code == 2 and "far longer than a key" in err and err.count("\n") == 1
    assert not configmod.config_path().exists()


def test_settings_too_large_to_read_back_are_not_saved(home):
    configmod.update(model="gpt-image-1")
    with pytest.raises(configmod.ConfigError) as info:
        configmod.update(model="m" * (5 * 2**20))
    assert "larger than 4 MB" in str(info.value)
    assert configmod.load().model == "gpt-image-1"


# --- a closed stdin -------------------------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="POSIX file descriptors")
@pytest.mark.parametrize("argv,words", [
    (["config", "set", "key"], "No key was given"),
    (["generate", "-p", "x", "-o", "o.png"], "Add --yes"),
], ids=["config-set-key", "cost-confirm"])
def test_a_closed_stdin_is_a_plain_refusal(argv, words, srv1, tmp_path):
    """Run from a script with `<&-`: sys.stdin is None, and asking it whether it is a terminal
    was an "unexpected AttributeError", exit 1."""
    configmod.update(cost_confirm_above=0.0001)
    done = subprocess.run([sys.executable, "-m", "bianxie_core", *argv], env=cli_env(srv1),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: os.close(0))
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and srv1.requests == []


# --- a second Ctrl-C while an arrived image is being written to the history -----------------
@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("singles", [False, True], ids=["one-request", "single-requests"])
def test_a_second_ctrl_c_while_recording_still_keeps_the_image(singles, srv1, tmp_path, capsys,
                                                             monkeypatch, cli_worker_on_a_thread):
    """The image has arrived and is being written to the history (an fsync can take a second
    on a slow disk) when the second Ctrl-C comes: the write was aborted and the image lost,
    while the run said that images that arrived before are in the history. Now the worker
    writes it, and the CLI's Ctrl-C does not reach it."""
    real = History.record

    def record(self, data, meta, ext=None):
        for _ in range(2):  # apart, so that the kernel does not merge them into one
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)
        return real(self, data, meta, ext)

    monkeypatch.setattr(History, "record", record)
    if singles:  # recorded on a worker thread while the main thread waits
        configmod.update(max_parallel=1)
        configmod.remember_quirk(srv1.base_url, "no_n")
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "--quiet", "-n",
                              "2" if singles else "1", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 130, err
    assert "Stopped waiting" in err.strip().splitlines()[-1]
    for thread in cli_worker_on_a_thread:
        thread.join(30)
    (entry,) = entries()
    assert entry.image_path.read_bytes() == srv1.responses[0]
    assert len(srv1.requests) == 1


def test_an_answer_that_is_no_image_is_not_written_as_one(srv1, tmp_path, capsys, monkeypatch):
    """A relay's HTML page in b64_json was written as o-1.png, exit 0."""
    real = fakeserver._Handler._image_entry
    sent = []

    def entry(self, job, data, fault):
        sent.append(1)
        if len(sent) == 1:
            return {"b64_json": base64.b64encode(b"<html><body>busy</body></html>").decode()}
        return real(self, job, data, fault)

    monkeypatch.setattr(fakeserver._Handler, "_image_entry", entry)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "-n", "2", "--quiet", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert code == 1
    assert out.split() == [str(tmp_path / "o-1.png")]
    assert (tmp_path / "o-1.png").read_bytes().startswith(b"\x89PNG")
    (line,) = error_lines(err)
    assert "Image 1 of 2" in line and "web page" in line and "history" in line
    assert_plain(line)


def test_an_answer_in_another_format_is_converted_to_the_outputs(srv1, tmp_path, capsys,
                                                                 monkeypatch):
    """A relay that ignores output_format: JPEG bytes were written into o.png."""
    import io as _io

    def entry(self, job, data, fault):
        buf = _io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
        return {"b64_json": base64.b64encode(buf.getvalue()).decode()}

    monkeypatch.setattr(fakeserver._Handler, "_image_entry", entry)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "--quiet", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert code == 0, err
    written = (tmp_path / "o.png").read_bytes()
    assert written.startswith(b"\x89PNG")
    assert Image.open(tmp_path / "o.png").size == (64, 48)
    (entry_,) = entries()  # the history keeps what was received
    assert entry_.image_path.read_bytes().startswith(b"\xff\xd8\xff")


def test_an_image_cut_short_is_not_written_as_delivered(srv1, tmp_path, capsys, monkeypatch):
    """Base64 cut on a 4-character boundary still decodes: a truncated PNG was written as
    o.png with exit 0."""
    def entry(self, job, data, fault):
        b64 = base64.b64encode(data).decode()
        return {"b64_json": b64[: (len(b64) // 2) // 4 * 4]}

    monkeypatch.setattr(fakeserver._Handler, "_image_entry", entry)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "--quiet", "-o",
                              str(tmp_path / "o.png")], capsys)
    assert code == 1 and out == "" and not (tmp_path / "o.png").exists()
    (line,) = error_lines(err)
    assert "cut off or damaged" in line and "history" in line
    assert_plain(line)
    assert len(entries()) == 1


def test_a_16_bit_answer_converted_for_the_output_keeps_its_tones(srv1, tmp_path, capsys,
                                                                  monkeypatch):
    """A 16-bit grey PNG for -o o.jpg: Pillow's own conversion clipped it to white."""
    import io as _io

    import numpy as np

    def entry(self, job, data, fault):
        buf = _io.BytesIO()
        Image.fromarray(np.full((32, 32), 20000, np.uint16)).save(buf, "PNG")
        return {"b64_json": base64.b64encode(buf.getvalue()).decode()}

    monkeypatch.setattr(fakeserver._Handler, "_image_entry", entry)
    code, out, err = run_cli(["generate", "-p", "x", "-q", "low", "--quiet", "-o",
                              str(tmp_path / "o.jpg")], capsys)
    assert code == 0, err
    grey = Image.open(tmp_path / "o.jpg").convert("L").getpixel((16, 16))
    assert abs(grey - 20000 / 257) < 4  # about 78, not 255


@pytest.mark.skipif(os.name == "nt", reason="POSIX pipes")
@pytest.mark.parametrize("argv", [["history"], ["models"], ["config", "get"]],
                         ids=["history", "models", "config-get"])
def test_a_listing_read_by_head_ends_quietly(argv, srv1, tmp_path):
    """`bianxie history | head -1`: the next line hit the closed pipe, and the listing ended
    in "error: Cannot use a file (EPIPE)", exit 1."""
    for _ in range(3):
        History(configmod.home() / "history").record(png_bytes(Image.new("RGB", (4, 4))),
                                                     {"prompt": "p"})
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "bianxie_core", *argv], env=cli_env(srv1),
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_history_that_is_a_file_is_said_so(srv1, tmp_path, capsys):
    """history/ replaced by a file: "cannot be written (it already exists)"."""
    folder = configmod.home() / "history"
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("x")
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and srv1.requests == []
    assert "a file, not a folder" in err and "already exists" not in err
