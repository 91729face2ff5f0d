"""Peak memory and time of a request against hostile answer sizes (issue 13).

    python3 bench/bench_memory.py            # every case, one child process each
    python3 bench/bench_memory.py --case endless

Each case runs in a fresh process (so ru_maxrss is that case's peak) and the fake server in
another, so only the sender's memory is counted. The sender is what the request worker runs:
``Service.generate``, every image written to a history in a temporary folder the moment it
arrives (and read back from there when needed, never all held at once). The goal: under 300
MB for any answer size. These are figures, not a timed unit test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "sk-bench-memory-0123456789"
CASES = {
    # name: (fake knobs, n, timeout)
    "endless": ({"endless": True}, 1, 120.0),
    "huge-300mb-item": ({"huge_b64_mb": 300}, 1, 120.0),
    "gzip-bomb-1500mb-url": ({"fault": "url", "download_bomb_mb": 1500}, 1, 120.0),
    "legit-4x35mb": ({"huge_b64_mb": 35, "huge_all": True}, 4, 300.0),
    "legit-10x35mb": ({"huge_b64_mb": 35, "huge_all": True}, 10, 300.0),
    "trickle-body-2s": ({"trickle": "body", "trickle_interval": 0.5}, 1, 2.0),
    "trickle-headers-2s": ({"trickle": "headers", "trickle_interval": 0.5}, 1, 2.0),
}


def _serve(knobs: dict, ready, stop) -> None:
    from tests.fakeapi import FakeServer

    with FakeServer(key=KEY) as srv:
        for name, value in knobs.items():
            setattr(srv, name, value)
        ready.put(srv.base_url)
        stop.wait()


def run_case(name: str) -> dict:
    from bianxie_core import config as configmod
    from bianxie_core import errors
    from bianxie_core.history import History
    from bianxie_core.params import GenerateRequest
    from bianxie_core.service import Service

    knobs, n, timeout = CASES[name]
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(knobs, ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=60)
    home = tempfile.mkdtemp(prefix="bench-memory-")
    os.environ.update(BIANXIE_HOME=home, BIANXIE_API_KEY=KEY)
    service = Service(configmod.Config(base_url=url, timeout=timeout),
                      history=History(Path(home) / "history", cap_bytes=None))
    start = time.monotonic()
    try:
        result = service.generate(
            GenerateRequest(prompt="bench", model="gpt-image-1", n=n if n > 1 else None))
        outcome = f"{len(result.images)} images, {len(result.failures)} failures"
    except errors.BianxieError as exc:
        outcome = f"{type(exc).__name__}: {exc.message[:90]}"
    seconds = time.monotonic() - start
    subprocess.run(["rm", "-rf", home], check=False)
    stop.set()
    server.join(10)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1),
            "deadline_s": timeout, "outcome": outcome}


def sse_event_seconds(mib: int = 35, chunk: int = 65536) -> float:
    """Time to parse one SSE event of ``mib`` MiB arriving in ``chunk``-byte pieces (the old
    buffer building was quadratic in the event's size)."""
    from bianxie_core.wire import sse_events

    event = b'data: {"type": "image_generation.completed", "b64_json": "' + b"A" * (
        mib * 1024 * 1024) + b'"}\n\n'
    pieces = [event[i:i + chunk] for i in range(0, len(event), chunk)]
    start = time.monotonic()
    assert len(list(sse_events(iter(pieces)))) == 1
    return time.monotonic() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", choices=sorted(CASES))
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    rows = []
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True,
                             text=True, cwd=ROOT)
        if out.returncode:
            rows.append({"case": name, "outcome": "crashed: " + out.stderr[-300:]})
        else:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"case": "sse-35mb-event-in-64k-pieces",
                      "seconds": round(sse_event_seconds(), 2)}))
    ok = all(r.get("peak_rss_mb", 1e9) < 300 for r in rows)
    print("goal (peak RSS < 300 MB for every case):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
