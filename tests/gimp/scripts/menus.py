"""The menu paths of every procedure (needs no library, no folders)."""

import json

from gi.repository import Gimp

if "mark" not in globals():  # the harness's prelude defines it
    from tests.gimp.scripts.lib import mark

for name in ("bianxie-edit-selection", "bianxie-edit-with-references", "bianxie-generate",
             "bianxie-settings", "bianxie-recover-results", "bianxie-rerun-layer",
             "bianxie-expand"):
    proc = Gimp.get_pdb().lookup_procedure(name)
    mark("menu", json.dumps([name, list(proc.get_menu_paths()) if proc else None]))
