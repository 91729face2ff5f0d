"""Edits over HTTPS directly and through HTTP and SOCKS proxies; the servers, proxies and CA
files are the BX_* variables."""

import json
import os

from gi.repository import Gimp

from tests.gimp.scripts.lib import call, load, mark


def settings(**values):
    status, message = call("bianxie-settings", **values)
    assert status == 3, message

def clear(*fields):
    """Empty settings: the Settings procedure only sets non-empty values."""
    path = os.path.join(os.environ["BIANXIE_HOME"], "config.json")
    with open(path) as f:
        data = json.load(f)
    for name in fields:
        data[name] = ""
    with open(path, "w") as f:
        json.dump(data, f)

def edit(tag):
    img = load("coffee.png")
    layer = img.get_layers()[0]
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 40, 40, 96, 64)
    status, message = call("bianxie-edit-selection", img, [layer], prompt="a tiny boat",
                           stream=False)
    mark(tag + "-status", status)
    mark(tag + "-layers", len(img.get_layers()))
    mark(tag + "-message", message.replace("\n", " "))

E = os.environ
settings(base_url=E["BX_REUSE"], ca_bundle=E["BX_CA"])
edit("reuse-1")
edit("reuse-2")
settings(base_url=E["BX_TLS"])
edit("tls")
settings(proxy=E["BX_HTTP"])
edit("http")
settings(proxy=E["BX_HTTP_AUTH"])
edit("http-auth")
settings(proxy=E["BX_HTTP_WRONG"])
edit("http-wrong")
settings(proxy=E["BX_SOCKS"])
edit("socks5")
settings(proxy=E["BX_SOCKS_H"], base_url=E["BX_TLS_PROXY_ONLY"])
edit("socks5h")
clear("proxy")
settings(base_url=E["BX_NOKU"], ca_bundle=E["BX_CA_NOKU"])
edit("strict")
settings(base_url=E["BX_TLS"])
clear("ca_bundle")
edit("untrusted")
