"""docs/reliability.md is what tests/reliability_table.py renders, and its rows are real tests."""

from __future__ import annotations

import re
from pathlib import Path

from tests import reliability_table
from tests.fakeapi import FAULTS as FAKE_FAULTS
from tests.reliability_cases import FAULTS, INPUT_ROWS, all_cases

REPO = Path(__file__).resolve().parents[1]


def test_committed_page_is_not_stale():
    assert reliability_table.PAGE.read_text("utf-8") == reliability_table.render(), (
        "docs/reliability.md is stale: run python3 tests/reliability_table.py")


def test_check_mode_reports_a_stale_page(tmp_path, monkeypatch):
    monkeypatch.setattr(reliability_table, "PAGE", tmp_path / "reliability.md")
    assert reliability_table.main(["--check"]) == 1
    assert reliability_table.main([]) == 0
    assert reliability_table.main(["--check"]) == 0


def test_every_fake_fault_is_a_row():
    assert {f.fault for f in FAULTS} == set(FAKE_FAULTS)


def test_at_least_25_input_cases_and_unique_ids():
    assert len(INPUT_ROWS) >= 25
    ids = [c.id for c in all_cases()]
    assert len(ids) == len(set(ids))


def test_every_named_test_exists():
    for case in all_cases():
        if case.test == "—":
            assert case.where.startswith("not testable headless")
            continue
        path, _, name = case.test.partition("::")
        source = (REPO / path).read_text("utf-8")
        if name:
            function = re.sub(r"\[.*\]$", "", name)
            assert f"def {function}(" in source, case.test


def test_every_hostile_test_is_a_row():
    """Issue 13: each test of the hostile-server files is named by a row of the page."""
    named = {re.sub(r"\[.*\]$", "", c.test.partition("::")[2]) for c in all_cases()}
    for path in ("tests/test_client_hostile.py", "tests/test_redteam_client.py",
                 "tests/test_cli_paid.py", "tests/test_cli_bad_input.py",
                 "tests/test_cli_export.py", "tests/test_cli_settings_safety.py",
                 "tests/test_cli_interrupt.py", "tests/test_cli_terminal.py",
                 "tests/test_service_paid.py", "tests/test_redteam_cli_worker.py"):
        tests = re.findall(r"^def (test_\w+)\(", (REPO / path).read_text("utf-8"), re.M)
        assert tests and not [t for t in tests if t not in named], path
    gimp = (REPO / "tests/test_gimp_reliability.py").read_text("utf-8")
    in_gimp = re.findall(r"^def (test_\w+_in_gimp)\(", gimp, re.M)
    assert len(in_gimp) == 4 and not [t for t in in_gimp if t not in named]
