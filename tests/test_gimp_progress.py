"""Progress while bytes move, in real GIMP 3.0 and 3.2 (issue 16, item 4): an answer that
trickles in over a slow link shows its bytes in the progress bar ("Downloading 0.4 of 1.2 MB"),
apart from the time the model works. Headless GIMP has no progress bar to read, so the
plug-in's test hook (``BIANXIE_TEST_FAULT=progress``, faults_for_tests.py) logs each text and
fraction it shows. One GIMP session: a plain answer, then a streamed one."""

from __future__ import annotations

import json
import re

import pytest

from tests.fakeapi import FakeServer
from tests.gimp.batch import KEY, SUCCESS, batch_env, out_folder, script

pytestmark = pytest.mark.gimp

SHOWN = re.compile(r"progress shown: (.*) \| (\S+)$")
BYTES = re.compile(r"Downloading ([0-9.]+)(?: of ([0-9.]+))? MB")


@pytest.fixture(scope="module")
def slow_run(gimp_env):
    home = f"{gimp_env.home}/bianxie-progress"
    with FakeServer(key=KEY) as srv:
        srv.write_rate = 250_000
        inner, _host = out_folder(gimp_env, "progress")
        env = dict(batch_env(inner, home, BX_URL=srv.base_url), BIANXIE_TEST_FAULT="progress")
        result = gimp_env.run_batch(script("progress"), env=env, timeout=300)
        log = (gimp_env.host_path(home) / "logs" / "bianxie.log").read_text("utf-8")
        yield result, log, list(srv.responses)


def shown(log):
    """Each (text, fraction) the plug-in showed, in order, split into runs by edit."""
    runs, current = [], []
    for line in log.splitlines():
        match = SHOWN.search(line)
        if match:
            current.append((match.group(1), match.group(2)))
        elif " job " in line and (" done " in line or " failed " in line) and current:
            runs.append(current)
            current = []
    return runs


def test_both_edits_succeed(slow_run):
    result, _log, responses = slow_run
    for tag in ("plain", "stream"):
        assert int(result.marker(f"{tag}-status")) == SUCCESS, result.describe()
        assert json.loads(result.marker(f"{tag}-layers")) == ["a tiny boat", "Background"]
    assert len(responses) == 2


def test_a_trickled_answer_shows_its_bytes_and_share_in_the_progress_bar(slow_run):
    _result, log, _responses = slow_run
    plain = shown(log)[0]
    moving = [(BYTES.search(text), fraction) for text, fraction in plain if BYTES.search(text)]
    assert len(moving) >= 3, plain
    done = [float(m.group(1)) for m, _f in moving]
    assert done == sorted(done) and done[0] < done[-1]
    assert {m.group(2) for m, _f in moving} and None not in {m.group(2) for m, _f in moving}
    fractions = [float(f) for _m, f in moving]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] <= 1
    assert "waiting for the model" in plain[0][0]  # the model's time is told apart


def test_a_streamed_answer_shows_the_final_images_bytes(slow_run):
    _result, log, _responses = slow_run
    streamed = shown(log)[1]
    counts = [float(BYTES.search(t).group(1)) for t, _f in streamed if BYTES.search(t)]
    assert len(counts) >= 2, streamed
    assert "waiting for the model" in streamed[0][0]
