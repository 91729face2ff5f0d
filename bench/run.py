"""The performance bench: every figure of issue 7 next to its baseline, in one run.

    sudo python3 bench/run.py [--gimp 3.0|3.2|both] [--json out.json] [--repeat 3]

1. Plug-in overhead in real GIMP (needs root and the test suite's GIMP roots): a 600×400
   selection edit on 1000×750, 4000×3000 and 8000×6000 layers against a fake server that
   answers at once; against the naive way (whole layer + full-size mask as PNGs).
2. Upload bytes per request for the same cases, against the naive upload (full size and
   scaled to the model's size).
3. Variants: n=4 against a relay that refuses n>1 and takes 2 s per request.
4. Time to first preview with streaming (partial image at 1 s, final at 3 s).
5. What registration adds to placing a drifted 1536×1024 answer (bench/quality.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import GOAL_ADDED_SECONDS, registration_time  # noqa: E402
from bench.timed_fake import TimedFakeServer  # noqa: E402
from bianxie_core import config as configmod  # noqa: E402
from bianxie_core.geometry import Bounds, Extent  # noqa: E402
from bianxie_core.edit_settings import EditSettings  # noqa: E402
from bianxie_core.models import get_model  # noqa: E402
from bianxie_core.planning import plan_edit  # noqa: E402

KEY = "sk-BENCH-0000000000000000000000000000"
LAYERS = [Extent(1000, 750), Extent(4000, 3000), Extent(8000, 6000)]
SELECTION = Extent(600, 400)
SUITES = {"3.0": "trixie", "3.2": "forky"}
GOAL_OWN_SECONDS = 0.5
GOAL_GROWTH = 1.3
GOAL_NAIVE_RATIO = 10.0
GOAL_VARIANTS = 1.3
GOAL_PREVIEW_SECONDS = 1.3
VARIANT_LATENCY = 2.0


def median(values: List[float]) -> float:
    return sorted(values)[len(values) // 2]


def selection_in(layer: Extent) -> Bounds:
    return Bounds((layer.width - SELECTION.width) // 2, (layer.height - SELECTION.height) // 2,
                  SELECTION.width, SELECTION.height)


def plans(model: str):
    """The plug-in's plan for each case (its defaults), and the whole-layer plan's API size."""
    spec = get_model(model)
    options = EditSettings(model=model).region_options(spec)
    out = []
    for layer in LAYERS:
        out.append((plan_edit(layer, selection_in(layer), spec, options),
                    plan_edit(layer, None, spec, options).api_size))
    return out


# -- the machine --------------------------------------------------------------------------


def git_commit() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    commit = git("rev-parse", "--short=12", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "bianxie_core", "plugin", "bench").strip()
    return commit + ("+dirty" if dirty else "")


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                   if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    return {"nproc": os.cpu_count(), "cpu": cpu or platform.processor(),
            "ram_gib": round(mem / 2 ** 20, 1), "os": platform.platform(),
            "host_python": platform.python_version()}


# -- 1 and 2: real GIMP -------------------------------------------------------------------


class MemorySampler:
    """VmHWM of the plug-in and worker processes in a root, polled from the host."""

    NEEDLES = {"plugin": "bianxie_gimp.py", "worker": "bianxie_core.worker"}

    def __init__(self, root, interval: float = 0.01):
        self.root, self.interval = root, interval
        self.seen: Dict[int, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for kind, needle in self.NEEDLES.items():
                for pid in self.root.pids(needle):
                    mem = _memory_kib(pid)
                    if not mem:
                        continue
                    now = time.time()
                    row = self.seen.setdefault(pid, {"kind": kind, "first": now, "hwm": 0,
                                                     "rss": {}})
                    row["last"], row["hwm"] = now, max(row["hwm"], mem.get("VmHWM", 0))
                    if mem.get("VmRSS", 0) >= row["rss"].get("VmRSS", 0):
                        row["rss"] = mem
            self._stop.wait(self.interval)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def process(self, kind: str, start: float, end: float) -> dict:
        """The process of ``kind`` that ran during [start, end] (the largest if several);
        ``before``: it was running before ``start`` (a worker waiting for the next edit)."""
        rows = [r for r in self.seen.values()
                if r["kind"] == kind and r["first"] <= end and r.get("last", 0) >= start - 0.05]
        row = max(rows, key=lambda r: r["hwm"], default={"hwm": 0, "rss": {}})
        return dict(row, before=bool(row.get("first")) and row["first"] < start - 0.05)


def _memory_kib(pid: int) -> Dict[str, int]:
    """VmHWM, VmRSS and its parts (RssAnon, RssFile, RssShmem) from /proc/PID/status."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _sep, value = line.partition(":")
            if name in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                found[name] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return found


