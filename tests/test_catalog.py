"""The model catalogue: built-in table, config models, the server's list and its cache."""

from __future__ import annotations

import json

import pytest

from bianxie_core import catalog, errors
from bianxie_core import config as configmod
from tests.fakeapi import FakeServer
from tests.test_client import KEY, run_cli  # noqa: F401

BUILT_IN = ["gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "gpt-image-2",
            "gpt-image-2-2026-04-21", "chatgpt-image-latest"]


class ListingClient:
    """Stands in for ImagesClient: answers list_models() or raises, and counts calls."""

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def __call__(self, cfg):
        return self

    def list_models(self):
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return list(self.answer)


@pytest.mark.parametrize("name, expected", [
    ("gpt-image-1", True), ("my-image-model", True), ("dall-e-3", True), ("DALL-E-2", True),
    ("chatgpt-image-latest", True), ("gpt-4o", False), ("whisper-1", False),
    ("text-embedding-3-small", False), ("custom", True),
], ids=lambda v: str(v))
def test_is_image_model(name, expected):
    assert catalog.is_image_model(name, {"custom": {"sizes": "free"}}) is expected


def test_remote_models_from_fake_server_keeps_image_models(srv):
    cfg = configmod.load()
    names = catalog.remote_models(cfg)
    from tests.fakeapi.families import FAMILY_MODELS

    # issue 15: Seedream, FLUX and Qwen, placed by their names, are image models too
    assert names == sorted(["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2",
                            "gpt-image-2-2026-04-21", "chatgpt-image-latest", "gpt-image-2.5",
                            *FAMILY_MODELS])
    assert [r.path for r in srv.requests] == ["/v1/models"]
    cached = json.loads(catalog.cache_path().read_text())
    assert cached["bases"][cfg.base_url]["models"] == names


def test_fresh_cache_is_used_without_a_request(srv):
    cfg = configmod.load()
    catalog.remote_models(cfg, now=1000.0)
    catalog.remote_models(cfg, now=1000.0 + catalog.CACHE_TTL - 1)
    assert len(srv.requests) == 1
    catalog.remote_models(cfg, now=1000.0 + catalog.CACHE_TTL + 1)  # stale: fetched again
    assert len(srv.requests) == 2
    catalog.remote_models(cfg, now=1000.0 + catalog.CACHE_TTL + 2, refresh=True)
    assert len(srv.requests) == 3


def test_cache_is_per_base_url(home, tmp_path):
    path = tmp_path / "models.json"
    a = configmod.Config(base_url="https://a.example/v1", api_key=KEY)
    b = configmod.Config(base_url="https://b.example/v1", api_key=KEY)
    catalog.remote_models(a, client_factory=ListingClient(["gpt-image-a"]), path=path, now=1)
    catalog.remote_models(b, client_factory=ListingClient(["dall-e-3"]), path=path, now=1)
    offline = ListingClient(errors.TransportError("offline"))
    assert catalog.remote_models(a, client_factory=offline, path=path, now=2) == ["gpt-image-a"]
    assert catalog.remote_models(b, client_factory=offline, path=path, now=2) == ["dall-e-3"]
    assert offline.calls == 0


@pytest.mark.parametrize("failure", [
    errors.TransportError("connection refused"), errors.ConfigError("no key"),
    OSError("socket"), ValueError("bad json"),
], ids=["transport", "no-key", "oserror", "valueerror"])
def test_errors_give_the_stale_cache_and_back_off(home, tmp_path, failure):
    path = tmp_path / "models.json"
    cfg = configmod.Config(base_url="https://relay.example/v1", api_key=KEY)
    catalog.remote_models(cfg, client_factory=ListingClient(["gpt-image-1"]), path=path, now=0)
    late = catalog.CACHE_TTL * 3
    broken = ListingClient(failure)
    assert catalog.remote_models(cfg, client_factory=broken, path=path, now=late) == [
        "gpt-image-1"]
    # the failure is remembered: no second wait within RETRY_AFTER_FAILURE
    catalog.remote_models(cfg, client_factory=broken, path=path, now=late + 5)
    assert broken.calls == 1
    catalog.remote_models(cfg, client_factory=broken, path=path,
                          now=late + catalog.RETRY_AFTER_FAILURE + 1)
    assert broken.calls == 2


def test_no_cache_and_offline_gives_nothing(home, tmp_path):
    cfg = configmod.Config(base_url="https://relay.example/v1", api_key=KEY)
    broken = ListingClient(errors.TransportError("offline"))
    assert catalog.remote_models(cfg, client_factory=broken, path=tmp_path / "m.json") == []
    assert [m.name for m in catalog.catalog(cfg, client_factory=broken,
                                            path=tmp_path / "m.json")] == BUILT_IN


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'{"version": 99}',
                                     b'{"version": 1, "bases": {"x": {"models": [1]}}}'],
                         ids=["empty", "garbage", "list", "other-version", "bad-names"])
def test_broken_cache_file_is_ignored_and_replaced(home, tmp_path, content):
    path = tmp_path / "models.json"
    path.write_bytes(content)
    cfg = configmod.Config(base_url="x", api_key=KEY)
    assert catalog.remote_models(cfg, client_factory=ListingClient(["gpt-image-9"]),
                                 path=path) == ["gpt-image-9"]
    assert json.loads(path.read_text())["bases"]["x"]["models"] == ["gpt-image-9"]


def test_fetch_false_never_asks_the_server(home, tmp_path):
    cfg = configmod.Config(base_url="x", api_key=KEY)
    client = ListingClient(["gpt-image-1"])
    assert catalog.remote_models(cfg, fetch=False, client_factory=client,
                                 path=tmp_path / "m.json") == []
    assert client.calls == 0


