#!/usr/bin/env python3
"""Screenshots of the plug-in in real GIMP under Xvfb, in English and in Chinese.

    sudo .venv/bin/python tests/gimp/screenshots.py [--suite trixie|forky]
        [--out docs/screenshots] [--lang en zh_CN]

As root on a Debian machine it provisions the GUI variant of the GIMP root itself (a copy of
the test root plus Xvfb, openbox, ImageMagick, xdotool and the Noto CJK fonts; cached), then,
per language: a fresh user, ``install.py`` as a user would run it, Xvfb + openbox, and GIMP
(the GUI, not gimp-console) with a batch script that opens a photo with a selection in a
window, edits the selection against the fake server on 127.0.0.1 (before/after shots of the
canvas), and opens each dialog through the PDB in INTERACTIVE mode. Each dialog is captured
with ImageMagick ``import`` (window frame included) and closed with Escape. PNGs go to
``docs/screenshots/<lang>/`` and are quantized to stay small.

``tests/test_gimp_dialogs.py`` uses the same machinery to prove the interactive paths work.
"""

from __future__ import annotations

import argparse
import gettext
import json
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.gimp import provision  # noqa: E402
from tests.gimp.batch import script  # noqa: E402
from tests.gimp.dialog_runs import shortcuts  # noqa: E402
from tests.gimp.desktop import (  # noqa: E402
    SHOTS_IN_ROOT, WAIT_WINDOW, Desktop, plain_title)
from tests.gimp.fixtures import GimpEnv, copy_source  # noqa: E402
from tests.gimp.harness import Background, GimpRoot, parse_marks  # noqa: E402

KEY = "sk-SHOTS-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PHOTO = "coffee.png"
PROMPT = {"en": "a red apple on the saucer", "zh_CN": "碟子上放一个红苹果"}
SECOND_LINE = {"en": "soft morning light", "zh_CN": "soft morning light"}  # xdotool types ASCII
FILL = (200, 40, 40)
LOCALES = {"en": "en_US.UTF-8", "zh_CN": "zh_CN.UTF-8"}  # generated in the GUI roots
MAX_BYTES = 300 * 1024
CONFIRM_ABOVE = 0.01  # USD: an edit's estimate is above it, so OK asks first
CONFIRM_AFTER = "edit-selection"  # the dialog whose OK is pressed to show the confirmation
CONFIRM_TITLE = "Cost above your limit"
VARIANTS_TITLE = "Keep Variants"
HELP_TITLE = "Help: {title}"


class Dialog(NamedTuple):
    shot: str  # file stem
    procedure: str
    title: str  # the window title in English (msgid of the title)


DIALOGS = (
    Dialog("edit-selection", "bianxie-edit-selection", "_Edit Selection…"),
    Dialog("edit-with-references", "bianxie-edit-with-references",
           "Edit with _Reference Layers…"),
    Dialog("generate", "bianxie-generate", "_Generate Image…"),
    Dialog("expand", "bianxie-expand", "AI _Expand Canvas…"),
    Dialog("rerun", "bianxie-rerun-layer", "Re-_run on This Layer…"),
    Dialog("settings", "bianxie-settings", "便携AI Settings"),
    Dialog("recover", "bianxie-recover-results", "Recover Results"),
)

BATCH = script("gui_session", lib=False)


def translated_titles(lang: str) -> Dict[str, str]:
    """shot -> the plain window title the plug-in shows in ``lang``."""
    domain = gettext.translation("bianxie_gimp", str(REPO / "plugin/bianxie_gimp/locale"),
                                 languages=[lang], fallback=True)
    titles = {d.shot: plain_title(domain.gettext(d.title)) for d in DIALOGS}
    titles["confirm-cost"] = plain_title(domain.gettext(CONFIRM_TITLE))
    titles["keep-variants"] = plain_title(domain.gettext(VARIANTS_TITLE))
    titles["help"] = domain.gettext(HELP_TITLE).format(title=titles[CONFIRM_AFTER])
    return titles


# -- one GIMP session -----------------------------------------------------------------------


def gui_root(suite: str) -> GimpRoot:
    info = provision.provision_gui(suite)
    return GimpRoot.from_info(info)


def gimp_binary(root: GimpRoot) -> str:
    return json.loads(root.host_path("/.bianxie-stamp.json").read_text())["gimp"]


