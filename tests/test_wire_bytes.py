"""The edit's multipart body is byte for byte what the official SDK sends (same boundary)."""

from __future__ import annotations

import pytest

from bianxie_core.wire import edit_file_parts, encode_multipart
from tests.fakeapi.records import boundary_of
from tests.test_wire_parity import EDITS, edit_case


@pytest.mark.parametrize("files,fields", [c[1:] for c in EDITS], ids=[c[0] for c in EDITS])
def test_edit_body_is_byte_identical_to_the_sdk(files, fields):
    request, theirs = edit_case(files, fields)
    boundary = boundary_of(theirs.headers["content-type"])
    ours = encode_multipart(request.fields(), edit_file_parts(request), boundary)
    assert ours == theirs.content
