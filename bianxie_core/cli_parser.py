"""The ``bianxie`` argument parser, with argparse's own texts translated too."""

from __future__ import annotations

import argparse
import contextlib
import math

from bianxie_core import __version__, models, params
from bianxie_core.config import MAX_SECONDS
from bianxie_core.cli_history import cmd_history
from bianxie_core.cli_paid import cmd_edit, cmd_expand, cmd_generate, cmd_inpaint
from bianxie_core.cli_settings import CONFIG_KEYS, cmd_config, cmd_cost, cmd_models
from bianxie_core.i18n import _, ngettext
from bianxie_core.safe_text import printable


def N_(message: str) -> str:
    """Marks a text for the catalogue that is translated elsewhere (by argparse)."""
    return message


# argparse's own texts (Python 3.9-3.13), so that the catalogue translates them too.
_ARGPARSE_TEXTS = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("optional arguments"),
    N_("%(heading)s:"),
    N_("show this help message and exit"), N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("expected one argument"), N_("expected at most one argument"),
    N_("expected at least one argument"), N_("ignored explicit argument %r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
)


@contextlib.contextmanager
def _argparse_speaks_our_language():
    """argparse looks its texts up through its module's ``_``/``ngettext``: ours, meanwhile."""
    saved = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = _, ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose own texts ("usage:", "options", its errors) are translated."""

    def __init__(self, *args, **kwargs):
        with _argparse_speaks_our_language():
            super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        with _argparse_speaks_our_language():
            return super().parse_args(args, namespace)

    def parse_known_args(self, args=None, namespace=None):
        with _argparse_speaks_our_language():
            return super().parse_known_args(args, namespace)

    def format_usage(self):
        with _argparse_speaks_our_language():
            return super().format_usage()

    def format_help(self):
        with _argparse_speaks_our_language():
            return super().format_help()

    def error(self, message):
        """One line, as every other error (``--help`` shows the usage): argparse's own text
        without the usage above it."""
        self.exit(2, _("%(prog)s: error: %(message)s\n") % {
            "prog": self.prog, "message": printable(message, limit=500)})


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(
            _("give a number of seconds above 0 and at most {max:g}, not {value!r}").format(
                max=MAX_SECONDS, value=text))
    return value


def _at_least(low: int):
    """An argparse type: a whole number of at least ``low``."""
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(
                _("give a whole number of at least {low}, not {value!r}").format(
                    low=low, value=text))
        return value
    return whole_number


def _setting_name(text: str) -> str:
    """A setting's name; an unknown one is not quoted back: it is often the key itself, typed
    without its name (``bianxie config set sk-…``)."""
    if text not in CONFIG_KEYS:
        raise argparse.ArgumentTypeError(_("not a setting's name (choose from {names})").format(
            names=", ".join(sorted(CONFIG_KEYS))))
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bianxie",
        description=_("Generate and edit images with 便携AI or any OpenAI-compatible images API."),
        epilog=_("Examples:\n  bianxie generate -p \"A cute baby sea otter\" -o otter.png\n"
                 "  bianxie edit --image a.png --image b.png -p \"A gift basket\" -o basket.png\n"
                 "  bianxie expand --image photo.png --left 200 --right 200 -o wide.png\n"
                 "  bianxie inpaint --image photo.png --selection sel.png -p \"a red hat\" "
                 "-o out.png"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help=_("show the version and exit"))
    parser.add_argument("--traceback", action="store_true",
                        help=_("show the Python traceback of an error (for bug reports)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                help=_("what to do (bianxie COMMAND --help tells more)"))
    sub.required = True

    def request_options(p, edit: bool, prompt_required: bool = True, composite: bool = False):
        """``composite``: the file is made here from the model's answer (inpaint, expand), so
        the options that only shape the model's file are not offered."""
        g = p.add_argument_group(_("request"))
        g.add_argument("-p", "--prompt", required=prompt_required, default="",
                       help=_("what to draw or change"))
        g.add_argument("-m", "--model", help=_("model (default from config: {model})").format(
            model=models.DEFAULT_MODEL))
        g.add_argument("-s", "--size", type=models.size_text,
                       help=_("1024x1024, 1536x1024, 1024x1536, auto, or WxH "
                                              "for free-size models"))
        g.add_argument("-q", "--quality", choices=params.ALL_QUALITIES,
                       help=_("image quality; higher costs more (default: the server's, auto); "
                              "xhigh and max for gpt-image-2.5 and later"))
        g.add_argument("-n", "--n", type=int, help=_("number of images, 1–10"))
        if not composite:
            g.add_argument("--background", choices=params.BACKGROUNDS,
                           help=_("transparent needs png or webp output"))
        g.add_argument("--output-format", choices=params.OUTPUT_FORMATS,
                       help=_("the format to ask for and write; the output name's "
                              "extension follows it (out.png becomes out.jpg for jpeg); "
                              "without it the extension decides"))
        if not composite:
            g.add_argument("--output-compression", type=int, metavar="0-100",
                           help=_("compression level for jpeg and webp output"))
        g.add_argument("--stream", action="store_true",
                       help=_("stream partial images while the model works"))
        g.add_argument("--partial-images", type=int, default=2, metavar="0-3",
                       help=_("how many partial images to stream (with --stream)"))
        g.add_argument("--user", help=argparse.SUPPRESS)
        if edit:
            g.add_argument("--input-fidelity", choices=params.INPUT_FIDELITIES,
                           help=_("how closely to keep faces and details of the input (not "
                                  "every model takes it)"))
        if composite:
            g.add_argument("--no-align", action="store_true",
                           help=_("place the model's answer as it came, without moving a "
                                  "drifted answer back into place"))
        c = p.add_argument_group(_("connection"))
        c.add_argument("--base-url", help=_("API base URL (default from config or "
                                            "BIANXIE_BASE_URL)"))
        c.add_argument("--timeout", type=_seconds, help=_("overall deadline in seconds"))
        c.add_argument("--retries", type=_at_least(0), default=0, metavar="N",
                       help=_("retry failures that may already be billed N times (you may pay "
                              "twice)"))
        p.add_argument("-o", "--output", required=True,
                       help=_("output file: .png, .jpg or .webp, which sets its format (n > 1: "
                              "out-1.png, out-2.png, …); missing folders are created"))
        p.add_argument("--quiet", action="store_true", help=_("no progress on stderr"))
        p.add_argument("-y", "--yes", action="store_true",
                       help=_("run without asking, even when the estimate is above the "
                              "cost-confirm-above setting"))

    p = sub.add_parser("generate", help=_("text to image"))
    request_options(p, edit=False)
    p.add_argument("--moderation", choices=params.MODERATIONS,
                   help=_("content filtering: low is less strict"))
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("edit", help=_("edit images (several: image[]) with an optional mask"))
    p.add_argument("--image", action="append", required=True, help=_("input image (repeat "
                                                                     "for up to 16)"))
    p.add_argument("--mask", help=_("PNG mask: transparent where to edit; same size as the "
                                    "first image"))
    request_options(p, edit=True)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("inpaint", help=_("edit a selected region of a photo seamlessly"))
    p.add_argument("--image", required=True, help=_("the photo to edit (PNG, JPEG or WebP)"))
    p.add_argument("--selection", required=True,
                   help=_("grayscale image of the photo's size: white = selected"))
    p.add_argument("--context", default="auto", help=_("context around the selection: auto, "
                                                       "pixels, a percentage, or layer"))
    p.add_argument("--grow", type=int, help=_("grow the selection by PX"))
    p.add_argument("--feather", type=int, help=_("feather the edge by PX"))
    p.add_argument("--no-color-match", action="store_true",
                   help=_("keep the model's colours instead of matching them to the photo"))
    request_options(p, edit=True, composite=True)
    p.set_defaults(func=cmd_inpaint)

    p = sub.add_parser("expand", help=_("grow the canvas and let the model fill the new area"))
    p.add_argument("--image", required=True, help=_("the photo to expand (PNG, JPEG or WebP)"))
    for side in ("left", "top", "right", "bottom"):
        p.add_argument("--" + side, type=int, default=0, metavar="PX",
                       help=_("pixels to add on this side"))
    p.add_argument("--aspect", help=_("grow to this width:height instead, e.g. 16:9"))
    request_options(p, edit=True, prompt_required=False, composite=True)
    p.set_defaults(func=cmd_expand)

    p = sub.add_parser("cost", help=_("estimate tokens and price"))
    p.add_argument("-m", "--model", help=_("model (default from config: {model})").format(
        model=models.DEFAULT_MODEL))
    p.add_argument("-s", "--size", default="1024x1024", type=models.size_text,
                   help=_("image size, e.g. 1536x1024, or auto (default: 1024x1024)"))
    p.add_argument("-q", "--quality",
                   help=_("auto, low, medium or high; xhigh or max for gpt-image-2.5 and "
                          "later (default: medium)"))
    p.add_argument("-n", "--n", type=int, default=1, help=_("number of images, 1–10"))
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("config", help=_("show or change settings (shared with the plug-in)"))
    p.add_argument("action", choices=("get", "set", "path", "test"),
                   help=_("get: show the settings (the key and proxy password masked); set: "
                          "change one; path: show where the file is; test: connect step by "
                          "step (DNS, TCP, proxy, TLS, HTTP) and name the step that fails"))
    p.add_argument("name", nargs="?", type=_setting_name, metavar="NAME",
                   help=_("the setting (get without a name shows all): {names}").format(
                       names=", ".join(sorted(CONFIG_KEYS))))
    p.add_argument("value", nargs="?", help=_("for the key: omit to type it hidden, or - to "
                                              "read stdin"))
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("models", help=_("list models and their limits"))
    p.add_argument("--remote", action="store_true", help=_("also ask the server (GET /models)"))
    p.add_argument("--families", action="store_true",
                   help=_("list the model families instead: the name patterns that place a "
                          "model, its door, mask, sizes, references and price"))
    p.add_argument("--base-url", help=_("the server to ask with --remote (default from config "
                                        "or BIANXIE_BASE_URL)"))
    p.add_argument("--retries", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("history", help=_("list or export the images you paid for"))
    p.add_argument("--pending", action="store_true",
                   help=_("only those not yet saved anywhere (damaged ones are marked)"))
    p.add_argument("--limit", type=_at_least(1), metavar="N",
                   help=_("the newest N only (default: 50 listed, all exported)"))
    p.add_argument("--export", metavar="DIR",
                   help=_("copy the images into DIR (created if needed) and mark them imported, "
                          "so they are no longer pending; damaged ones are skipped"))
    p.set_defaults(func=cmd_history)
    return parser
