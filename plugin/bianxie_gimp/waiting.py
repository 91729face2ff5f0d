"""Waiting for the request worker: a job with its worker ready, GIMP progress while it works,
streamed previews, and the paid images once it is done. Also what a run cost."""

import contextlib
import os
import time

from gi.repository import Gimp

from bianxie_core import config, cost, jobs, logs, standby, transfer
from bianxie_core.errors import BianxieError
from bianxie_core.history import History
from failure import Failure
from faults_for_tests import test_fault, test_progress_shown, test_user_acts_while_waiting
from layer_io import RGBA, decode, write
from plugin_i18n import _

SESSION_TOTAL = "bianxie-session-total"


class Preview:
    """Streamed partial images in a temporary image of their own (shown in a window when the
    run is interactive). It never touches the user's image or its undo history, and is
    deleted when the result arrives. A ``shown-K`` file in the job folder records each one."""

    def __init__(self, job, interactive):
        self.job, self.interactive = job, interactive
        self.image = self.layer = self.display = None
        self.shown = 0

    def update(self, status):
        while self.shown < len(status.partials):
            name = status.partials[self.shown]
            try:
                self._show(decode(self.job.partial_path(name).read_bytes()))
            except Exception:  # a broken preview is no reason to stop waiting
                pass
            (self.job.folder / "shown-{}".format(self.shown)).write_text(name)
            self.shown += 1

    def _show(self, pixels):
        w, h = pixels.width, pixels.height
        if self.image is None or (self.layer.get_width(), self.layer.get_height()) != (w, h):
            self.close()
            self.image = Gimp.Image.new(w, h, Gimp.ImageBaseType.RGB)
            self.image.undo_disable()
            self.layer = Gimp.Layer.new(self.image, _("Preview"), w, h,
                                        Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
            self.image.insert_layer(self.layer, None, 0)
            if self.interactive:
                self.display = Gimp.Display.new(self.image)
        write(self.layer, pixels, RGBA)
        self.image.clean_all()  # closing the preview window must not ask to save it
        Gimp.displays_flush()

    def close(self):
        if self.display is not None and self.display.is_valid():
            self.display.delete()
        elif self.image is not None and self.image.is_valid():
            self.image.delete()
        self.image = self.layer = self.display = None


class Phases:
    """Wall time of each step, logged per run (what the plug-in costs besides the model)."""

    def __init__(self):
        self.last = time.monotonic()
        self.times = []

    def __call__(self, name):
        now = time.monotonic()
        self.times.append((name, now - self.last))
        self.last = now

    def line(self):
        return " ".join("{}={:.3f}".format(n, t) for n, t in self.times)


@contextlib.contextmanager
def early_worker(region=False):
    """A job whose worker is ready or starts loading now, while the plug-in reads the pixels
    or prepares the request; it is cancelled (nothing sent) if that fails. A worker the last
    edit in this GIMP left waiting takes it when there is one (see standby.py). ``region``:
    the worker prepares and places a region edit, so it loads the pixel pipeline too."""
    jobs.clean_stale()
    job = jobs.Job.ready(region=region, terms=standby_terms())
    try:
        yield job
    except BaseException:
        job.discard()
        raise


def standby_terms():
    """How a worker waits for this GIMP's next edit (None: the user turned that off)."""
    seconds = config.load().worker_standby
    gimp = os.getppid()  # GIMP starts the plug-in's process
    return standby.Terms.for_host(seconds, gimp) if seconds else None


def warm_up(run_mode):
    """Before a dialog: a worker loads while the user fills it in, so even the first edit in
    this GIMP finds one waiting."""
    if run_mode != Gimp.RunMode.INTERACTIVE:
        return
    try:
        jobs.warm_up(standby_terms())
    except (BianxieError, OSError):  # a head start only; the run reports
        pass


def submitted(job, record, phases):
    logs.get_logger().info("job %s started: %s %s (%s worker)", job.id, record.procedure,
                           record.settings.model if record.settings else
                           record.fields.get("model"), "waiting" if job.warm else "new")
    phases("submit")


def await_job(job, title, run_mode, phases, needs=()):
    """Wait for the submitted job; return (status, entries, history). ``needs``: the image
    and layer the result goes to, which must have survived the wait."""
    status = wait_for(job, title, run_mode == Gimp.RunMode.INTERACTIVE, needs)
    phases("wait")
    logs.get_logger().info("job %s %s request_ids=%s %s", job.id, status.state,
                           status.request_ids, status.error_type)
    if status.state != "done":
        if not status.results:
            job.remove()
        raise Failure(status.error or _("The request failed."),
                      Gimp.PDBStatusType.CALLING_ERROR if status.refused
                      else Gimp.PDBStatusType.EXECUTION_ERROR)
    add_to_session_total(status.price)
    hist = History(config.home() / "history")
    entries = [hist.get(r.entry) for r in sorted(status.results, key=lambda r: r.index)]
    test_fault("import")
    if not all(item.is_valid() for item in needs):
        job.remove()
        raise Failure(_("The image or layer was closed while the model worked; the result is "
                        "kept: use Filters › AI (便携AI) › Recover Results."))
    return status, entries, hist


def wait_for(job, title, interactive, needs=()):
    """Poll the job folder with GIMP progress; partial images go to a preview."""
    Gimp.progress_init(title)
    preview = Preview(job, interactive)

    shown_at = [-1.0]

    def tick(status, elapsed):
        test_user_acts_while_waiting(needs)
        preview.update(status)
        if elapsed - shown_at[0] < 0.1:  # the status file is read often, GIMP told less
            return
        shown_at[0] = elapsed
        moving, part = status.transfer, None
        if moving is not None and not moving.finished:  # bytes, apart from the model's time
            text = _("{title}: {transfer}… {seconds:.0f} s").format(
                title=title, transfer=transfer.describe(moving.direction, moving.done,
                                                        moving.total), seconds=elapsed)
            part = transfer.fraction(moving.done, moving.total)
        else:
            text = _("{title}: waiting for the model… {seconds:.0f} s").format(
                title=title, seconds=elapsed)
            if preview.shown:
                text += " " + _("({n} previews)").format(n=preview.shown)
        Gimp.progress_set_text(text)
        Gimp.progress_update(part) if part is not None else Gimp.progress_pulse()
        test_progress_shown(text, part)

    try:
        return job.wait(on_tick=tick, interval=0.01, worker_gone=job.worker_exited,
                        timeout=jobs.longest_wait(config.load(), job.record.n))
    finally:
        preview.close()
        Gimp.progress_end()


def session_total():
    """What was spent since GIMP started, kept in a global parasite that is never saved."""
    parasite = Gimp.get_parasite(SESSION_TOTAL)
    return float(bytes(parasite.get_data()).decode()) if parasite else 0.0


def add_to_session_total(price):
    total = session_total() + price
    Gimp.attach_parasite(Gimp.Parasite.new(SESSION_TOTAL, 0, list(repr(total).encode())))
    return total


def usage_text(status):
    if not status.usage:
        return ""
    currency = status.currency or "USD"
    if not status.price_known:  # never shown as a price of 0
        return _("Used {tokens} tokens (price unknown: this model has no price set).").format(
            tokens=status.usage.get("total_tokens", 0))
    return _("Used {tokens} tokens ≈ {price} (since GIMP started: {total}).").format(
        tokens=status.usage.get("total_tokens", 0),
        price=cost.format_price(status.price, currency),
        total=cost.format_price(session_total(), currency))
