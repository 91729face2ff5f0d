"""The dialogs' estimate against the core's, and Re-run's stored request.
BX_PLUGIN and BX_VENDOR are the plug-in's folders inside the root."""

import json
import os
import sys

from gi.repository import Gimp

from tests.gimp.scripts.lib import mark

sys.path[:0] = [os.environ["BX_PLUGIN"], os.environ["BX_VENDOR"]]
import dialogs  # noqa: E402

from bianxie_core import config as cfgmod, edit_settings, models  # noqa: E402
from bianxie_core.service import requests_for  # noqa: E402

cfg = cfgmod.load()
pdb = Gimp.get_pdb()
stored = edit_settings.EditSettings(model="gpt-image-1", size="1536x1024", quality="high", n=2,
                              prompt="a boat")

def core(settings, edit=True):  # n > 1 streamed goes out as n single requests
    spec = models.get_model(settings.model, cfg.models)
    return settings.estimate(spec, edit=edit, prices=cfg.prices, currency=cfg.currency,
                             requests=requests_for(cfg, settings.n, settings.stream)).price

rerun = pdb.lookup_procedure("bianxie-rerun-layer").create_config()
mark("rerun-stored", json.dumps([dialogs.estimate_for(rerun, cfg, (stored, True)).price,
                                 core(stored)]))
mark("rerun-plain", json.dumps(dialogs.estimate_for(rerun, cfg).price))
rerun.set_property("model", "gpt-image-1-mini")
mini = edit_settings.EditSettings(**dict(stored.__dict__, model="gpt-image-1-mini"))
mark("rerun-mini", json.dumps([dialogs.estimate_for(rerun, cfg, (stored, True)).price,
                               core(mini)]))
mark("rerun-generate", json.dumps([dialogs.estimate_for(rerun, cfg, (stored, False)).price,
                                   core(mini, edit=False)]))

edit = pdb.lookup_procedure("bianxie-edit-selection").create_config()
for name, value in (("model", "gpt-image-1"), ("size", "1024x1536"), ("quality", "low"),
                    ("n", 3), ("prompt", "a red apple")):
    edit.set_property(name, value)
chosen = edit_settings.EditSettings(model="gpt-image-1", size="1024x1536", quality="low", n=3,
                              prompt="a red apple")
mark("edit", json.dumps([dialogs.estimate_for(edit, cfg).price, core(chosen)]))
edit.set_property("remove", True)
chosen.remove = True
mark("remove", json.dumps([dialogs.estimate_for(edit, cfg).input_tokens,
                           chosen.estimate(models.get_model("gpt-image-1"), requests=requests_for(
                               cfg, chosen.n, chosen.stream)).input_tokens]))

# the quality drop-down following the model, on GIMP's own config and Gimp.Choice
follow = pdb.lookup_procedure("bianxie-edit-selection").create_config()
follow.set_property("model", "gpt-image-2.5")
follow.set_property("quality", "max")
dialogs.quality_follows_model(follow)
choice = Gimp.param_spec_choice_get_choice(follow.find_property("quality"))
seen = []
for typed in ("gpt-image-2.", "gpt-image-2.6", "gpt-image-1.5", "gemini-2.5-flash-image",
              "gpt-image-2.5"):
    follow.set_property("model", typed)
    seen.append([typed, follow.get_property("quality"),
                 [nick for nick in choice.list_nicks() if choice.is_valid(nick)]])
mark("follows", json.dumps(seen))
