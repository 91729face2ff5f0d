"""Cost of plan + prepare + place for a 600×400 selection on growing layers.

Only the crop the plan asks for is synthesised (as a host reads only that rectangle), so the
cost must not grow with the layer: the script fails (exit 1) when the 8000×6000 run takes more
than 1.3× the 1000×750 run.

    python bench/bench_pipeline.py [--model gpt-image-2] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
from PIL import Image

from bianxie_core.geometry import Bounds, Extent
from bianxie_core.models import get_model
from bianxie_core.region import RegionOptions, place, plan_edit, prepare

LAYERS = [Extent(1000, 750), Extent(4000, 3000), Extent(8000, 6000)]
SELECTION = Extent(600, 400)
MAX_RATIO = 1.3
_TEXTURE = np.asarray(Image.open(ROOT / "tests" / "data" / "rocket.jpg").convert("RGB"))


def synthesise(crop: Bounds, selection: Bounds):
    """The crop's pixels (a photo tiled in layer coordinates) and an elliptic selection."""
    th, tw = _TEXTURE.shape[:2]
    ys = np.arange(crop.y, crop.bottom) % th
    xs = np.arange(crop.x, crop.right) % tw
    pixels = _TEXTURE[ys][:, xs]
    yy, xx = np.mgrid[crop.y:crop.bottom, crop.x:crop.right]
    cx, cy = selection.x + selection.width / 2, selection.y + selection.height / 2
    inside = ((xx - cx) / (selection.width / 2)) ** 2 + ((yy - cy) / (selection.height / 2)) ** 2
    return pixels, np.where(inside <= 1, 255, 0).astype(np.uint8)


def answer(upload) -> Image.Image:
    """The server's part, not timed: echo the image it received."""
    import io

    image = Image.open(io.BytesIO(upload.image))
    image.load()
    return image


def pipeline(layer: Extent, model, options: RegionOptions):
    selection = Bounds((layer.width - SELECTION.width) // 2, (layer.height - SELECTION.height) // 2,
                       *SELECTION)
    plan = plan_edit(layer, selection, model, options)
    pixels, coverage = synthesise(plan.crop, selection)
    started = time.perf_counter()
    plan = plan_edit(layer, selection, model, options)
    upload = prepare(plan, pixels, coverage, options)
    core = time.perf_counter() - started
    result = answer(upload)
    started = time.perf_counter()
    place(plan, pixels, coverage, result, options)
    core += time.perf_counter() - started
    return plan, core


def measure(layer: Extent, model, options: RegionOptions, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        plan, seconds = pipeline(layer, model, options)
        times.append(seconds)
    tracemalloc.start()
    pipeline(layer, model, options)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"layer": layer, "plan": plan, "seconds": min(times), "peak": peak}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt-image-1.5")
    parser.add_argument("--repeat", type=int, default=7, help="runs per layer; the fastest counts")
    parser.add_argument("--format", default="png", choices=["png", "webp", "jpeg"])
    args = parser.parse_args(argv)
    model = get_model(args.model)
    options = RegionOptions(upload_format=args.format)

    rows = [measure(layer, model, options, args.repeat) for layer in LAYERS]
    print(f"model {model.name}, selection {SELECTION.width}x{SELECTION.height}, "
          f"upload {args.format}, best of {args.repeat}")
    header = f"{'layer':>11} {'layer px':>11} {'read px':>9} {'crop':>10} {'API size':>10} " \
             f"{'time ms':>8} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        plan, layer = row["plan"], row["layer"]
        print(f"{layer!s:>11} {layer.area:>11,} {plan.pixels_to_read:>9,} "
              f"{plan.crop.extent!s:>10} {plan.size_param:>10} "
              f"{row['seconds'] * 1000:>8.1f} {row['peak'] / 2 ** 20:>9.1f}")
    ratio = rows[-1]["seconds"] / rows[0]["seconds"]
    pixels_ratio = rows[-1]["plan"].pixels_to_read / rows[0]["plan"].pixels_to_read
    print(f"time ratio {LAYERS[-1]} / {LAYERS[0]}: {ratio:.2f} (must be <= {MAX_RATIO}); "
          f"pixels read ratio {pixels_ratio:.2f}; layer area ratio "
          f"{LAYERS[-1].area / LAYERS[0].area:.0f}")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
