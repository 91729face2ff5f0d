"""A region edit done by the request worker, so the plug-in needs neither numpy nor Pillow.

The host plans (``planning``), reads ``plan.crop`` and the selection as raw pixels and submits
them with ``Job.submit_region``. The worker loads them here, prepares and checks the request,
builds the ``Placer`` while the model works, and writes each placed patch and its soft mask as
raw pixels (``placed-N.raw``, ``placed-N-mask.raw``) described in ``status.placements``.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from bianxie_core import region
from bianxie_core.edit_settings import EditSettings
from bianxie_core.geometry import Bounds
from bianxie_core.params import ImageFile
from bianxie_core.planning import Plan, RegionOptions
from bianxie_core.raw import RawPixels


@dataclass
class RegionWork:
    plan: Plan
    settings: EditSettings
    options: RegionOptions
    pixels: np.ndarray  # plan.crop of the source layer, RGB or RGBA
    coverage: Optional[np.ndarray]  # the selection over plan.crop; None: no mask
    refs: List[np.ndarray] = field(default_factory=list)  # whole reference layers

    @classmethod
    def load(cls, folder: Path, spec: dict) -> RegionWork:
        plan = Plan.from_json(spec["plan"])
        settings = EditSettings.from_stored(spec["settings"])
        pixels = RawPixels.load(folder, spec["pixels"]).array()
        coverage = None
        if spec.get("coverage"):
            coverage = RawPixels.load(folder, spec["coverage"]).array()
        elif spec.get("coverage_rect"):  # re-run without a selection: the stored rectangle
            coverage = np.zeros((plan.crop.height, plan.crop.width), np.uint8)
            inside = Bounds(*spec["coverage_rect"]).intersect(plan.crop)
            coverage[inside.translate(-plan.crop.x, -plan.crop.y).slices] = 255
        refs = [RawPixels.load(folder, r).array() for r in spec.get("refs") or ()]
        return cls(plan, settings, settings.region_options(), pixels, coverage, refs)

    def request(self, service):
        """The upload for the plan, checked by ``service`` before anything is paid: the
        ``service.Checked`` to send."""
        spec = service.model(self.settings.model)
        upload = region.prepare(self.plan, self.pixels, self.coverage, self.options)
        for array in self.refs:
            data, name, mime = region.fit_reference(array, self.plan.api_size)
            self.settings.references.append(ImageFile(data=data, name=name, content_type=mime))
        request = self.settings.request(upload, spec)
        return service.check(request)

    def placer_in_background(self) -> Future:
        """The half of placing that needs no answer, built on a thread while the model works."""
        pool = ThreadPoolExecutor(1)
        try:
            return pool.submit(region.Placer, self.plan, self.pixels, self.coverage,
                               self.options)
        finally:
            pool.shutdown(wait=False)


def write_placement(folder: Path, index: int, placement: region.Placement) -> dict:
    """The placed patch (RGBA) and its soft mask as raw files; their description."""
    patch = RawPixels.of(placement.patch).save(Path(folder) / f"placed-{index}.raw")
    mask = None
    if placement.mask is not None:
        mask = RawPixels.of(placement.mask).save(Path(folder) / f"placed-{index}-mask.raw")
    return {"index": index, "x": placement.x, "y": placement.y, "patch": patch, "mask": mask,
            "warnings": list(placement.warnings), "alignment": placement.alignment}

