from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bianxie_core import config as cfg
from bianxie_core import models
from bianxie_core.errors import ConfigError, UsageError

KEY = "sk-Xy3WuCpTTvYabcdefghijk9876"


@pytest.mark.parametrize(
    "env, platform, expected",
    [
        ({"BIANXIE_HOME": "/srv/bx", "HOME": "/home/u"}, "linux", "/srv/bx"),
        ({"BIANXIE_HOME": "/srv/bx", "APPDATA": "/w/Roaming"}, "win32", "/srv/bx"),
        ({"HOME": "/home/u"}, "linux", "/home/u/.config/bianxie"),
        ({"HOME": "/home/u", "XDG_CONFIG_HOME": "/xdg"}, "linux", "/xdg/bianxie"),
        ({"HOME": "/home/u", "XDG_CONFIG_HOME": "rel/xdg"}, "linux", "/home/u/.config/bianxie"),
        ({"HOME": "/home/u", "XDG_CONFIG_HOME": ""}, "linux", "/home/u/.config/bianxie"),
        ({"APPDATA": "/w/Roaming", "USERPROFILE": "/w"}, "win32", "/w/Roaming/bianxie"),
        ({"USERPROFILE": "/w"}, "win32", "/w/AppData/Roaming/bianxie"),
        ({"HOME": "/Users/u"}, "darwin", "/Users/u/Library/Application Support/bianxie"),
        ({"HOME": "/home/u", "BIANXIE_HOME": ""}, "linux", "/home/u/.config/bianxie"),
    ],
    ids=[
        "env-linux",
        "env-windows",
        "linux-default",
        "linux-xdg",
        "linux-relative-xdg-ignored",
        "linux-empty-xdg",
        "windows-appdata",
        "windows-no-appdata",
        "macos",
        "empty-env-ignored",
    ],
)
def test_home(env, platform, expected):
    assert cfg.home(env, platform) == Path(expected)
    assert cfg.config_path(env, platform) == Path(expected) / "config.json"


def test_missing_file_gives_defaults(tmp_path):
    config = cfg.load(tmp_path / "nope.json", env={})
    assert config == cfg.Config()
    assert config.base_url == cfg.DEFAULT_BASE_URL
    assert config.model == models.DEFAULT_MODEL


def test_default_path_follows_bianxie_home(tmp_path):
    env = {"BIANXIE_HOME": str(tmp_path)}
    (tmp_path / "config.json").write_text(json.dumps({"model": "gpt-image-1"}))
    assert cfg.load(env=env).model == "gpt-image-1"


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "config.json"
    config = cfg.Config(
        api_key=KEY,
        timeout=60.0,
        allow_http=True,
        prices={"gpt-image-1": {"image_out": 35.0}},
        relay_quirks={"https://r/v1": {"no_n": True}},
        max_parallel=2,
    )
    assert cfg.save(config, path) == path
    assert cfg.load(path, env={}) == config


def test_file_created_private(tmp_path, monkeypatch):
    path = tmp_path / "home" / "config.json"
    modes = []
    real_write = os.write

    def spy(fd, data):  # the mode while the key is being written, not only at the end
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    cfg.save(cfg.Config(api_key=KEY), path)
    assert modes and set(modes) == {0o600}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_existing_loose_file_becomes_private(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)
    cfg.save(cfg.Config(api_key=KEY), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    cfg.save(cfg.Config(model="old-model"), path)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(ConfigError, match="the disk is full"):
        cfg.save(cfg.Config(model="new-model"), path)
    assert cfg.load(path, env={}).model == "old-model"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"api_key": "%s", ' % KEY, "not valid JSON"),
        ('["%s"]' % KEY, "not a JSON object"),
        ('{"api_key": "%s", "timeout": "soon"}' % KEY, "timeout"),
        ('{"api_key": "%s", "allow_http": 1}' % KEY, "allow_http"),
        ('{"api_key": "%s", "max_parallel": 0}' % KEY, "max_parallel"),
        ('{"api_key": "%s", "prices": []}' % KEY, "prices"),
        ('{"api_key": 12345678901234567890}', "api_key"),
    ],
    ids=[
        "truncated",
        "list",
        "string-timeout",
        "int-bool",
        "zero-parallel",
        "list-prices",
        "number-key",
    ],
)
def test_corrupt_file_names_path_not_content(tmp_path, content, fragment):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        cfg.load(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert fragment in message
    assert "delete" in message
    assert KEY not in message and "Xy3Wu" not in message
    assert "12345678901234567890" not in message


def test_not_utf8_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"api_key": "\xff\xfe"}')
    with pytest.raises(ConfigError, match="UTF-8"):
        cfg.load(path, env={})


