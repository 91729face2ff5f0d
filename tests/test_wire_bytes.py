"""The edit's multipart body is byte for byte what the official SDK sends (same boundary)."""

from __future__ import annotations

import pytest

from bianxie_core.params import EditRequest
from bianxie_core.wire import edit_file_parts, encode_multipart
from tests.fakeapi.records import boundary_of
from tests.test_wire_parity import EDITS, _files, _sdk_file, sdk_capture


@pytest.mark.parametrize("files,fields", [c[1:] for c in EDITS], ids=[c[0] for c in EDITS])
def test_edit_body_is_byte_identical_to_the_sdk(files, fields):
    fields = dict(fields)
    fields.setdefault("prompt", "a lounge with a green sofa")
    images, mask = _files(files["images"], files.get("mask"))
    kwargs = dict(fields, image=[_sdk_file(i) for i in images] if len(images) > 1
                  else _sdk_file(images[0]))
    if mask is not None:
        kwargs["mask"] = _sdk_file(mask)
    theirs = sdk_capture("edit", **kwargs)
    boundary = boundary_of(theirs.headers["content-type"])
    request = EditRequest(images=images, mask=mask, **fields)
    ours = encode_multipart(request.fields(), edit_file_parts(request), boundary)
    assert ours == theirs.content
