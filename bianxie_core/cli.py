"""The ``bianxie`` command line: the same core the GIMP plug-in runs.

``main()`` parses arguments and turns errors into exit codes; the ``cmd_*`` functions do the
work without error handling. Exit codes: 0 success, 1 API or network error, 2 usage or
validation error (nothing was sent), 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

from bianxie_core import config as configmod
from bianxie_core import cost, errors, models, params
from bianxie_core.i18n import _


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


def output_paths(output: str, count: int, fmt: Optional[str]) -> List[Path]:
    path = Path(output)
    if not path.suffix:
        path = path.with_suffix("." + {"jpeg": "jpg"}.get(fmt or "png", fmt or "png"))
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


def _service(args):
    from bianxie_core.service import Service

    cfg = configmod.load()
    if args.base_url:
        cfg.base_url = args.base_url
    if getattr(args, "timeout", None):
        cfg.timeout = args.timeout
    return Service(cfg, retries=args.retries)


def _common_fields(args) -> dict:
    stream = True if args.stream else None
    return dict(
        prompt=args.prompt, model=args.model or configmod.load().model, n=args.n, size=args.size,
        quality=args.quality, background=args.background, output_format=args.output_format,
        output_compression=args.output_compression, stream=stream,
        partial_images=(args.partial_images if stream else None), user=args.user,
    )


def _write_outputs(outcome, args, out) -> None:
    paths = output_paths(args.output, len(outcome.images), args.output_format)
    for image, path in zip(outcome.images, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image.data)
        image_done(image, path)
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


def cmd_generate(args, out) -> int:
    service = _service(args)
    request = params.GenerateRequest(moderation=args.moderation, **_common_fields(args))
    service.check(request)
    with Progress(quiet=args.quiet) as progress:
        outcome = service.generate(request, on_partial=progress.partial)
    _write_outputs(outcome, args, out)
    return 0


def cmd_edit(args, out) -> int:
    service = _service(args)
    images = [params.ImageFile.from_path(p) for p in args.image]
    mask = params.ImageFile.from_path(args.mask) if args.mask else None
    request = params.EditRequest(images=images, mask=mask, input_fidelity=args.input_fidelity,
                                 **_common_fields(args))
    service.check(request)
    with Progress(quiet=args.quiet) as progress:
        outcome = service.edit(request, on_partial=progress.partial)
    _write_outputs(outcome, args, out)
    return 0


def cmd_inpaint(args, out) -> int:
    from bianxie_core import inpaint

    service = _service(args)
    with Progress(quiet=args.quiet) as progress:
        results, outcome = inpaint.inpaint_files(
            service, args.image, args.selection, _common_fields(args),
            context=args.context, grow=args.grow, feather=args.feather,
            color_match=not args.no_color_match, input_fidelity=args.input_fidelity,
            on_partial=progress.partial,
        )
    _save_composites(results, outcome, args, out)
    return 0


def cmd_expand(args, out) -> int:
    from bianxie_core import inpaint

    aspect = inpaint.parse_aspect(args.aspect or "")
    margins = (args.left, args.top, args.right, args.bottom)
    if aspect and any(margins):
        raise errors.UsageError(_("Give either --aspect or the margins (--left, --top, "
                                  "--right, --bottom), not both."))
    service = _service(args)
    with Progress(quiet=args.quiet) as progress:
        results, outcome = inpaint.expand_file(
            service, args.image, _common_fields(args), margins=None if aspect else margins,
            aspect=aspect, on_partial=progress.partial)
    _save_composites(results, outcome, args, out)
    return 0


def _save_composites(results, outcome, args, out) -> None:
    paths = output_paths(args.output, len(results), "png")
    for image, path, saved in zip(results, paths, outcome.images):
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        image_done(saved, path)
        print(str(path), file=out)
    _report(outcome)


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
        estimate=estimate.format()), file=out)
    for note in estimate.notes:
        print("  " + note, file=out)
    return 0


# "api_key" too: config.py's missing-key message tells users to `config set api_key`.
_CONFIG_KEYS = {"base-url": "base_url", "key": "api_key", "api_key": "api_key", "model": "model",
                "proxy": "proxy", "timeout": "timeout", "connect-timeout": "connect_timeout",
                "ca-bundle": "ca_bundle", "currency": "currency", "allow-http": "allow_http",
                "max-parallel": "max_parallel", "cost-confirm-above": "cost_confirm_above"}


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
    value = args.value
    if field_name == "api_key":
        if value in (None, "-"):
            value = getpass.getpass(_("API key: ")) if sys.stdin.isatty() and value is None \
                else sys.stdin.readline()
        value = configmod._clean_key(value, "input")
    elif value is None:
        raise errors.UsageError(_("Give a value: bianxie config set {name} VALUE").format(
            name=args.name))
    if field_name == "base_url":
        value = configmod.normalise_base_url(value, allow_http=configmod.load().allow_http)
    value = configmod.coerce(field_name, value)
    configmod.update(**{field_name: value})
    shown = configmod.redact_key(value) if field_name == "api_key" else value
    print(_("{name} set to {value} in {path}").format(
        name=args.name, value=shown, path=configmod.config_path()), file=out)
    return 0


def cmd_models(args, out) -> int:
    from bianxie_core import catalog

    cfg = configmod.load()
    if args.base_url:
        cfg.base_url = configmod.normalise_base_url(args.base_url, allow_http=cfg.allow_http)

    def failed(exc: Exception) -> None:
        print(_("warning: could not list the server's models ({reason}); showing the cached "
                "list.").format(reason=str(exc) or type(exc).__name__), file=sys.stderr)

    # Without --remote only the cache is read: listing never waits for the network.
    entries = catalog.catalog(cfg, fetch=args.remote, refresh=args.remote, on_error=failed,
                              timeout=min(cfg.timeout, 30.0))
    for entry in entries:
        mark = " *" if entry.name == cfg.model else ""
        print(f"{entry.name}{mark}\t{entry.description()}", file=out)
    return 0


def cmd_history(args, out) -> int:
    history = _history()
    entries = history.pending() if args.pending else history.entries()
    if args.export:
        target = Path(args.export)
        target.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            dest = target / entry.image_path.name
            dest.write_bytes(entry.image_path.read_bytes())
            print(str(dest), file=out)
        return 0
    for entry in entries[: args.limit]:
        state = _("imported") if entry.imported else _("not imported")
        prompt = (entry.meta.get("prompt") or "").replace("\n", " ")[:60]
        print(f"{entry.id}\t{state}\t{entry.image_path}\t{prompt}", file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bianxie",
        description=_("Generate and edit images with 便携AI or any OpenAI-compatible images API."),
        epilog=_("Examples:\n  bianxie generate -p \"A cute baby sea otter\" -o otter.png\n"
                 "  bianxie edit --image a.png --image b.png -p \"A gift basket\" -o basket.png\n"
                 "  bianxie expand --image photo.png --left 200 --right 200 -o wide.png\n"
                 "  bianxie inpaint --image photo.png --selection sel.png -p \"a red hat\" "
                 "-o out.png"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--traceback", action="store_true",
                        help=_("show the Python traceback of an error (for bug reports)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def request_options(p, edit: bool, prompt_required: bool = True):
        g = p.add_argument_group(_("request"))
        g.add_argument("-p", "--prompt", required=prompt_required, default="",
                       help=_("what to draw or change"))
        g.add_argument("-m", "--model", help=_("model (default from config: {model})").format(
            model=models.DEFAULT_MODEL))
        g.add_argument("-s", "--size", help=_("1024x1024, 1536x1024, 1024x1536, auto, or WxH "
                                              "for free-size models"))
        g.add_argument("-q", "--quality", choices=params.QUALITIES)
        g.add_argument("-n", "--n", type=int, help=_("number of images, 1–10"))
        g.add_argument("--background", choices=params.BACKGROUNDS)
        g.add_argument("--output-format", choices=params.OUTPUT_FORMATS)
        g.add_argument("--output-compression", type=int, metavar="0-100")
        g.add_argument("--stream", action="store_true",
                       help=_("stream partial images while the model works"))
        g.add_argument("--partial-images", type=int, default=2, metavar="0-3")
        g.add_argument("--user", help=argparse.SUPPRESS)
        if edit:
            g.add_argument("--input-fidelity", choices=params.INPUT_FIDELITIES)
        c = p.add_argument_group(_("connection"))
        c.add_argument("--base-url", help=_("API base URL (default from config or "
                                            "BIANXIE_BASE_URL)"))
        c.add_argument("--timeout", type=float, help=_("overall deadline in seconds"))
        c.add_argument("--retries", type=int, default=0, metavar="N",
                       help=_("retry failures that may already be billed N times (you may pay "
                              "twice)"))
        p.add_argument("-o", "--output", required=True, help=_("output file (n > 1: "
                                                              "out-1.png, out-2.png, …)"))
        p.add_argument("--quiet", action="store_true", help=_("no progress on stderr"))

    p = sub.add_parser("generate", help=_("text to image"))
    request_options(p, edit=False)
    p.add_argument("--moderation", choices=params.MODERATIONS)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("edit", help=_("edit images (several: image[]) with an optional mask"))
    p.add_argument("--image", action="append", required=True, help=_("input image (repeat "
                                                                     "for up to 16)"))
    p.add_argument("--mask", help=_("PNG mask: transparent where to edit; same size as the "
                                    "first image"))
    request_options(p, edit=True)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("inpaint", help=_("edit a selected region of a photo seamlessly"))
    p.add_argument("--image", required=True)
    p.add_argument("--selection", required=True,
                   help=_("grayscale image of the photo's size: white = selected"))
    p.add_argument("--context", default="auto", help=_("context around the selection: auto, "
                                                       "pixels, a percentage, or layer"))
    p.add_argument("--grow", type=int, help=_("grow the selection by PX"))
    p.add_argument("--feather", type=int, help=_("feather the edge by PX"))
    p.add_argument("--no-color-match", action="store_true")
    request_options(p, edit=True)
    p.set_defaults(func=cmd_inpaint)

    p = sub.add_parser("expand", help=_("grow the canvas and let the model fill the new area"))
    p.add_argument("--image", required=True)
    for side in ("left", "top", "right", "bottom"):
        p.add_argument("--" + side, type=int, default=0, metavar="PX",
                       help=_("pixels to add on this side"))
    p.add_argument("--aspect", help=_("grow to this width:height instead, e.g. 16:9"))
    request_options(p, edit=True, prompt_required=False)
    p.set_defaults(func=cmd_expand)

    p = sub.add_parser("cost", help=_("estimate tokens and price"))
    p.add_argument("-m", "--model")
    p.add_argument("-s", "--size", default="1024x1024")
    p.add_argument("-q", "--quality", default="medium")
    p.add_argument("-n", "--n", type=int, default=1)
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("config", help=_("show or change settings (shared with the plug-in)"))
    p.add_argument("action", choices=("get", "set", "path"))
    p.add_argument("name", nargs="?", choices=sorted(_CONFIG_KEYS))
    p.add_argument("value", nargs="?", help=_("for the key: omit to type it hidden, or - to "
                                              "read stdin"))
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("models", help=_("list models and their limits"))
    p.add_argument("--remote", action="store_true", help=_("also ask the server (GET /models)"))
    p.add_argument("--base-url")
    p.add_argument("--retries", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("history", help=_("list or export the images you paid for"))
    p.add_argument("--pending", action="store_true", help=_("only those not yet imported"))
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--export", metavar="DIR", help=_("copy the images into DIR"))
    p.set_defaults(func=cmd_history)
    return parser


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
        print(_("error: {message}").format(message=exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(_("Interrupted. Any image already returned is in the history "
                "(`bianxie history --pending`)."), file=sys.stderr)
        return 130
    except OSError as exc:
        if args.traceback:
            raise
        print(_("error: {message}").format(message=f"{exc.strerror or exc}: "
                                          f"{exc.filename or ''}".rstrip(": ")), file=sys.stderr)
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