def test_unknown_keys_ignored(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"future_setting": 1, "timeout": 30}))
    config = cfg.load(path, env={})
    assert config.timeout == 30.0 and isinstance(config.timeout, float)


@pytest.mark.parametrize(
    "env, base_url, api_key",
    [
        ({}, "https://file/v1", "from-file-key-0000"),
        ({"BIANXIE_BASE_URL": "https://env/v1"}, "https://env/v1", "from-file-key-0000"),
        ({"BIANXIE_API_KEY": "sk-env"}, "https://file/v1", "sk-env"),
        (
            {"BIANXIE_API_KEY": "  ", "BIANXIE_BASE_URL": ""},
            "https://file/v1",
            "from-file-key-0000",
        ),
    ],
    ids=["file", "env-base-url", "env-key", "blank-env-ignored"],
)
def test_env_overrides(tmp_path, env, base_url, api_key):
    path = tmp_path / "config.json"
    cfg.save(cfg.Config(base_url="https://file/v1", api_key="from-file-key-0000"), path)
    config = cfg.load(path, env=env)
    assert (config.base_url, config.api_key) == (base_url, api_key)


def test_update_does_not_persist_env_overrides(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    cfg.save(cfg.Config(api_key="file-key-123456"), path)
    monkeypatch.setenv("BIANXIE_API_KEY", "sk-env-secret-key")
    cfg.update(path, model="gpt-image-1")
    saved = json.loads(path.read_text())
    assert saved["api_key"] == "file-key-123456"
    assert saved["model"] == "gpt-image-1"


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"timeout": "60"}, {"timeout": 60.0}),
        ({"allow_http": "yes"}, {"allow_http": True}),
        ({"allow_http": "off"}, {"allow_http": False}),
        ({"max_parallel": 2}, {"max_parallel": 2}),
        ({"api_key": "  sk-pasted\n"}, {"api_key": "sk-pasted"}),
        ({"base_url": "https://relay.example/ "}, {"base_url": "https://relay.example/v1"}),
        (
            {"base_url": "http://10.0.0.5:3000", "allow_http": True},
            {"base_url": "http://10.0.0.5:3000/v1", "allow_http": True},
        ),
        ({"prices": '{"m": {"image_out": 1}}'}, {"prices": {"m": {"image_out": 1}}}),
    ],
    ids=[
        "float-text",
        "bool-yes",
        "bool-off",
        "int",
        "key-stripped",
        "base-normalised",
        "http-with-allow",
        "json-text",
    ],
)
def test_update(tmp_path, changes, expected):
    path = tmp_path / "config.json"
    returned = cfg.update(path, **changes)
    loaded = cfg.load(path, env={})
    for name, value in expected.items():
        assert getattr(returned, name) == value
        assert getattr(loaded, name) == value


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"colour": "red"}, "no setting"),
        ({"timeout": "soon"}, "number of seconds"),
        ({"timeout": 0}, "above 0"),
        ({"max_parallel": "0"}, "at least 1"),
        ({"allow_http": "maybe"}, "true or false"),
        ({"base_url": "http://10.0.0.5/v1"}, "allow_http"),
        ({"api_key": "sk-abc def"}, "inside"),
    ],
    ids=[
        "unknown",
        "not-number",
        "zero-timeout",
        "zero-parallel",
        "bad-bool",
        "remote-http",
        "inner-space",
    ],
)
def test_update_refuses(tmp_path, changes, fragment):
    path = tmp_path / "config.json"
    with pytest.raises(UsageError, match=fragment):
        cfg.update(path, **changes)
    assert not path.exists()


def test_update_merges_relay_quirks(tmp_path):
    path = tmp_path / "config.json"
    cfg.remember_quirk("https://r/v1", "no_n", path)
    cfg.remember_quirk("https://r/v1/", "no_stream", path)
    cfg.remember_quirk("https://other/v1", "no_n", path)
    config = cfg.load(path, env={})
    assert cfg.quirks(config, "https://r/v1") == {"no_n", "no_stream"}
    assert cfg.quirks(config, "https://other/v1") == {"no_n"}
    assert cfg.quirks(config, "https://unknown/v1") == set()


