"""The canary key never leaves config.json: not in history, job folders, output, or errors.

A sample of successful and failing runs (CLI, service, job worker) with the canary key; then
every file under BIANXIE_HOME but config.json, everything printed and every exception text is
searched for the key in clear, URL-encoded and base64 (standard and urlsafe, padded or not).
"""

from __future__ import annotations

import base64
import io
import sys
from urllib.parse import quote

import pytest

from bianxie_core import errors
from bianxie_core.jobs import Job
from bianxie_core.service import Service
from tests.fakeapi import faults
from tests.fakeapi.envelope import ApiError
from tests.test_client import (  # noqa: F401
    KEY, assert_no_key, edit_request, gen, image_file, key_forms, make_client, mask_image, product,
    run_cli,
)


def home_files_text(home) -> str:
    texts = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and path != home / "config.json":
            texts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(texts)


def test_key_forms_cover_what_they_claim():
    forms = key_forms()
    assert KEY in forms and base64.b64encode(KEY.encode()).decode() in forms
    assert base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("=") in forms
    bearer = base64.b64encode(("Bearer " + KEY).encode()).decode()
    assert any(form in bearer for form in forms - {KEY})


def test_sweep_after_a_sample_of_runs(srv, home, tmp_path, capsys, monkeypatch):
    texts = []
    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY + "\n"))
    monkeypatch.delenv("BIANXIE_API_KEY")
    code, out, err = run_cli(["config", "set", "key", "-"], capsys)
    assert code == 0
    texts += [out, err]
    code, out, err = run_cli(["config", "get"], capsys)
    texts += [out, err]

    photo, mask = tmp_path / "p.png", tmp_path / "m.png"
    product("coffee.png").save(photo)
    mask_image().save(mask)
    runs = [
        (None, ["generate", "-p", "x", "-n", "2", "--output-format", "jpeg"]),
        (None, ["edit", "--image", str(photo), "--mask", str(mask), "-p", "x", "--stream"]),
        ("url", ["generate", "-p", "x", "--output-format", "jpeg"]),
        ("unauthorized", ["generate", "-p", "x"]),
        ("server_error", ["generate", "-p", "x", "--retries", "1"]),
        ("truncated_b64", ["generate", "-p", "x", "--output-format", "jpeg"]),
        ("reset_after_body", ["generate", "-p", "x"]),
        ("stream_error", ["generate", "-p", "x", "--stream"]),
        ("refuse_n", ["generate", "-p", "x", "-n", "2", "--output-format", "jpeg"]),
    ]
    for fault, argv in runs:
        srv.reset()
        srv.fault = fault
        code, out, err = run_cli(argv + ["-q", "low", "-m", "gpt-image-1", "-o",
                                         str(tmp_path / "o.png")], capsys)
        assert code == (0 if fault in (None, "url", "refuse_n") else 1), err
        texts += [out, err]
        if fault:
            try:
                Service().generate(gen())
            except errors.BianxieError as exc:
                texts += [str(exc), repr(exc), repr(exc.args), str(exc.__cause__ or "")]

    srv.reset()
    srv.fault = "server_error"
    job = Job.create(gen())
    job.start()
    status = job.wait(timeout=30, interval=0.05)
    assert status.state == "failed"
    texts.append(status.error)

    assert len(list((home / "history").glob("*.json"))) >= 6
    assert_no_key(home_files_text(home), *texts)
    assert KEY in (home / "config.json").read_text()  # the sweep looked in the right place


def _echoing(form: str):
    def error_for(fault, dialect, model, sent_key, upstream_id, retry_after="1"):
        return ApiError(500, "upstream refused token %s for %s" % (form, model), "new_api_error")
    return error_for


@pytest.mark.parametrize("form", [
    KEY, quote(KEY, safe=""), base64.b64encode(KEY.encode()).decode(),
    base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="),
    base64.b64encode(("Bearer " + KEY).encode()).decode(),
], ids=["clear", "url-encoded", "base64", "urlsafe-unpadded", "bearer-base64"])
def test_a_relay_that_echoes_the_key_is_scrubbed(form, srv1, home, capsys, monkeypatch,
                                                tmp_path):
    monkeypatch.setattr(faults, "error_for", _echoing(form))
    srv1.fault = "server_error"
    with pytest.raises(errors.ServerError) as info:
        make_client(srv1).generate(gen(prompt="p"))
    assert "upstream refused token" in str(info.value)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 1
    assert_no_key(str(info.value), repr(info.value.args), out, err, home_files_text(home))


def test_a_prompt_holding_the_key_is_redacted_in_the_history(srv1, home):
    Service().generate(gen(prompt="my key is " + KEY))
    assert srv1.requests[0].json["prompt"].endswith(KEY)  # sent as the user asked
    assert_no_key(home_files_text(home))