def new_user(root: GimpRoot, base_url: str, lang: str) -> Tuple[GimpEnv, Dict[str, str]]:
    """A fresh HOME with the plug-in installed, the welcome dialog already seen, the config
    pointing at ``base_url``, one pending history entry, a few remembered prompts and a
    keyboard shortcut for Edit Selection."""
    from bianxie_core import config as configmod
    from bianxie_core import history, prompts

    home = f"/tmp/bx-shot-{uuid.uuid4().hex[:8]}"
    root.host_path(home).mkdir(parents=True)
    env = GimpEnv(root, home, None)
    env.install = env.install_py()
    if env.install.returncode != 0:
        raise RuntimeError(f"install.py failed\n{env.install.stdout}\n{env.install.stderr}")
    bx_home = f"{home}/bianxie"
    host_home = root.host_path(bx_home)
    host_home.mkdir(parents=True)
    configmod.save(configmod.Config(base_url=base_url, api_key=KEY, currency="USD",
                                    cost_confirm_above=CONFIRM_ABOVE), host_home / "config.json")
    photo = (REPO / "tests/data/chelsea.png").read_bytes()
    history.History(host_home / "history").record(photo, {
        "prompt": PROMPT[lang], "model": "gpt-image-1", "procedure": "bianxie-generate"})
    for text in ("a cat wearing a tiny hat", PROMPT[lang]):
        prompts.remember("bianxie-edit-selection", text, path=host_home / "prompts.json",
                         secrets=[KEY])
    gimp_env = {"BIANXIE_HOME": bx_home, "LANGUAGE": lang, "LANG": LOCALES[lang],
                "NO_AT_BRIDGE": "1",
                # GTK on forky loads icons through glycin, whose bwrap sandbox cannot start in
                # a chroot without /proc: GIMP 3.2 would abort on its first icon.
                "GLYCIN_DISABLE_SANDBOX": "1"}
    first = env.run([root.gimp_console, "-i", "-n", "--quit"], env=gimp_env, timeout=180)
    if first.returncode != 0:
        raise RuntimeError(f"first gimp-console run failed\n{first.stderr}")
    shortcuts(root.host_path(env.profile))
    return env, gimp_env


class Session(NamedTuple):
    gimp: Background
    desktop: Desktop

    def marks(self) -> List[Tuple[str, str]]:
        return parse_marks(self.gimp.stdout)

    def wait_mark(self, name: str, value: str = "", timeout: float = WAIT_WINDOW) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(n == name and (not value or v == value) for n, v in self.marks()):
                return True
            if self.gimp.proc.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def go(self, tag: str) -> None:
        self.gimp.root.host_path(f"{SHOTS_IN_ROOT}/go-{tag}").touch()


def start_gimp(env: GimpEnv, desktop: Desktop, gimp_env: Dict[str, str],
               dialogs=DIALOGS) -> Session:
    root = env.root
    shots = root.host_path(SHOTS_IN_ROOT)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    data = root.host_path("/tmp/bx-data")
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "tests/data" / PHOTO, data / PHOTO)
    script = root.write_script(BATCH)
    lang = gimp_env.get("LANGUAGE", "en")
    run_env = dict(gimp_env, BX_SHOTS=SHOTS_IN_ROOT, BX_DATA="/tmp/bx-data", BX_PHOTO=PHOTO,
                   BX_PROMPT=PROMPT.get(lang, PROMPT["en"]),
                   BX_DIALOGS=json.dumps([[d.shot, d.procedure] for d in dialogs]),
                   DISPLAY=desktop.display)
    argv = [gimp_binary(root), "-n", "-s", "--batch-interpreter=python-fu-eval",
            "-b", f"exec(open({script!r}).read())", "--quit"]
    return Session(env.start(argv, env=run_env), desktop)


IMAGE_WINDOW = re.compile(r"GIMP$|^GNU Image Manipulation Program$")


def visible_windows(desktop: Desktop) -> List[Tuple[str, str]]:
    ids = desktop.x("xdotool", "search", "--onlyvisible", "--name", ".").stdout.split()
    named = []
    for wid in ids:
        name = desktop.x("xdotool", "getwindowname", wid).stdout.strip()
        if name:
            named.append((hex(int(wid)), name))
    return named


