"""The ``bianxie`` command line: the same core the GIMP plug-in runs.

``main()`` parses arguments and turns errors into exit codes; the ``cmd_*`` functions do the
work without error handling. Exit codes: 0 success, 1 API or network error, 2 usage or
validation error (nothing was sent), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

from bianxie_core import __version__, cost, errors, models, params
from bianxie_core import config as configmod
from bianxie_core.i18n import _, join_sentences, ngettext


class Progress:
    """Elapsed time and partial images on stderr while a request runs."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.partials = 0
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self):
        if not self.quiet:
            self._say(_("Waiting for the model…"))
            if self._tty:
                self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._tty and not self.quiet:
            self.stream.write("\n")

    def partial(self, index: int, data: bytes) -> None:
        self.partials += 1
        self._say(_("partial image {n} received").format(n=index + 1))

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self._start
        line = f"[{elapsed:5.1f} s] {text}"
        self.stream.write(("\r" + line + "\033[K") if self._tty else line + "\n")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._say(_("waiting… ({partials} partial images)").format(partials=self.partials))


# The files the CLI writes: extension -> format (as output_format names it).
_SUFFIX_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


def output_paths(output: str, count: int, fmt: Optional[str]) -> List[Path]:
    """The files for ``count`` images named ``output``. ``fmt`` (--output-format) wins: a name
    without its extension gets it (out.png → out.jpg for jpeg); without ``fmt`` the name's
    extension decides (none: .png). UsageError when the name cannot be a file bianxie writes."""
    if not output.strip():
        raise errors.UsageError(_("The output name is empty: give a file name, for example "
                                  "-o out.png."))
    path = Path(output)
    if output.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise _is_a_folder(path, fmt)
    if path.suffix and path.suffix.lower() not in _SUFFIX_FORMATS:
        raise errors.UsageError(_("The output name {name} ends in {suffix}, which bianxie "
                                  "cannot write: use .png, .jpg or .webp.").format(
                                      name=path.name, suffix=path.suffix))
    if not path.suffix or (fmt and file_format(path) != fmt):
        path = path.with_suffix(_FORMAT_SUFFIXES[fmt or "png"])
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


def file_format(path: Path) -> str:
    """"png", "jpeg" or "webp": what a file from output_paths() is written as."""
    return _SUFFIX_FORMATS[path.suffix.lower()]


def _is_a_folder(path: Path, fmt: Optional[str]) -> errors.UsageError:
    example = path / ("out" + _FORMAT_SUFFIXES[fmt or "png"])
    return errors.UsageError(_("{path} is a folder: give a file name, for example "
                               "{example}.").format(path=path, example=example))


