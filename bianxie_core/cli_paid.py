"""The commands that pay: ``generate``, ``edit``, ``inpaint`` and ``expand``.

Each checks its outputs, its input and the cost limit before anything is sent, waits for the
answer (every image is in the history the moment it arrives), then writes the files.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

from bianxie_core import config as configmod
from bianxie_core import cost, errors, params
from bianxie_core.cli_history import open_history
from bianxie_core.cli_outputs import file_format, planned_outputs, write_output
from bianxie_core.i18n import _, join_sentences


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
        write_output(path, image.data)
        image_done(image, path)
        print(str(path), file=out)
    _report(outcome)


def _save_composites(results, outcome, paths: List[Path], out) -> None:
    from bianxie_core import region

    for image, path, saved in zip(results, paths, outcome.images):
        write_output(path, region.encode_image(image, file_format(path)))
        image_done(saved, path)
        print(str(path), file=out)
    _report(outcome)


def image_done(image, path: Path) -> None:
    try:
        open_history().mark_imported(image.entry.id, where=str(path))
    except Exception:
        pass  # the file is written; the history flag is a convenience



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