def phases(run: dict, timings, plugin: dict, worker: dict) -> Dict[str, float]:
    """When things happened, in seconds after proc.run() was called (seen from outside)."""
    t0 = run["t0"]
    out = {"plugin_seen": plugin.get("first"), "worker_seen": worker.get("first"),
           "request_arrived": timings[0].arrived if timings else None,
           "body_read": timings[0].body_read if timings else None,
           "answered": timings[-1].answered if timings else None,
           "worker_last_seen": worker.get("last"), "plugin_last_seen": plugin.get("last"),
           "returned": run["t1"]}
    return {k: round(v - t0, 3) for k, v in out.items() if v is not None}


def gimp_env_for(series: str):
    from tests.gimp import provision
    from tests.gimp.fixtures import copy_source, install_into
    from tests.gimp.harness import GimpRoot

    if os.geteuid() != 0:
        raise RuntimeError("real GIMP runs in chroots: run the bench as root (sudo)")
    info = provision.load(SUITES[series]) or provision.provision(SUITES[series])
    root = GimpRoot.from_info(info)
    copy_source(root)
    try:
        return install_into(root)
    except BaseException as exc:  # install_into reports through pytest.fail
        raise RuntimeError(f"install.py failed in the {series} root: {exc}") from None


def gimp_overhead(series: str, model: str, repeat: int) -> dict:
    env = gimp_env_for(series)
    root = env.root
    data = env.host_path(f"{env.home}/bench-data")
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "tests" / "data" / "rocket.jpg", data / "rocket.jpg")
    cases = plans(model)
    try:
        with TimedFakeServer(dialect="openai", key=KEY) as srv, MemorySampler(root) as mem:
            batch_env = {
                "BX_URL": srv.base_url, "BX_REPEAT": str(repeat),
                "BX_VENDOR": env.vendor_dir, "BX_TEXTURE": f"{env.home}/bench-data/rocket.jpg",
                "BX_CASES": json.dumps([[*layer, *selection_in(layer)] for layer in LAYERS]),
                "BX_NAIVE_API": json.dumps([list(api) for _plan, api in cases]),
                "BX_MODEL": model,
                "BIANXIE_HOME": f"{env.home}/bianxie", "BIANXIE_API_KEY": KEY,
                "LANG": "C.UTF-8",
            }
            result = env.run_batch((ROOT / "bench" / "gimp_batch.py").read_text(), env=batch_env,
                                   timeout=600)
            if not result.ok:
                raise RuntimeError(f"the GIMP {series} batch failed\n{result.describe()}")
            ours = [json.loads(v) for v in result.values("ours")]
            startup = []
            for run in map(json.loads, result.values("startup")):
                plugin = mem.process("plugin", run["t0"], run["t1"])
                startup.append({"wall": run["wall"], "plugin_hwm_kib": plugin["hwm"],
                                "plugin_rss_parts_kib": plugin["rss"]})
            naive = {}
            for row in map(json.loads, result.values("naive")):
                # a naive plug-in starts like ours: its own work is its time in GIMP, less the
                # server's, plus the same start-up
                row["server"] = sum(t.server_seconds for t in srv.between(row["t0"], row["t1"]))
                row["startup"] = median([s["wall"] for s in startup])
                row["own"] = row["seconds"] - row["server"] + row["startup"]
                naive[row["case"]] = row
            def measured(run):
                if run["status"] != 3:
                    raise RuntimeError(f"the edit failed (status {run['status']}) on case "
                                       f"{run['case']}\n{result.describe()}")
                timings = srv.between(run["t0"], run["t1"])
                server = sum(t.server_seconds for t in timings)
                bodies = [r for r in srv.requests
                          if run["t0"] <= r.time <= run["t1"] and "/edits" in r.path]
                plugin = mem.process("plugin", run["t0"], run["t1"])
                worker = mem.process("worker", run["t0"], run["t1"])
                return {
                    "wall": run["wall"], "server": server, "own": run["wall"] - server,
                    "requests": len(timings),
                    "upload_bytes": sum(len(r.body) for r in bodies),
                    "image_bytes": sum(len(f.data) for r in bodies for f in r.files
                                       if f.field.startswith("image")),
                    "mask_bytes": sum(len(f.data) for r in bodies for f in r.files
                                      if f.field == "mask"),
                    "plugin_hwm_kib": plugin["hwm"], "worker_hwm_kib": worker["hwm"],
                    "plugin_rss_parts_kib": plugin["rss"], "worker_waited": worker["before"],
                    "phases": phases(run, timings, plugin, worker),
                }

            def median_run(runs):
                return sorted(runs, key=lambda r: r["own"])[len(runs) // 2]

            rows = []
            for index, (layer, (plan, _api)) in enumerate(zip(LAYERS, cases)):
                runs = [measured(r) for r in ours if r["case"] == index]
                rows.append({"layer": str(layer), "selection": str(SELECTION),
                             "pixels_read": plan.pixels_to_read, "layer_pixels": layer.area,
                             "crop": list(plan.crop), "api_size": plan.size_param,
                             "median": median_run(runs), "runs": runs, "naive": naive[index]})
            cold_runs = [measured(json.loads(v)) for v in result.values("cold")]
            cold = {"layer": rows[-1]["layer"], "median": median_run(cold_runs),
                    "runs": cold_runs}
        log = env.host_path(f"{env.home}/bianxie/logs/bianxie.log")
        inside = [line.split(" phases ", 1)[1] for line in log.read_text().splitlines()
                  if " phases " in line] if log.exists() else []
    finally:
        shutil.rmtree(env.host_path(env.home), ignore_errors=True)
    return {"gimp": root.gimp_version, "python": root.python_version, "model": model,
            "repeat": repeat, "rows": rows, "cold": cold, "startup": startup,
            "plugin_phases": inside}


# -- 3 and 4: the core on the host --------------------------------------------------------


@contextmanager
def bianxie_home():
    folder = tempfile.mkdtemp(prefix="bx-bench-")
    saved = {k: os.environ.get(k) for k in (configmod.ENV_HOME, configmod.ENV_API_KEY,
                                             configmod.ENV_BASE_URL)}
    os.environ[configmod.ENV_HOME] = folder
    os.environ[configmod.ENV_API_KEY] = KEY
    os.environ.pop(configmod.ENV_BASE_URL, None)
    try:
        yield Path(folder)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(folder, ignore_errors=True)


def _edit_request(n: Optional[int], stream: bool, model: str):
    from bianxie_core.params import EditRequest, ImageFile

    image = (ROOT / "tests" / "data" / "coffee.png").read_bytes()
    return EditRequest(prompt="a red apple", model=model, images=[
        ImageFile(data=image, name="image.png", content_type="image/png")], n=n,
        stream=True if stream else None, partial_images=1 if stream else None)


def variants(model: str) -> dict:
    from bianxie_core.service import Service

    with bianxie_home(), TimedFakeServer(dialect="new-api", key=KEY) as srv:
        srv.latency = VARIANT_LATENCY
        cfg = configmod.Config(base_url=srv.base_url, model=model, max_parallel=4)
        started = time.perf_counter()
        Service(cfg).edit(_edit_request(None, False, model))
        one = time.perf_counter() - started
        srv.fault = "refuse_n"
        started = time.perf_counter()
        outcome = Service(cfg).edit(_edit_request(4, False, model))
        four = time.perf_counter() - started
        ns = [r.field("n") for r in srv.requests]
    return {"one_request": one, "n4": four, "images": len(outcome.images),
            "requests_n": ns, "latency": VARIANT_LATENCY, "max_parallel": cfg.max_parallel}


def first_preview(model: str) -> dict:
    from bianxie_core import jobs

    with bianxie_home() as home, TimedFakeServer(dialect="openai", key=KEY) as srv:
        srv.latency, srv.final_delay = 1.0, 3.0
        cfg = configmod.Config(base_url=srv.base_url, model=model)
        (home / configmod.FILE_NAME).write_text(json.dumps({"base_url": srv.base_url}))
        job = jobs.Job.create(_edit_request(None, True, model), procedure="bench")
        started = time.time()
        job.start()
        preview = final = None
        deadline = started + 30
        while time.time() < deadline:  # what the plug-in does: status.json every 0.01 s
            status = job.status()
            if status.partials and preview is None:
                preview = time.time()
            if status.finished:
                final = time.time()
                break
            time.sleep(0.01)
        arrived = srv.timings[0].arrived if srv.timings else started
        state = job.status().state
        job.remove()
    if preview is None:
        raise RuntimeError(f"no preview appeared (job {state}); base URL {cfg.base_url}")
    return {"preview_after_arrival": preview - arrived, "final_after_arrival": final - arrived,
            "preview_after_start": preview - started, "worker_start_to_arrival":
            arrived - started, "state": state, "partial_at": srv.latency,
            "final_at": srv.final_delay}


# -- the table ----------------------------------------------------------------------------


def figures(report: dict) -> List[list]:
    """[figure, ours, baseline, goal, pass] rows."""
    out = []
    for series, g in report.get("gimp", {}).items():
        tag = f"GIMP {g['gimp']}"
        rows = g["rows"]
        for row in rows:
            m, nv = row["median"], row["naive"]
            out.append([f"{tag} {row['layer']} wall (s)", f"{m['wall']:.3f}",
                        f"naive {nv['seconds'] + nv['startup']:.3f}", "", ""])
            out.append([f"{tag} {row['layer']} own work (s)", f"{m['own']:.3f}",
                        f"naive {nv['own']:.3f}; server {m['server']:.3f}", "", ""])
            out.append([f"{tag} {row['layer']} pixels read", f"{row['pixels_read']:,}",
                        f"{row['layer_pixels']:,}", "", ""])
            out.append([f"{tag} {row['layer']} peak MiB plug-in/worker",
                        f"{m['plugin_hwm_kib'] / 1024:.0f}/{m['worker_hwm_kib'] / 1024:.0f}",
                        f"naive process {nv['maxrss_kib_after'] / 1024:.0f} "
                        f"(+{(nv['maxrss_kib_after'] - nv['maxrss_kib_before']) / 1024:.0f})",
                        "", ""])
            out.append([f"{tag} {row['layer']} upload bytes", f"{m['upload_bytes']:,}",
                        f"{nv['image_bytes'] + nv['mask_bytes']:,} full / "
                        f"{nv['api_image_bytes'] + nv['api_mask_bytes']:,} at "
                        f"{row['api_size']}", "", ""])
        big, small = rows[-1]["median"], rows[0]["median"]
        naive_big = rows[-1]["naive"]["own"]
        if g.get("startup"):
            startup = median([s["wall"] for s in g["startup"]])
            out.append([f"{tag} plug-in start-up only (s, Settings)", f"{startup:.3f}", "",
                        "", ""])
            out.append([f"{tag} own work at 8000x6000 after start-up (s)",
                        f"{big['own'] - startup:.3f}", "", "", ""])
        out.append([f"{tag} own work at 8000x6000 (s)", f"{big['own']:.3f}", "",
                    f"<= {GOAL_OWN_SECONDS}", big["own"] <= GOAL_OWN_SECONDS])
        cold = g.get("cold")
        if cold:
            out.append([f"{tag} own work at 8000x6000, no worker waiting (first edit) (s)",
                        f"{cold['median']['own']:.3f}",
                        f"wall {cold['median']['wall']:.3f}", "", ""])
        growth = big["own"] / small["own"]
        out.append([f"{tag} own work 8000x6000 / 1000x750", f"{growth:.2f}", "",
                    f"<= {GOAL_GROWTH}", growth <= GOAL_GROWTH])
        ratio = naive_big / big["own"]
        out.append([f"{tag} naive / ours at 8000x6000", f"{ratio:.1f}",
                    f"naive {naive_big:.2f} s", f">= {GOAL_NAIVE_RATIO:g}",
                    ratio >= GOAL_NAIVE_RATIO])
    v = report.get("variants")
    if v:
        ratio = v["n4"] / v["one_request"]
        out.append(["variants n=4, relay refuses n>1 (s)", f"{v['n4']:.2f}",
                    f"one request {v['one_request']:.2f}", f"<= {GOAL_VARIANTS} x one",
                    ratio <= GOAL_VARIANTS])
    p = report.get("preview")
    if p:
        out.append(["first preview after request arrival (s)",
                    f"{p['preview_after_arrival']:.2f}",
                    f"final {p['final_after_arrival']:.2f}", f"<= {GOAL_PREVIEW_SECONDS}",
                    p["preview_after_arrival"] <= GOAL_PREVIEW_SECONDS])
    for r in report.get("registration", ()):
        out.append([f"registration added to placing, {r['selection']} in {r['layer']} (CPU s)",
                    f"{r['added_cpu']:.3f}", f"placing without {r['place_cpu']:.3f}; wall "
                    f"added {r['added']:.3f}", f"<= {GOAL_ADDED_SECONDS}",
                    r["added_cpu"] <= GOAL_ADDED_SECONDS])
    return out


def render(report: dict) -> str:
    head = ["figure", "ours", "baseline", "goal", "pass"]
    body = [[str(c) if not isinstance(c, bool) else ("PASS" if c else "FAIL") for c in row]
            for row in figures(report)]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(5)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(head, widths)),
             "-|-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gimp", choices=["3.0", "3.2", "both", "none"], default="both")
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--repeat", type=int, default=3,
                        help="edits per layer size in GIMP; the median counts")
    parser.add_argument("--model", default=configmod.Config().model)
    args = parser.parse_args(argv)
    report = {"commit": git_commit(), "machine": machine(), "time": time.strftime("%FT%T%z"),
              "command": " ".join(["python3", "bench/run.py", *(argv or sys.argv[1:])]),
              "gimp": {}}
    series = {"both": ["3.0", "3.2"], "none": []}.get(args.gimp, [args.gimp])
    for name in series:
        print(f"GIMP {name}: plug-in overhead and naive baseline…", file=sys.stderr)
        report["gimp"][name] = gimp_overhead(name, args.model, args.repeat)
    print("variants against a relay that refuses n>1…", file=sys.stderr)
    report["variants"] = variants(args.model)
    print("time to first preview…", file=sys.stderr)
    report["preview"] = first_preview(args.model)
    print("registration added to placing…", file=sys.stderr)
    report["registration"] = registration_time()
    stamp = [f"commit {report['commit']}", f"host Python {report['machine']['host_python']}"]
    stamp += [f"GIMP {g['gimp']} / Python {g['python']}" for g in report["gimp"].values()]
    print("; ".join(stamp))
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    failed = [row[0] for row in figures(report) if row[4] is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
