"""The alignment quality page, docs/quality.md, from one command:

    python3 bench/quality.py [--out docs/quality.md] [--repeat 5]

Selection edits against the redrawing fake (tests/fakeapi/redraw.py), placed three ways
(tests/alignment_cases.py): ``align`` (the pipeline), ``off`` (the pipeline without
registration: ``align off``) and ``naive`` (the whole answer mapped back and pasted over the
region). For each drift case: the mean error inside the selection of an edit that should
change nothing, the offset of a painted area's centre from where an undrifted answer puts it,
the mean error in the feather band, and the time registration adds to placing. Then the time
registration adds to placing a 1536×1024 answer in the performance bench's edit
(``registration_time``, also a row of bench/run.py). Needs no GIMP and no root; about a
minute.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bianxie_core.upload import prepare  # noqa: E402
from bianxie_core.geometry import Bounds, Extent  # noqa: E402
from bianxie_core.planning import RegionOptions, plan_edit  # noqa: E402
from tests.alignment_cases import (  # noqa: E402
    DRIFTS, MODEL, MODES, OTHER_SHAPE, PAINT, Edit, ellipse, mean_error, paint_offset, photo,
)
from tests.fakeapi.redraw import REALISTIC, Redraw  # noqa: E402

GOAL_ADDED_SECONDS = 0.06
PHOTOS = ["coffee.png", "astronaut.png", "chelsea.png", "rocket.jpg"]


def added_seconds(edit: Edit, answer, repeat: int) -> dict:
    """Seconds of placing without registration (``place``, ``place_cpu``) and what
    registration adds (``added``: wall, ``added_cpu``: CPU time of the process), best of
    ``repeat`` each, the two taking turns so that the machine's other load falls on both
    alike."""
    placers = {mode: edit.placer(mode) for mode in ("align", "off")}
    for placer in placers.values():
        placer.place(answer)  # warm caches
    runs = {(mode, clock): [] for mode in placers for clock in ("wall", "cpu")}
    for _ in range(repeat):
        for mode, placer in placers.items():
            wall, cpu = time.perf_counter(), time.process_time()
            placer.place(answer)
            runs[mode, "cpu"].append(time.process_time() - cpu)
            runs[mode, "wall"].append(time.perf_counter() - wall)
    m = {key: min(values) for key, values in runs.items()}
    return {"place": m["off", "wall"], "place_cpu": m["off", "cpu"],
            "added": m["align", "wall"] - m["off", "wall"],
            "added_cpu": m["align", "cpu"] - m["off", "cpu"]}


def issue_edit() -> Edit:
    pixels = photo("coffee.png", (741, 500))
    return Edit(pixels, ellipse(pixels.shape, (0.2, 0.25), (0.12, 0.15)))


def drift_rows(edit: Edit, repeat: int) -> list:
    pixels = edit.pixels
    rows = []
    for name, redraw in DRIFTS.items():
        size = edit.other_size() if name in OTHER_SHAPE else None
        answer = edit.answer(redraw, size=size)
        painted = edit.answer(redraw, PAINT, size=size)
        asked = edit.answer(Redraw(spill=redraw.spill), PAINT)  # at the size asked for
        row = {"case": name, "error": {}, "band": {}, "paint": {}}
        for mode in MODES:
            result, placement = edit.place(answer, mode)
            row["error"][mode] = mean_error(result, pixels, edit.selected())
            row["band"][mode] = mean_error(result, pixels, edit.band(placement))
            row["paint"][mode] = paint_offset(edit, painted, asked, mode)
            if mode == "align":
                found = placement.alignment or {}
                row["status"] = found.get("status", "")
        row.update(added_seconds(edit, answer, repeat))
        rows.append(row)
    return rows


def photo_rows() -> list:
    rows = []
    for name in PHOTOS:
        pixels = photo(name)
        edit = Edit(pixels, ellipse(pixels.shape))
        answer = edit.answer(REALISTIC)
        errors = {}
        for mode in MODES:
            result, _placement = edit.place(answer, mode)
            errors[mode] = mean_error(result, pixels, edit.selected())
        rows.append({"photo": "%s (%dx%d)" % (name, pixels.shape[1], pixels.shape[0]),
                     "error": errors})
    return rows


def registration_time(repeat: int = 21) -> list:
    """What registration adds to placing a 1536×1024 answer drifted as the realistic fake
    draws it: the bench's 600×400 selection in an 8000×6000 layer of tiled photo, and a
    900×600 one filling most of a 1536×1024 layer (the largest window to resample)."""
    texture = np.asarray(Image.open(ROOT / "tests" / "data" / "rocket.jpg").convert("RGB"))
    out = []
    for layer, size in ((Extent(8000, 6000), Extent(600, 400)),
                        (Extent(1536, 1024), Extent(900, 600))):
        selection = Bounds((layer.width - size.width) // 2, (layer.height - size.height) // 2,
                           size.width, size.height)
        plan = plan_edit(layer, selection, MODEL, RegionOptions())
        crop = plan.crop
        ys = np.arange(crop.y, crop.bottom) % texture.shape[0]
        xs = np.arange(crop.x, crop.right) % texture.shape[1]
        pixels = np.ascontiguousarray(texture[ys][:, xs])
        coverage = np.zeros((crop.height, crop.width), np.uint8)
        coverage[selection.translate(-crop.x, -crop.y).slices] = 255
        edit = _CropEdit(plan, pixels, coverage)
        answer = edit.answer(REALISTIC)
        row = {"layer": str(layer), "selection": str(size), "region": "%dx%d" % (plan.region.width, plan.region.height),
               "answer": plan.size_param,
               "status": edit.placer("align").place(answer).alignment["status"]}
        row.update(added_seconds(edit, answer, repeat))
        out.append(row)
    return out


class _CropEdit(Edit):
    """An Edit of a crop only (a host reads no more), planned on the whole layer."""

    def __init__(self, plan, crop_pixels, crop_coverage):
        self.plan, self.options = plan, RegionOptions()
        self.crop_pixels, self.crop_coverage = crop_pixels, crop_coverage
        self.upload = prepare(plan, crop_pixels, crop_coverage, self.options)


def _cells(values: dict, digits: int) -> list:
    return ["%.*f" % (digits, values[mode]) for mode in MODES]


def render_page(edit: Edit, drifts: list, photos: list, timing: list, stamp: str) -> str:
    plan, region_size = edit.plan, edit.plan.region
    scale = plan.api_size.width / plan.canvas.width
    lines = [
        "# Alignment quality",
        "",
        "Generated by `python3 bench/quality.py` (see its docstring) — " + stamp + ".",
        "",
        "Models redraw the whole canvas: what they were told to keep comes back shifted, "
        "scaled, rotated, re-toned and re-textured. Before compositing, the answer is aligned to "
        "the original on the kept area (`bianxie_core/registration.py`). Each figure is given "
        "three ways: **align** (the pipeline), **off** (the same without registration: "
        "`align off`, as before it) and **naive** (the whole answer scaled back and pasted over "
        "the region, no mask, no colour match).",
        "",
        "The edit: `tests/data/coffee.png` at 741×500, an elliptic selection (%d×%d px) near "
        "the top-left corner, so its canvas (%d×%d) is cut by the layer's edge and a scale or "
        "rotation about the answer's centre moves the selection too; the model answers at %s "
        "(%.2f answer px to a photo px; drifts are in answer px), or at %s for the cases of "
        "another shape. Levels are 0–255, averaged over the three channels; the painted "
        "centre is measured on the placed patch. Time: the CPU time of placing with "
        "registration less without (best of several, the two taking turns), and of placing "
        "without." % (
            plan.selection.width, plan.selection.height, region_size.width,
            region_size.height, plan.size_param, scale, "%dx%d" % edit.other_size()),
        "",
        "| drift | found | error in the selection, change nothing (align / off / naive) "
        "| painted centre off by, px | feather band error | time added, CPU ms (placing "
        "without) |",
        "|---|---|---|---|---|---|",
    ]
    for row in drifts:
        lines.append("| %s | %s | %s | %s | %s | %.0f (%.0f) |" % (
            row["case"], row["status"], " / ".join(_cells(row["error"], 2)),
            " / ".join(_cells(row["paint"], 2)), " / ".join(_cells(row["band"], 2)),
            row["added_cpu"] * 1000, row["place_cpu"] * 1000))
    lines += [
        "",
        "*Another shape, cropped*: the model filled the other shape by cutting off part of "
        "the canvas, here the part of it above and below, which holds part of the selection. "
        "There the answer has nothing: with registration the original is kept (the soft mask "
        "is cut), without it the answer is stretched over it. The painted centre is measured "
        "on the paint that is left, so it is off by what was cut.",
        "",
        "The realistic fake (`tests/fakeapi/redraw.py`, `REALISTIC`): shifted (6, −3) px, "
        "scaled 2.5 %, rotated 0.6°, a little warmer, blurred (0.6 px), noisy (σ 2), "
        "recompressed (JPEG 90), its edit spilling 3 px past the mask.",
        "",
        "The realistic fake on each test photo (centred elliptic selection, change nothing):",
        "",
        "| photo | error in the selection (align / off / naive) |",
        "|---|---|",
    ]
    for row in photos:
        lines.append("| %s | %s |" % (row["photo"], " / ".join(_cells(row["error"], 2))))
    lines += [
        "",
        "## Time added to placing a 1536×1024 answer",
        "",
        "What `Placer.place` takes with registration less without, best of several, the two "
        "taking turns (the answer drifted as the realistic fake draws it; placing happens in "
        "the request worker), as CPU time of the process and as wall time. The goal, "
        "at most %.0f ms, is judged on CPU time: the wall time also holds whatever else the "
        "shared machine runs meanwhile." % (GOAL_ADDED_SECONDS * 1000),
        "",
        "| layer | selection | region placed | added, CPU ms | added, wall ms "
        "| placing without, CPU / wall ms | found | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in timing:
        ok = "PASS" if row["added_cpu"] <= GOAL_ADDED_SECONDS else "FAIL"
        lines.append("| %s | %s | %s | %.0f | %.0f | %.0f / %.0f | %s | %s |" % (
            row["layer"], row["selection"], row["region"], row["added_cpu"] * 1000,
            row["added"] * 1000, row["place_cpu"] * 1000, row["place"] * 1000, row["status"],
            ok))
    lines += [
        "",
        "Timings on this shared 2-CPU virtual machine vary from run to run with the load "
        "of other work on it.",
        "",
    ]
    return "\n".join(lines)


def _stamp() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    load = "load average %.1f at the start" % os.getloadavg()[0] if hasattr(os, "getloadavg") \
        else ""
    return "commit %s, Python %s, numpy %s, %s, %s" % (
        commit, platform.python_version(), np.__version__, time.strftime("%Y-%m-%d"), load)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "quality.md"))
    parser.add_argument("--repeat", type=int, default=5, help="timed placings per case")
    args = parser.parse_args(argv)
    timing = registration_time(max(3 * args.repeat, 15))
    edit = issue_edit()
    page = render_page(edit, drift_rows(edit, args.repeat), photo_rows(), timing, _stamp())
    Path(args.out).write_text(page, encoding="utf-8")
    print(page)
    return 0 if all(row["added_cpu"] <= GOAL_ADDED_SECONDS for row in timing) else 1


if __name__ == "__main__":
    sys.exit(main())
