"""The commands that pay: ``generate``, ``edit``, ``inpaint`` and ``expand``.

Each checks its outputs, its input and the cost limit before anything is sent, hands the
request to the request worker and waits for it (cli_waiting.py: every image is in the history
the moment it arrives, whatever happens to the CLI), then writes the files.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import List, Optional

from bianxie_core import config as configmod
from bianxie_core import cost, errors, params
from bianxie_core.cli_history import open_history
from bianxie_core.cli_outputs import (
    as_text, file_format, planned_outputs, say, tell, write_output)
from bianxie_core.cli_settings import short_deadline_warning
from bianxie_core.cli_waiting import early_worker, through_worker
from bianxie_core.i18n import _, join_sentences, ngettext
from bianxie_core.jobs import longest_wait
from bianxie_core.safe_text import printable


def _service(args):
    from bianxie_core.service import Service

    cfg = configmod.load()
    if args.base_url:
        cfg.base_url = args.base_url
    if getattr(args, "timeout", None) is not None:
        cfg.timeout = args.timeout
        short_deadline_warning(cfg.timeout)  # the setting's is said when it is set
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
def _write_outputs(outcome, paths: List[Path], out, asked: int) -> int:
    pairs = [(image, lambda image=image, path=path: _as_format(image.data, file_format(path)))
             for image, path in zip(outcome.images, paths)]
    return _deliver(outcome, pairs, paths, out, asked)


def _as_format(data: bytes, fmt: str) -> bytes:
    """``data`` as the output's format: a server that ignored output_format (JPEG bytes for
    o.png) is converted, so a file's name never lies about its content."""
    from bianxie_core.history import image_ext

    if image_ext(data) == fmt:
        return data
    import io

    from PIL import Image

    from bianxie_core.image_codec import eight_bit, encode_image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return encode_image(eight_bit(image), fmt)
    except Exception:  # noqa: BLE001 - Pillow raises many types for damaged data
        raise errors.BianxieError(_("The server's image could not be read to convert it to "
                                    "{fmt}.").format(fmt=fmt.upper())) from None


def _save_composites(results, outcome, paths: List[Path], out, asked: int) -> int:
    from bianxie_core.image_codec import encode_image

    pairs = [(saved, lambda image=image, path=path: encode_image(image, file_format(path)))
             for image, path, saved in zip(results, paths, outcome.images)]
    return _deliver(outcome, pairs, paths, out, asked)


def _deliver(outcome, pairs, paths: List[Path], out, asked: int) -> int:
    """Write every image that arrived (each write is atomic), then say in one line per problem
    what was paid and not delivered. The exit code: 0 when every image asked for is written,
    else 1."""
    unwritten = []  # (path, saved image, why)
    for (saved, data), path in zip(pairs, paths):
        try:
            write_output(path, data() if callable(data) else data)
        except errors.BianxieError as exc:
            unwritten.append((path, saved, exc.message))
            continue
        if saved.entry is not None:
            image_done(saved, path)
        tell(str(path), out)
    _report(outcome)
    extra = outcome.images[len(paths):]
    if extra:  # no output was planned for them: they stay where they already are
        kept = sum(1 for saved in extra if saved.entry is not None)
        say(_("warning: {text}").format(text=ngettext(
            "The server sent {extra} image more than the {asked} asked for; it was paid for "
            "and {kept} is kept in the history: `bianxie history --pending --export FOLDER` "
            "copies it out.",
            "The server sent {extra} images more than the {asked} asked for; they were paid "
            "for and {kept} are kept in the history: `bianxie history --pending --export "
            "FOLDER` copies them out.", len(extra)).format(
                extra=len(extra), asked=asked, kept=kept)))
    problems = []
    if not outcome.failures and len(outcome.images) < asked:  # no reason given: say it
        problems.append(ngettext(
            "The server sent {got} image of the {asked} asked for; the others never came.",
            "The server sent {got} images of the {asked} asked for; the others never came.",
            len(outcome.images)).format(got=len(outcome.images), asked=asked))
    if outcome.failures:
        problems.append(ngettext(
            "{got} of {asked} image arrived. {reasons}",
            "{got} of {asked} images arrived. {reasons}", asked).format(
                got=len(outcome.images), asked=asked,
                reasons=join_sentences(*outcome.failures)))
    if outcome.history_error:
        written = [str(p) for p, s in zip(paths, outcome.images)
                   if s.entry is None and p not in {u[0] for u in unwritten}]
        if written:
            problems.append(_(
                "The image was paid for and written to {paths}, but the history could not keep "
                "a copy: {reason}").format(paths=", ".join(written), reason=outcome.history_error))
    for path, saved, reason in unwritten:
        if saved.entry is None or saved.gone:
            problems.append(join_sentences(_(
                "The image was paid for, but neither {path} nor the history could keep it, so "
                "it is lost:").format(path=path), reason, outcome.history_error))
        else:
            problems.append(join_sentences(reason, _(
                "The image is kept in the history: `bianxie history --pending --export FOLDER` "
                "copies it out.")))
    for problem in problems:
        say(_("error: {message}").format(message=problem))
    return 1 if problems else 0


def image_done(image, path: Path) -> None:
    try:
        open_history().mark_imported(image.entry.id, where=as_text(path))
    except Exception:
        pass  # the file is written; the history flag is a convenience


def _report(outcome) -> None:
    for warning in outcome.warnings:
        say(_("warning: {text}").format(text=warning))
    if outcome.usage:
        print(_("used {tokens} tokens ≈ {price}").format(
            tokens=outcome.usage.get("total_tokens", 0),
            price=cost.format_price(outcome.price, outcome.currency)
            if outcome.price_known else _("price unknown")), file=sys.stderr)


