"""The GUI test's runs through the dialogs' widgets (tests/test_gimp_dialogs.py), after the
interactive edit of tests/gimp/screenshots.py: Generate, Expand and Re-run each get their
choices changed with the keyboard and run; then Edit Selection runs from its keyboard shortcut
(a menu action, so GIMP's filter history has it), Filters > Re-Show Last opens it again with
those values and Filters > Repeat Last runs it again without a dialog.

A drop-down gets its last choice with End (greyed-out choices, those the model does not take,
are skipped: the dialog's quality follows the model) and its first with Up pressed more often
than it has choices: in GIMP 3.2 a Down key moves two items and Home left the choice as it was.
Every mnemonic is the same in English and in Chinese."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, Optional

from tests.gimp.desktop import plain_title

SHORTCUT = "ctrl+shift+alt+e"  # Edit Selection's, in the user's shortcutsrc (shortcuts())
RESHOW, REPEAT = "ctrl+shift+f", "ctrl+f"  # GIMP's own: Filters > Re-Show Last, Repeat Last
GENERATED = {"prompt": "a lighthouse at dusk", "model": "gpt-image-2.5", "size": "1536x1024"}
RERUN = {"prompt": "a green pear", "model": "gpt-image-1.5"}
MARGIN = "64"


def shortcuts(config_dir: Path) -> None:
    """Give Edit Selection a shortcut, as a user would in Edit > Keyboard Shortcuts."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "shortcutsrc").write_text(
        '(file-version 1)\n(action "bianxie-edit-selection" "<Primary><Shift><Alt>e")\n')


def keys(session, *names: str) -> None:
    session.desktop.x("xdotool", "key", "--clearmodifiers", *names)
    time.sleep(0.3)


def pick(session, mnemonic: str, key: str) -> None:
    """"Home": a drop-down's first choice; "End": its last one the model takes."""
    keys(session, mnemonic, *(("Up",) * 5 if key == "Home" else (key,)))


def type_in(session, mnemonic: str, text: str) -> None:
    """Replace an entry's (or the prompt box's) text; Tab leaves it."""
    keys(session, mnemonic, "ctrl+a")
    session.desktop.x("xdotool", "type", "--clearmodifiers", text)
    keys(session, "Tab")


def run(session, window: str) -> None:
    """Ctrl+Enter in the prompt box: OK."""
    session.desktop.x("xdotool", "windowactivate", "--sync", window)
    keys(session, "alt+p", "ctrl+Return")


def see_through(session, titles: Dict[str, str], done: Callable[[], bool],
                never: Optional[str] = None, timeout: float = 120.0) -> None:
    """Answer each cost confirmation with "run anyway" until ``done()``. A window titled
    ``never`` showing up fails."""
    desktop = session.desktop
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline and session.gimp.proc.poll() is None, (
            f"the run never finished; windows: {desktop.windows()}\n"
            f"{session.gimp.stderr[-3000:]}")
        for wid, name in desktop.windows():
            assert plain_title(name) != never, f"{never!r} showed up"
            if plain_title(name) == titles["confirm-cost"]:
                desktop.x("xdotool", "windowactivate", "--sync", wid)
                keys(session, "alt+r")
        time.sleep(0.5)


def plugin_gone(home: str, timeout: float = 60.0) -> None:
    """Wait until no plug-in process of this user (HOME ``home`` in the root) runs: GIMP 3.2
    drops Filters > Re-Show Last pressed while the last run's process is still ending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes()
            except OSError:
                continue
            if b"bianxie_gimp.py" in text and home.encode() in text:
                running = True
                break
        if not running:
            return
        time.sleep(0.3)
    raise AssertionError("the plug-in never ended")


def open_window(session, title: str) -> str:
    wid = session.desktop.wait_window(title, alive=lambda: session.gimp.proc.poll() is None)
    assert wid, f"no window {title!r}; windows: {session.desktop.windows()}\n" \
                f"{session.gimp.stderr[-3000:]}"
    session.desktop.x("xdotool", "windowactivate", "--sync", wid)
    return wid


def dialog_runs(session, titles: Dict[str, str]) -> None:
    """Generate, Expand and Re-run, each changed through its widgets and run (the batch script
    opens them one after the other and marks each one's status)."""
    session.go("gui-runs")

    def finished(name: str) -> Callable[[], bool]:
        return lambda: any(n == "run-status" and v.startswith(name + " ")
                           for n, v in session.marks())

    window = open_window(session, titles["generate"])
    type_in(session, "alt+d", GENERATED["model"])  # gpt-image-2.5 takes xhigh and max
    pick(session, "alt+q", "End")  # max
    pick(session, "alt+b", "End")  # opaque
    pick(session, "alt+u", "End")  # webp
    type_in(session, "alt+z", GENERATED["size"])
    type_in(session, "alt+p", GENERATED["prompt"])
    run(session, window)
    see_through(session, titles, finished("bianxie-generate"))

    window = open_window(session, titles["expand"])
    type_in(session, "alt+f", MARGIN)  # Left
    pick(session, "alt+q", "End")  # high: gpt-image-1.5 takes no xhigh or max
    pick(session, "alt+u", "End")  # webp
    run(session, window)
    see_through(session, titles, finished("bianxie-expand"))

    window = open_window(session, titles["rerun"])
    type_in(session, "alt+d", RERUN["model"])
    type_in(session, "alt+p", RERUN["prompt"])
    run(session, window)
    see_through(session, titles, finished("bianxie-rerun-layer"))


def menu_runs(session, titles: Dict[str, str], finished_runs: Callable[[], int],
              home: str) -> None:
    """Edit Selection from its shortcut with its choices changed, then Re-Show Last (its
    dialog, run as it opens) and Repeat Last (no dialog). ``finished_runs()``: how many runs
    have put their results in (the log's "phases" lines); ``home``: the user's HOME."""
    session.go("menu-runs")
    assert session.wait_mark("menu-layers", timeout=60), session.gimp.stdout[-3000:]
    from tests.gimp.screenshots import IMAGE_WINDOW, visible_windows

    desktop = session.desktop
    shown = [w for w, name in visible_windows(desktop) if IMAGE_WINDOW.search(name)]
    assert shown, f"no image window; windows: {visible_windows(desktop)}"
    image = shown[0]

    def press_in_image(key: str) -> None:
        desktop.x("xdotool", "windowactivate", "--sync", image)
        keys(session, key)

    count = finished_runs()
    press_in_image(SHORTCUT)
    window = open_window(session, titles["edit-selection"])
    type_in(session, "alt+d", GENERATED["model"])
    pick(session, "alt+q", "End")  # max, which gpt-image-2.5 takes...
    type_in(session, "alt+d", RERUN["model"])  # ...and gpt-image-1.5 does not: back to high
    pick(session, "alt+i", "Home")  # input fidelity: the model's default (not sent)
    pick(session, "alt+t", "Home")  # context: auto
    pick(session, "alt+u", "Home")  # png
    type_in(session, "alt+v", "1")
    run(session, window)
    see_through(session, titles, lambda: finished_runs() > count)
    plugin_gone(home)

    count = finished_runs()
    press_in_image(RESHOW)
    run(session, open_window(session, titles["edit-selection"]))
    see_through(session, titles, lambda: finished_runs() > count)
    plugin_gone(home)

    count = finished_runs()
    press_in_image(REPEAT)
    see_through(session, titles, lambda: finished_runs() > count, never=titles["edit-selection"])
