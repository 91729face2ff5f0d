"""The GUI session's batch script (tests/gimp/screenshots.py, tests/test_gimp_dialogs.py): a
photo with a selection in a window, a non-interactive edit, each dialog opened INTERACTIVE
when the host asks (it creates SHOTS/go-<tag>), a whole interactive edit, then Repeat Last; then
Generate, Expand and Re-run opened for the host to change and run, and Edit Selection left to
the host's keyboard shortcut, Filters > Re-Show Last and Repeat Last."""

import json
import os
import time

from gi.repository import Gimp, Gio

if "mark" not in globals():  # the harness's prelude defines it
    from tests.gimp.scripts.lib import mark

SHOTS = os.environ["BX_SHOTS"]
DIALOGS = json.loads(os.environ["BX_DIALOGS"])


def go(tag, timeout=300):
    """Wait until the host has taken its picture (it creates SHOTS/go-<tag>)."""
    mark("ready", tag)
    end = time.time() + timeout
    while not os.path.exists(SHOTS + "/go-" + tag) and time.time() < end:
        time.sleep(0.1)


def call(name, image, drawables, mode, **props):
    proc = Gimp.get_pdb().lookup_procedure(name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", mode)
    if cfg.find_property("image") is not None:
        cfg.set_property("image", image)
    if cfg.find_property("drawables") is not None:
        cfg.set_core_object_array("drawables", list(drawables))
    for key, value in props.items():
        cfg.set_property(key.replace("_", "-"), value)
    res = proc.run(cfg)
    return int(res.index(0))


img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE,
                     Gio.File.new_for_path(os.environ["BX_DATA"] + "/" + os.environ["BX_PHOTO"]))
layer = img.get_layers()[0]
img.select_ellipse(Gimp.ChannelOps.REPLACE, 330, 250, 120, 90)
display = Gimp.Display.new(img)
Gimp.displays_flush()
go("before")
mark("edit-status", call("bianxie-edit-selection", img, [layer], Gimp.RunMode.NONINTERACTIVE,
                         prompt=os.environ["BX_PROMPT"], model="gpt-image-1", quality="low"))
edited = img.get_layers()[0]  # the edit's result layer, which Re-run runs again
Gimp.displays_flush()
go("after")
layers = img.get_layers()
picked = {"bianxie-edit-with-references": layers, "bianxie-rerun-layer": layers[:1]}
for shot, name in DIALOGS:
    go("open-" + shot)  # only once the previous dialog is gone: no keystroke can reach this one
    mark("open", shot)
    status = call(name, img, picked.get(name, layers[-1:]), Gimp.RunMode.INTERACTIVE)
    mark("status", shot + " " + str(status))
mark("dialogs-done", 1)
go("interactive-edit")  # only the dialog test asks for it: a whole edit through the dialogs
status = call("bianxie-edit-selection", img, [layer], Gimp.RunMode.INTERACTIVE,
              prompt=os.environ["BX_PROMPT"], n=2)
mark("interactive-edit", status)
mark("interactive-layers", len(img.get_layers()))
stored = []
for item in img.get_layers():
    parasite = item.get_parasite("bianxie-request")
    if parasite:
        stored.append(json.loads(bytes(parasite.get_data()).decode("utf-8"))["settings"])
mark("interactive-settings", json.dumps(stored))
mark("interactive-variants", json.dumps([[c.get_name() for c in item.get_children()]
                                         for item in img.get_layers() if item.is_group()]))
go("repeat-last")  # Filters > Repeat Last runs the procedure WITH_LAST_VALS
mark("repeat-status", call("bianxie-edit-selection", img, [layer], Gimp.RunMode.WITH_LAST_VALS))
mark("repeat-layers", len(img.get_layers()))
mark("repeat-variants", json.dumps([len(item.get_children()) for item in img.get_layers()
                                    if item.is_group()]))
go("gui-runs")  # each dialog's choices changed through its widgets by the host, then run
for name, drawables in (("bianxie-generate", [layer]), ("bianxie-expand", [layer]),
                        ("bianxie-rerun-layer", [edited])):
    mark("run-open", name)
    mark("run-status", name + " " + str(call(name, img, drawables, Gimp.RunMode.INTERACTIVE)))
mark("width", json.dumps([layer.get_width(), img.get_width()]))  # Expand: 64 on the left
img.set_selected_layers([layer])
Gimp.displays_flush()
go("menu-runs")  # the host runs Edit Selection from the menus, Re-Show Last and Repeat Last
mark("menu-layers", len(img.get_layers()))
go("end", timeout=900)  # GIMP stays up (the batch's --quit) until the host is done
