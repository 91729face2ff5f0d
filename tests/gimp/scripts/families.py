"""test_gimp_families.py's run: each model in BX_MODELS (JSON) runs Edit Selection, Generate and
Edit with References against BX_URL. BX_SELECTION: the rectangle (x, y, w, h), as JSON."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, dump, load, mark, server


def names(image):
    return json.dumps([lay.get_name() for lay in image.get_layers()])


server(os.environ["BX_URL"])
selection = json.loads(os.environ["BX_SELECTION"])
for model in json.loads(os.environ["BX_MODELS"]):
    img = load("coffee.png")
    layer = img.get_layers()[0]
    dump(model + "-source", layer)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, *selection)
    status, message = call("bianxie-edit-selection", img, [layer], prompt="a red cup",
                           model=model, stream=False)
    mark(model + "-edit-status", status)
    mark(model + "-edit-message", message.replace("\n", " "))
    mark(model + "-edit-layers", names(img))
    top = img.get_layers()[0]
    dump(model + "-mask", top.get_mask(), "Y u8")
    merged = img.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
    dump(model + "-merged", merged)

    before = {image.get_id() for image in Gimp.get_images()}
    status, message = call("bianxie-generate", prompt="a lighthouse", model=model,
                           stream=False)
    mark(model + "-generate-status", status)
    mark(model + "-generate-message", message.replace("\n", " "))
    made = [image for image in Gimp.get_images() if image.get_id() not in before]
    mark(model + "-generate-images", json.dumps([json.loads(names(image)) for image in made]))

    img = load("coffee.png")
    base = img.get_layers()[0]
    ref = Gimp.Layer.new(img, "reference", 64, 48, Gimp.ImageType.RGB_IMAGE, 100.0,
                         Gimp.LayerMode.NORMAL)
    img.insert_layer(ref, None, 1)
    ref.fill(Gimp.FillType.WHITE)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, *selection)
    status, message = call("bianxie-edit-with-references", img, [base, ref],
                           prompt="put the white card on the table", model=model, stream=False)
    mark(model + "-refs-status", status)
    mark(model + "-refs-message", message.replace("\n", " "))
    mark(model + "-refs-layers", names(img))
