"""Region edits done by the request worker: the host hands over raw pixels, the worker sends
what the in-process pipeline would send and places the answer exactly as it would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bianxie_core import errors, worker
from bianxie_core.placement import place, Placer
from bianxie_core.upload import fit_reference, prepare
from bianxie_core.edit_settings import EditSettings
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.job_folder import JobRecord
from bianxie_core.jobs import Job
from bianxie_core.models import get_model
from bianxie_core.planning import plan_edit, plan_expand
from bianxie_core.raw import RawPixels
from tests.test_client import KEY, assert_no_key  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SELECTION = Bounds(180, 120, 160, 110)


def photo(mode: str = "RGB") -> np.ndarray:
    return np.asarray(Image.open(DATA / "coffee.png").convert(mode))


def settings(**kw) -> EditSettings:
    kw.setdefault("prompt", "a red cup")
    kw.setdefault("model", "gpt-image-1")
    kw.setdefault("quality", "low")
    kw.setdefault("stream", False)
    return EditSettings(**kw)


def selection_edit(pixels: np.ndarray, s: EditSettings, spec=None):
    """The plan, the crop and the coverage a host reads for SELECTION."""
    layer = Extent(pixels.shape[1], pixels.shape[0])
    spec = spec or get_model(s.model)
    plan = plan_edit(layer, SELECTION, spec, s.region_options(spec))
    crop = pixels[plan.crop.slices]
    coverage = np.zeros(crop.shape[:2], np.uint8)
    coverage[SELECTION.translate(-plan.crop.x, -plan.crop.y).slices] = 255
    return plan, crop, coverage


def part(record, name):
    return next(f for f in record.files if f.field == name)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_worker_sends_and_places_what_the_host_would(mode, srv, home):
    pixels, s = photo(mode), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    job = Job.reserve()
    job.start(region=True)
    job.submit_region(JobRecord.region(plan, s, procedure="test"), RawPixels.of(crop),
                      RawPixels.of(coverage))
    status = job.wait(timeout=60, interval=0.02)
    assert status.state == "done", status.error

    upload = prepare(plan, crop, coverage, s.region_options(get_model(s.model)))
    sent = srv.requests[0]
    assert part(sent, "image").data == upload.image and part(sent, "mask").data == upload.mask
    assert sent.field("size") == upload.size == plan.size_param

    (placed,) = status.placements
    want = place(plan, crop, coverage, srv.responses[0], s.region_options(get_model(s.model)))
    patch, mask = job.placed(placed)
    assert (placed.x, placed.y) == (want.x, want.y)
    assert np.array_equal(patch.array(), want.patch)
    assert np.array_equal(mask.array(), want.mask)
    assert_no_key("\n".join(p.name for p in job.folder.iterdir()))
    assert not (job.folder / "crop.raw").exists() and not (job.folder / "coverage.raw").exists()


def test_variants_are_each_placed(srv1, home):
    pixels, s = photo(), settings(n=3)
    plan, crop, coverage = selection_edit(pixels, s)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = worker.run(job)
    assert status.state == "done", status.error
    assert sorted(p.index for p in status.placements) == [0, 1, 2]
    by_index = {r.index: Path(r.path).read_bytes() for r in status.results}
    for placed in status.placements:
        want = place(plan, crop, coverage, by_index[placed.index],
                     s.region_options(get_model(s.model)))
        assert np.array_equal(job.placed(placed)[0].array(), want.patch)


def test_a_stored_rectangle_stands_for_a_selection(srv1, home):
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s, selection=SELECTION), RawPixels.of(crop))
    status = worker.run(job)
    assert status.state == "done", status.error
    upload = prepare(plan, crop, coverage, s.region_options(get_model(s.model)))
    assert part(srv1.requests[0], "mask").data == upload.mask


def test_references_go_after_the_image_fitted_to_the_api_size(srv1, home):
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    big = np.asarray(Image.open(DATA / "astronaut.png").convert("RGB").resize((2048, 2048)))
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage),
                      refs=[RawPixels.of(big)])
    status = worker.run(job)
    assert status.state == "done", status.error
    images = [f for f in srv1.requests[0].files if f.field in ("image", "image[]")]
    assert len(images) == 2
    data, _name, _mime = fit_reference(big, plan.api_size)
    assert images[1].data == data


def test_expand_through_the_worker(srv1, home):
    pixels, s = photo(), settings(prompt="")
    spec = get_model(s.model)
    plan = plan_expand(Extent(pixels.shape[1], pixels.shape[0]), spec, s.region_options(spec),
                       margins=(100, 0, 100, 0))
    s.prompt = "more of the room"
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(pixels[plan.crop.slices]))
    status = worker.run(job)
    assert status.state == "done", status.error
    want = place(plan, pixels[plan.crop.slices], None, srv1.responses[0],
                        s.region_options(spec))
    patch, mask = job.placed(status.placements[0])
    assert np.array_equal(patch.array(), want.patch) and np.array_equal(mask.array(), want.mask)


def test_a_request_the_checks_refuse_is_never_sent(srv1, home, monkeypatch):
    monkeypatch.delenv("BIANXIE_API_KEY")
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = worker.run(job)
    assert status.state == "failed" and not status.may_be_billed and not status.results
    assert status.refused and srv1.requests == [] and "key" in status.error.lower()


def test_a_failure_after_sending_is_not_called_refused(srv1, home):
    srv1.fault = "server_error"
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = worker.run(job)
    assert status.state == "failed" and not status.refused and srv1.requests


def test_a_placement_that_fails_keeps_the_paid_image(srv1, home, monkeypatch):
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)

    def broken(self, result):
        raise errors.ResponseError("The image could not be read.")

    monkeypatch.setattr(Placer, "place", broken)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = worker.run(job)
    assert status.state == "failed" and len(status.results) == 1
    assert Path(status.results[0].path).read_bytes() == srv1.responses[0]
    assert "Recover Results" in status.error and status.placements == []
    assert status.usage and status.request_ids and status.price > 0  # what it cost is known


def test_a_failure_after_sending_is_never_called_refused(srv1, home, monkeypatch):
    pixels, s = photo(), settings()
    plan, crop, coverage = selection_edit(pixels, s)

    def disk_full(self, *args, **kwargs):
        raise errors.ConfigError("The history folder cannot be written: the disk is full.")

    monkeypatch.setattr("bianxie_core.history.History.record", disk_full)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s), RawPixels.of(crop), RawPixels.of(coverage))
    status = worker.run(job)
    assert status.state == "failed" and len(srv1.requests) == 1
    assert not status.refused  # the plug-in must not call a paid request a refused input


def test_handing_over_a_region_loads_neither_numpy_nor_pillow_in_the_host(home):
    """The plug-in plans, reads bytes from GEGL and submits; the worker does the pixel work."""
    code = (
        "import sys\n"
        "from bianxie_core.edit_settings import EditSettings\n"
        "from bianxie_core.geometry import Bounds, Extent\n"
        "from bianxie_core.job_folder import JobRecord\n"
        "from bianxie_core.jobs import Job\n"
        "from bianxie_core.models import get_model\n"
        "from bianxie_core.planning import plan_edit\n"
        "from bianxie_core.raw import RawPixels\n"
        "s = EditSettings(prompt='x', model='gpt-image-1')\n"
        "plan = plan_edit(Extent(4000, 3000), Bounds(100, 100, 600, 400), "
        "get_model(s.model), s.region_options(get_model(s.model)))\n"
        "crop = RawPixels(bytes(plan.crop.area * 3), plan.crop.width, plan.crop.height, 3)\n"
        "job = Job.reserve()\n"
        "job.submit_region(JobRecord.region(plan, s, selection=plan.selection), crop)\n"
        "job.remove()\n"
        "print(sorted({'requests', 'numpy', 'PIL'} & set(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_worker_places_for_the_door_the_config_sets(srv1, home):
    """``config set door studio-image=chat`` (a name a relay gave a Gemini model): the
    worker sends no mask, so it does not judge the answer for an ignored mask either."""
    from bianxie_core import config as configmod

    cfg = configmod.load()
    cfg.models = {"studio-image": {"door": "chat"}}
    configmod.save(cfg)
    pixels, s = photo(), settings(model="studio-image")
    spec = get_model(s.model, cfg.models)
    plan, crop, coverage = selection_edit(pixels, s, spec)
    job = Job.reserve()
    job.submit_region(JobRecord.region(plan, s, selection=SELECTION), RawPixels.of(crop),
                      RawPixels.of(coverage))
    record = job.record
    work = worker._request(job.folder, record, worker._service_for(record, None))[1]
    assert work.options.model_masks is False
    assert get_model(s.model).family is None  # without the config: nothing says so
