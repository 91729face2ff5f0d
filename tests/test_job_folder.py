"""job_folder.py: the records a job folder holds, read back as they were written."""

from __future__ import annotations

import json

import pytest

from bianxie_core.edit_settings import EditSettings
from bianxie_core.geometry import Bounds, Extent
from bianxie_core.job_folder import (
    JobRecord, JobStatus, Kind, Placed, RawFile, Result, SentFile, SourceLayer, read_record,
    write_record, write_status)
from bianxie_core.jobs import Job
from bianxie_core.models import get_model
from bianxie_core.params import ImageFile
from bianxie_core.planning import plan_edit, plan_expand
from bianxie_core.raw import RawPixels

SELECTION = Bounds(180, 120, 160, 110)


def settings(**kw) -> EditSettings:
    return EditSettings(**dict(dict(prompt="a red cup", model="gpt-image-1", quality="low"), **kw))


def test_a_job_record_survives_its_trip_through_json(tmp_path):
    """request.json holds the plan, the settings, the layer and the uploads: all read back
    as they were, and what is kept with each image follows from them."""
    s = settings(n=2, remove=True)
    spec = get_model("gpt-image-2")
    for plan, selection in (
            (plan_edit(Extent(3000, 2000), SELECTION, spec, s.region_options(spec)), SELECTION),
            (plan_edit(Extent(300, 200), None, spec, s.region_options(spec)), None),
            (plan_expand(Extent(640, 480), spec, s.region_options(spec), aspect=16 / 9), None)):
        record = JobRecord.region(
            plan, s, procedure="bianxie-edit-selection", selection=selection,
            source=SourceLayer("Background", 7, (3, -4)), meta={"tool": "test"},
            pixels=RawFile("crop.raw", 3, 2, 4), refs=[RawFile("ref-0.raw", 5, 5, 3)])
        write_record(tmp_path, record)
        back = read_record(tmp_path)
        assert back == record
        assert isinstance(back.plan.crop, Bounds) and isinstance(back.plan.api_size, Extent)
        assert back.kind is Kind.REGION and isinstance(back.source.offset, tuple)
        meta = json.loads(json.dumps(back.history_meta()))
        assert meta["settings"] == s.stored() and meta["offset"] == [3, -4]
        assert meta["procedure"] == "bianxie-edit-selection" and meta["tool"] == "test"
        if plan.mode == "expand":
            assert meta["origin"] == list(plan.origin) and "canvas" not in meta
        else:  # what Recover places the image over
            assert meta["canvas"] == list(plan.canvas) and meta["crop"] == list(plan.crop)
            assert meta["selection"] == (list(selection) if selection else None)


def test_a_job_status_survives_its_trip_through_json(tmp_path):
    status = JobStatus(state="done", results=[Result("e1", "/h/e1.png", 1)],
                       placements=[Placed(1, -3, 4, RawFile("placed-1.raw", 2, 2, 4),
                                          RawFile("placed-1-mask.raw", 2, 2, 1), ("soft",))],
                       usage={"total_tokens": 5}, price=0.25)
    write_status(tmp_path, status)
    assert Job(tmp_path).status() == status


def test_raw_files_refuse_the_wrong_length(tmp_path):
    with pytest.raises(ValueError):
        RawFile.write(tmp_path, "x.raw", RawPixels(b"\0" * 11, 2, 2, 3))
    RawFile.write(tmp_path, "x.raw", RawPixels(b"\0" * 12, 2, 2, 3))
    with pytest.raises(ValueError):
        RawFile("x.raw", 2, 2, 4).read(tmp_path)


def test_an_edit_requests_files_come_back_as_sent(tmp_path):
    image = ImageFile(data=b"\x89PNG-bytes", name="photo.png", content_type="image/png")
    sent = SentFile.write(tmp_path, "input-0.png", image)
    record = JobRecord(Kind.EDIT, fields={"prompt": "x", "n": 2}, inputs=[sent])
    write_record(tmp_path, record)
    back = read_record(tmp_path)
    assert back == record and back.inputs[0].read(tmp_path) == image
    assert back.history_meta() == {}  # nothing the host did not say


def test_a_status_write_on_a_full_disk_leaves_no_half_file(tmp_path, monkeypatch):
    """The worker rewrites status.json at every progress report; on a full disk each attempt
    must leave neither a half status nor its temporary file behind (nor their room taken)."""
    from pathlib import Path

    from bianxie_core.job_folder import read_status

    write_status(tmp_path, JobStatus(state="running"))
    real = Path.write_text

    def full(self, text, *args, **kwargs):
        real(self, text[:10], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        write_status(tmp_path, JobStatus(state="running", partials=["p.png"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]
    assert read_status(tmp_path).state == "running"