@pytest.mark.parametrize(
    "url, allow_http, expected",
    [
        ("https://api.bianxie.ai/v1", False, "https://api.bianxie.ai/v1"),
        ("https://api.bianxie.ai", False, "https://api.bianxie.ai/v1"),
        ("https://api.bianxie.ai/", False, "https://api.bianxie.ai/v1"),
        ("https://api.bianxie.ai/v1/", False, "https://api.bianxie.ai/v1"),
        ("  https://api.bianxie.ai/v1 \n", False, "https://api.bianxie.ai/v1"),
        ("HTTPS://relay.example:8443/openai/v1", False, "https://relay.example:8443/openai/v1"),
        ("http://127.0.0.1:8080", False, "http://127.0.0.1:8080/v1"),
        ("http://127.3.2.1:8080/v1", False, "http://127.3.2.1:8080/v1"),
        ("http://localhost:3000/v1", False, "http://localhost:3000/v1"),
        ("http://[::1]:3000/v1", False, "http://[::1]:3000/v1"),
        ("http://192.168.1.9:3000/v1", True, "http://192.168.1.9:3000/v1"),
    ],
    ids=[
        "base",
        "no-path",
        "trailing-slash",
        "v1-trailing-slash",
        "whitespace",
        "custom-path",
        "http-loopback",
        "http-127-8",
        "http-localhost",
        "http-ipv6-loopback",
        "http-remote-allowed",
    ],
)
def test_normalise_base_url(url, allow_http, expected):
    assert cfg.normalise_base_url(url, allow_http=allow_http) == expected


@pytest.mark.parametrize(
    "url, fragments",
    [
        ("https://api.bianxie.ai/v1/images/generations", ["endpoint", "https://api.bianxie.ai/v1"]),
        ("https://api.bianxie.ai/v1/images/edits/", ["endpoint", "https://api.bianxie.ai/v1 "]),
        ("https://r.example/v1/chat/completions", ["endpoint", "https://r.example/v1 "]),
        ("http://api.bianxie.ai/v1", ["http://", "https://api.bianxie.ai/v1", "allow_http"]),
        ("http://128.0.0.1/v1", ["allow_http"]),
        ("api.bianxie.ai/v1", ["https://", "https://api.bianxie.ai/v1"]),
        ("ftp://api.bianxie.ai/v1", ["https://"]),
        ("https:///v1", ["host"]),
        ("https://api.bianxie.ai/v1?key=1", ["'?'"]),
        ("https://api.bian xie.ai/v1", ["not a web address"]),
        ("", ["not a web address"]),
        ("https://host:99999/v1", ["host"]),
    ],
    ids=[
        "generations-endpoint",
        "edits-endpoint",
        "chat-endpoint",
        "http-remote",
        "http-just-outside-loopback",
        "no-scheme",
        "ftp",
        "no-host",
        "query",
        "inner-space",
        "empty",
        "bad-port",
    ],
)
def test_normalise_base_url_refuses(url, fragments):
    with pytest.raises(UsageError) as info:
        cfg.normalise_base_url(url)
    for fragment in fragments:
        assert fragment in str(info.value) + " "


@pytest.mark.parametrize(
    "file_key, env, expected",
    [
        ("sk-file", {}, "sk-file"),
        ("sk-file", {"BIANXIE_API_KEY": "sk-env"}, "sk-env"),
        ("", {"BIANXIE_API_KEY": "sk-env"}, "sk-env"),
        ("sk-file\n", {}, "sk-file"),
        ("  sk-file  ", {}, "sk-file"),
        ("sk-file", {"BIANXIE_API_KEY": "sk-env\r\n"}, "sk-env"),
        ("sk-file", {"BIANXIE_API_KEY": "   "}, "sk-file"),
    ],
    ids=["file", "env-wins", "env-only", "newline", "spaces", "env-crlf", "blank-env"],
)
def test_resolve_api_key(file_key, env, expected):
    assert cfg.resolve_api_key(cfg.Config(api_key=file_key), env=env) == expected