def test_catalog_orders_built_in_config_then_server(home, tmp_path):
    cfg = configmod.Config(base_url="x", api_key=KEY,
                           models={"my-image": {"sizes": "free", "input_fidelity": False}})
    client = ListingClient(["gpt-image-1", "my-image", "dall-e-3", "gpt-4o"])
    entries = catalog.catalog(cfg, client_factory=client, path=tmp_path / "m.json")
    assert [m.name for m in entries] == BUILT_IN + ["my-image", "dall-e-3"]
    assert [m.source for m in entries][-2:] == ["config", "server"]
    mine, dalle = entries[-2], entries[-1]
    assert mine.free_size and not mine.input_fidelity and mine.known
    assert not dalle.known


@pytest.mark.parametrize("name, must_have, must_not", [
    ("gpt-image-1", ["1536x1024", "input fidelity"], ["any WxH", "no input"]),
    ("gpt-image-1-mini", ["1024x1536", "no input fidelity"], ["any WxH"]),
    ("gpt-image-2", ["any WxH"], ["no input", "assumed"]),
    ("dall-e-3", ["assumed"], []),
], ids=lambda v: v if isinstance(v, str) else None)
def test_description_states_the_limits(name, must_have, must_not):
    cfg = configmod.Config()
    text = catalog.info(name, cfg, "server").description()
    for part in must_have:
        assert part in text
    for part in must_not:
        assert part not in text


@pytest.mark.parametrize("model, has_free", [("gpt-image-1", False), ("gpt-image-2", True)],
                         ids=["standard", "free"])
def test_size_choices(home, model, has_free):
    sizes = catalog.size_choices(model, configmod.Config())
    assert sizes[:3] == ("1024x1024", "1536x1024", "1024x1536") and sizes[-1] == "auto"
    assert ("2560x1440" in sizes) is has_free


def test_choices_for_the_dialog(srv):
    pairs = catalog.choices()
    names = [n for n, _d in pairs]
    assert names[:len(BUILT_IN)] == BUILT_IN
    assert all(d for _n, d in pairs)
    assert len(names) == len(set(names))


def test_choices_survive_a_broken_config(home, tmp_path, monkeypatch):
    (tmp_path / "home").mkdir(parents=True, exist_ok=True)
    configmod.config_path().write_text("{broken")
    assert [n for n, _d in catalog.choices()] == BUILT_IN


def test_wrong_key_is_not_cached_as_an_empty_list(home, tmp_path):
    with FakeServer(key="sk-other-key-000000000000") as server:
        cfg = configmod.Config(base_url=server.base_url, api_key=KEY)
        assert catalog.remote_models(cfg, path=tmp_path / "m.json") == []
        stored = json.loads((tmp_path / "m.json").read_text())["bases"][server.base_url]
        assert "models" not in stored and stored["failed"] > 0


# --- bianxie models ---------------------------------------------------------------------------
def test_cli_models_offline_lists_the_table_without_a_request(srv, capsys):
    code, out, err = run_cli(["models"], capsys)
    assert code == 0, err
    names = [line.split("\t")[0].rstrip(" *") for line in out.splitlines()]
    assert names == BUILT_IN
    assert srv.requests == []
    assert "gpt-image-1.5 *\t" in out  # the default model is marked


def test_cli_models_remote_adds_the_servers_and_caches(srv, capsys, monkeypatch):
    monkeypatch.setattr(catalog.models, "known_models",
                        lambda extra=None: ["gpt-image-1"] + list(extra or {}))
    code, out, err = run_cli(["models", "--remote"], capsys)
    assert code == 0, err
    names = [line.split("\t")[0] for line in out.splitlines()]
    assert names[0] == "gpt-image-1" and "gpt-image-2-2026-04-21" in names
    assert "gpt-4o" not in names
    assert [r.path for r in srv.requests] == ["/v1/models"]
    code, out2, err = run_cli(["models"], capsys)  # the cache, no second request
    assert out2 == out and len(srv.requests) == 1


def test_cli_models_remote_failure_warns_and_still_lists(home, capsys, monkeypatch):
    monkeypatch.setenv("BIANXIE_BASE_URL", "http://127.0.0.1:9/v1")  # discard port: refused
    code, out, err = run_cli(["models", "--remote"], capsys)
    assert code == 0
    assert [line.split("\t")[0].rstrip(" *") for line in out.splitlines()] == BUILT_IN
    assert "warning" in err and "Traceback" not in err
    assert KEY not in out + err


def test_the_model_menu_groups_the_servers_models_by_family_under_what_they_can_do(srv):
    """Issue 15: the dialog's model menu shows each family once, in the table's order, with
    its door, mask, sizes and references, and a typed model no family fits last, with the way
    to say its door."""
    from bianxie_core import families, models

    menu = catalog.grouped_choices("my-odd-model", fetch=True)
    headings = [label for value, label in menu if value is None]
    assert len(headings) == len(set(headings))
    order = list(families.FAMILIES)
    groups, heading = {}, None
    for value, label in menu:
        if value is None:
            heading = label
        else:
            groups.setdefault(heading, []).append(value)
    for name in ("gemini-3-pro-image-preview", "doubao-seedream-4-5-251128", "flux-kontext-pro",
                 "gpt-image-1.5", "gpt-image-2"):
        family = models.get_model(name).family
        assert name in groups[families.describe(family)], name
    assert "no mask" in families.describe(models.get_model("flux-kontext-pro").family)
    assert groups[headings[-1]] == ["my-odd-model"] and "config set door" in headings[-1]
    known = [h for h in headings[:-1]]
    ranks = [next(i for i, f in enumerate(order) if families.describe(families.FAMILIES[f]) == h)
             for h in known]
    assert ranks == sorted(ranks)
