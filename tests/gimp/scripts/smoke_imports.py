"""In the root's own python3 (not GIMP): the plug-in's dependencies import from the folders
install.py filled. argv[1]: JSON [vendor folder, plug-in folder]."""

import json
import sys

sys.path[:0] = json.loads(sys.argv[1])

import numpy  # noqa: E402
import PIL  # noqa: E402
import requests  # noqa: E402

import bianxie_core  # noqa: E402

for m in (numpy, PIL, requests, bianxie_core):
    print("MARK", m.__name__, m.__file__)
print("MARK python", "%d.%d" % sys.version_info[:2])
