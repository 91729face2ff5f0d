"""The models a dialog or ``bianxie models`` offers: the built-in table, the config's own
entries, and the server's image models (``GET {base}/models``), cached per base URL.

The server's list is optional: it is cached for a day in ``BIANXIE_HOME/cache/models.json``,
fetched with a short timeout, and a failure is remembered for a while, so an offline machine
never waits for it more than once. Any error gives the cached list (however old) or none.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional

from bianxie_core import config as configmod
from bianxie_core import families, models, params
from bianxie_core.errors import BianxieError
from bianxie_core.i18n import _

CACHE_TTL = 24 * 3600.0  # seconds a fetched list stays fresh
RETRY_AFTER_FAILURE = 600.0  # seconds before a failed fetch is tried again
FETCH_TIMEOUT = 4.0  # seconds, overall, for GET /models
CONNECT_TIMEOUT = 2.0
CACHE_VERSION = 1
# Free-size models take any valid WxH; these are offered besides the standard sizes.
FREE_SIZE_CHOICES = ("2048x2048", "2048x1152", "1152x2048", "2560x1440", "1440x2560")


class ModelInfo(NamedTuple):
    name: str
    sizes: tuple  # what a dialog offers ("auto" last)
    free_size: bool
    input_fidelity: bool
    source: str  # "built-in", "config" or "server"
    known: bool  # False: the server lists it, but its limits are assumed
    family: Optional[families.Family] = None  # None: no family fits; it cannot be sent to

    def description(self) -> str:
        """One line: family, door, mask, sizes (and where the limits come from)."""
        if self.family is None:
            return _("family unknown: say its door with `bianxie config set door "
                     "{model}=images|json|chat`").format(model=self.name)
        if not (self.family.door == "images" and self.family.masks):
            parts = [families.describe(self.family)]
            if not self.known:
                parts.append(_("placed by its name"))
            return " · ".join(parts)
        sizes = _("any WxH (÷16, 1:3–3:1, ≤3840×2160)") if self.free_size else ", ".join(
            s for s in self.sizes if s != "auto")
        parts = [self.family.label, sizes,
                 _("input fidelity") if self.input_fidelity else _("no input fidelity")]
        if not self.known:
            parts.append(_("listed by the server; limits assumed"))
        return " · ".join(parts)


def is_image_model(name: str, extra: Optional[dict] = None) -> bool:
    """An image model by name: "image" in it, in the table or the config, or dall-e*."""
    lower = name.lower()
    return ("image" in lower or lower.startswith("dall-e")
            or name in models.known_models(extra) or families.by_pattern(name) is not None)


def cache_path(home: Optional[Path] = None) -> Path:
    return (home or configmod.home()) / "cache" / "models.json"


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("bases")
    return entries if isinstance(entries, dict) else {}


def _write_cache(path: Path, base_url: str, entry: dict) -> None:
    bases = _read_cache(path)
    bases[base_url] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        configmod.write_private(path, json.dumps(
            {"version": CACHE_VERSION, "bases": bases}, indent=1).encode("utf-8"))
    except OSError:
        pass  # a cache that cannot be written only costs a fetch next time


def _cached_names(entry: dict) -> Optional[List[str]]:
    names = entry.get("models")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None


def _default_client(cfg: configmod.Config, timeout: float = FETCH_TIMEOUT):
    from bianxie_core.client import ImagesClient

    return ImagesClient(cfg.base_url, configmod.resolve_api_key(cfg), timeout=timeout,
                        connect_timeout=min(CONNECT_TIMEOUT, timeout), proxy=cfg.proxy,
                        ca_bundle=cfg.ca_bundle)


def _key_forms(cfg: configmod.Config) -> List[str]:
    try:
        return configmod.key_forms(configmod.resolve_api_key(cfg))
    except BianxieError:
        return []


def remote_models(cfg: Optional[configmod.Config] = None, *, refresh: bool = False,
                  fetch: bool = True, client_factory: Optional[Callable] = None,
                  now: Optional[float] = None, path: Optional[Path] = None,
                  on_error: Optional[Callable[[Exception], None]] = None,
                  timeout: float = FETCH_TIMEOUT) -> List[str]:
    """The server's image models for ``cfg.base_url``: from the cache while it is fresh,
    otherwise fetched (unless ``fetch`` is False); [] when nothing is known.

    ``refresh`` fetches even when the cache is fresh. Errors never escape: they give the
    cached list, however old, and are remembered for ``RETRY_AFTER_FAILURE`` seconds;
    ``on_error`` hears about them.
    """
    cfg = cfg or configmod.load()
    path = path or cache_path()
    now = time.time() if now is None else now
    entry = _read_cache(path).get(cfg.base_url) or {}
    names = _cached_names(entry)
    fetched = float(entry.get("fetched") or 0)
    failed = entry.get("failed")
    fresh = names is not None and 0 <= now - fetched < CACHE_TTL
    if not fetch or (fresh and not refresh):
        return list(names or [])
    if not refresh and isinstance(failed, (int, float)) and 0 <= now - failed < RETRY_AFTER_FAILURE:
        return list(names or [])
    try:
        client = client_factory(cfg) if client_factory else _default_client(cfg, timeout)
        listed = [n for n in client.list_models() if is_image_model(n, cfg.models)]
        secret = _key_forms(cfg)  # an id echoing the key is no model: never cached nor shown
        listed = [n for n in listed if not any(form in n for form in secret)]
    except (BianxieError, OSError, ValueError) as exc:
        listed = []
        if on_error:
            on_error(exc)
    if not listed:  # an error, or a list without image models: keep what was known
        _write_cache(path, cfg.base_url, dict(entry, failed=now))
        return list(names or [])
    _write_cache(path, cfg.base_url, {"fetched": now, "models": listed})
    return listed


def info(name: str, cfg: configmod.Config, source: str) -> ModelInfo:
    spec = models.get_model(name, cfg.models)
    sizes = spec.sizes
    if spec.free_size:
        sizes = models.STANDARD_SIZES + FREE_SIZE_CHOICES + ("auto",)
    return ModelInfo(spec.name, sizes, spec.free_size, spec.input_fidelity, source, spec.known,
                     spec.family)


def catalog(cfg: Optional[configmod.Config] = None, *, remote: bool = True,
            **remote_options) -> List[ModelInfo]:
    """Built-in models, then the config's, then the server's that neither table has."""
    cfg = cfg or configmod.load()
    table = models.known_models()
    out = [info(n, cfg, "built-in") for n in table]
    out += [info(n, cfg, "config") for n in models.known_models(cfg.models) if n not in table]
    if remote:
        seen = {m.name for m in out}
        out += [info(n, cfg, "server") for n in remote_models(cfg, **remote_options)
                if n not in seen]
    return out


def choices(cfg: Optional[configmod.Config] = None, **options) -> List[tuple]:
    """``[(name, description)]`` for a dialog's model field; never raises."""
    try:
        cfg = cfg or configmod.load()
        return [(m.name, m.description()) for m in catalog(cfg, **options)]
    except BianxieError:
        return [(n, "") for n in models.known_models()]