def _sent(args, job, service, request, meta: Optional[dict] = None):
    """Send ``request`` through ``job``'s request worker, with this run's flags: a context
    giving the outcome (see cli_waiting.through_worker)."""
    overrides = {"retries": args.retries} if args.retries else {}
    if args.base_url:
        overrides["base_url"] = service.config.base_url
    if getattr(args, "timeout", None) is not None:
        overrides["timeout"] = service.config.timeout
    bundle = os.path.expanduser(service.config.ca_bundle.strip())
    if bundle and not os.path.isabs(bundle):  # the worker runs in its job folder
        overrides["ca_bundle"] = os.path.abspath(bundle)
    return through_worker(args, job, request, meta=meta, overrides=overrides,
                          deadline=longest_wait(service.config, request.n or 1,
                                                   args.retries or 0))


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
    if estimate.within(limit):
        return
    above = estimate.over_limit(limit)
    if sys.stdin is None or not sys.stdin.isatty():  # None: stdin closed (<&-)
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
    asked = _asked(args)
    paths = planned_outputs(args, asked)
    with early_worker() as job:
        service = _service(args)
        request = params.GenerateRequest(moderation=args.moderation,
                                         **_common_fields(args, file_format(paths[0])))
        service.check(request)
        confirm_cost(args, service, request)
        with _sent(args, job, service, request) as outcome:
            return _write_outputs(outcome, paths, out, asked)


def cmd_edit(args, out) -> int:
    asked = _asked(args)
    paths = planned_outputs(args, asked)
    with early_worker() as job:
        service = _service(args)
        images = [_input_file(p) for p in args.image]
        mask = _input_file(args.mask) if args.mask else None
        request = params.EditRequest(images=images, mask=mask,
                                     input_fidelity=args.input_fidelity,
                                     **_common_fields(args, file_format(paths[0])))
        service.check(request)
        confirm_cost(args, service, request)
        with _sent(args, job, service, request) as outcome:
            return _write_outputs(outcome, paths, out, asked)


def _asked(args) -> int:
    """How many images ``-n`` asks for, checked before any output path is planned or probed."""
    params.check_n(args.n)
    return args.n or 1


def cmd_inpaint(args, out) -> int:
    from bianxie_core import inpaint

    _check_context(args.context)
    paths = planned_outputs(args, _asked(args))
    with early_worker() as job:
        edit = inpaint.plan_inpaint_file(
            _service(args), args.image, args.selection, _common_fields(args),
            context=args.context, grow=args.grow, feather=args.feather,
            color_match=not args.no_color_match, input_fidelity=args.input_fidelity,
            align=not args.no_align)
        return _send_composites(job, edit, paths, args, out)


def cmd_expand(args, out) -> int:
    from bianxie_core import inpaint

    aspect = _aspect(args.aspect or "")
    margins = (args.left, args.top, args.right, args.bottom)
    if aspect and any(margins):
        raise errors.UsageError(_("Give either --aspect or the margins (--left, --top, "
                                  "--right, --bottom), not both."))
    paths = planned_outputs(args, 1)
    with early_worker() as job:
        edit = inpaint.plan_expand_file(
            _service(args), args.image, _common_fields(args),
            margins=None if aspect else margins, aspect=aspect,
            input_fidelity=args.input_fidelity, align=not args.no_align)
        return _send_composites(job, edit, paths, args, out)


MAX_ASPECT = 10.0  # --aspect from 1:10 to 10:1; the model's own limit is nearer 3:1
MAX_CONTEXT_SHARE = 100.0  # --context up to 10000% of the selection's side
MAX_CONTEXT_PX = 100_000


def _aspect(text: str) -> Optional[float]:
    from bianxie_core.edit_settings import parse_aspect

    aspect = parse_aspect(text)
    if aspect is not None and not 1 / MAX_ASPECT <= aspect <= MAX_ASPECT:
        raise errors.UsageError(_("The aspect ratio {text} is out of range: give one from 1:10 "
                                  "to 10:1, like 16:9.").format(text=printable(text, 40)))
    return aspect


def _check_context(text: str) -> None:
    """--context as planning reads it, with finite bounds (``inf%`` would plan forever)."""
    value = (text or "").strip().lower()
    if value in ("auto", "layer"):
        return
    try:
        number = float(value[:-1]) if value.endswith("%") else int(value)
        limit = MAX_CONTEXT_SHARE * 100 if value.endswith("%") else MAX_CONTEXT_PX
        ok = math.isfinite(number) and 0 <= number <= limit
    except ValueError:
        ok = False
    if not ok:
        raise errors.UsageError(_("--context must be auto, layer, a number of pixels up to "
                                  "{px} or a percentage up to {pct:g}%, not {value}.").format(
                                      px=MAX_CONTEXT_PX, pct=MAX_CONTEXT_SHARE * 100,
                                      value=printable(text, 40)))


def _send_composites(job, edit, paths: List[Path], args, out) -> int:
    """Send the planned ``edit`` (inpaint.FileEdit) through ``job``, then place each answer
    into the picture and write it."""
    confirm_cost(args, edit.service, edit.request)
    with _sent(args, job, edit.service, edit.request, meta=edit.meta) as outcome:
        results = edit.composite(outcome)
        if not args.quiet:
            for alignment in edit.alignments:
                if alignment and alignment.get("status") == "corrected" and alignment.get("note"):
                    say(alignment["note"])
        return _save_composites(results, outcome, paths, out, edit.request.n or 1)