@pytest.mark.parametrize(
    "file_key, env, fragments",
    [
        ("", {}, ["bianxie config set", "Settings", "BIANXIE_API_KEY"]),
        ("sk-abc defghij", {}, ["inside", "settings"]),
        ("sk-abc\ndefghij", {}, ["inside"]),
        ("sk-file", {"BIANXIE_API_KEY": "sk-abc\tdefghij"}, ["inside", "BIANXIE_API_KEY"]),
        ("sk-abc\u200bdefghij", {}, ["invisible"]),
        ("sk-abc＿defghij", {}, ["non-ASCII"]),
    ],
    ids=["missing", "inner-space", "inner-newline", "env-inner-tab", "zero-width", "fullwidth"],
)
def test_resolve_api_key_refuses(file_key, env, fragments):
    with pytest.raises(ConfigError) as info:
        cfg.resolve_api_key(cfg.Config(api_key=file_key), env=env)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert "defghij" not in message


@pytest.mark.parametrize(
    "key, shown",
    [
        (KEY, "sk-…9876"),
        ("", "(not set)"),
        ("abcdefghijklmnop", "…mnop"),
        ("sk-short", "(set)"),
    ],
    ids=["sk-key", "unset", "other-key", "short-key"],
)
def test_key_never_shown(key, shown):
    config = cfg.Config(api_key=key)
    assert config.redacted()["api_key"] == shown
    for text in (repr(config), str(config), json.dumps(config.redacted())):
        if key:
            assert key not in text
            assert key[:-4] not in text


def test_redacted_hides_proxy_password():
    config = cfg.Config(proxy="http://me:hunter2secret@proxy.lan:3128")
    shown = config.redacted()
    assert shown["proxy"] == "http://me:***@proxy.lan:3128"
    assert config.proxy == "http://me:hunter2secret@proxy.lan:3128"
    assert shown["base_url"] == config.base_url


@pytest.mark.parametrize("proxy", ["ftp://bob:hunter2@host:21", "socks6://bob:hunter2@host:1080",
                                   "http://bob:hunter2@host:99999", "http://bob:hunter2@"])
def test_an_unusable_proxy_is_refused_without_its_password(proxy, tmp_path):
    with pytest.raises(UsageError) as info:
        cfg.update(tmp_path / "c.json", proxy=proxy)
    assert "hunter2" not in str(info.value) and "http://host:port" in str(info.value)


@pytest.mark.parametrize("proxy", ["socks5://bob:hunter2@127.0.0.1:7891",
                                   "socks5h://127.0.0.1:7891", "http://127.0.0.1:7890"])
def test_socks_and_http_proxies_are_accepted(proxy, tmp_path):
    assert cfg.update(tmp_path / "c.json", proxy=proxy).proxy == proxy


def test_a_proxy_is_shown_without_its_password(tmp_path):
    saved = cfg.update(tmp_path / "c.json", proxy=" http://bob:p@ss@host:3128 ")
    assert saved.proxy == "http://bob:p@ss@host:3128"
    assert saved.redacted()["proxy"] == "http://bob:***@host:3128"
    assert cfg.update(tmp_path / "c.json", proxy="").proxy == ""


def test_a_proxy_without_a_scheme_is_taken_as_http(tmp_path):
    assert cfg.update(tmp_path / "c.json", proxy="127.0.0.1:7890").proxy == "http://127.0.0.1:7890"


def test_a_proxy_with_a_space_is_refused_without_being_shown(tmp_path):
    with pytest.raises(UsageError) as info:
        cfg.update(tmp_path / "c.json", proxy="http://bob:sec ret@host:3128")
    assert "sec" not in str(info.value) and "bob" not in str(info.value)


@pytest.mark.parametrize("text, shown", [
    ("http://bob:pa/ss@host:3128", "http://bob:***@host:3128"),
    ("(http://user:p@ss:w@h:1)", "(http://user:***@h:1)"),
    ("bob:secret@host:3128", "bob:***@host:3128"),
    ("Failed to parse: http://u:pw@127.0.0.1:1.", "Failed to parse: http://u:***@127.0.0.1:1."),
    ("see https://platform.openai.com/account/api-keys.", None),
    ("at 12:30@noon, write to help@openai.com", None),
], ids=["slash", "at-sign", "no-scheme", "in-a-sentence", "plain-url", "plain-text"])
def test_url_passwords_are_hidden_and_other_text_is_left(text, shown):
    assert cfg.redact_url_password(text) == (shown or text)


@pytest.mark.parametrize("url", ["https://u:p/w@host/v1", "user:pw@api.example/v1",
                                 "https://relay.example:0/v1"])
def test_base_url_problems_never_quote_a_password(url):
    with pytest.raises(UsageError) as info:
        cfg.normalise_base_url(url)
    assert "pw" not in str(info.value) and "p/w" not in str(info.value)