def grouped_choices(current: str = "", cfg: Optional[configmod.Config] = None,
                    **options) -> List[tuple]:
    """The model menu of a dialog: ``[(name or None, label)]``, the models grouped by family
    (in the family table's order, those no family fits last), each group after a heading
    (``None``) saying what its models can do: door, mask, sizes, references. ``current``:
    a model typed in the field, listed though no catalogue knows it. Never raises."""
    try:
        cfg = cfg or configmod.load()
        found = catalog(cfg, **options)
        if current and current not in [m.name for m in found]:
            found.insert(0, info(current, cfg, "config"))
    except BianxieError:
        return [(n, n) for n in models.known_models()]
    order = {name: i for i, name in enumerate(families.FAMILIES)}
    groups: dict = {}
    for m in found:
        groups.setdefault(m.family.name if m.family else None, []).append(m)
    out: List[tuple] = []
    for key in sorted(groups, key=lambda k: order.get(k, len(order))):
        members = groups[key]
        heading = families.describe(members[0].family) if key else _(
            "family unknown: say its door with `bianxie config set door MODEL=images|json|chat`")
        out.append((None, heading))
        for m in members:
            note = "" if m.known else "  —  " + _("placed by its name")
            out.append((m.name, "    " + m.name + note))
    return out


def size_choices(model: str, cfg: Optional[configmod.Config] = None) -> tuple:
    """The sizes a dialog offers for ``model`` (the model's own rules decide what is valid)."""
    try:
        cfg = cfg or configmod.load()
        return info(model or cfg.model, cfg, "").sizes
    except BianxieError:
        return models.STANDARD_SIZES + ("auto",)


def quality_choices(model: str, cfg: Optional[configmod.Config] = None) -> tuple:
    """The qualities a dialog offers for ``model``: its family's ("auto" first); ("auto",)
    alone for a family that takes none (nothing is sent then)."""
    try:
        cfg = cfg or configmod.load()
        family = models.get_model(model or cfg.model, cfg.models).family
    except BianxieError:
        family = None
    if family is None:
        return params.QUALITIES
    return ("auto",) + tuple(q for q in family.qualities if q != "auto")


def fitted_quality(quality: str, taken: tuple) -> str:
    """``quality`` when it is one of ``taken`` (``quality_choices``), else the most a model
    without it takes: high, or auto for a family that takes none."""
    if not quality or quality in taken:
        return quality
    return "high" if "high" in taken else "auto"
