"""Choice arguments by name, from Python and from Script-Fu; wrong names and values the model
does not take are refused before anything is sent. One server per case (BX_URLS)."""

import json
import os
import warnings

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load, mark, server

URLS = json.loads(os.environ["BX_URLS"])
EDIT = "bianxie-edit-selection"


def photo():
    img = load("chelsea.png")
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 200, 120, 150, 100)
    return img


def script_fu(img, quality, fidelity, context, output_format):
    """Edit Selection from Script-Fu: every argument by position, choices by name."""
    yes, no = "1", "0"  # Script-Fu 3.0 and 3.2 take a boolean argument as a number
    code = ('(bianxie-edit-selection RUN-NONINTERACTIVE %d (vector %d) "a pear" "gpt-image-1" '
            '"auto" "%s" 1 "%s" "%s" 6 12 %s %s %s "%s" %s 96 50)'
            % (img.get_id(), img.get_layers()[0].get_id(), quality, fidelity, context,
               yes, no, yes, output_format, no))
    return call("plug-in-script-fu-eval", script=code)


def case(name, run):
    server(URLS[name])
    try:
        out = run()
    except Exception as exc:
        out = {"exception": "%s: %s" % (type(exc).__name__, exc)}
    mark("case", json.dumps([name, out]))


# what the Procedure Browser lists for each choice argument
for proc_name in (EDIT, "bianxie-generate", "bianxie-expand"):
    listed = {}
    for pspec in Gimp.get_pdb().lookup_procedure(proc_name).get_arguments():
        if isinstance(pspec, Gimp.ParamChoice):
            listed[pspec.name] = list(Gimp.param_spec_choice_get_choice(pspec).list_nicks())
    mark("choices", json.dumps([proc_name, listed]))


def python_names():
    img = photo()
    status, message = call(EDIT, img, img.get_layers()[:1], prompt="a pear", model="gpt-image-1",
                           quality="high", input_fidelity="high", context="pixels",
                           context_pixels=40, output_format="webp", stream=False)
    return {"status": status, "message": message, "layers": len(img.get_layers())}


def generate_names():
    status, message = call("bianxie-generate", prompt="a sticker", background="transparent",
                           output_format="webp", quality="low", stream=False)
    return {"status": status, "message": message}


def script_fu_names():
    img = photo()
    status, message = script_fu(img, "high", "low", "layer", "jpeg")
    return {"status": status, "message": message, "layers": len(img.get_layers())}


def script_fu_wrong():
    img = photo()
    status, message = script_fu(img, "hihg", "default", "auto", "png")
    return {"status": status, "message": message, "layers": len(img.get_layers())}


def python_wrong():
    """GObject refuses to hold a wrong name; a script that turns warnings into errors stops
    there, before anything runs."""
    img = photo()
    cfg = Gimp.get_pdb().lookup_procedure(EDIT).create_config()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            cfg.set_property("quality", "hihg")
            raised = ""
        except Exception as exc:  # the Warning itself; PyGObject 3.50 wraps it in SystemError
            raised = "%s %s" % (exc, exc.__cause__ or exc.__context__ or "")
    return {"raised": raised, "held": cfg.get_property("quality"),
            "layers": len(img.get_layers())}


def size_for_model():
    img = photo()
    status, message = call(EDIT, img, img.get_layers()[:1], prompt="a pear", model="gpt-image-1",
                           size="2048x2048")
    return {"status": status, "message": message, "layers": len(img.get_layers())}


def quality_for_model():
    """gpt-image-2.5's max, asked of gpt-image-1.5: refused before sending."""
    img = photo()
    status, message = call(EDIT, img, img.get_layers()[:1], prompt="a pear",
                           model="gpt-image-1.5", quality="max")
    return {"status": status, "message": message, "layers": len(img.get_layers())}


def max_for_its_model():
    status, message = call("bianxie-generate", prompt="a sticker", model="gpt-image-2.5",
                           quality="max", stream=False)
    return {"status": status, "message": message}


def selected_after(n):
    """What a next run (Filters > Repeat Last) would get: the selected layers after an edit
    of n images, each as (name, group?, visible?, its mask being edited?)."""
    img = photo()
    status, message = call(EDIT, img, img.get_layers()[:1], prompt="a pear",
                           model="gpt-image-1", n=n, stream=False)
    selected = [[layer.get_name(), layer.is_group(), layer.get_visible(),
                 bool(layer.get_mask() and layer.get_edit_mask())]
                for layer in img.get_selected_layers()]
    return {"status": status, "message": message, "selected": selected}


case("python-names", python_names)
case("generate-names", generate_names)
case("script-fu-names", script_fu_names)
case("script-fu-wrong", script_fu_wrong)
case("python-wrong", python_wrong)
case("size-for-model", size_for_model)
case("quality-for-model", quality_for_model)
case("max-for-its-model", max_for_its_model)
case("selected-after-one", lambda: selected_after(1))
case("selected-after-two", lambda: selected_after(2))
mark("done", 1)
