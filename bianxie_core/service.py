"""One image request end to end, the same for the CLI, the job worker and the plug-in.

Validate everything first (nothing is sent on bad input, nor when the history folder cannot
be written), send, and write every returned image to the history the moment it exists. Relay
quirks are handled here and remembered per base URL: a relay that refuses ``n > 1`` gets n
parallel single requests, one that refuses streaming gets a plain request. Neither refusal is
billed (they are 400s), so re-sending is safe; nothing that may be billed is re-sent. Before
sending, the history is pruned to its cap (``history_cap_mb``): only imported entries go.
"""

from __future__ import annotations

import functools
import hashlib
import math
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Union
from urllib.parse import urlsplit

from bianxie_core import config as configmod
from bianxie_core import cost, errors, families, models, transfer
from bianxie_core.error_table import refuses
from bianxie_core.history import Entry, History
from bianxie_core.i18n import _, join_sentences
from bianxie_core.params import EditRequest, GenerateRequest
from bianxie_core.transfer import TransferSink

if TYPE_CHECKING:  # requests loads only where a request is sent (the worker, the CLI)
    from bianxie_core.client import ImagesClient, ImagesResult


_NOT_SENT = object()  # a single request left unsent after an interruption


@dataclass
class SavedImage:
    """A paid image. Its bytes stay on disk, in its history ``entry``, and are read when
    needed: a run of ten large images never holds them all. ``kept``: where they are when
    the history could not keep them (bytes in memory, or a file the worker wrote)."""

    entry: Optional[Entry]
    index: int
    kept: Union[bytes, Path, None] = field(default=None, repr=False)
    gone: bool = False  # its bytes could not be read back: removed or changed since

    @property
    def data(self) -> bytes:
        """The bytes as they arrived; BianxieError (and ``gone``) when the file holding them
        was removed or changed since (the history's sha256 tells)."""
        if isinstance(self.kept, bytes):
            return self.kept
        path = Path(self.kept or self.entry.image_path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = errors.os_reason(exc)
        else:
            expected = self.entry.meta.get("sha256") if self.kept is None else None
            if not expected or hashlib.sha256(data).hexdigest() == expected:
                return data
            reason = _("it was changed after it arrived")
        self.gone = True
        raise errors.BianxieError(_("The paid image {path} cannot be read now ({reason}).").format(
            path=path, reason=reason))


@dataclass
class Outcome:
    images: List[SavedImage]
    usage: dict
    price: float
    currency: str
    request_ids: List[str]
    warnings: List[str]  # the answer is odd (fewer or more images than asked), nothing lost
    job_id: str
    streamed: bool = False
    # one sentence per image paid for but not delivered (a damaged item, a failed variant)
    failures: List[str] = field(default_factory=list)
    history_error: str = ""  # why some images in ``images`` are not in the history
    price_known: bool = True  # False: no price for the model (``price`` is then 0)


@dataclass(frozen=True)
class Checked:
    """A request that passed every check made before paying (``Service.check``); sending it
    checks nothing again."""

    request: Union[GenerateRequest, EditRequest]
    spec: models.ModelSpec
    key: str = field(repr=False)


def model_spec(config: configmod.Config, name: Optional[str] = None) -> models.ModelSpec:
    """The spec of model ``name`` (default: the configured one), with the config's own
    entries: the cheap lookup for a host that sends nothing itself."""
    return models.get_model(name or config.model, config.models)


def _add_usage(total: dict, usage) -> None:
    """Add a result's ``usage`` to ``total``; whatever its shape, never raise (it is read after
    paying)."""
    if not isinstance(usage, dict) or not usage:
        return
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        total[key] = total.get(key, 0) + cost.token_count(usage.get(key))
    if "generated_images" in usage:  # Seedream's per-image billing
        total["generated_images"] = total.get("generated_images", 0) + cost.token_count(
            usage.get("generated_images"))
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    td = total.setdefault("input_tokens_details", {})
    for key in ("text_tokens", "image_tokens"):
        td[key] = td.get(key, 0) + cost.token_count(details.get(key))


def requests_for(config: configmod.Config, n: Optional[int], stream: Optional[bool],
                 model: Optional[str] = None) -> int:
    """How many HTTP requests a run of n images goes out as: one by one when it streams, the
    relay (``config``'s base URL) refuses n > 1 or ``model``'s family has no n, each one
    billing the input again. The one count behind every estimate: the dialogs', the cost
    confirmation's and the CLI's."""
    family = model_spec(config, model).family if model else None
    if family is not None and family.n != "native":
        return n or 1
    if family is not None and not family.stream:
        stream = False
    try:
        base_url = configmod.normalise_base_url(config.base_url, allow_http=config.allow_http)
    except errors.BianxieError:
        base_url = config.base_url  # a base URL still being typed: no quirks known for it
    quirks = configmod.quirks(config, base_url)
    n = n or 1
    streams = bool(stream) and "no_stream" not in quirks
    return n if n > 1 and ("no_n" in quirks or streams) else 1


class Service:
    def __init__(
        self,
        config: Optional[configmod.Config] = None,
        *,
        history: Optional[History] = None,
        client: Optional[ImagesClient] = None,
        retries: int = 0,
        config_path=None,
    ):
        self.config = config or configmod.load(config_path)
        self._config_path = config_path
        self.base_url = configmod.normalise_base_url(
            self.config.base_url, allow_http=self.config.allow_http)
        self.history = history or History(
            configmod.home() / "history", cap_bytes=self.config.history_cap_mb * 2**20)
        self._client = client
        self._retries = retries
        # Set (the CLI's first Ctrl-C, through the worker): single requests not yet sent are
        # not sent; those in flight, which may be billed, are still waited for.
        self.stop_sending = threading.Event()

    @property
    def client(self) -> ImagesClient:
        if self._client is None:
            from bianxie_core.client import ImagesClient

            cfg = self.config
            self._client = ImagesClient(
                self.base_url, configmod.resolve_api_key(cfg), timeout=cfg.timeout,
                connect_timeout=cfg.connect_timeout, proxy=cfg.proxy, ca_bundle=cfg.ca_bundle,
                retries=self._retries, keep_images=False,  # the history has them
            )
        return self._client

    def model(self, name: Optional[str]) -> models.ModelSpec:
        return model_spec(self.config, name)

    def check(self, request) -> Checked:
        """Everything that can fail before paying: input, key, history folder. Send the result
        (``generate``/``edit`` take it): it is not checked again."""
        if isinstance(request, Checked):
            return request
        spec = self.model(request.model)
        if spec.family is None:
            raise families.unplaced(spec.name)
        request.validate(spec)
        key = configmod.resolve_api_key(self.config)
        self._keep_secret(key)
        self.history.check_writable()
        return Checked(request, spec, key)

    def _keep_secret(self, key: str) -> None:
        """A prompt that quotes the key, in any form a server might echo, is redacted."""
        known = set(self.history.secrets)
        self.history.secrets = self.history.secrets + tuple(
            f for f in configmod.key_forms(key) if f not in known)

    def requests_for(self, request) -> int:
        return requests_for(self.config, request.n, request.stream, request.model)

    def generate(self, request: Union[GenerateRequest, Checked], **kw) -> Outcome:
        return self._run("generate", self.check(request), **kw)

    def edit(self, request: Union[EditRequest, Checked], **kw) -> Outcome:
        return self._run("edit", self.check(request), **kw)

    # -- internals ----------------------------------------------------------------------

    def _run(
        self,
        kind: str,
        checked: Checked,
        *,
        on_partial: Optional[Callable[[int, bytes], None]] = None,
        on_saved: Optional[Callable[[SavedImage], None]] = None,
        meta: Optional[dict] = None,
        job_id: Optional[str] = None,
        on_transfer: Optional[TransferSink] = None,
    ) -> Outcome:
        """``on_transfer(direction, done, total)``: the bytes moving (transfer.py), parallel
        variants summed."""
        request, spec = checked.request, checked.spec
        self._prune()
        job_id = job_id or uuid.uuid4().hex[:12]
        quirks = configmod.quirks(self.config, self.base_url)
        saved: List[SavedImage] = []
        warnings: List[str] = []
        failures: List[str] = []
        unkept: List[str] = []  # why the history could not keep an image
        base_meta = {
            "kind": kind,
            "job": job_id,
            "prompt": request.prompt,
            "model": request.model,
            "params": {k: v for k, v in request.fields().items() if k != "prompt"},
            "host": urlsplit(self.base_url).netloc,
            **(meta or {}),
        }

        def sink(index_offset: int):
            def on_image(index: int, data: bytes, info: dict) -> None:
                entry_meta = dict(base_meta, index=index_offset + index,
                                  request_id=info.get("request_id"), usage=info.get("usage"),
                                  time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
                if info.get("broken"):
                    entry_meta["broken"] = info["broken"]
                if info.get("draft"):  # a chat answer's earlier image: kept, not delivered
                    entry_meta["draft"] = True
                try:
                    entry = self.history.record(data, entry_meta)
                except errors.BianxieError as exc:  # a full or read-only disk, after paying
                    if not info.get("broken"):  # a damaged item is reported as a failure
                        unkept.append(exc.message)
                    entry = None
                if not info.get("broken") and not info.get("draft"):
                    item = SavedImage(entry, index_offset + index,
                                      kept=None if entry is not None else data)
                    saved.append(item)  # in memory only when the history failed
                    if on_saved and entry is not None:
                        on_saved(item)
            return on_image

        n = request.n or 1
        if request.stream and ("no_stream" in quirks or not spec.family.stream):
            request = replace(request, stream=None, partial_images=None)
        results: List[ImagesResult] = []
        if self.requests_for(request) > 1:
            results = self._parallel(kind, request, n, sink, on_partial, failures, spec.family,
                                     on_transfer)
        else:
            try:
                results = [self._call(kind, request, sink(0), on_partial, spec.family,
                                      on_transfer)]
            except errors.BadRequestError as exc:
                if not (n > 1 and refuses(exc, "n")):
                    raise
                self._remember("no_n")
                results = self._parallel(kind, request, n, sink, on_partial, failures,
                                         spec.family, on_transfer)
        usage: dict = {}
        for result in results:
            _add_usage(usage, result.usage)
            failures.extend(getattr(result, "failures", None) or ())
            warnings.extend(getattr(result, "warnings", None) or ())
        if failures and not saved:  # nothing usable arrived: an error, not an empty success
            raise errors.ResponseError(join_sentences(*failures))
        saved.sort(key=lambda s: s.index)
        return Outcome(
            images=saved, usage=usage, price=self._price(spec, usage),
            currency=self.config.currency,
            request_ids=[r.request_id for r in results if r.request_id], warnings=warnings,
            job_id=job_id, streamed=any(r.streamed for r in results), failures=failures,
            history_error=unkept[0] if unkept else "",
            price_known=not spec.price_unknown or bool(self.config.prices.get(spec.name)),
        )

    def _price(self, spec: models.ModelSpec, usage: dict) -> float:
        """The usage's price, 0 when it cannot be priced: read after paying, it must not fail
        (bad prices in the settings are refused when the settings are read)."""
        if not usage:
            return 0.0
        try:
            price = cost.actual(spec, usage, prices=self.config.prices)
        except (errors.BianxieError, ArithmeticError, TypeError, ValueError):
            return 0.0
        return price if math.isfinite(price) else 0.0

    def _remember(self, quirk: str) -> None:
        """Remember a relay's quirk for the next run; a config that cannot be saved now costs
        only that (this run goes on, or reports its own error)."""
        try:
            configmod.remember_quirk(self.base_url, quirk, self._config_path)
        except (errors.BianxieError, OSError):
            pass

    def _prune(self) -> None:
        """Keep the history under its cap before adding to it; only imported entries go."""
        try:
            self.history.prune()
        except OSError:
            pass  # a full or read-only disk fails the request where it matters: record()

    def _call(self, kind, request, on_image, on_partial, family=None,
              on_transfer=None) -> ImagesResult:
        generate_or_edit = self.client.generate if kind == "generate" else self.client.edit
        if on_transfer is not None:  # a client without it (a test's) is called as before
            generate_or_edit = functools.partial(generate_or_edit, on_transfer=on_transfer)

        def call(request, **kw):
            if family is None or family.name in ("gpt-image", "gpt-image-2"):
                return generate_or_edit(request, **kw)  # as every client always took it
            return generate_or_edit(request, family=family, **kw)

        try:
            return call(request, on_image=on_image, on_partial=on_partial)
        except errors.BadRequestError as exc:
            if request.stream and refuses(exc, "stream"):
                self._remember("no_stream")
                plain = replace(request, stream=None, partial_images=None)
                return call(plain, on_image=on_image, on_partial=None)
            raise
        except errors.ServerError as exc:
            if not (request.stream and exc.code == "bad_response_body"):
                raise
            # A relay that read the model's stream as JSON: the image may be paid for and is
            # lost there; never re-sent, but the next run goes without streaming.
            self._remember("no_stream")  # the billed error below is what the user must see
            raise errors.ServerError(
                join_sentences(exc.message, _(
                    "This relay cannot pass streamed answers on, so streaming previews are now "
                    "off for it: run it again.")), status_code=exc.status_code, code=exc.code,
                type=exc.type, param=exc.param, request_id=exc.request_id) from None

    def _parallel(self, kind, request, n, sink, on_partial, failures,
                  family=None, on_transfer=None) -> List[ImagesResult]:
        """n single requests, at most ``max_parallel`` at a time. Daemon threads, not a pool:
        an interruption stops the wait at once, and the requests not yet sent are never sent
        (nor after ``stop_sending``); a pool's exit would wait for, and send, them all."""
        single = replace(request, n=None)
        workers = max(1, min(n, int(self.config.max_parallel or 1)))
        todo: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        done: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        stop = threading.Event()
        combined = transfer.Combined(on_transfer) if on_transfer else None
        for i in range(n):
            todo.put(i)

        def work() -> None:
            while not stop.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                if self.stop_sending.is_set():
                    done.put((i, _NOT_SENT))
                    continue
                try:
                    done.put((i, self._call(kind, single, sink(i), on_partial if i == 0 else None,
                                            family, combined.part() if combined else None)))
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                    done.put((i, exc))

        for _i in range(workers):
            threading.Thread(target=work, daemon=True, name="bianxie-variant").start()
        try:
            answers = sorted((done.get() for _i in range(n)), key=lambda pair: pair[0])
        except BaseException:
            stop.set()
            raise
        results, lost, unsent = [], [], 0
        for _i, answer in answers:
            if answer is _NOT_SENT:
                unsent += 1
            elif isinstance(answer, errors.BianxieError):
                lost.append(answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                results.append(answer)
        if unsent:
            failures.append(_("{unsent} of {n} were not sent: the run was interrupted before "
                              "them, so they were not charged.").format(unsent=unsent, n=n))
        if lost:
            failures.append(
                _("{failed} of {n} variants failed: {reason}").format(
                    failed=len(lost), n=n, reason=str(lost[0])))
        if not results:
            raise lost[0] if lost else errors.Cancelled(join_sentences(*failures))
        return results
