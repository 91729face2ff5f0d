"""Wall time of one `bianxie generate` run against the fake server answering at once: what the
CLI costs besides the model (start-up, checks, the request worker, writing the output).

    python bench/bench_cli.py [--repeat 7] [--root OTHER_CHECKOUT]

Best and median of N runs, each a fresh process (the fake server runs in this one). ``--root``
times another checkout's core against the same server (to compare before and after).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "sk-bench-cli-0123456789"


def main(argv=None) -> int:
    from tests.fakeapi import FakeServer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    times = []
    with FakeServer(key=KEY) as srv, tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(args.root), BIANXIE_BASE_URL=srv.base_url,
                   BIANXIE_API_KEY=KEY, BIANXIE_HOME=str(Path(tmp) / "home"), LANGUAGE="en")
        for _ in range(args.repeat):
            start = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "bianxie_core.cli", "generate", "-p",
                                   "x", "-q", "low", "-o", str(Path(tmp) / "o.png"), "--quiet"],
                                  env=env, cwd=tmp, capture_output=True, text=True)
            times.append(time.monotonic() - start)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return 1
    print(f"bianxie generate ({args.root}): best {min(times):.3f} s, median "
          f"{statistics.median(times):.3f} s over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
