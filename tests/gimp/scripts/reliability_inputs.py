"""Bad input, one case each against its own server (BX_OUT/urls.json); the key is BX_KEY."""

import json
import os
import time

from gi.repository import Gegl, Gimp, Gio

from tests.gimp.scripts.lib import DATA, OUT, call, fingerprint, mark, pixels
from tests.gimp.scripts.reliability_lib import HOME, configure, edit, photo, top

URLS = json.load(open(OUT + "/urls.json"))
configure(api_key=os.environ["BX_KEY"], timeout=300.0)

def case(case_id, only32=False):
    def run(fn):
        if only32 and not hasattr(Gimp, "LinkLayer"):
            return fn
        configure(base_url=URLS[case_id], api_key=os.environ["BX_KEY"])
        try:
            out = fn() or {}
        except Exception as exc:
            out = {"exception": repr(exc)}
        mark("input", json.dumps(dict(out, id=case_id)))
        return fn
    return run

def simple(img=None, drawables=None, proc="bianxie-edit-selection", **kw):
    img = img or photo()
    drawables = drawables if drawables is not None else [img.get_layers()[0]]
    before = fingerprint(img)
    status, message = edit(img, drawables, proc, **kw)
    out = {"status": status, "message": message, "same": fingerprint(img) == before,
           "layers": len(img.get_layers()), "top": top(img)}
    img.delete()
    return out

case("empty-prompt")(lambda: simple(prompt=""))
case("prompt-32001")(lambda: simple(prompt="x" * 32001))
case("prompt-chinese")(lambda: simple(prompt="一只戴着宇航员头盔的橘猫，水彩风格"))
case("prompt-emoji")(lambda: simple(prompt="a rocket 🚀 over 海 🌊"))

@case("generate-no-image")
def _():
    count = len(Gimp.get_images())
    status, message = call("bianxie-generate", prompt="a fox", stream=False,
                           output_format="jpeg", size="1024x1024")
    return {"status": status, "message": message, "new_images": len(Gimp.get_images()) - count}

@case("edit-no-image")
def _():
    status, message = call("bianxie-edit-selection", None, [], prompt="x")
    return {"status": status, "message": message}

case("no-drawable")(lambda: simple(drawables=[]))

@case("layer-group")
def _():
    img = photo()
    group = Gimp.GroupLayer.new(img, "group")
    img.insert_layer(group, None, 0)
    return simple(img, [group])

@case("text-layer")
def _():
    img = photo("chelsea.png", (20, 20, 120, 60))
    text = Gimp.TextLayer.new(img, "Hello", Gimp.context_get_font(), 60.0, Gimp.Unit.pixel())
    img.insert_layer(text, None, 0)
    before = pixels(text)
    status, message = edit(img, [text])
    return {"status": status, "message": message, "text_same": pixels(text) == before,
            "still_text": text.is_text_layer(), "layers": len(img.get_layers())}

@case("channel")
def _():
    img = photo()
    channel = Gimp.Channel.new(img, "c", img.get_width(), img.get_height(), 50.0,
                               Gegl.Color.new("black"))
    img.insert_channel(channel, None, 0)
    return simple(img, [channel])

@case("layer-mask")
def _():
    img = photo()
    layer = img.get_layers()[0]
    layer.add_alpha()
    mask = layer.create_mask(Gimp.AddMaskType.WHITE)
    layer.add_mask(mask)
    return simple(img, [mask])

@case("link-layer", only32=True)
def _():
    img = photo()
    link = Gimp.LinkLayer.new(img, Gio.File.new_for_path(DATA + "/coffee.png"))
    img.insert_layer(link, None, 0)
    before = pixels(link)
    status, message = edit(img, [link])
    return {"status": status, "message": message, "layers": len(img.get_layers()),
            "source_same": pixels(link) == before}

@case("vector-layer", only32=True)
def _():
    img = photo()
    path = Gimp.Path.new(img, "ellipse")
    img.insert_path(path, None, 0)
    path.bezier_stroke_new_ellipse(200, 150, 120, 80, 0)
    vec = Gimp.VectorLayer.new(img, path)
    img.insert_layer(vec, None, 0)
    status, message = edit(img, [vec])
    return {"status": status, "message": message, "layers": len(img.get_layers())}

@case("indexed")
def _():
    img = photo()
    img.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16,
                        False, False, "")
    return simple(img)

@case("grayscale")
def _():
    img = photo()
    img.convert_grayscale()
    return simple(img)

@case("u16")
def _():
    img = photo()
    img.convert_precision(Gimp.Precision.U16_NON_LINEAR)
    return simple(img)

@case("f32")
def _():
    img = photo()
    img.convert_precision(Gimp.Precision.FLOAT_LINEAR)
    return simple(img)

