"""Settings that cannot break a paid run: bounded deadlines, checked model and price tables,
parallel updates that all persist, and a warning when others can read the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bianxie_core import config as configmod
from tests.test_client import KEY, assert_no_key, assert_plain, run_cli

ROOT = Path(__file__).resolve().parent.parent


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


# --- 4. deadlines ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["1e10", "inf", "nan", "-1", "0", "3601"])
def test_a_timeout_flag_out_of_bounds_is_one_line(value, srv1, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(["generate", "-p", "x", "--timeout", value, "-o", str(tmp_path / "o.png")],
                capsys)
    err = capsys.readouterr().err
    assert info.value.code == 2 and srv1.requests == []
    assert "3600" in one_line(err)


@pytest.mark.parametrize("value", ["inf", "nan", "1e10", "Infinity"])
def test_config_set_timeout_refuses_non_finite_and_huge(value, home, capsys):
    code, out, err = run_cli(["config", "set", "timeout", value], capsys)
    assert code == 2 and "3600" in one_line(err)
    assert not configmod.config_path().exists() or "Infinity" not in \
        configmod.config_path().read_text()


@pytest.mark.parametrize("raw", ['{"timeout": Infinity}', '{"timeout": NaN}',
                                 '{"timeout": 1e400}', '{"timeout": 1e10}',
                                 '{"connect_timeout": -Infinity}',
                                 '{"cost_confirm_above": Infinity}'])
def test_a_config_file_with_non_finite_numbers_is_a_sentence_before_paying(
        raw, srv1, tmp_path, capsys):
    configmod.config_path().parent.mkdir(parents=True, exist_ok=True)
    configmod.config_path().write_text(raw)
    code, out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png"), "--quiet"],
                             capsys)
    assert code == 2 and srv1.requests == []
    assert_plain(one_line(err))


def test_the_settings_are_never_written_with_infinity(home):
    with pytest.raises(configmod.ConfigError):
        configmod.save(configmod.Config(cost_confirm_above=float("inf")))
    assert not configmod.config_path().exists()


# --- 7. model and price tables --------------------------------------------------------------
@pytest.mark.parametrize("table", [
    {"prices": {"gpt-image-1": "cheap"}},
    {"prices": {"gpt-image-1": {"text_in": "5"}}},
    {"prices": {"gpt-image-1": {"image_out": 1e400}}},
    {"prices": {"gpt-image-1": {"text_out": 5}}},
    {"models": {"mine": "big"}},
    {"models": {"mine": {"price": {"text_in": [1]}}}},
    {"models": {"mine": {"price": {"tokens": 1}}}},
    {"models": {"mine": {"sizes": 7}}},
    {"models": {"mine": {"input_fidelity": "yes"}}},
], ids=lambda t: json.dumps(t)[:40])
def test_bad_model_and_price_entries_are_a_sentence_before_paying(table, srv1, tmp_path, capsys):
    configmod.config_path().parent.mkdir(parents=True, exist_ok=True)
    configmod.config_path().write_text(json.dumps(table).replace("Infinity", "1e400"))
    code, out, err = run_cli(["generate", "-p", "x", "-m", "mine", "-o",
                              str(tmp_path / "o.png"), "--quiet"], capsys)
    assert code == 2 and srv1.requests == []
    line = one_line(err)
    assert "models" in line or "prices" in line
    assert_plain(line.replace("{", "").replace("}", ""))


def test_updating_a_bad_price_entry_is_refused(home):
    with pytest.raises(configmod.UsageError) as info:
        configmod.update(prices='{"gpt-image-1": 5}')
    assert "gpt-image-1" in str(info.value)


def test_good_tables_still_load(home):
    configmod.update(prices={"gpt-image-1": {"text_in": 5, "image_in": 10.5, "image_out": 40}},
                     models={"mine": {"sizes": "free", "input_fidelity": False,
                                      "price": {"image_out": 30}}})
    cfg = configmod.load()
    assert cfg.models["mine"]["sizes"] == "free" and cfg.prices["gpt-image-1"]["text_in"] == 5


# --- 9. parallel updates --------------------------------------------------------------------
SETTINGS = [("base-url", "https://relay.example/v1", "base_url"), ("key", KEY, "api_key"),
            ("model", "gpt-image-1.5", "model"), ("timeout", "123", "timeout"),
            ("connect-timeout", "7", "connect_timeout"), ("currency", "CNY", "currency"),
            ("max-parallel", "3", "max_parallel"), ("worker-standby", "42", "worker_standby")]


@pytest.mark.parametrize("round_", range(2))
def test_eight_parallel_config_sets_all_persist(round_, home):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("BIANXIE_API_KEY", None)
    procs = [subprocess.Popen([sys.executable, "-m", "bianxie_core.cli", "config", "set",
                               name, value], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=str(ROOT))
             for name, value, _field in SETTINGS]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, results
    stored = json.loads(configmod.config_path().read_text())
    for name, value, field in SETTINGS:
        assert str(stored[field]).rstrip("0").rstrip(".") == value, name
    for out, err in results:
        assert_no_key(out, err)


def test_remembered_quirks_from_threads_all_persist(home):
    urls = [f"https://relay{i}.example/v1" for i in range(8)]
    threads = [threading.Thread(target=configmod.remember_quirk, args=(url, "no_n"))
               for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cfg = configmod.load()
    assert all(configmod.quirks(cfg, url) == {"no_n"} for url in urls)


# --- 9. the key readable by others ----------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_a_config_holding_the_key_readable_by_others_is_warned_once(home, capsys):
    configmod.update(api_key=KEY)
    os.chmod(configmod.config_path(), 0o644)
    code, out, err = run_cli(["config", "get", "model"], capsys)
    assert code == 0 and err.count("\n") == 1
    assert "chmod 600" in err and "644" in err
    assert_no_key(out, err)
    os.chmod(configmod.config_path(), 0o600)
    code, out, err = run_cli(["config", "get", "model"], capsys)
    assert err == ""


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_a_readable_config_without_a_key_is_not_warned(home, capsys):
    configmod.update(model="gpt-image-1")
    os.chmod(configmod.config_path(), 0o644)
    code, out, err = run_cli(["config", "get", "model"], capsys)
    assert code == 0 and err == ""
