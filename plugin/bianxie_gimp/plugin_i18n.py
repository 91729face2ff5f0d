"""The plug-in's gettext catalogue (domain ``bianxie_gimp``, in ``locale/`` beside this file,
where GIMP also looks for it to translate menu labels)."""

import gettext
from pathlib import Path

DOMAIN = "bianxie_gimp"
_ = gettext.translation(DOMAIN, str(Path(__file__).resolve().parent / "locale"),
                        fallback=True).gettext
