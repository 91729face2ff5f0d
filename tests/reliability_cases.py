"""The reliability campaign (issue 5): every case and its documented outcome, in one table.

tests/test_gimp_reliability.py is parametrized from these tables and checks each outcome;
tests/reliability_table.py renders docs/reliability.md from them; tests/test_reliability_table.py
fails when the committed page is not what the tables render.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

DIALECTS = ("openai", "new-api")
PLUGIN = "tests/test_gimp_plugin.py"
HERE = "tests/test_gimp_reliability.py"


class Fault(NamedTuple):
    """One server fault, sent as a selection edit through real GIMP against each dialect."""

    fault: str  # the FakeServer fault name
    case: str  # the words
    result: str  # "error": error status, plain message, image as before; "ok": a result layer
    requests: int  # requests the fake sees; a maybe-billed one is never re-sent
    words: Tuple[str, ...]  # the message (or the warning) holds one of these
    billed: bool  # the message says the request may already have been charged
    outcome: str  # the documented outcome, for docs/reliability.md
    stream: bool = False
    n: int = 1
    latency: float = 0.0  # seconds the fake waits before it answers (or gives up)
    timeout: float = 0.0  # the config's timeout for the case; 0: the default
    fault_count: Optional[int] = None  # the fault hits only the first N requests
    big: bool = False  # a ~24 MB references edit, more than the socket buffers hold


FAULTS = [
    Fault("invalid_param", "400 invalid parameter", "error", 1, ("quality",), False,
          "error naming the parameter; not retried"),
    Fault("moderation", "400 moderation_blocked", "error", 1, ("safety", "violence"), False,
          "error: the safety system rejected it, change the prompt; not retried"),
    Fault("unauthorized", "401", "error", 1, ("401",), False,
          "error: the key was refused, check it in Settings; not retried"),
    Fault("token_exhausted", "401: this key's own quota is used up (new-api)", "error", 1,
          ("quota",), False, "error: the key's quota is used up, raise it or top up (not "
          "\"check the key\"); not retried"),
    Fault("token_expired", "401: the key has expired (new-api)", "error", 1, ("expired",), False,
          "error: the key has expired, extend it or make a new one; not retried"),
    Fault("org_unverified", "403 organisation not verified", "error", 1, ("verified",), False,
          "error: verify the organisation; not retried"),
    Fault("quota_newapi", "403 quota (new-api's Chinese message)", "error", 1,
          ("用户额度不足",), False, "error: balance used up, the relay's words kept"),
    Fault("rate_limit", "429 with Retry-After (once)", "ok", 2, (), False,
          "retried after Retry-After (new-api: backoff), then a result layer", fault_count=1),
    Fault("insufficient_quota", "429 insufficient_quota", "error", 1, ("quota",), False,
          "error: balance used up; never retried"),
    Fault("server_error", "500", "error", 1, ("500",), True,
          "error, may be charged; not re-sent"),
    Fault("bad_gateway_html", "502 with an HTML page", "error", 1, ("502",), True,
          "error without the HTML, may be charged; not re-sent"),
    Fault("unavailable", "503", "error", 1, ("503",), True,
          "error, may be charged; not re-sent"),
    Fault("no_channel", "503: the relay has no channel for the model (new-api)", "error", 1,
          ("another model",), False, "error: choose another model (nothing reached the model, "
          "so not \"may be charged\"); not retried"),
    Fault("timeout_524", "524 after a delay", "error", 1, ("524",), True,
          "error (the proxy gave up waiting), may be charged; not re-sent", latency=1.0),
    Fault("reset_before_body", "connection reset before the body was sent", "error", 3,
          ("connect",), False, "never reached the model: retried twice, then an error "
          "(a ~24 MB references edit, so the reset comes before the body is sent)", big=True),
    Fault("reset_after_body", "connection reset after the body was sent", "error", 1,
          ("lost",), True, "error, may be charged; not re-sent"),
    Fault("read_timeout", "read timeout (timeout 1 s)", "error", 1, ("1 s",), True,
          "error quoting the timeout, may be charged; not re-sent", latency=3.0, timeout=1.0),
    Fault("truncated_b64", "truncated base64", "error", 1, ("base64", "damaged"), True,
          "error; the damaged text is kept in the history as received"),
    Fault("invalid_json", "invalid JSON", "error", 1, ("format", "JSON"), True,
          "error, may be charged; not re-sent"),
    Fault("empty_data", "200 with empty data", "error", 1, ("empty",), True,
          "error, may be charged; not re-sent"),
    Fault("wrong_size", "an image of the wrong size", "ok", 1, ("rescaled",), False,
          "result layer rescaled to the area, with a warning"),
    Fault("url", "url instead of b64_json", "ok", 1, (), False,
          "downloaded (no Authorization header to the other host), result layer"),
    Fault("stream_cut", "a stream cut before completed", "error", 1, ("ended", "lost"), True,
          "error, may be charged; not re-sent", stream=True),
    Fault("stream_error", "an error event in a stream", "error", 1, ("failed",), True,
          "error with the server's words, may be charged; not re-sent", stream=True),
    Fault("refuse_n", "a relay that refuses n > 1 (n = 2)", "ok", 3, (), False,
          "the refusal (400, not billed), then 2 parallel single requests: a group of 2",
          n=2),
    Fault("refuse_stream", "a relay that refuses streaming", "ok", 2, (), False,
          "the refusal (400, not billed), then one plain request: a result layer",
          stream=True),
    Fault("stream_unread", "a relay that sends a streamed edit on but reads the answer as JSON "
          "(new-api 500 bad_response_body)", "error", 1, ("streaming previews",), True,
          "error, may be charged; not re-sent; streaming is turned off for that server, so the "
          "next run works", stream=True),
    Fault("one_api_edits", "(extra) a relay without the edits endpoint (501)", "error", 1,
          ("501",), False, "error: use a base URL that offers edits"),
]


def fault_ids() -> list:
    return [f"{f.fault}-{d}" for f in FAULTS for d in DIALECTS]


class Case(NamedTuple):
    id: str
    area: str  # lost | input | secret | soak | hostile | paid
    case: str
    outcome: str
    where: str  # "GIMP 3.0 + 3.2", "GIMP 3.2", "core", "not testable headless"
    test: str  # the test that checks it


def _gimp(test: str) -> str:
    return f"{HERE}::{test}"


BOTH, ONLY_32 = "GIMP 3.0 + 3.2", "GIMP 3.2"

LOST = [
    Case("kill-after-send", "lost", "the plug-in is killed after the request was sent "
         "(as GIMP's Cancel does)", "the worker finishes; the image is in the history byte for "
         "byte; Recover Results imports it", BOTH,
         f"{PLUGIN}::test_killed_plugin_loses_nothing_and_recover_imports_it"),
    Case("import-fails", "lost", "the import fails after the download (test fault hook), "
         "1 edit + 2 generated variants", "error status with a plain sentence, image as before; "
         "all 3 paid images in the history byte for byte; Recover Results imports all 3", BOTH,
         _gimp("test_failed_import_loses_nothing")),
    Case("insert-fails", "lost", "the import fails after the result layers went in (test "
         "fault hook): an edit with 2 variants, an expand, a generate", "error status; the new "
         "layers are taken out again and the canvas shrinks back, so the image is exactly as "
         "before; all 4 paid images in the history; Recover Results imports them", BOTH,
         "tests/test_gimp_features.py::test_a_failed_import_leaves_the_image_as_it_was"),
    Case("standby-dead", "lost", "the worker waiting for the next edit was killed before the "
         "edit came", "the edit takes its folder back, starts a new worker and sends the "
         "request once", "core", "tests/test_standby.py::"
         "test_a_dead_waiting_worker_is_replaced_and_the_request_sent_once"),
    Case("standby-dies", "lost", "the waiting worker that took the edit dies while the model "
         "works", "the wait ends with a plain sentence pointing at worker.log", "core",
         "tests/test_standby.py::"
         "test_waiting_ends_plainly_when_a_warm_worker_dies_during_the_job"),
    Case("placing-fails", "lost", "placing the answer fails in the worker", "failed status "
         "that says the paid image is kept for Recover Results; the image is in the history "
         "byte for byte", "core",
         "tests/test_region_job.py::test_a_placement_that_fails_keeps_the_paid_image"),
]

# id, case, outcome; checked by test_bad_input (grouped into one GIMP run)
INPUT_ROWS = [
    ("empty-prompt", "empty prompt", "calling error: the prompt is empty; nothing sent"),
    ("prompt-32001", "32,001-character prompt", "calling error naming the limit; nothing sent"),
    ("prompt-chinese", "Chinese prompt", "works; sent and named byte for byte (found and fixed: "
     "the layer's parasite failed with OverflowError for any non-ASCII prompt)"),
    ("prompt-emoji", "emoji prompt", "works; sent and named byte for byte"),
    ("generate-no-image", "Generate with no image open", "a new image with the result"),
    ("edit-no-image", "Edit with no image open", "GIMP's PDB refuses the call (the image "
     "argument is required) before the plug-in runs: a calling error; in the UI the entry is "
     "greyed out"),
    ("no-drawable", "no drawable", "calling error: select a layer"),
    ("layer-group", "a layer group as the drawable", "calling error: select one of its layers"),
    ("text-layer", "a text layer as the drawable", "works: its pixels are edited, the text "
     "layer stays as it was"),
    ("channel", "a channel as the drawable", "calling error: select a layer"),
    ("layer-mask", "a layer mask as the drawable", "calling error: select a layer"),
    ("indexed", "an indexed image", "calling error: convert to RGB first; nothing sent"),
    ("grayscale", "a grayscale image", "works: a grayscale result layer"),
    ("u16", "a 16-bit image", "works"),
    ("f32", "a 32-bit float image", "works"),
    ("one-pixel", "a 1×1 layer", "works: a 1×1 result layer"),
    ("huge-layer", "a 20000×20000 layer with a 64×48 selection", "works in seconds; only the "
     "crop is read and the result layer is small"),
    ("selection-outside", "a selection that does not touch the layer", "calling error: the "
     "selection does not touch the layer; nothing sent"),
    ("edge-left", "a selection touching the left edge", "works; the result stays aligned "
     "inside the layer"),
    ("edge-top", "a selection touching the top edge", "works; aligned"),
    ("edge-right", "a selection touching the right edge", "works; aligned"),
    ("edge-bottom", "a selection touching the bottom edge", "works; aligned"),
    ("n-0", "n = 0 (Script-Fu)", "GIMP refuses the argument (out of range 1–10) before the "
     "plug-in runs; from Python the config keeps 1; nothing sent"),
    ("n-11", "n = 11 (Script-Fu)", "GIMP refuses the argument (out of range 1–10) before the "
     "plug-in runs; nothing sent"),
    ("size-unknown", "a size the model does not take (800x600 on gpt-image-1)",
     "calling error naming the sizes; nothing sent"),
    ("fidelity-mini", "input_fidelity=high with gpt-image-1-mini", "works; the field is "
     "dropped (a remembered dialog setting must not break another model; the CLI refuses "
     "it instead)"),
    ("transparent-jpeg", "transparent background with JPEG output", "calling error: "
     "transparency needs png or webp; nothing sent"),
    ("refs-17", "17 images (the layer + 16 references)", "calling error: at most 16 images; "
     "nothing sent"),
    ("huge-reference", "a 6000×4000 reference layer", "scaled down: every image[] part fits "
     "the API size"),
    ("corrupt-config", "a corrupt config file", "calling error naming the file, without its "
     "content; nothing sent"),
    ("history-unwritable", "an unwritable history folder (a file in its place: GIMP runs as "
     "root in the test root, which ignores permissions)", "refused before paying: 0 requests"),
    ("base-url-no-v1", "a base URL without /v1", "normalised to …/v1; works"),
    ("base-url-slash", "a base URL with a trailing slash", "normalised; works"),
    ("base-url-http", "an http:// remote base URL", "calling error: it would send the key "
     "unencrypted; the setting is unchanged"),
    ("key-newline", "a key with a trailing newline", "stripped; works"),
    ("key-space", "a key with a space inside", "calling error: copy it again; nothing sent"),
    ("layer-deleted", "the source layer deleted while waiting", "while-waiting"),
    ("image-closed", "the image closed while waiting", "while-waiting"),
]

# A batch script is blocked inside the PDB call, so a test hook in the adapter does what the
# user would (deletes the layer / closes the image through the PDB) while the model works.
WHILE_WAITING = {"layer-deleted": "delete-layer", "image-closed": "close-image"}
ONLY_ON_32 = {"link-layer", "vector-layer"}
INPUT_ROWS_32 = [
    ("link-layer", "a link layer as the drawable", "works: its pixels are edited"),
    ("vector-layer", "a vector layer as the drawable", "works: its pixels are edited"),
]


def input_cases() -> list:
    rows = []
    for id_, case, outcome in INPUT_ROWS + INPUT_ROWS_32:
        if outcome == "while-waiting":
            rows.append(Case(id_, "input", case, "error status saying the result is kept; no "
                             "layer added anywhere; the paid image waits in the history for "
                             "Recover Results; no job folder left (the user's action is done "
                             "by a test hook through the PDB during the wait)", BOTH,
                             "tests/test_gimp_features.py::test_image_closed_or_layer_deleted_"
                             f"while_waiting[{WHILE_WAITING[id_]}]"))
            continue
        where = ONLY_32 if id_ in ONLY_ON_32 else BOTH
        rows.append(Case(id_, "input", case, outcome, where, _gimp(f"test_bad_input[{id_}]")))
    return rows


SECRETS = [
    Case("sweep-gimp", "secret", "canary key: GIMP's profile (pluginrc and the other rc files), "
         "a saved XCF with result layers and parasites, history, job folders, logs, output",
         "no hit in clear, URL-encoded or base64 form outside config.json", BOTH,
         f"{PLUGIN}::test_no_file_written_holds_the_key"),
    Case("sweep-campaign", "secret", "canary key: the same sweep after this campaign's runs "
         "(every fault, broken history entries, bad input, the soak)", "no hit outside "
         "config.json; nothing in GIMP's output", BOTH,
         _gimp("test_campaign_left_no_key_in_any_file")),
    Case("sweep-core", "secret", "canary key: CLI, service and worker runs, every exception text",
         "no hit; echoing relays scrubbed", "core", "tests/test_secrets_core.py"),
    Case("last-files", "secret", "GIMP's .last settings of an interactive dialog",
         "not written headless (no dialog runs in batch mode); the procedures take no key "
         "argument, so none can hold it", "not testable headless", "—"),
    Case("config-0600", "secret", "the config file the plug-in writes", "mode 0600", BOTH,
         _gimp("test_config_file_is_private")),
    Case("url-no-auth", "secret", "url answer pointing to another host",
         "the download carries no Authorization header", BOTH,
         _gimp("test_fault_matrix[url-openai]")),
]

SOAK = [
    Case("soak-30", "soak", "30 consecutive edits in one running GIMP (after the fault matrix), "
         "history_cap_mb = 1", "all succeed; no job folder but the waiting worker's; no temp "
         "file; log under its rotation bound; history under the cap plus the last run, no "
         "pending entry deleted; one waiting worker served all 30 edits and none is left "
         "once GIMP exits", BOTH, _gimp("test_soak")),
]


HOSTILE_CORE = "tests/test_client_hostile.py"
WIRE = "tests/test_wire.py"


def _core(test: str) -> str:
    return f"{HOSTILE_CORE}::{test}"


# Issue 13: ordinary-but-untested and hostile server behaviour (FakeServer knobs in
# tests/fakeapi/hostile.py). The fake gzips every answer by default, so every other test in
# this page and the suite also runs against compressed answers.
HOSTILE = [
    Case("gzip-json", "hostile", "a server that gzips (or deflates, zlib-wrapped or raw) its "
         "JSON, as nginx and CDN fronts do", "decoded; the image is delivered and kept", "core",
         _core("test_compressed_json_answers_are_decoded")),
    Case("gzip-gimp", "hostile", "the same in real GIMP (gzip and deflate)", "a result layer; "
         "the decoded image is in the history", BOTH, _gimp("test_compressed_answers_in_gimp")),
    Case("gzip-sse", "hostile", "a compressed stream (SSE)", "decoded event by event; previews "
         "and the final image arrive", "core", _core("test_compressed_streams_are_decoded")),
    Case("gzip-429", "hostile", "a gzipped 429 insufficient_quota", "a quota error, never "
         "retried (1 request)", "core",
         _core("test_compressed_429_insufficient_quota_is_a_quota_error_never_retried")),
    Case("gzip-html", "hostile", "a gzipped HTML error page", "its title, never the HTML",
         "core", _core("test_compressed_html_error_page_gives_its_title")),
    Case("gzip-url", "hostile", "a gzipped url download", "decoded", "core",
         _core("test_compressed_url_download_is_decoded")),
    Case("gzip-bomb", "hostile", "a gzip bomb behind a url answer (200 MB of zeros)",
         "stopped at the 64 MB download cap; nothing recorded as an image", "core",
         _core("test_gzip_bomb_behind_a_url_stops_at_the_cap")),
    Case("bad-item", "hostile", "n = 4 with item 0 broken: null, bad base64, a number or a list "
         "for b64_json/url, an {\"error\": …} item, http://[::1, file://, cut base64, HTML bytes, "
         "not an object", "the 3 good images delivered and kept; the broken one recorded when "
         "it has bytes and described in ImagesResult.failures", "core",
         _core("test_one_broken_item_does_not_cost_the_good_ones")),
    Case("bad-item-gimp", "hostile", "n = 2 with item 0 broken, in real GIMP", "a result layer; "
         "the good image and the broken one in the history", BOTH,
         _gimp("test_a_bad_item_among_good_in_gimp")),
    Case("no-good-item", "hostile", "every item broken", "an error as before, may be charged",
         "core", _core("test_no_good_item_raises_as_before")),
    Case("file-url", "hostile", "a file:// url answer", "\"a link that cannot be downloaded\", "
         "never \"from None\"", "core", _core("test_file_url_says_it_cannot_be_downloaded")),
    Case("counts", "hostile", "more images than asked (up to n + 40) or fewer",
         "every image kept, as each may be billed, but never more than ten (then a warning); "
         "fewer than asked: a warning", "core",
         _core("test_wrong_image_counts_keep_what_was_paid_up_to_ten")),
    Case("cut-on-boundary", "hostile", "base64 cut on a 4-character boundary (it still decodes)",
         "not delivered: an incomplete PNG is a broken item", "core",
         _core("test_truncated_base64_on_a_boundary_is_not_delivered")),
    Case("image-check", "hostile", "cut PNG/JPEG/WebP, a bad PNG CRC, HTML or other bytes",
         "a broken item; the whole-image check walks PNG chunks to IEND with CRCs, JPEG SOI to "
         "EOI, WebP's RIFF length", "core", f"{WIRE}::test_cut_images_fail"),
    Case("format", "hostile", "JPEG or WebP bytes where PNG was expected", "the actual format "
         "is reported (ResultImage.format)", "core", _core("test_the_actual_format_is_reported")),
    Case("lenient-b64", "hostile", "base64 with line breaks, URL-safe, without padding, or as a "
         "data: URL", "decoded (wire.decode_b64)", "core", _core("test_base64_as_relays_send_it")),
    Case("sse-junk", "hostile", "malformed events before the final one (partial_image_index "
         "null, data that is a number, list, string or broken JSON)", "skipped; the final "
         "image is delivered", "core",
         _core("test_malformed_events_before_the_final_one_lose_nothing")),
    Case("sse-string-error", "hostile", "an SSE error that is a bare string, with escape codes",
         "its words, printable, never \"?\"", "core",
         _core("test_an_sse_error_that_is_a_bare_string_says_it")),
    Case("sse-one-space", "hostile", "an SSE field value with two leading spaces",
         "exactly one is dropped (the SSE spec)", "core",
         f"{WIRE}::test_sse_strips_exactly_one_leading_space"),
    Case("sse-endless-event", "hostile", "an SSE event that never ends", "stopped at 80 MB",
         "core", f"{WIRE}::test_sse_stops_an_endless_event"),
    Case("echo-key", "hostile", "the key echoed in an error's message, param, code, type, an "
         "HTML title, X-Request-Id or an SSE error code (gzipped or not)", "in no exception "
         "attribute or message", "core", _core("test_an_echoed_key_is_in_no_exception_attribute")),
    Case("echo-key-gimp", "hostile", "the key echoed in param, an HTML title or X-Request-Id, "
         "in real GIMP", "in no file under the profile or BIANXIE_HOME but config.json, and "
         "not in GIMP's output", BOTH, _gimp("test_an_echoed_key_in_gimp")),
    Case("terminal", "hostile", "escape sequences, OSC 52/8, a fake \"error:\" line and a "
         "megabyte in a server's message", "one printable line, capped", "core",
         f"{WIRE}::test_server_text_is_made_terminal_safe"),
    Case("models", "hostile", "model ids with escape codes; items that are not objects",
         "printable ids; junk skipped", "core",
         _core("test_model_ids_are_printable_and_junk_items_are_skipped")),
    Case("trickle", "hostile", "headers or a body trickled at 1 byte per 0.2 s (timeout 1 s)",
         "a timeout error at the deadline", "core", _core("test_a_trickle_ends_at_the_deadline")),
    Case("trickle-download", "hostile", "a trickling url download", "ends at the call's "
         "deadline", "core", _core("test_a_trickling_download_ends_at_the_deadline")),
    Case("trickle-gimp", "hostile", "a body trickled at 1 byte per 0.5 s, timeout 3 s, in real "
         "GIMP", "an error within the deadline plus 5 s; no job folder left", BOTH,
         _gimp("test_a_trickling_body_ends_within_its_deadline_in_gimp")),
    Case("endless", "hostile", "an endless JSON body", "stopped at the answer cap (72 MB for "
         "n = 1); memory stays low (spooled to a temporary file)", "core",
         _core("test_an_endless_body_stops_at_the_cap")),
    Case("huge", "hostile", "an answer larger than 16 MB (24 MB of base64)", "spooled to a "
         "temporary file; each image read back in turn", "core",
         _core("test_a_large_answer_is_spooled_and_delivered")),
    Case("429-deadline", "hostile", "429 asking to wait longer than the time left", "the rate "
         "limit error at once: --timeout bounds retries", "core",
         _core("test_429_waits_are_bounded_by_the_timeout")),
    Case("timeout-inf", "hostile", "timeout 1e10, inf or NaN reaching the client", "bounded "
         "to a day; the paid image is delivered (no OverflowError after paying)", "core",
         _core("test_a_huge_timeout_never_overflows_after_paying")),
    Case("redirect", "hostile", "a 301/302/307/308 answer", "\"the base URL has moved\", "
         "naming where (no query); not retried, not billed", "core",
         _core("test_a_redirect_says_the_base_url_moved")),
    Case("error-in-200", "hostile", "a 200 holding {\"error\": …} (quota)", "mapped through the "
         "error table: a quota error", "core",
         _core("test_a_200_holding_an_error_goes_through_the_error_table")),
    Case("usage-junk", "hostile", "usage fields that are strings, 1e400, lists, booleans, "
         "negative or not an object", "sanitised to non-negative ints (or None); nothing crashes "
         "after paying", "core", _core("test_junk_usage_never_crashes_after_paying")),
    Case("filename", "hostile", "CR/LF or quotes in an input file's name", "quoted (HTML5 "
         "style, urllib3's encoder); the multipart headers hold", "core",
         _core("test_file_names_cannot_break_the_multipart_headers")),
    Case("sdk-bytes", "hostile", "the edit's multipart body", "byte for byte the SDK's (same "
         "boundary)", "core", "tests/test_wire_bytes.py::test_edit_body_is_byte_identical_to_"
         "the_sdk"),
    Case("n-refusal", "hostile", "\"n>1 is not supported by this channel\" with param null",
         "recognised as an n refusal (error_table.refuses)", "core",
         _core("test_a_relays_n_refusal_without_param_is_recognised")),
] + [
    Case("rt-" + short, "hostile", case, outcome, "core", "tests/test_redteam_client.py::" + test)
    for short, case, outcome, test in [
        ("deep-json", "a JSON answer nested 10,000 levels deep (small, and spooled)",
         "\"nested too deeply to be read\", may be charged; never \"not JSON\"",
         "test_a_deeply_nested_answer_says_so_not_that_it_is_not_json"),
        ("gzip-tail", "a whole gzip answer followed by zero padding or stray bytes",
         "the bytes after the last member are ignored (as curl and urllib3 do); the image is "
         "delivered", "test_bytes_after_a_whole_gzip_answer_are_ignored"),
        ("stacked", "Content-Encoding: gzip, gzip (or deflate, gzip; identity, gzip)",
         "each coding undone, the last applied first", "test_stacked_content_encodings_are_"
         "undone_in_order"),
        ("deflate-bytes", "a deflate answer (zlib-wrapped or raw) sent one byte at a time",
         "decoded: the wrapping is told from the first two bytes, whichever chunks they "
         "come in", "test_a_deflate_answer_sent_byte_by_byte_is_decoded"),
        ("gzip-cut", "a gzip answer cut before its end",
         "\"the compressed answer was cut off\", may be charged; never \"not JSON, a web "
         "page\"", "test_a_cut_gzip_answer_says_it_was_cut_not_that_it_is_a_web_page"),
        ("br", "br (or zstd) sent although not asked for",
         "an error naming the coding, may be charged; not re-sent",
         "test_an_unasked_coding_is_named_and_may_be_billed"),
        ("bom", "JSON after a UTF-8 BOM, or in UTF-16", "read (json tells them by their bytes)",
         "test_json_after_a_bom_or_in_utf16_is_read"),
        ("bigint", "an integer of 5000 digits in a field nobody reads",
         "the answer is read (Python refuses ints over 4300 digits; such a field becomes inf)",
         "test_a_huge_integer_in_a_field_nobody_reads_does_not_cost_the_answer"),
        ("data-object", "data as one object instead of a list of one", "the one image",
         "test_data_as_one_object_is_the_one_image"),
        ("go-error", "\"error\": null or an empty error object beside a good image (a Go "
         "relay's struct)", "no error: the image is delivered",
         "test_a_go_relays_empty_error_beside_an_image_is_no_error"),
        ("data-url", "a data: URL in url", "decoded as the image itself",
         "test_a_data_url_in_url_is_the_image_itself"),
        ("port", "a url with port 99999, abc or 0", "a broken item (\"cannot be downloaded\"), "
         "never a ValueError after paying; the other items delivered",
         "test_a_url_with_an_impossible_port_is_a_broken_item_not_a_crash"),
        ("1xx", "103 Early Hints, 102 Processing (repeated) before the answer",
         "skipped (RFC 9110: any number of 1xx); the answer behind them is read",
         "test_interim_1xx_answers_before_the_answer_are_skipped"),
        ("304", "a 304 to a POST", "an error that may be charged, not \"the base URL moved\"",
         "test_a_304_is_not_called_a_moved_base_url"),
        ("sse-lines", "a stream with CR-only line ends, a BOM, or whose last event lacks its "
         "blank line or final newline (whole or byte by byte)",
         "the final image is delivered", "test_streams_as_servers_really_end_and_break_lines"),
        ("sse-go-error", "\"error\": null or an empty error object in every event",
         "no error: the final image is delivered",
         "test_a_go_relays_empty_error_in_every_event_is_no_error"),
        ("sse-error-text", "event: error with a string or non-JSON data",
         "an error with its words, not \"the stream ended\"",
         "test_an_error_event_that_is_not_an_object_says_its_words"),
        ("retry-date-far", "429 with Retry-After as an HTTP date two hours ahead",
         "the rate limit error at once (\"wait 120 minutes\"); not retried",
         "test_a_retry_after_date_hours_ahead_is_not_retried_at_once"),
        ("retry-date-near", "429 with Retry-After as an HTTP date 20 s ahead",
         "waited for, then retried once", "test_a_retry_after_date_seconds_ahead_is_waited_for"),
        ("early-413", "413 sent while a 20 MB edit is still uploading",
         "\"larger than the server accepts (HTTP 413)\", not charged; 1 request",
         "test_an_early_413_while_uploading_says_too_large_and_is_not_billed"),
        ("upload-stall", "a server that stops reading a 20 MB upload",
         "at the deadline: \"could not be sent\", not charged (the body never all left)",
         "test_a_server_that_stops_reading_the_upload_is_not_billed"),
        ("ctype-key", "the key echoed in the Content-Type of a non-JSON answer",
         "in no exception text or attribute (an odd media type is shown as ?)",
         "test_the_key_in_a_content_type_is_never_shown"),
        ("origin", "an image url on the API's origin with its default port written out (or "
         "left out), or another port, scheme or host",
         "the key goes with the download exactly when the origin is the API's (RFC 6454, "
         "default ports equal); an impossible port is another origin, not a crash",
         "test_the_key_goes_to_the_apis_own_origin_with_or_without_its_default_port"),
        ("echo-chain", "the key echoed in an SSE event name, a gzipped SSE error text, nested "
         "error objects, Set-Cookie / WWW-Authenticate / X-Oneapi-Request-Id, a Location's "
         "userinfo, path, query or host, a url answer's host, broken JSON, a 200's error",
         "in no exception text or attribute, nor in the exceptions chained to it (json's "
         "error held the whole answer; requests' the host), in any letter case",
         "test_an_echoed_key_is_in_no_exception_nor_its_chain_in_any_case"),
        ("upload-late", "a server that stops reading a 20 MB upload, then reads again after "
         "the deadline", "the rest of the body is never sent (the body refuses to be read on "
         "once given up), so \"not charged\" stays true",
         "test_an_upload_given_up_at_the_deadline_is_never_completed_later"),
        ("error-trickle", "a 500 whose headers come just before the deadline, its body "
         "trickled", "the body is read by the call's deadline plus one second (it had 30 s "
         "from the headers)",
         "test_an_error_page_trickled_at_the_deadline_is_read_by_the_calls_deadline"),
        ("sniff", "a streamed answer labelled text/plain, application/octet-stream or "
         "application/json; JSON labelled text/event-stream",
         "told by its first bytes ({ or [: JSON; data:, event:, id:, retry: or a comment: a "
         "stream): the image is delivered",
         "test_a_streamed_answer_is_told_by_its_bytes_not_only_its_label"),
        ("sniff-html", "a web page answering a streamed request",
         "still \"not JSON … a web page\", may be charged",
         "test_a_web_page_answering_a_streamed_request_is_still_called_one"),
        ("unreadable", "an answer urllib3 refuses after the body was sent (two Content-Lengths "
         "that differ)", "\"the answer could not be read\", may be charged; 1 request (it "
         "was a never-billed connect error, re-sent twice)",
         "test_an_unreadable_answer_after_the_body_was_sent_is_billed_and_never_re_sent"),
        ("cr-open", "a CR-only stream left open after its final event",
         "the final image at once: a lone CR ends its line without waiting for the next byte",
         "test_a_cr_only_stream_left_open_after_its_final_event_delivers_at_once"),
        ("fake-interim", "the fake's interim (103 + 102 before every answer) and gzip_tail "
         "knobs (bytes after a gzip or deflate body)", "a result, as with the raw server",
         "test_the_fake_sends_interim_answers_and_bytes_after_the_compressed_body"),
        ("fake-sse", "the fake's sse_eol (CR, CRLF; gzipped too) and sse_type (text/plain) "
         "knobs", "previews in order and the final image",
         "test_the_fake_streams_with_other_line_ends_and_labels"),
    ]
]


# Issue 13, the paying side: what the CLI and the service do with what arrives, the
# user's disks, settings and terminal.
PAID = [
    Case('paid-bad-first', "paid", 'n = 4, the first item damaged',
         'the 3 good images in the history and written; exit 1: "3 of 4 images arrived." and what became of the fourth', "core", "tests/test_cli_paid.py::test_a_damaged_first_item_loses_only_itself"),
    Case('paid-bad-only', "paid", 'the only item damaged',
         'exit 1, a billed error naming the damage; nothing written', "core", "tests/test_cli_paid.py::test_a_single_damaged_item_is_an_error_not_an_empty_success"),
    Case('paid-variant', "paid", 'a parallel variant fails',
         'the others written; exit 1', "core", "tests/test_cli_paid.py::test_a_parallel_variant_that_fails_is_an_exit_1_with_the_rest_written"),
    Case('paid-history-full', "paid", "the history's disk is full after paying (a real tmpfs)",
         'the output written; exit 1: paid and written to …, but the history could not keep a copy', "core", "tests/test_cli_paid.py::test_a_full_history_disk_still_writes_the_paid_output"),
    Case('paid-both-full', "paid", "the history's and the output's disks both full",
         'exit 1: paid, and lost, in words', "core", "tests/test_cli_paid.py::test_neither_history_nor_output_can_keep_it_says_it_is_lost"),
    Case('paid-efbig', "paid", 'a file size limit (RLIMIT_FSIZE, EFBIG) after paying',
         'exit 1: paid … lost; never exit 2', "core", "tests/test_cli_paid.py::test_a_file_size_limit_after_paying_is_said_not_exit_2"),
    Case('out-nearly-full', "paid", "the output's disk nearly full (tmpfs)",
         'the old file intact, no temporary file left; the image in the history', "core", "tests/test_cli_paid.py::test_a_full_disk_leaves_the_old_output_intact"),
    Case('out-replace', "paid", 'an existing output replaced, or one behind a link',
         'written through the link, its mode kept, atomically', "core", "tests/test_cli_paid.py::test_replacing_an_output_keeps_its_mode_and_writes_through_a_link"),
    Case('out-dangling', "paid", 'the output is a dangling symlink',
         'exit 2 before paying', "core", "tests/test_cli_paid.py::test_a_dangling_link_as_output_is_refused_before_paying"),
    Case('out-long', "paid", 'an output name over 255 bytes',
         'exit 2 before paying', "core", "tests/test_cli_paid.py::test_an_output_name_too_long_for_a_file_is_refused_before_paying"),
    Case('probe-once', "paid", 'one run',
         'the history is probed (an fsynced write) once by the CLI and once by the worker before paying, never per image', "core", "tests/test_cli_paid.py::test_the_history_is_probed_once_per_run"),
    Case('probe-folder', "paid", 'many outputs in one folder',
         'the folder probed once', "core", "tests/test_cli_paid.py::test_many_outputs_in_one_folder_probe_it_once"),
    Case('model-lookup', "paid", 'looking a model up',
         "needs no Service (the plug-in's dialogs)", "core", "tests/test_cli_paid.py::test_model_spec_needs_no_service"),
    Case('early-worker-cancel', "paid", 'a run refused at the cost question after its worker started',
         'exit 2, nothing sent; the worker exits and the job folder goes', "core", "tests/test_cli_paid.py::test_a_run_refused_before_sending_cancels_its_early_worker"),
    Case('worker-flags', "paid", '`--base-url`, `--timeout` with a config that says otherwise (the real worker process)',
         'the worker sends with the flags; the output written and imported', "core", "tests/test_cli_paid.py::test_the_worker_process_takes_this_runs_flags"),
    Case('worker-bug', "paid", 'a bug in the request worker',
         'exit 1, one line naming the worker\'s log (kept) and the history', "core", "tests/test_cli_paid.py::test_a_bug_in_the_worker_is_one_line_naming_its_log"),
    Case('worker-errors', "paid", "an API error met by the worker (moderation, 401, quota, 500, HTML 502)",
         "the CLI says the client's own sentence and billing note, one line, with its exit code", "core", "tests/test_cli_paid.py::test_the_workers_error_is_the_error_the_cli_had"),
    Case('bad-n', "paid", '`-n -1`, `0`, `11`, `10000000`',
         'exit 2 before any probe file is made; nothing sent', "core", "tests/test_cli_paid.py::test_a_bad_n_is_refused_before_any_probe"),
    Case('timeout-flag', "paid", '`--timeout 1e10`, `inf`, `nan`, `3601`',
         'exit 2, one line, nothing sent', "core", "tests/test_cli_settings_safety.py::test_a_timeout_flag_out_of_bounds_is_one_line"),
    Case('timeout-config', "paid", '`config set timeout inf`',
         'exit 2; the file never holds Infinity', "core", "tests/test_cli_settings_safety.py::test_config_set_timeout_refuses_non_finite_and_huge"),
    Case('timeout-file', "paid", 'config.json holding Infinity, NaN, 1e400 or 1e10',
         'exit 2, a plain sentence, nothing sent', "core", "tests/test_cli_settings_safety.py::test_a_config_file_with_non_finite_numbers_is_a_sentence_before_paying"),
    Case('no-infinity', "paid", 'any settings write',
         'never Infinity or NaN in the file', "core", "tests/test_cli_settings_safety.py::test_the_settings_are_never_written_with_infinity"),
    Case('bad-tables', "paid", 'config `models`/`prices` with bad entries',
         'exit 2 naming the entry, nothing sent', "core", "tests/test_cli_settings_safety.py::test_bad_model_and_price_entries_are_a_sentence_before_paying"),
    Case('bad-price-set', "paid", 'setting a bad price entry',
         'refused, the file unchanged', "core", "tests/test_cli_settings_safety.py::test_updating_a_bad_price_entry_is_refused"),
    Case('good-tables', "paid", 'good model and price tables',
         'still load', "core", "tests/test_cli_settings_safety.py::test_good_tables_still_load"),
    Case('config-race', "paid", '8 parallel `config set` (real processes)',
         'all 8 persist', "core", "tests/test_cli_settings_safety.py::test_eight_parallel_config_sets_all_persist"),
    Case('quirk-race', "paid", '`remember_quirk` from 8 threads',
         'all persist', "core", "tests/test_cli_settings_safety.py::test_remembered_quirks_from_threads_all_persist"),
    Case('key-0644', "paid", 'config.json holding the key with mode 0644',
         'one warning naming `chmod 600`', "core", "tests/test_cli_settings_safety.py::test_a_config_holding_the_key_readable_by_others_is_warned_once"),
    Case('nokey-0644', "paid", 'a readable config.json without a key',
         'no warning', "core", "tests/test_cli_settings_safety.py::test_a_readable_config_without_a_key_is_not_warned"),
    Case('sigint-once', "paid", 'SIGINT or SIGTERM once while waiting (a real process)',
         'keeps waiting and says why; the image in the history and the output; exit 0', "core", "tests/test_cli_interrupt.py::test_one_interruption_keeps_waiting_and_delivers"),
    Case('sigint-twice', "paid", 'a second SIGINT',
         'exit 130, says the request may be charged and its image goes to the history; the worker records it there (`history --pending`)', "core", "tests/test_cli_interrupt.py::test_a_second_interruption_stops_and_the_image_still_reaches_the_history"),
    Case('sigkill-cli', "paid", 'the CLI killed (SIGKILL) after sending (a real process)',
         'the detached worker finishes; `history --pending` lists the image as not imported and `--export` copies it out; the job folder goes', "core", "tests/test_cli_interrupt.py::test_a_killed_cli_loses_nothing_history_pending_finds_the_image"),
    Case('cli-done-not-pending', "paid", 'a CLI run that wrote its output (a real process)',
         'its history entry is imported, not pending; no job folder left', "core", "tests/test_cli_interrupt.py::test_a_delivered_result_is_not_pending_and_leaves_no_job_folder"),
    Case('sighup', "paid", 'SIGHUP (the terminal closed)',
         'the wait goes on; the output written', "core", "tests/test_cli_interrupt.py::test_a_closed_terminal_does_not_stop_the_wait"),
    Case('worker-rel-home', "paid", 'a relative BIANXIE_HOME (the worker runs in its job folder)',
         'the image in the history the CLI means and in the output; exit 0', "core", "tests/test_redteam_cli_worker.py::test_a_relative_bianxie_home_is_the_clis_folder_for_the_worker_too"),
    Case('worker-rel-ca', "paid", 'a relative REQUESTS_CA_BUNDLE',
         'the worker trusts the bundle the CLI meant; exit 0', "core", "tests/test_redteam_cli_worker.py::test_a_relative_ca_bundle_variable_reaches_the_worker_as_the_cli_meant_it"),
    Case('worker-rel-ca-setting', "paid", 'a relative ca-bundle setting (kept as typed)',
         'read where the CLI runs, handed to the worker absolute; exit 0', "core", "tests/test_redteam_cli_worker.py::test_a_relative_ca_bundle_setting_is_read_where_the_cli_runs"),
    Case('worker-latin1-home', "paid", 'a history folder whose name is not UTF-8',
         'the worker keeps its status; the output written; exit 0', "core", "tests/test_redteam_cli_worker.py::test_a_history_folder_whose_name_is_not_utf8_still_delivers"),
    Case('worker-entry-gone', "paid", 'a history entry removed between the worker keeping it and the CLI reading it (n=2)',
         'the other image written; one line says the removed one was paid and is lost; exit 1, never 2', "core", "tests/test_redteam_cli_worker.py::test_a_history_entry_removed_before_the_cli_reads_it_is_said_lost"),
    Case('worker-entry-changed', "paid", 'a history image cut short before the CLI reads it',
         'not written as the result (its sha256 differs); exit 1', "core", "tests/test_redteam_cli_worker.py::test_a_history_image_changed_before_the_cli_reads_it_is_not_written_as_the_result"),
    Case('worker-wait-long', "paid", 'n=3 to a relay refusing n>1, max_parallel 1, --retries 2',
         'the CLI waits as long as the worker may rightly take (each single request and retry has its own deadline)', "core", "tests/test_redteam_cli_worker.py::test_the_cli_waits_as_long_as_its_worker_may_legitimately_take"),
    Case('worker-int-handover', "paid", 'Ctrl-C right after the request is handed to the worker',
         'the folder stays the worker\'s; exit 130 says the image goes to the history, never "nothing was charged"; the image pending in the history', "core", "tests/test_redteam_cli_worker.py::test_an_interruption_just_after_the_request_is_handed_over_says_it_may_be_charged"),
    Case('worker-tmp-full', "paid", 'the temporary folder\'s disk full before sending (a real tmpfs)',
         'exit 2, one line saying nothing was sent; no folder left', "core", "tests/test_redteam_cli_worker.py::test_a_full_temporary_disk_before_sending_is_exit_2_nothing_sent"),
    Case('worker-tmp-full-stream', "paid", 'the job folder\'s disk fills while previews stream (a real tmpfs)',
         'the preview is dropped, the stream goes on: the image in the history and the output; exit 0; no folder left', "core", "tests/test_redteam_cli_worker.py::test_a_full_temporary_disk_while_previews_stream_still_delivers_the_image"),
    Case('worker-dies-early', "paid", 'the worker ends before it takes the request (a broken Python)',
         'exit 2, one line: nothing was sent', "core", "tests/test_redteam_cli_worker.py::test_a_worker_that_dies_before_sending_is_exit_2_nothing_sent"),
    Case('worker-killed', "paid", 'the worker killed (SIGKILL) while the request runs (a real process)',
         'exit 1, one line: may be charged, earlier images in the history, a later one lost (never "kept")', "core", "tests/test_redteam_cli_worker.py::test_a_worker_killed_while_waiting_says_a_later_image_is_lost"),
    Case('worker-folder-removed', "paid", 'the job folder removed while the request runs (a temporary-folder cleaner)',
         'exit 1: may be charged, the image goes to the history (it does); never "run it again"', "core", "tests/test_redteam_cli_worker.py::test_a_job_folder_removed_while_the_request_runs_is_not_said_unsent"),
    Case('worker-rel-home-host', "paid", 'a plug-in-style host (standby, jobs under BIANXIE_HOME) with a relative BIANXIE_HOME',
         'the warm and the fresh worker find their requests; both images in the history', "core", "tests/test_redteam_cli_worker.py::test_a_plugin_style_host_with_a_relative_bianxie_home_gets_its_jobs_done"),
    Case('closed-pty', "paid", 'a real terminal (pty) closed while `inpaint` waits: SIGHUP, then every write fails (EIO)',
         'the composited result written and imported; exit 0 (a line that cannot be shown is dropped)', "core", "tests/test_redteam_cli_worker.py::test_a_closed_terminal_still_gets_the_composited_result_written"),
    Case('sighup-writing', "paid", 'SIGHUP while the answers are composited and written',
         'ignored as while waiting: the results written; exit 0', "core", "tests/test_redteam_cli_worker.py::test_a_hangup_while_the_results_are_composited_does_not_stop_their_writing"),
    Case('out-latin1', "paid", 'an output name that is not UTF-8',
         'written; its history entry imported (the name kept as escapes), not left pending', "core", "tests/test_redteam_cli_worker.py::test_an_output_name_that_is_not_utf8_is_written_and_its_entry_imported"),
    Case('export-latin1', "paid", '`history --pending --export` into a folder whose name is not UTF-8',
         'every image exported and marked imported; exit 0 (no "unexpected UnicodeEncodeError" after the first)', "core", "tests/test_redteam_cli_worker.py::test_history_export_to_a_folder_whose_name_is_not_utf8"),
    Case('unkept-left', "paid", 'the history\'s disk full and the CLI killed while waiting (real processes, a real tmpfs)',
         '`history --pending` names the file in the job folder where the worker kept the paid image', "core", "tests/test_redteam_cli_worker.py::test_history_pending_points_at_a_paid_image_the_full_history_could_not_keep"),
    Case('inputs-not-left', "paid", 'the photo and mask the CLI hands its worker (a folder left by a killed CLI)',
         'removed from the temporary folder once the worker has read them', "core", "tests/test_redteam_cli_worker.py::test_the_photos_sent_are_not_left_in_the_temporary_folder"),
    Case('worker-host-gone-early', "paid", 'the CLI gone after starting its worker, before handing the request over',
         'the worker gives up and removes the folder (not five minutes later); nothing sent', "core", "tests/test_redteam_cli_worker.py::test_a_worker_whose_host_died_before_handing_over_does_not_linger"),
    Case('export-stem', "paid", 'export: `<id>.png.evil`, a sync-conflict copy',
         'only the real image exported', "core", "tests/test_cli_export.py::test_a_file_sharing_only_the_stem_is_not_the_entry"),
    Case('export-stray', "paid", 'export: a stray file alone',
         'no entry marked imported', "core", "tests/test_cli_export.py::test_a_stray_file_alone_never_marks_an_entry_imported"),
    Case('export-sidecar', "paid", 'export with a truncated sidecar',
         'the sidecar kept as `<id>.json.damaged`, never rewritten', "core", "tests/test_cli_export.py::test_exporting_keeps_a_damaged_sidecar"),
    Case('export-b64', "paid", 'export: base64 kept as damaged that is only wrapped, URL-safe or data:-prefixed',
         'exported as the image', "core", "tests/test_cli_export.py::test_base64_kept_as_damaged_that_decodes_after_all_is_exported"),
    Case('export-b64-bad', "paid", 'export: base64 damaged indeed',
         'not exported, counted', "core", "tests/test_cli_export.py::test_base64_damaged_indeed_is_not_exported"),
    Case('prompt-utf8', "paid", 'a prompt that is not UTF-8',
         'exit 2, one line, nothing sent', "core", "tests/test_cli_bad_input.py::test_a_prompt_that_is_not_utf8_is_refused"),
    Case('prompt-utf8-argv', "paid", 'the same from a real command line',
         'exit 2, one line', "core", "tests/test_cli_bad_input.py::test_a_prompt_that_is_not_utf8_from_a_real_command_line"),
    Case('name-encoding', "paid", 'an input file named in another encoding',
         'exit 2, one line', "core", "tests/test_cli_bad_input.py::test_an_input_file_named_in_another_encoding_is_refused"),
    Case('context-inf', "paid", '`--context inf%` and other bounds',
         'exit 2, nothing sent', "core", "tests/test_cli_bad_input.py::test_context_out_of_bounds_is_refused"),
    Case('aspect-inf', "paid", '`--aspect inf:1`, `1e-300:1`, `1e308:1`',
         'exit 2, nothing sent', "core", "tests/test_cli_bad_input.py::test_aspect_out_of_bounds_is_refused"),
    Case('pillow-warning', "paid", 'a huge input image',
         'no raw Pillow DecompressionBombWarning', "core", "tests/test_cli_bad_input.py::test_a_huge_input_gives_no_raw_pillow_warning"),
    Case('term-error', "paid", "escape sequences, OSC 52/8, fake lines, 1 MB in a server's message",
         'one clean, capped line', "core", "tests/test_cli_terminal.py::test_a_server_message_is_one_clean_line"),
    Case('term-models', "paid", 'the same in model ids (`models --remote`)',
         'clean ids', "core", "tests/test_cli_terminal.py::test_model_ids_from_the_server_are_clean"),
    Case('term-models-fail', "paid", 'a failed model listing',
         'one clean line', "core", "tests/test_cli_terminal.py::test_a_failed_model_listing_is_one_clean_line"),
    Case('term-history', "paid", 'the same in stored prompts (`history`)',
         'a clean listing', "core", "tests/test_cli_terminal.py::test_history_listing_is_clean"),
    Case('term-config', "paid", 'the same in settings (`config get`)',
         'clean values', "core", "tests/test_cli_terminal.py::test_config_values_are_clean"),
    Case("paid-usage-junk", "paid", 'usage as strings, 1e400, lists, non-objects',
         'the paid run succeeds', "core", "tests/test_service_paid.py::test_usage_of_any_shape_never_fails_a_paid_run"),
    Case('usage-strings', "paid", 'usage numbers sent as strings',
         'counted; junk counts as 0', "core", "tests/test_service_paid.py::test_numeric_strings_are_counted_and_junk_is_zero"),
    Case('saved-on-disk', "paid", '10 images of 35 MB base64 (memory)',
         "each paid image's bytes are read from its history entry when needed; none is held in memory (bench: 88 MiB peak)", "core", "tests/test_service_paid.py::test_saved_images_are_read_from_the_history_not_held"),
    Case('client-sink-only', "paid", 'a client whose images go to the history',
         'its result keeps no bytes (`keep_images=False`); without a sink it keeps them', "core", "tests/test_service_paid.py::test_the_client_hands_images_to_the_sink_only_when_asked"),
    Case('prompt-key', "paid", 'a prompt quoting the key in any form (clear, URL, base64)',
         'kept out of the prompt list', "core", "tests/test_service_paid.py::test_a_prompt_quoting_the_key_in_any_form_is_kept_out_of_the_prompt_list"),
    Case('prompt-key-history', "paid", 'a prompt quoting the encoded key',
         'redacted in the history', "core", "tests/test_service_paid.py::test_a_prompt_quoting_the_encoded_key_is_redacted_in_the_history"),
    Case('n-refusal-service', "paid", '"n>1 is not supported by this channel" with param null, through the service',
         'parallel single requests, remembered for the relay', "core", "tests/test_service.py::test_a_refusal_of_n_that_names_no_parameter_goes_parallel"),
    Case('config-test', "paid", '`bianxie config test` against a closed port',
         'each step on its own line; the failing one (TCP) is the error, exit 1', "core", "tests/test_cli_config_test.py::test_config_test_names_the_step_that_fails"),
]


def all_cases() -> list:
    return LOST + input_cases() + SECRETS + SOAK + HOSTILE + PAID
