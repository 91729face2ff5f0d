"""``bianxie inpaint`` and EditSettings: the selection pipeline end to end on the fake server."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bianxie_core import edit_settings, errors, models, placement
from bianxie_core.upload import Upload
from bianxie_core.history import History
from tests.test_client import DATA, KEY, assert_no_key, assert_plain, opened, run_cli  # noqa: F401

def test_inpaint_cli_edits_only_the_selection(srv, photo_and_selection, tmp_path, capsys):
    photo, selection = photo_and_selection
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "一只红色的杯子", "-m", "gpt-image-1", "-q", "low",
                              "--no-color-match", "-o", str(tmp_path / "out.png"), "--quiet"],
                             capsys)
    assert code == 0, err
    result = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert result.shape == original.shape
    assert np.array_equal(result[:100], original[:100])  # far from the selection: untouched
    assert tuple(result[200, 300]) == (255, 0, 255)  # the fake paints the masked area magenta
    rec = srv.requests[0]
    parts = {f.field: f for f in rec.files}
    assert set(parts) == {"image", "mask"} and rec.field("prompt") == "一只红色的杯子"
    image, mask = opened(parts["image"].data), opened(parts["mask"].data)
    assert image.size == mask.size and mask.mode == "RGBA"
    assert rec.field("size") == "1024x1024"  # the crop goes at its own size (228 px square)
    assert image.size == (228, 228)
    (entry,) = History(tmp_path / "home" / "history").entries()
    assert entry.image_path.read_bytes() == srv.responses[0]
    assert entry.imported and entry.meta["tool"] == "inpaint"


def test_history_keeps_the_image_when_placing_it_fails(srv1, photo_and_selection, tmp_path,
                                                      capsys, monkeypatch):
    real = placement.decode_result
    monkeypatch.setattr(placement, "decode_result", lambda data: real(data[:64]))  # unreadable
    photo, selection = photo_and_selection
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(selection),
                              "-p", "a red cup", "-m", "gpt-image-1", "-q", "low",
                              "-o", str(tmp_path / "out.png"), "--quiet"], capsys)
    assert code == 1 and not (tmp_path / "out.png").exists()
    assert_plain(err)
    (entry,) = History(tmp_path / "home" / "history").entries()
    assert entry.image_path.read_bytes() == srv1.responses[0]
    assert not entry.imported  # Recover Results can bring it back


def test_selection_of_another_size_is_refused(srv1, photo_and_selection, tmp_path, capsys):
    photo, _ = photo_and_selection
    small = tmp_path / "small.png"
    Image.new("L", (10, 10), 255).save(small)
    code, out, err = run_cli(["inpaint", "--image", str(photo), "--selection", str(small),
                              "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2 and "same size" in err and srv1.requests == []


UPLOAD = Upload(b"\x89PNG\r\n\x1a\nimage", "image.png", "image/png",
                       b"\x89PNG\r\n\x1a\nmask", "1024x1024")


@pytest.mark.parametrize("settings,expected", [
    (edit_settings.EditSettings(prompt="x", model="gpt-image-1"),
     {"prompt": "x", "model": "gpt-image-1", "size": "1024x1024", "stream": True,
      "partial_images": 1}),
    (edit_settings.EditSettings(prompt="x", model="gpt-image-1-mini", input_fidelity="high",
                          stream=False, n=2, quality="high", output_format="webp"),
     {"prompt": "x", "model": "gpt-image-1-mini", "size": "1024x1024", "n": 2,
      "quality": "high", "output_format": "webp"}),
    (edit_settings.EditSettings(prompt="", remove=True, stream=False, input_fidelity="high"),
     {"prompt": edit_settings.REMOVE_PROMPT, "model": models.DEFAULT_MODEL, "size": "1024x1024",
      "input_fidelity": "high"}),
], ids=["defaults", "mini-drops-fidelity", "remove"])
def test_edit_settings_request(settings, expected):
    request = settings.request(UPLOAD, models.get_model(settings.model))
    assert request.fields() == expected
    assert [i.name for i in request.images] == ["image.png"]
    assert request.mask.name == "mask.png" and request.mask.content_type == "image/png"


def test_decode_failure_is_a_response_error():
    with pytest.raises(errors.ResponseError) as info:
        placement.decode_result(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    assert_plain(str(info.value))
    assert_no_key(str(info.value))


@pytest.mark.parametrize("args,size,origin,in_margin", [
    (["--left", "100", "--right", "60"], (760, 400), (100, 0), (200, 5)),
    (["--aspect", "1:1"], (600, 600), (0, 100), (5, 300)),
], ids=["margins", "aspect"])
def test_expand_cli_fills_the_new_area(args, size, origin, in_margin, srv, photo_and_selection,
                                       tmp_path, capsys):
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), *args, "-m", "gpt-image-1",
                              "-q", "low", "-o", str(tmp_path / "wide.png"), "--quiet"], capsys)
    assert code == 0, err
    result = np.asarray(Image.open(tmp_path / "wide.png").convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert (result.shape[1], result.shape[0]) == size
    ox, oy = origin
    # the model's fill in the new margin, not stretched edge pixels
    assert np.abs(result[in_margin].astype(int) - (255, 0, 255)).max() <= 12
    # the old picture, away from the seam, exactly as it was
    assert np.array_equal(result[oy + 50:oy + 350, ox + 50:ox + 550],
                          original[50:350, 50:550])
    rec = srv.requests[0]
    assert rec.field("prompt") == edit_settings.EXPAND_PROMPT


def test_expand_cli_refuses_margins_and_aspect_together(srv, photo_and_selection, tmp_path,
                                                        capsys):
    photo, _selection = photo_and_selection
    code, out, err = run_cli(["expand", "--image", str(photo), "--left", "10", "--aspect",
                              "16:9", "-o", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "not both" in err and srv.requests == []


def test_generate_request_sends_only_what_differs_from_the_defaults():
    plain = edit_settings.EditSettings(prompt="a fox", stream=False).generate_request()
    assert plain.fields() == {"prompt": "a fox", "model": models.DEFAULT_MODEL}
    full = edit_settings.EditSettings(prompt="a fox", model="gpt-image-1", n=2, size="1024x1536",
                                quality="high", output_format="webp", stream=True,
                                partial_images=2).generate_request("transparent")
    assert full.fields() == {
        "prompt": "a fox", "model": "gpt-image-1", "n": 2, "size": "1024x1536",
        "quality": "high", "background": "transparent", "output_format": "webp",
        "stream": True, "partial_images": 2}
    full.validate(models.get_model("gpt-image-1"))


def test_estimate_of_edit_settings_follows_what_changes_the_price():
    spec = models.get_model("gpt-image-1")
    one = edit_settings.EditSettings(model="gpt-image-1", size="1536x1024", quality="high",
                               prompt="a boat")
    base = one.estimate(spec)
    assert base.input_tokens > 0 and base.output_tokens > 0
    assert one.estimate(spec, edit=False).input_tokens < base.input_tokens  # no input image
    four = edit_settings.EditSettings(**dict(one.__dict__, n=4)).estimate(spec)
    assert four.output_tokens == 4 * base.output_tokens
    low = edit_settings.EditSettings(**dict(one.__dict__, quality="low")).estimate(spec)
    assert low.price < base.price
    high = edit_settings.EditSettings(**dict(one.__dict__, input_fidelity="high")).estimate(spec)
    assert high.input_tokens > base.input_tokens
    with pytest.raises(errors.UsageError):
        edit_settings.EditSettings(model="gpt-image-1", size="999x999").estimate(spec)


def test_estimate_counts_the_built_in_remove_prompt():
    spec = models.get_model("gpt-image-1")
    plain = edit_settings.EditSettings(model="gpt-image-1", prompt="")
    removing = edit_settings.EditSettings(model="gpt-image-1", prompt="", remove=True)
    assert removing.estimate(spec).input_tokens > plain.estimate(spec).input_tokens


def test_stored_settings_round_trip_and_ignore_what_this_version_does_not_know():
    settings = edit_settings.EditSettings(prompt="a boat", model="gpt-image-2", size="2048x1152",
                                    n=3, grow=4, remove=True)
    data = settings.stored()
    assert data["grow"] == 4 and data["remove"] is True
    back = edit_settings.EditSettings.from_stored(dict(data, background="opaque", references=[1]))
    assert back.stored() == data and back == settings


def test_settings_stored_by_older_versions_are_read_as_sent():
    """Older versions kept a free size as typed ("1536X1024"); Re-run must still take it."""
    from bianxie_core.edit_settings import EditSettings
    from bianxie_core.models import get_model

    settings = EditSettings.from_stored({"size": " 1536X1024", "model": "gpt-image-2"})
    assert settings.size == "1536x1024"
    settings.estimate(get_model("gpt-image-2"))
    settings.region_options(get_model("gpt-image-2"))
