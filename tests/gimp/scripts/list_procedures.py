"""The names of the PDB procedures GIMP registered that start with "bianxie-"."""

from gi.repository import Gimp

if "mark" not in globals():  # the harness's prelude defines it
    from tests.gimp.scripts.lib import mark

for name in sorted(Gimp.get_pdb().query_procedures(".*", "", "", "", "", "", "", "")):
    if name.startswith("bianxie-"):
        mark("procedure", name)