def tidy_canvas(desktop: Desktop) -> None:
    """Close GIMP's Welcome and message dialogs, fill the screen with the image window and
    fit the image in it; the pointer goes to a corner (no tooltips)."""
    desktop.x("xdotool", "mousemove", "1279", "799")
    for wid, name in visible_windows(desktop):
        if not IMAGE_WINDOW.search(name):
            desktop.close(wid, timeout=5)
    for wid, name in visible_windows(desktop):
        if IMAGE_WINDOW.search(name):
            desktop.x("xdotool", "windowsize", wid, "100%", "100%")
            desktop.x("xdotool", "windowmove", wid, "0", "0")
            desktop.x("xdotool", "windowactivate", "--sync", wid)
            desktop.x("xdotool", "key", "--clearmodifiers", "shift+ctrl+j")


def press_ok(desktop: Desktop, window: str) -> None:
    """OK in a GimpProcedureDialog: Return, else a click on the button (bottom right)."""
    desktop.x("xdotool", "windowactivate", "--sync", window)
    desktop.x("xdotool", "key", "--clearmodifiers", "Return")
    time.sleep(1.0)
    if window in [w for w, _n in desktop.windows()]:
        geometry = desktop.x("xdotool", "getwindowgeometry", "--shell", window).stdout
        size = dict(line.split("=", 1) for line in geometry.split() if "=" in line)
        desktop.x("xdotool", "mousemove", "--window", window, str(int(size["WIDTH"]) - 60),
                  str(int(size["HEIGHT"]) - 40), "click", "1")


def walk_dialogs(session: Session, titles: Dict[str, str], out: Optional[Path],
                 log=print) -> List[Path]:
    """Wait for each dialog the batch opens, capture it into ``out`` (when given), close it.
    After CONFIRM_AFTER's OK the cost confirmation must appear; it is captured and cancelled.
    Raises AssertionError naming the window that did not appear or close."""
    desktop = session.desktop
    written: List[Path] = []

    def shoot(shot: str, wid: str) -> None:
        desktop.x("xdotool", "mousemove", "1279", "799")
        time.sleep(2.0)  # drawn, and no tooltip under the pointer
        if out is not None:
            written.append(desktop.capture(out / f"{shot}.png", wid))
            log(str(written[-1]))

    for dialog in DIALOGS:
        session.go("open-" + dialog.shot)
        wid = desktop.wait_window(titles[dialog.shot],
                                  alive=lambda: session.gimp.proc.poll() is None)
        if wid is None:
            raise AssertionError(f"no window {titles[dialog.shot]!r}; windows: "
                                 f"{desktop.windows()}\n{session.gimp.stderr[-3000:]}")
        if dialog.shot == "settings":  # its result is in the picture, and in the log
            desktop.x("xdotool", "windowactivate", "--sync", wid)
            desktop.x("xdotool", "key", "--clearmodifiers", "alt+t")
            time.sleep(3.0)
        shoot(dialog.shot, wid)
        if dialog.shot == CONFIRM_AFTER:  # Help shows the README's words for it
            desktop.x("xdotool", "windowactivate", "--sync", wid)
            desktop.x("xdotool", "key", "--clearmodifiers", "alt+h")
            helper = desktop.wait_window(titles["help"], timeout=30)
            if helper is None:
                raise AssertionError(f"no help window; windows: {desktop.windows()}\n"
                                     f"{session.gimp.stderr[-3000:]}")
            shoot("help", helper)
            if not desktop.close(helper):
                raise AssertionError("the help window did not close")
        if dialog.shot == CONFIRM_AFTER:
            press_ok(desktop, wid)
            confirm = desktop.wait_window(titles["confirm-cost"], timeout=30)
            if confirm is None:
                raise AssertionError(f"no cost confirmation; windows: {desktop.windows()}\n"
                                     f"{session.gimp.stderr[-3000:]}")
            shoot("confirm-cost", confirm)
            wid = confirm
        if not desktop.close(wid):
            raise AssertionError(f"window {titles[dialog.shot]!r} did not close")
    return written