def check_writable(path: Path) -> None:
    """UsageError, before anything is sent, when ``path`` cannot be written as a file (its
    missing folders are created when it is written)."""
    if path.is_dir():
        raise _is_a_folder(path, file_format(path))
    folder = path.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise errors.UsageError(_("{file} is a file, not a folder, so {path} cannot be written: "
                                  "choose another output path.").format(file=existing, path=path))
    if not _can_create_in(existing) or (path.exists() and not os.access(path, os.W_OK)):
        raise errors.UsageError(_("You have no permission to write {path}: choose another output "
                                  "path.").format(path=path))


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (tried: permissions say yes to root even in
    /proc)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".bianxie-probe-"):
            return True
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    """Write a result that is already paid for; on failure, say where the image is kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise errors.BianxieError(_(
            "{path} could not be written ({reason}); every image not written is kept in the "
            "history: `bianxie history --pending --export FOLDER` copies them out.").format(
                path=path, reason=errors.os_reason(exc))) from None


def planned_outputs(args, count: int) -> List[Path]:
    """The output files, checked before anything is sent."""
    paths = output_paths(args.output, count, args.output_format)
    given = Path(args.output)
    if given.is_dir():  # "-o out" must not become out.png beside the folder out/
        raise _is_a_folder(given, args.output_format)
    for path in paths:
        check_writable(path)
    if given.suffix and given.suffix != paths[0].suffix:
        print(_("note: writing {fmt} as asked by --output-format, so the output is named "
                "{path}.").format(fmt=args.output_format, path=paths[0]), file=sys.stderr)
    return paths


def _service(args):
    from bianxie_core.service import Service

    cfg = configmod.load()
    if args.base_url:
        cfg.base_url = args.base_url
    if getattr(args, "timeout", None) is not None:
        cfg.timeout = args.timeout
    return Service(cfg, retries=args.retries)


def _common_fields(args, file_fmt: Optional[str] = None) -> dict:
    """The request fields the flags set; ``file_fmt`` (from the output name) is asked for
    when --output-format is not given."""
    stream = True if args.stream else None
    output_format = args.output_format or (file_fmt if file_fmt != "png" else None)
    return dict(
        prompt=args.prompt, model=args.model or configmod.load().model, n=args.n, size=args.size,
        quality=args.quality, background=getattr(args, "background", None),
        output_format=output_format,
        output_compression=getattr(args, "output_compression", None), stream=stream,
        partial_images=(args.partial_images if stream else None), user=args.user,
    )


def _input_file(path: str) -> params.ImageFile:
    """An image to upload, decoded once here: a damaged file is refused before sending."""
    from bianxie_core.inpaint import decode_image

    image = params.ImageFile.from_path(path)
    decode_image(image.data, path)
    return image


# --- writing results ------------------------------------------------------------------------
def _write_outputs(outcome, paths: List[Path], out) -> None:
    for image, path in zip(outcome.images, paths):
        _write(path, image.data)
        image_done(image, path)
        print(str(path), file=out)
    _report(outcome)


def _save_composites(results, outcome, paths: List[Path], out) -> None:
    from bianxie_core import region

    for image, path, saved in zip(results, paths, outcome.images):
        _write(path, region.encode_image(image, file_format(path)))
        image_done(saved, path)
        print(str(path), file=out)
    _report(outcome)


def image_done(image, path: Path) -> None:
    try:
        _history().mark_imported(image.entry.id, where=str(path))
    except Exception:
        pass  # the file is written; the history flag is a convenience


def _history():
    from bianxie_core.history import History

    return History(configmod.home() / "history")


def _report(outcome) -> None:
    for warning in outcome.warnings:
        print(_("warning: {text}").format(text=warning), file=sys.stderr)
    if outcome.usage:
        print(_("used {tokens} tokens ≈ {price}").format(
            tokens=outcome.usage.get("total_tokens", 0),
            price=cost.format_price(outcome.price, outcome.currency)), file=sys.stderr)


# --- commands -------------------------------------------------------------------------------
def confirm_cost(args, service, request) -> None:
    """Ask before a run estimated above the ``cost-confirm-above`` setting (``--yes`` does
    not ask); without a terminal to ask on, refuse. Nothing has been sent either way."""
    limit = float(service.config.cost_confirm_above or 0)
    if limit <= 0 or args.yes:
        return
    cfg = service.config
    estimate = cost.estimate_request(service.model(request.model), request, prices=cfg.prices,
                                     currency=cfg.currency,
                                     requests=service.requests_for(request))
    if estimate.price <= limit:
        return
    above = _("This run may cost {estimate}, more than your limit of {limit}.").format(
        estimate=estimate.format(), limit=cost.format_price(limit, cfg.currency))
    if not sys.stdin.isatty():
        raise errors.UsageError(join_sentences(above, _(
            "Add --yes to run it anyway, or raise the limit with `bianxie config set "
            "cost-confirm-above`.")))
    print(join_sentences(above, _("Run it anyway? [y/N] ")), end=" ", file=sys.stderr,
          flush=True)  # not stdout: it may be a file of output paths
    try:
        answer = input()
    except EOFError:
        answer = ""
    except KeyboardInterrupt:
        raise errors.Cancelled(_("Not run: nothing was sent.")) from None
    if answer.strip().lower() not in ("y", "yes", _("y"), _("yes")):
        raise errors.UsageError(_("Not run: nothing was sent."))


def cmd_generate(args, out) -> int:
    paths = planned_outputs(args, args.n or 1)
    service = _service(args)
    request = params.GenerateRequest(moderation=args.moderation,
                                     **_common_fields(args, file_format(paths[0])))
    service.check(request)
    confirm_cost(args, service, request)
    with Progress(quiet=args.quiet) as progress:
        outcome = service.generate(request, on_partial=progress.partial)
    _write_outputs(outcome, paths, out)
    return 0


def cmd_edit(args, out) -> int:
    paths = planned_outputs(args, args.n or 1)
    service = _service(args)
    images = [_input_file(p) for p in args.image]
    mask = _input_file(args.mask) if args.mask else None
    request = params.EditRequest(images=images, mask=mask, input_fidelity=args.input_fidelity,
                                 **_common_fields(args, file_format(paths[0])))
    service.check(request)
    confirm_cost(args, service, request)
    with Progress(quiet=args.quiet) as progress:
        outcome = service.edit(request, on_partial=progress.partial)
    _write_outputs(outcome, paths, out)
    return 0


def cmd_inpaint(args, out) -> int:
    from bianxie_core import inpaint

    paths = planned_outputs(args, args.n or 1)
    job = inpaint.plan_inpaint_file(
        _service(args), args.image, args.selection, _common_fields(args),
        context=args.context, grow=args.grow, feather=args.feather,
        color_match=not args.no_color_match, input_fidelity=args.input_fidelity)
    _send_composites(job, paths, args, out)
    return 0


def cmd_expand(args, out) -> int:
    from bianxie_core import inpaint
    from bianxie_core.edit_settings import parse_aspect

    aspect = parse_aspect(args.aspect or "")
    margins = (args.left, args.top, args.right, args.bottom)
    if aspect and any(margins):
        raise errors.UsageError(_("Give either --aspect or the margins (--left, --top, "
                                  "--right, --bottom), not both."))
    paths = planned_outputs(args, 1)
    job = inpaint.plan_expand_file(
        _service(args), args.image, _common_fields(args), margins=None if aspect else margins,
        aspect=aspect, input_fidelity=args.input_fidelity)
    _send_composites(job, paths, args, out)
    return 0


def _send_composites(job, paths: List[Path], args, out) -> None:
    confirm_cost(args, job.service, job.request)
    with Progress(quiet=args.quiet) as progress:
        results, outcome = job.send(on_partial=progress.partial)
    _save_composites(results, outcome, paths, out)


def cmd_cost(args, out) -> int:
    cfg = configmod.load()
    spec = models.get_model(args.model or cfg.model, cfg.models)
    if args.size != "auto":
        models.check_size(spec, args.size)
    params._int_range("n", args.n, 1, params.MAX_N)
    params._choice("quality", args.quality, params.QUALITIES)
    estimate = cost.estimate(spec, args.size, args.quality, args.n, prices=cfg.prices,
                             currency=cfg.currency)
    print(_("{model}, {size}, {quality}, n={n}: {estimate}").format(
        model=spec.name, size=args.size, quality=args.quality, n=args.n,
        estimate=dataclasses.replace(estimate, notes=()).format()), file=out)
    for note in estimate.notes:  # on their own lines, not also inside the estimate
        print("  " + _("estimate: {notes}").format(notes=note), file=out)
    return 0


# "api_key" too: the name in the config file.
_CONFIG_KEYS = {"base-url": "base_url", "key": "api_key", "api_key": "api_key", "model": "model",
                "proxy": "proxy", "timeout": "timeout", "connect-timeout": "connect_timeout",
                "ca-bundle": "ca_bundle", "currency": "currency", "allow-http": "allow_http",
                "max-parallel": "max_parallel", "cost-confirm-above": "cost_confirm_above",
                "worker-standby": "worker_standby"}


# Environment variables that win over a setting (config.load).
_ENV_OVERRIDES = {"api_key": configmod.ENV_API_KEY, "base_url": configmod.ENV_BASE_URL}


def cmd_config(args, out) -> int:
    if args.action == "path":
        print(str(configmod.config_path()), file=out)
        return 0
    if args.action == "get":
        shown = configmod.load().redacted()
        keys = [_CONFIG_KEYS[args.name]] if args.name else list(shown)
        for key in keys:
            print(f"{key} = {shown.get(key)}", file=out)
        return 0
    field_name = _CONFIG_KEYS[args.name]
    value = _typed_key(args.value) if field_name == "api_key" else args.value
    if value is None:
        raise errors.UsageError(_("Give a value: bianxie config set {name} VALUE").format(
            name=args.name))
    shown = configmod.update(**{field_name: value}).redacted()[field_name]
    print(_("{name} set to {value} in {path}").format(
        name=args.name, value=shown, path=configmod.config_path()), file=out)
    env_var = _ENV_OVERRIDES.get(field_name)
    if env_var and os.environ.get(env_var, "").strip():
        print(_("warning: the environment variable {var} is set and still takes precedence "
                "over this setting; unset it to use the new value.").format(var=env_var),
              file=sys.stderr)
    return 0


def _typed_key(value: Optional[str]) -> str:
    """The key: typed at a hidden prompt, read from stdin (``-``, or when stdin is not a
    terminal) or given on the command line. Never empty: that would erase the stored key."""
    try:
        if value is None and sys.stdin.isatty():
            value = getpass.getpass(_("API key: "))
        elif value in (None, "-"):
            value = sys.stdin.readline()
    except EOFError:  # Ctrl-D at the prompt
        value = ""
    except KeyboardInterrupt:
        raise errors.Cancelled(_("Cancelled: the stored key is unchanged.")) from None
    if not value.strip():
        raise errors.UsageError(_("No key was given, so the stored key is unchanged: paste the "
                                  "key at the prompt, or pipe it into `bianxie config set key -`."))
    return value


def cmd_models(args, out) -> int:
    from bianxie_core import catalog

    cfg = configmod.load()
    if args.base_url:
        cfg.base_url = configmod.normalise_base_url(args.base_url, allow_http=cfg.allow_http)

    def failed(exc: Exception) -> None:
        reason = (str(exc) or type(exc).__name__).rstrip("。.")
        print(_("warning: could not list the server's models ({reason}); showing the cached "
                "list.").format(reason=reason), file=sys.stderr)

    # Without --remote only the cache is read: listing never waits for the network.
    entries = catalog.catalog(cfg, fetch=args.remote, refresh=args.remote, on_error=failed,
                              timeout=min(cfg.timeout, 30.0))
    for entry in entries:
        mark = " *" if entry.name == cfg.model else ""
        print(f"{entry.name}{mark}\t{entry.description()}", file=out)
    return 0


DEFAULT_HISTORY_LIMIT = 50  # entries listed without --limit (--export copies all)


def cmd_history(args, out) -> int:
    history = _history()
    entries = history.pending() if args.pending else history.entries()
    # an image not received intact (an unreadable note alone does not stop an export)
    damaged = {e.id for e in entries if not e.imported and e.meta.get("broken")}
    if args.export is not None:
        return _export(history, [e for e in entries if e.id not in damaged], len(damaged),
                       args, out)
    if not entries:
        print(_("No images are waiting in the history.") if args.pending
              else _("The history is empty."), file=sys.stderr)
    for entry in entries[: args.limit or DEFAULT_HISTORY_LIMIT]:
        state = _("damaged") if entry.id in damaged else \
            _("imported") if entry.imported else _("not imported")
        prompt = entry.prompt.replace("\n", " ")[:60]
        print(f"{entry.id}\t{state}\t{entry.image_path}\t{prompt}", file=out)
    return 0


def _export(history, entries: list, damaged: int, args, out) -> int:
    """Copy the images out and mark them imported: exporting is recovering them."""
    target = _export_folder(args.export)
    if damaged:
        print(ngettext(
            "{count} damaged entry (its image was not received intact) is not exported.",
            "{count} damaged entries (their images were not received intact) are not exported.",
            damaged).format(count=damaged), file=sys.stderr)
    if not entries:
        print(_("Nothing to export: no images are waiting in the history.") if args.pending
              else _("Nothing to export: the history is empty."), file=sys.stderr)
    for entry in entries[: args.limit]:
        dest = target / entry.image_path.name
        try:
            dest.write_bytes(entry.image_path.read_bytes())
        except OSError as exc:
            raise errors.BianxieError(errors.file_problem(exc)) from None
        if not entry.imported:
            history.mark_imported(entry.id, where=str(dest))
        print(str(dest), file=out)
    return 0


def _export_folder(text: str) -> Path:
    target = Path(text)
    if not text.strip():
        raise errors.UsageError(_("No export folder was given: give one, for example "
                                  "--export recovered."))
    if target.exists() and not target.is_dir():
        raise errors.UsageError(_("{path} is a file: give a folder to export into (it is "
                                  "created if needed).").format(path=target))
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.UsageError(errors.file_problem(exc)) from None
    return target


# --- arguments ------------------------------------------------------------------------------
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
        with _argparse_speaks_our_language():
            super().error(message)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            _("give a number of seconds above 0, not {value!r}").format(value=text))
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
        g.add_argument("-q", "--quality", choices=params.QUALITIES,
                       help=_("image quality; higher costs more (default: the server's, auto)"))
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
    p.add_argument("-q", "--quality", default="medium",
                   help=_("auto, low, medium or high (default: medium)"))
    p.add_argument("-n", "--n", type=int, default=1, help=_("number of images, 1–10"))
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("config", help=_("show or change settings (shared with the plug-in)"))
    p.add_argument("action", choices=("get", "set", "path"),
                   help=_("get: show the settings (the key and proxy password masked); set: "
                          "change one; path: show where the file is"))
    p.add_argument("name", nargs="?", choices=sorted(_CONFIG_KEYS),
                   help=_("the setting (get without a name shows all)"))
    p.add_argument("value", nargs="?", help=_("for the key: omit to type it hidden, or - to "
                                              "read stdin"))
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("models", help=_("list models and their limits"))
    p.add_argument("--remote", action="store_true", help=_("also ask the server (GET /models)"))
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


# Commands that may pay: an interruption leaves any returned image in the history.
_PAYING_COMMANDS = {"generate", "edit", "inpaint", "expand"}


def error_text(exc: errors.BianxieError) -> str:
    """The error as the CLI says it: its history hint, not the plug-in's "Recover Results"."""
    return exc.describe(_("The request may already have been charged: any image it returns is "
                          "kept in the history (`bianxie history --pending`)."))


def main(argv: Optional[List[str]] = None, out=None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "config" and args.action == "set" and not args.name:
        parser.error(_("config set needs a name: {names}").format(names=", ".join(_CONFIG_KEYS)))
    try:
        return args.func(args, out)
    except errors.BianxieError as exc:
        if args.traceback:
            raise
        print(_("error: {message}").format(message=error_text(exc)), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(_("Interrupted. Any image already returned is in the history "
                "(`bianxie history --pending`).") if args.command in _PAYING_COMMANDS
              else _("Interrupted."), file=sys.stderr)
        return 130
    except OSError as exc:
        if args.traceback:
            raise
        print(_("error: {message}").format(message=errors.file_problem(exc)), file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line (its text could quote anything)
        if args.traceback:
            raise
        print(_("error: unexpected {kind}; run again with --traceback and report it. Any image "
                "already returned is in the history.").format(kind=type(exc).__name__),
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
