"""A job folder: what the host hands the request worker, and what the worker answers.

Each is one typed record, written and read by one serialiser (serial.py): the ``JobRecord``
in ``request.json`` (the request or the region edit's plan, settings and uploads; never the
key) and the ``JobStatus`` in ``status.json`` (progress, the paid images, the placements).
The pixels travel beside them as files the records name:

``input-N.<ext>``, ``mask.png``          an edit request's files, as sent (gone once read)
``crop.raw``, ``coverage.raw``, ``ref-N.raw``   a region edit's pixels, as the host read them
``partial-K.png``                        streamed partial images
``unkept-N.<ext>``                       a paid image the history could not keep (for the CLI)
``placed-N.raw``, ``placed-N-mask.raw``  each placed result and its soft mask
``worker.log``, ``cancel``, ``shown-K``  and standby.py's markers
``stop-sending``, ``left``               the CLI's first interruption; a host that stopped waiting
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import List, Optional, Tuple

from bianxie_core.edit_settings import EditSettings
from bianxie_core.geometry import Bounds
from bianxie_core.params import ImageFile
from bianxie_core.planning import Plan
from bianxie_core.raw import RawPixels
from bianxie_core.serial import from_data, to_data
from bianxie_core.transfer import Transfer

REQUEST, STATUS, LOG, CANCEL = "request.json", "status.json", "worker.log", "cancel"
STOP_SENDING, LEFT = "stop-sending", "left"
REPLACE_ATTEMPTS = 100


class Kind(str, Enum):
    GENERATE = "generate"  # a text-to-image request, as the caller made it
    EDIT = "edit"  # an edit request with its files, as the caller made it
    REGION = "region"  # a planned region edit: the worker prepares, sends and places it


@dataclass(frozen=True)
class RawFile:
    """``RawPixels`` in a file of the job folder."""

    file: str
    width: int
    height: int
    channels: int

    @classmethod
    def write(cls, folder: Path, name: str, pixels: RawPixels) -> RawFile:
        if len(pixels.data) != pixels.width * pixels.height * pixels.channels:
            raise ValueError(f"{len(pixels.data)} bytes are not {pixels.width}x{pixels.height}"
                             f"x{pixels.channels}")
        (Path(folder) / name).write_bytes(pixels.data)
        return cls(name, pixels.width, pixels.height, pixels.channels)

    def read(self, folder: Path) -> RawPixels:
        data = (Path(folder) / self.file).read_bytes()
        if len(data) != self.width * self.height * self.channels:
            raise ValueError(f"{self.file} holds {len(data)} bytes, not {self.width}x"
                             f"{self.height}x{self.channels}")
        return RawPixels(data, self.width, self.height, self.channels)


@dataclass(frozen=True)
class SentFile:
    """An image file of an edit request, in the job folder."""

    file: str
    name: str  # the file name sent
    type: str  # its Content-Type

    @classmethod
    def write(cls, folder: Path, name: str, image: ImageFile) -> SentFile:
        (Path(folder) / name).write_bytes(image.data)
        return cls(name, image.name, image.content_type)

    def read(self, folder: Path) -> ImageFile:
        return ImageFile(data=(Path(folder) / self.file).read_bytes(), name=self.name,
                         content_type=self.type)


@dataclass(frozen=True)
class SourceLayer:
    """The layer a region edit reads, as the host knows it (Re-run finds it again)."""

    name: str
    id: int
    offset: Tuple[int, int]  # the layer's offsets in the image


@dataclass
class JobRecord:
    """One job, as the host hands it over. Generate and edit jobs carry the request's fields
    and files; a region job the plan, the settings and the pixels the host read."""

    kind: Kind
    procedure: str = ""  # the plug-in procedure (or tool) that made it
    meta: dict = field(default_factory=dict)  # further facts to keep with each image
    settings: Optional[EditSettings] = None  # what the user chose (kept with each image)
    # generate and edit jobs
    fields: dict = field(default_factory=dict)  # the request's fields (params.*.fields())
    inputs: List[SentFile] = field(default_factory=list)
    mask: Optional[SentFile] = None
    # region jobs
    plan: Optional[Plan] = None
    source: Optional[SourceLayer] = None
    selection: Optional[Bounds] = None  # layer coordinates; without ``coverage`` it is the mask
    pixels: Optional[RawFile] = None  # plan.crop of the source layer
    coverage: Optional[RawFile] = None  # the selection over plan.crop
    refs: List[RawFile] = field(default_factory=list)  # whole reference layers
    # a host that may go before the result (the CLI): once it has, the worker removes the
    # folder when nothing in it is still needed; the images wait in the history
    host_pid: int = 0
    # this run's settings where they differ from the config file (the CLI's --base-url,
    # --timeout, a relative ca_bundle made absolute), and ``retries``; never the key
    overrides: dict = field(default_factory=dict)

    @classmethod
    def region(cls, plan: Plan, settings: EditSettings, **kw) -> JobRecord:
        return cls(Kind.REGION, plan=plan, settings=settings, **kw)

    @property
    def n(self) -> int:
        """How many images the job asks for."""
        if self.kind is Kind.REGION and self.settings is not None:
            return self.settings.n or 1
        n = self.fields.get("n")
        return n if isinstance(n, int) and n > 0 else 1

    def history_meta(self) -> dict:
        """What is kept with each paid image (history) and on each result layer: Recover
        places an edit over its canvas, Re-run repeats it from the settings."""
        meta = dict(self.meta)
        if self.procedure:
            meta["procedure"] = self.procedure
        if self.source is not None:
            meta.update(layer=self.source.name, source=self.source.id,
                        offset=to_data(self.source.offset))
        if self.plan is not None and self.plan.mode == "expand":
            meta["origin"] = to_data(self.plan.origin)
        elif self.plan is not None:
            meta.update(canvas=to_data(self.plan.canvas), crop=to_data(self.plan.crop),
                        selection=to_data(self.selection))
        if self.settings is not None:
            meta["settings"] = self.settings.stored()
            if self.kind is Kind.GENERATE:
                meta["settings"]["background"] = self.fields.get("background") or "auto"
        return meta


@dataclass(frozen=True)
class Result:
    """A paid image, saved in the history."""

    entry: str  # its history entry
    path: str  # the image file
    index: int  # its place among the request's images


@dataclass(frozen=True)
class Unkept:
    """A paid image the history could not keep (a full disk): ``file`` in the job folder
    holds it for the host to write out; "" when it could not be written there either
    (``reason`` says why), so it is lost."""

    index: int
    file: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Placed:
    """A region job's result placed onto the layer: ``patch`` (RGBA) at (x, y) in the
    coordinates of ``plan.layer``, with its soft ``mask``."""

    index: int
    x: int
    y: int
    patch: RawFile
    mask: Optional[RawFile] = None
    warnings: Tuple[str, ...] = ()
    alignment: Optional[dict] = None  # what registration found (placement.Placement.alignment)

    @classmethod
    def write(cls, folder: Path, index: int, placement) -> Placed:
        """A ``placement.Placement``'s pixels as raw files (the worker's side: loads numpy)."""
        mask = None
        if placement.mask is not None:
            mask = RawFile.write(folder, f"placed-{index}-mask.raw",
                                 RawPixels.of(placement.mask))
        return cls(index, placement.x, placement.y,
                   RawFile.write(folder, f"placed-{index}.raw", RawPixels.of(placement.patch)),
                   mask, tuple(placement.warnings), placement.alignment)


@dataclass
class JobStatus:
    state: str = "queued"  # queued | running | done | failed
    partials: List[str] = field(default_factory=list)  # partial image file names, in order
    results: List[Result] = field(default_factory=list)
    error: str = ""
    error_type: str = ""
    error_message: str = ""  # the error's own sentence, for a host that adds its own hint
    error_request_id: str = ""
    may_be_billed: bool = False
    refused: bool = False  # a UsageError: the input was refused before anything was sent
    usage: dict = field(default_factory=dict)
    price: float = 0.0
    price_known: bool = True  # False: no price for the model (``price`` is then 0)
    currency: str = ""
    warnings: List[str] = field(default_factory=list)  # the answer is odd, nothing lost
    failures: List[str] = field(default_factory=list)  # one per image paid, not delivered
    history_error: str = ""  # why the images in ``unkept`` are not in the history
    unkept: List[Unkept] = field(default_factory=list)
    request_ids: List[str] = field(default_factory=list)
    placements: List[Placed] = field(default_factory=list)  # region jobs
    transfer: Optional[Transfer] = None  # the bytes moving, once a transfer lasts a second
    pid: int = 0
    updated: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def read_record(folder: Path) -> JobRecord:
    return from_data(JobRecord, json.loads((Path(folder) / REQUEST).read_text("utf-8")))


def write_record(folder: Path, record: JobRecord) -> None:
    write_json(Path(folder) / REQUEST, to_data(record))


def read_status(folder: Path) -> JobStatus:
    """The worker's last word; a fresh status while there is none (or it cannot be read)."""
    try:
        data = json.loads((Path(folder) / STATUS).read_text("utf-8"))
        return from_data(JobStatus, data)
    except (OSError, ValueError, TypeError):
        return JobStatus()


def write_status(folder: Path, status: JobStatus) -> None:
    status.updated = time.time()
    write_json(Path(folder) / STATUS, to_data(status))


def write_json(path: Path, data: dict) -> None:
    """Whole or not at all: the other process never reads half a file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    # ASCII: a path that is not UTF-8 (a Latin-1 home folder) is kept as its escapes
    try:
        tmp.write_text(json.dumps(data), "utf-8")
    except OSError:  # a full disk: no half file left taking room (progress rewrites it often)
        tmp.unlink(missing_ok=True)
        raise
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            os.replace(tmp, path)
            return
        except PermissionError:  # Windows: the host has status.json open for a moment
            if attempt == REPLACE_ATTEMPTS - 1:
                raise
            time.sleep(0.01)
