"""A region edit done by the request worker, so the plug-in needs neither numpy nor Pillow.

The host plans (``planning``), reads ``plan.crop`` and the selection as raw pixels and submits
them with ``Job.submit_region``. The worker loads them here, prepares and checks the request,
and builds the ``Placer`` while the model works; worker.py writes each placed result.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from bianxie_core.edit_settings import EditSettings
from bianxie_core.job_folder import JobRecord
from bianxie_core.params import ImageFile
from bianxie_core.placement import Placer
from bianxie_core.planning import Plan, RegionOptions
from bianxie_core.upload import fit_reference, prepare


@dataclass
class RegionWork:
    plan: Plan
    settings: EditSettings
    options: RegionOptions
    pixels: np.ndarray  # plan.crop of the source layer, RGB or RGBA
    coverage: Optional[np.ndarray]  # the selection over plan.crop; None: no mask
    refs: List[np.ndarray] = field(default_factory=list)  # whole reference layers

    @classmethod
    def load(cls, folder: Path, record: JobRecord, spec) -> RegionWork:
        """The job's region work; ``spec``: the model as the sending service knows it."""
        plan, settings = record.plan, record.settings
        pixels = record.pixels.read(folder).array()
        coverage = None
        if record.coverage is not None:
            coverage = record.coverage.read(folder).array()
        elif record.selection is not None and plan.has_mask:
            # re-run without a selection: the stored rectangle
            coverage = np.zeros((plan.crop.height, plan.crop.width), np.uint8)
            inside = record.selection.intersect(plan.crop)
            coverage[inside.translate(-plan.crop.x, -plan.crop.y).slices] = 255
        refs = [ref.read(folder).array() for ref in record.refs]
        return cls(plan, settings, settings.region_options(spec), pixels, coverage, refs)

    def request(self, service):
        """The upload for the plan, checked by ``service`` before anything is paid: the
        ``service.Checked`` to send."""
        spec = service.model(self.settings.model)
        upload = prepare(self.plan, self.pixels, self.coverage, self.options)
        references = [ImageFile(data=data, name=name, content_type=mime) for data, name, mime
                      in (fit_reference(array, self.plan.api_size)
                          for array in self.refs)]
        request = self.settings.request(upload, spec, references, self.plan)
        return service.check(request)

    def placer_in_background(self) -> Future:
        """The half of placing that needs no answer, built on a thread while the model works."""
        pool = ThreadPoolExecutor(1)
        try:
            return pool.submit(Placer, self.plan, self.pixels, self.coverage,
                               self.options)
        finally:
            pool.shutdown(wait=False)
