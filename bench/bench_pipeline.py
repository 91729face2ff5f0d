"""Cost of plan + prepare + place for a 600×400 selection on growing layers.

Only the crop the plan asks for is synthesised (as a host reads only that rectangle), so the
cost must not grow with the layer: the script fails (exit 1) when the 8000×6000 run takes more
than 1.3× the CPU time of the 1000×750 run (CPU time, best of N with the layers taking turns,
so other load on the machine does not decide it; wall time is printed too). The simulated
server (echo) is not timed. Peak memory is what tracemalloc sees (numpy buffers, not Pillow's
internal ones).

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
from bianxie_core.planning import RegionOptions, plan_edit
from bianxie_core.placement import place
from bianxie_core.upload import prepare

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
    """One run; returns the plan and the (wall, CPU) seconds of the core's part."""
    selection = Bounds((layer.width - SELECTION.width) // 2, (layer.height - SELECTION.height) // 2,
                       *SELECTION)
    plan = plan_edit(layer, selection, model, options)
    pixels, coverage = synthesise(plan.crop, selection)
    wall, cpu = time.perf_counter(), time.process_time()
    plan = plan_edit(layer, selection, model, options)
    upload = prepare(plan, pixels, coverage, options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = answer(upload)
    wall2, cpu2 = time.perf_counter(), time.process_time()
    place(plan, pixels, coverage, result, options)
    wall += time.perf_counter() - wall2
    cpu += time.process_time() - cpu2
    return plan, wall, cpu


def measure(model, options: RegionOptions, repeat: int) -> list:
    """Best of ``repeat`` per layer, the layers taking turns so a busy machine hurts all alike."""
    rows = [{"layer": layer, "wall": [], "cpu": []} for layer in LAYERS]
    for _ in range(repeat):
        for row in rows:
            row["plan"], wall, cpu = pipeline(row["layer"], model, options)
            row["wall"].append(wall)
            row["cpu"].append(cpu)
    for row in rows:
        tracemalloc.start()
        pipeline(row["layer"], model, options)
        row["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        row["wall"], row["cpu"] = min(row["wall"]), min(row["cpu"])
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt-image-1.5")
    parser.add_argument("--repeat", type=int, default=7, help="runs per layer; the fastest counts")
    parser.add_argument("--format", default="png", choices=["png", "webp", "jpeg"])
    args = parser.parse_args(argv)
    model = get_model(args.model)
    options = RegionOptions(upload_format=args.format)

    rows = measure(model, options, args.repeat)
    print(f"model {model.name}, selection {SELECTION.width}x{SELECTION.height}, "
          f"upload {args.format}, best of {args.repeat}")
    header = (f"{'layer':>11} {'layer px':>11} {'read px':>9} {'crop':>10} {'API size':>10} "
              f"{'wall ms':>8} {'CPU ms':>7} {'peak MiB':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        plan, layer = row["plan"], row["layer"]
        print(f"{layer!s:>11} {layer.area:>11,} {plan.pixels_to_read:>9,} "
              f"{plan.crop.extent!s:>10} {plan.size_param:>10} {row['wall'] * 1000:>8.1f} "
              f"{row['cpu'] * 1000:>7.1f} {row['peak'] / 2 ** 20:>9.1f}")
    ratio = rows[-1]["cpu"] / rows[0]["cpu"]
    pixels_ratio = rows[-1]["plan"].pixels_to_read / rows[0]["plan"].pixels_to_read
    print(f"CPU time ratio {LAYERS[-1]} / {LAYERS[0]}: {ratio:.2f} (must be <= {MAX_RATIO}); "
          f"wall {rows[-1]['wall'] / rows[0]['wall']:.2f}; pixels read ratio "
          f"{pixels_ratio:.2f}; layer area ratio {LAYERS[-1].area / LAYERS[0].area:.0f}")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
