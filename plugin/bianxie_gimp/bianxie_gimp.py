#!/usr/bin/env python3
"""便携AI for GIMP: the GIMP 3 host adapter. GIMP runs this file; it registers the procedures
(registry.py) and runs them (procedures.py).

Thin by design: GEGL reads and writes, dialogs and PDB glue. Planning, requests, history,
compositing and messages live in ``bianxie_core`` (the same code the ``bianxie`` CLI runs).
The core and its dependencies load inside ``run()`` (see ``load_procedures``), so a broken
install shows a message instead of a menu entry that silently vanishes.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gimp, GLib  # noqa: E402

# GIMP runs this file as a script: its folder (the sibling modules and the core) and the
# vendor folder for GIMP's Python go on sys.path first
HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor" / "py{}.{}".format(*sys.version_info[:2])
for _path in (VENDOR, HERE):
    if _path.is_dir() and str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import registry  # noqa: E402
from failure import Failure  # noqa: E402
from plugin_i18n import _  # noqa: E402


def load_procedures():
    """procedures.py with the core, or a failure that says what to do about it. numpy, Pillow
    and ``requests`` are only looked for here: a region edit's pixel work and every request
    happen in the request worker; the plug-in loads Pillow only to show a streamed preview or
    a generated or recovered image, and ``requests`` only for the Settings dialog's connection
    test."""
    missing = [pip_name for module, pip_name in (("numpy", "numpy"), ("PIL", "Pillow"),
                                                 ("requests", "requests"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise Failure(_(
            "The plug-in cannot find {missing} for GIMP's Python {version}: run install.py "
            "again.").format(missing=", ".join(missing), version="{}.{}".format(
                *sys.version_info[:2])))
    try:  # a broken install fails here, before anything is sent
        return importlib.import_module("procedures")
    except ImportError as exc:
        raise Failure(_("The plug-in's files are incomplete ({reason}): run install.py "
                        "again.").format(reason=exc))


def run(procedure, run_mode, image, drawables, config, data):
    name = procedure.get_name()
    try:
        procedures = load_procedures()
    except Failure as failure:
        return error_values(procedure, failure.status, str(failure))
    from bianxie_core import config as cfgmod
    from bianxie_core import errors, logs

    handler = getattr(procedures, registry.table()[name].handler)
    try:
        status, _result = handler(procedure, run_mode, image, list(drawables or []), config)
    except Failure as failure:
        return error_values(procedure, failure.status, str(failure), logs)
    except errors.UsageError as exc:
        return error_values(procedure, Gimp.PDBStatusType.CALLING_ERROR, str(exc), logs)
    except errors.BianxieError as exc:
        return error_values(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, str(exc), logs)
    except Exception as exc:  # a bug: log it, and still give one sentence
        logs.get_logger().exception("unexpected error in %s", name)
        return error_values(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, _(
            "Something went wrong in the plug-in ({kind}); any paid image is kept: use Recover "
            "Results. Details are in {log}.").format(
                kind=type(exc).__name__, log=cfgmod.home() / "logs"), logs)
    return procedure.new_return_values(status, None)


def error_values(procedure, status, message, logs=None):
    if logs is not None:
        logs.get_logger().info("%s failed: %s", procedure.get_name(), message)
    return procedure.new_return_values(
        status, GLib.Error.new_literal(GLib.quark_from_string("bianxie"), message, 0))


class BianxiePlugIn(Gimp.PlugIn):
    def do_query_procedures(self):
        return list(registry.table())

    def do_create_procedure(self, name):
        return registry.create(self, name, run)


Gimp.main(BianxiePlugIn.__gtype__, sys.argv)