def interactive_edit(session: Session, titles: Dict[str, str], typed: str,
                     shoot: Optional[Callable[[str, str], None]] = None) -> None:
    """The user's whole path: Edit Selection… → each choice changed with the keyboard (its
    mnemonic, then End in the drop-down) → ``typed`` added in the prompt box → Ctrl+Enter →
    "run anyway" → preview → the variant chooser keeps the second → a new layer group.
    ``shoot(shot, window)`` captures the dialog and the chooser on the way."""
    desktop = session.desktop
    session.go("interactive-edit")
    dialog = desktop.wait_window(titles["edit-selection"])
    assert dialog, f"no Edit Selection dialog; windows: {desktop.windows()}"
    desktop.x("xdotool", "windowactivate", "--sync", dialog)
    for mnemonic in ("alt+q", "alt+i", "alt+t", "alt+u"):
        # End in each drop-down picks its last choice the model takes: quality high (the
        # default gpt-image-1.5 greys out xhigh and max), input fidelity high, context whole
        # layer, output format webp (GIMP 3.2 moves two items per Down key; the mnemonics are
        # the same in English and Chinese)
        desktop.x("xdotool", "key", "--clearmodifiers", mnemonic, "End")
        time.sleep(0.3)
    desktop.x("xdotool", "key", "--clearmodifiers", "alt+p", "ctrl+End", "Return")
    desktop.x("xdotool", "type", "--clearmodifiers", typed.lstrip("\n"))
    if shoot:
        shoot("edit-selection", dialog)
    desktop.x("xdotool", "windowactivate", "--sync", dialog)
    desktop.x("xdotool", "key", "--clearmodifiers", "ctrl+Return")
    confirm = desktop.wait_window(titles["confirm-cost"], timeout=30)
    assert confirm, f"no cost confirmation; windows: {desktop.windows()}"
    desktop.x("xdotool", "windowactivate", "--sync", confirm)
    desktop.x("xdotool", "key", "--clearmodifiers", "alt+r")
    chooser = desktop.wait_window(titles["keep-variants"], timeout=120)
    assert chooser, f"no variant chooser; windows: {desktop.windows()}"
    if shoot:
        shoot("keep-variants", chooser)
    desktop.x("xdotool", "windowactivate", "--sync", chooser)
    desktop.x("xdotool", "key", "--clearmodifiers", "alt+1", "alt+2", "alt+k")
    # "interactive-layers" is the script's last mark of the edit: once seen, so is every other
    assert session.wait_mark("interactive-layers", timeout=120), (
        f"the interactive edit never finished; windows: {desktop.windows()}\n"
        f"{session.gimp.stderr[-3000:]}")


def run_language(root: GimpRoot, lang: str, out: Path, log=print) -> List[Path]:
    from tests.fakeapi import FakeServer

    titles = translated_titles(lang)
    written: List[Path] = []
    with FakeServer(key=KEY) as server, Desktop(root) as desktop:
        server.fill_color = FILL
        env, gimp_env = new_user(root, server.base_url, lang)
        session = start_gimp(env, desktop, gimp_env)
        try:
            for tag in ("before", "after"):
                if not session.wait_mark("ready", tag, timeout=180):
                    raise RuntimeError(f"GIMP never got to '{tag}'\n{session.gimp.stdout}\n"
                                       f"{session.gimp.stderr}")
                time.sleep(2.0)  # GIMP's message about the usage comes a moment later
                tidy_canvas(desktop)
                time.sleep(2.0)  # let the canvas render
                written.append(desktop.capture(out / lang / f"canvas-{tag}.png"))
                log(f"{lang}: {written[-1]}")
                session.go(tag)
            written += walk_dialogs(session, titles, out / lang, log=log)
            session.wait_mark("dialogs-done", timeout=60)

            def shoot(shot: str, wid: str) -> None:
                for other, name in visible_windows(desktop):  # GIMP's message on the usage
                    if "GIMP" in name and not IMAGE_WINDOW.search(name) and other != wid:
                        desktop.close(other, timeout=5)
                desktop.x("xdotool", "mousemove", "1279", "799")
                desktop.x("xdotool", "windowactivate", "--sync", wid)  # drawn in full
                time.sleep(3.0)
                written.append(desktop.capture(out / lang / f"{shot}.png", wid))
                log(f"{lang}: {written[-1]}")

            interactive_edit(session, titles, "\n" + SECOND_LINE[lang], shoot)
        finally:
            session.gimp.kill()
            shutil.rmtree(root.host_path(env.home), ignore_errors=True)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 tests/gimp/screenshots.py",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="trixie", choices=sorted(provision.SPECS))
    parser.add_argument("--out", default=str(REPO / "docs/screenshots"))
    parser.add_argument("--lang", nargs="+", default=list(LOCALES), choices=list(LOCALES))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("screenshots: needs root (the GIMP roots run with chroot)", file=sys.stderr)
        return 1
    root = gui_root(args.suite)
    print(f"{root.label} in {root.path}")
    copy_source(root)
    out = Path(args.out)
    for lang in args.lang:
        for path in run_language(root, lang, out):
            if path.stat().st_size > MAX_BYTES:
                print(f"warning: {path} is {path.stat().st_size // 1024} KB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
