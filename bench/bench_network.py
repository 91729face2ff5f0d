"""The network path, measured: TLS handshakes saved by reusing connections, and bytes and time
per edit over a slow link for each upload and answer format, with what each costs in quality.

    .venv/bin/python bench/bench_network.py [--up 2] [--down 10] [--rtt 150] [--json out.json]

Everything runs on this machine: the tests' fake API over HTTPS (a trustme certificate) behind
``SlowLink`` (bench/slowlink.py), the client is ``bianxie_core.client.ImagesClient``. The edit
is the one the 8000×6000 row of docs/performance.md sends: a 1200×800 canvas around a 600×400
selection of a photo texture (``tests/data/rocket.jpg`` tiled), with its mask, answered at
1536×1024 by the fake's ``echo`` fill (the photo back, so the answer is as big as a photo's).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bianxie_core import network, png  # noqa: E402
from bianxie_core.client import ImagesClient  # noqa: E402
from bianxie_core.params import EditRequest, ImageFile  # noqa: E402
from slowlink import SlowLink  # noqa: E402
from tests.fakeapi import FakeServer  # noqa: E402
from tests.netkit import Pki  # noqa: E402

KEY = "sk-bench-network"
CANVAS = (1200, 800)
SELECTION = (300, 200, 900, 600)  # x0, y0, x1, y1 in the canvas
API_SIZE = (1536, 1024)


def canvas() -> np.ndarray:
    tile = np.asarray(Image.open(ROOT / "tests/data/rocket.jpg").convert("RGB"))
    reps = (math.ceil(CANVAS[1] / tile.shape[0]) + 1, math.ceil(CANVAS[0] / tile.shape[1]) + 1)
    big = np.tile(tile, (reps[0], reps[1], 1))
    y, x = tile.shape[0] // 3, tile.shape[1] // 3
    return np.ascontiguousarray(big[y:y + CANVAS[1], x:x + CANVAS[0]])


def mask_png() -> bytes:
    alpha = np.full((CANVAS[1], CANVAS[0]), 255, np.uint8)
    x0, y0, x1, y1 = SELECTION
    alpha[y0 - 6:y1 + 6, x0 - 6:x1 + 6] = 0
    rgba = np.dstack([np.zeros((CANVAS[1], CANVAS[0], 3), np.uint8), alpha])
    return png.encode(rgba)


UPLOADS = {
    "PNG (today)": lambda im: png.encode(im),
    "WebP lossless, method 0": lambda im: _pil(im, "WEBP", lossless=True, quality=0,
                                               method=0),
    "WebP lossless, method 2": lambda im: _pil(im, "WEBP", lossless=True, quality=50,
                                               method=2),
    "WebP lossless, method 4": lambda im: _pil(im, "WEBP", lossless=True, quality=80,
                                               method=4),
    "WebP q92": lambda im: _pil(im, "WEBP", quality=92, method=4),
    "JPEG q92": lambda im: _pil(im, "JPEG", quality=92),
    "JPEG q95": lambda im: _pil(im, "JPEG", quality=95),
}
ANSWERS = {
    "PNG (today)": dict(output_format="png"),
    "WebP 100": dict(output_format="webp", output_compression=100),
    "WebP 95": dict(output_format="webp", output_compression=95),
    "WebP 90": dict(output_format="webp", output_compression=90),
    "JPEG 95": dict(output_format="jpeg", output_compression=95),
    "JPEG 90": dict(output_format="jpeg", output_compression=90),
}


def _pil(array: np.ndarray, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, **kw)
    return out.getvalue()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def selection_in_answer(array: np.ndarray) -> np.ndarray:
    sx, sy = API_SIZE[0] / CANVAS[0], API_SIZE[1] / CANVAS[1]
    x0, y0, x1, y1 = SELECTION
    return array[round(y0 * sy):round(y1 * sy), round(x0 * sx):round(x1 * sx)]


def one_edit(client: ImagesClient, link: SlowLink, upload: bytes, answer: dict) -> dict:
    request = EditRequest(prompt="a tiny boat", model="gpt-image-1.5", size="1536x1024",
                          images=[ImageFile.from_bytes(upload)],
                          mask=ImageFile.from_bytes(mask_png(), "mask"), **answer)
    link.reset_counts()
    started = time.perf_counter()
    result = client.edit(request)
    wall = time.perf_counter() - started
    return {"wall": wall, "up": link.bytes_up, "down": link.bytes_down,
            "answer": result.images[0].data}


def handshake_rows(base_url: str, ca: str, repeat: int) -> list:
    """Seconds per request (GET /models) with a new connection each time and with one kept."""
    def timed(fresh: bool) -> float:
        times = []
        for _ in range(repeat + 1):
            if fresh:
                network._sessions.clear()
            client = ImagesClient(base_url, KEY, ca_bundle=ca)
            started = time.perf_counter()
            client.list_models()
            times.append(time.perf_counter() - started)
        return float(np.median(times[1:]))  # the first opens the connection either way

    fresh, kept = timed(True), timed(False)
    return [("GET /models, new TCP + TLS connection each (s)", fresh),
            ("GET /models, connection kept (s)", kept),
            ("saved per request by reuse (s)", fresh - kept)]


def worker_edit_rows(base_url: str, ca: str, repeat: int) -> list:
    """Seconds per small edit as a waiting worker sends its next job: a new ``Service``'s
    client each time (``worker._ready_service``), over a new connection or the session's
    kept one (``network.make_session`` shares it within the process)."""
    small = canvas()[:256, :256].copy()
    alpha = np.full((256, 256), 255, np.uint8)
    alpha[64:192, 64:192] = 0
    request = EditRequest(prompt="a tiny boat", model="gpt-image-1.5", size="1024x1024",
                          images=[ImageFile.from_bytes(png.encode(small))],
                          mask=ImageFile.from_bytes(png.encode(np.dstack([small, alpha])),
                                                    "mask"))

    def timed(fresh: bool) -> float:
        if fresh:
            network._sessions.clear()
        client = ImagesClient(base_url, KEY, ca_bundle=ca, timeout=600)
        started = time.perf_counter()
        client.edit(request)
        return time.perf_counter() - started

    timed(False)  # the kept connection is open, as after the worker's first edit
    runs = [(timed(True), timed(False)) for _ in range(repeat)]  # alternated: the fake's
    fresh, kept = (float(np.median(column)) for column in zip(*runs))  # own time drifts
    return [("a worker's next small edit, new TCP + TLS connection (s)", fresh),
            ("a worker's next small edit, connection kept (s)", kept),
            ("saved per edit by reuse (s)", fresh - kept)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--up", type=float, default=2.0, help="Mbit/s up (default 2)")
    p.add_argument("--down", type=float, default=10.0, help="Mbit/s down (default 10)")
    p.add_argument("--rtt", type=float, default=150.0, help="round trip, ms (default 150)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path)
    p.add_argument("--connections-only", action="store_true",
                   help="only the connection rows (no upload and answer formats)")
    args = p.parse_args(argv)
    image = canvas()
    pki = Pki(Path(tempfile.mkdtemp(prefix="bench-net-")))
    report = {"link": vars(args) | {"json": None}, "handshake": [], "uploads": [],
              "answers": []}
    with FakeServer(key=KEY, tls=pki.server_context()) as fake:
        fake.fill = "echo"
        with SlowLink(("127.0.0.1", fake.port), args.up, args.down, args.rtt) as link:
            base = f"https://localhost:{link.port}/v1"
            ca = str(pki.ca_file)
            report["handshake"] = handshake_rows(base, ca, args.repeat)
            report["handshake"] += worker_edit_rows(base, ca, args.repeat)
            if args.connections_only:
                print_tables(report)
                return 0
            client = ImagesClient(base, KEY, ca_bundle=ca, timeout=600)
            client.list_models()  # the connection is open, as for every edit after the first
            png_answer = None
            for name, encode in UPLOADS.items():
                encode_s = []
                for _ in range(3):
                    started = time.perf_counter()
                    upload = encode(image)
                    encode_s.append(time.perf_counter() - started)
                encode_s = float(np.median(encode_s))
                run = one_edit(client, link, upload, ANSWERS["PNG (today)"])
                report["uploads"].append({"upload": name, "bytes": len(upload),
                                          "encode_s": encode_s, "wall": run["wall"],
                                          "up": run["up"], "down": run["down"],
                                          "psnr": psnr(decode(upload), image)})
                if png_answer is None:
                    png_answer = decode(run["answer"])
            for name, answer in ANSWERS.items():
                run = one_edit(client, link, UPLOADS["PNG (today)"](image), answer)
                got = decode(run["answer"])
                report["answers"].append({
                    "answer": name, "wall": run["wall"], "up": run["up"], "down": run["down"],
                    "psnr": psnr(selection_in_answer(got), selection_in_answer(png_answer))})
    print_tables(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


def print_tables(report: dict) -> None:
    link = report["link"]
    print(f"link: {link['up']:g} Mbit/s up, {link['down']:g} Mbit/s down, "
          f"{link['rtt']:g} ms round trip\n")
    print("| connection | seconds |\n|---|---|")
    for name, seconds in report["handshake"]:
        print(f"| {name} | {seconds:.3f} |")
    print("\n| upload (answer PNG) | upload bytes | bytes up | bytes down | wall (s) | "
          "encode (s) | PSNR of the upload (dB) |\n|---|---|---|---|---|---|---|")
    for row in report["uploads"]:
        print(f"| {row['upload']} | {row['bytes']:,} | {row['up']:,} | {row['down']:,} | "
              f"{row['wall']:.2f} | {row['encode_s']:.3f} | {row['psnr']:.1f} |")
    print("\n| answer (upload PNG) | bytes up | bytes down | wall (s) | PSNR of the selection "
          "vs the PNG answer (dB) |\n|---|---|---|---|---|")
    for row in report["answers"]:
        print(f"| {row['answer']} | {row['up']:,} | {row['down']:,} | {row['wall']:.2f} | "
              f"{row['psnr']:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