def square(name, side):
    """A new RGB image of one ``side`` × ``side`` layer: (image, layer)."""
    img = Gimp.Image.new(side, side, Gimp.ImageBaseType.RGB)
    layer = Gimp.Layer.new(img, name, side, side, Gimp.ImageType.RGB_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    img.insert_layer(layer, None, 0)
    return img, layer

case("one-pixel")(lambda: simple(square("dot", 1)[0]))

@case("huge-layer")
def _():
    img, layer = square("huge", 20000)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 9000, 9000, 64, 48)
    t0 = time.monotonic()
    status, message = edit(img, [layer])
    out = {"status": status, "message": message, "seconds": time.monotonic() - t0,
           "top": top(img), "layers": len(img.get_layers())}
    img.delete()
    return out

@case("selection-outside")
def _():
    img = photo("chelsea.png", (300, 200, 50, 50))
    small = Gimp.Layer.new(img, "small", 100, 100, Gimp.ImageType.RGBA_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    img.insert_layer(small, None, 0)
    return simple(img, [small])

for edge, rect in (("left", (0, 100, 60, 60)), ("top", (200, 0, 60, 60)),
                   ("right", (391, 100, 60, 60)), ("bottom", (200, 240, 60, 60))):
    case("edge-" + edge)(lambda rect=rect: simple(photo("chelsea.png", rect)))

def script_fu_n(n):
    img = photo()
    code = ('(bianxie-edit-selection RUN-NONINTERACTIVE %d (vector %d) "x" "" "auto" "auto" %d '
            '"" "auto" 6 12 #t #f "jpeg" #f)' % (img.get_id(), img.get_layers()[0].get_id(), n))
    status, message = call("plug-in-script-fu-eval", script=code)
    cfg = Gimp.get_pdb().lookup_procedure("bianxie-edit-selection").create_config()
    cfg.set_property("n", n)
    out = {"status": status, "message": message, "layers": len(img.get_layers()),
           "python_n": cfg.get_property("n")}
    img.delete()
    return out

case("n-0")(lambda: script_fu_n(0))
case("n-11")(lambda: script_fu_n(11))
case("size-unknown")(lambda: simple(size="800x600"))
case("fidelity-mini")(lambda: simple(model="gpt-image-1-mini", input_fidelity="high"))

@case("transparent-jpeg")
def _():
    count = len(Gimp.get_images())
    status, message = call("bianxie-generate", prompt="a sticker", background="transparent",
                           output_format="jpeg", stream=False)
    return {"status": status, "message": message, "new_images": len(Gimp.get_images()) - count}

@case("refs-17")
def _():
    img = photo()
    base, refs = img.get_layers()[0], []
    for i in range(16):
        ref = Gimp.Layer.new(img, "ref %d" % i, 32, 32, Gimp.ImageType.RGBA_IMAGE, 100.0,
                             Gimp.LayerMode.NORMAL)
        img.insert_layer(ref, None, 1)
        refs.append(ref)
    return simple(img, [base] + refs, "bianxie-edit-with-references")

@case("huge-reference")
def _():
    img = photo()
    base = img.get_layers()[0]
    ref = Gimp.Layer.new(img, "huge ref", 6000, 4000, Gimp.ImageType.RGB_IMAGE, 100.0,
                         Gimp.LayerMode.NORMAL)
    img.insert_layer(ref, None, 1)
    ref.fill(Gimp.FillType.WHITE)
    return simple(img, [base, ref], "bianxie-edit-with-references")

@case("corrupt-config")
def _():
    with open(HOME + "/config.json", "w") as f:
        f.write('{"api_key": "' + os.environ["BX_KEY"] + '", broken')
    out = simple()
    configure()
    return out

@case("history-unwritable")
def _():
    history = HOME + "/history"
    os.makedirs(history, exist_ok=True)
    os.rename(history, history + ".away")
    open(history, "w").close()  # root ignores permissions: a file where the folder should be
    try:
        return simple()
    finally:
        os.unlink(history)
        os.rename(history + ".away", history)

def settings_then_edit(url):
    status, message = call("bianxie-settings", base_url=url)
    saved = json.load(open(HOME + "/config.json"))["base_url"]
    out = simple()
    out.update(settings=[status, message], saved=saved)
    return out

case("base-url-no-v1")(lambda: settings_then_edit(URLS["base-url-no-v1"][:-3]))
case("base-url-slash")(lambda: settings_then_edit(URLS["base-url-slash"] + "/"))

@case("base-url-http")
def _():
    status, message = call("bianxie-settings", base_url="http://api.example.com/v1")
    saved = json.load(open(HOME + "/config.json"))["base_url"]
    return {"status": status, "message": message, "saved": saved}

@case("key-newline")
def _():
    configure(api_key=os.environ["BX_KEY"] + "\n")
    return simple()

@case("key-space")
def _():
    configure(api_key="sk-abc def0123456789")
    return simple()

configure(base_url=URLS["final"], api_key=os.environ["BX_KEY"])
status, message = call("bianxie-settings", timeout=300.0)  # the plug-in writes config.json last
mark("final-settings", status)
