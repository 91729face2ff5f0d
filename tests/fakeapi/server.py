"""FakeServer: a local, strict stand-in for an OpenAI-compatible images API (or a relay)."""

from __future__ import annotations

import functools
import json
import socket
import ssl
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import numpy as np
from requests.structures import CaseInsensitiveDict

from tests.fakeapi import faults, hostile, images, redraw
from tests.fakeapi.envelope import (
    DIALECTS,
    ApiError,
    error_body,
    newapi_request_id,
    openai_request_id,
    request_id_header,
)
from tests.fakeapi.families import FAMILY_MODELS, FamiliesMixin, expired_page, family_of
from tests.fakeapi.hostile import HostileMixin
from tests.fakeapi.records import MultipartError, Recorded, boundary_of, parse_multipart
from tests.fakeapi.streaming import StreamingMixin
from tests.fakeapi.validate import IMAGE_MODELS, OTHER_MODELS, Job, build_job

ROUTES = {
    ("POST", "/v1/images/generations"): "generations",
    ("POST", "/v1/images/edits"): "edits",
    ("GET", "/v1/models"): "models",
    ("POST", "/v1/chat/completions"): "chat",
}
MAX_BODY = 1024 * 1024 * 1024
READ_TIMEOUT_DEFAULT = 30.0
WRONG_SIZE = (1000, 700)
JSON_HINT = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
    "not valid JSON. If you have trouble figuring out how to fix this, please contact us through "
    "our help center at help.openai.com.)"
)


class FakeServer:
    """Serve the images API on 127.0.0.1 (ephemeral port) in a background thread.

    Knobs (plain attributes, change them at any time; ``reset()`` restores them):
    ``fault``/``fault_count``/``retry_after`` (seconds, the rate_limit fault's header),
    ``fill``/``fill_color``/``shift``, ``return_size``, ``latency``,
    ``partial_delay``/``final_delay``/``hold_final``, ``redraw`` (a ``redraw.Redraw``: edits
    with fill "mask" or "echo" redrawn as a model does), ``model_mapping`` (a relay's own names
    for models), and the issue-13 knobs of
    ``tests/fakeapi/hostile.py`` (``compress`` is "gzip" by default). Logs: ``requests`` (every request but
    downloads), ``responses`` (final image bytes sent), ``partials``, ``downloads``.
    """

    def __init__(self, dialect: str = "openai", key: str = "sk-test-key",
                 host: str = "127.0.0.1", port: int = 0, tls: Optional[ssl.SSLContext] = None):
        if dialect not in DIALECTS:
            raise ValueError("dialect must be one of %s, not %r" % (DIALECTS, dialect))
        self.dialect = dialect
        self.key = key
        self._address = (host, port)
        self.tls = tls  # a server-side context with its certificate: serve HTTPS
        self.scheme = "https" if tls else "http"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._files: dict = {}
        self._expires: dict = {}  # file name -> time.monotonic() when its URL stops working
        self.reset()

    # --- knobs -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Clear the logs and put every knob back to its default."""
        with self._lock:
            self.requests: List[Recorded] = []
            self.responses: List[bytes] = []
            self.partials: List[bytes] = []
            self.downloads: List[Recorded] = []
            self._files.clear()
            self._expires.clear()
        self.fault = None
        self.fault_count = None
        self.retry_after = "1"
        self.fill = "mask"
        self.fill_color: Tuple[int, int, int] = (255, 0, 255)
        self.shift = ((1.1, 1.0, 0.9), (10, -5, 0))
        self.return_size: Optional[Tuple[int, int]] = None
        self.latency = 0.0
        self.partial_delay = 0.0
        self.final_delay = 0.0
        self.hold_final: Optional[threading.Event] = None
        self.redraw: Optional[redraw.Redraw] = None
        # a new-api channel's model mapping: the name a client sends → the upstream model's
        self.model_mapping: Dict[str, str] = {}
        self.compress: Optional[str] = "gzip"
        self.compress_stream = False
        self.broken_item: Optional[str] = None
        self.broken_indexes: Tuple[int, ...] = (0,)
        self.b64_style: Optional[str] = None
        self.count_delta = 0
        self.echo_key: Optional[str] = None
        self.sse_junk = False
        self.stream_error_text: Optional[str] = None
        self.trickle: Optional[str] = None
        self.trickle_interval = 1.0
        self.endless = False
        self.read_rate: Optional[float] = None
        self.write_rate: Optional[float] = None
        self.huge_b64_mb: Optional[int] = None
        self.huge_all = False
        self.download_bomb_mb: Optional[int] = None
        self.redirect: Optional[int] = None
        self.error_in_200 = False
        self.usage_raw: Optional[str] = None
        self.models_data: Optional[list] = None
        self.n_refusal_words: Optional[str] = None
        self.interim: Optional[bytes] = None
        self.gzip_tail = b""
        self.sse_eol = b"\n"
        self.sse_type = "text/event-stream; charset=utf-8"
        self.chat_style = "markdown"  # or "images": message.images[] as other relays do
        self.chat_fault: Optional[str] = None  # families.CHAT_FAULTS
        # (png bytes, handler) -> the whole chat answer's choice, as a messy relay shapes it
        self.chat_choice = None
        self.chat_streams = False
        self.gemini_square = False  # a Gemini that answers 1:1 whatever aspect_ratio said
        # (the good item, handler) -> the answer's data list (a batch with failed items, …)
        self.seedream_batch = None
        self.download_503 = 0  # the object store's first answers: 503 SlowDown (XML)  # a relay that streams chat answers though none was asked
        self.seedream_item_error = False
        self.seedream_fail_on: Tuple[int, ...] = ()  # which Seedream requests (1-based) fail
        self.url_lifetime = 600.0  # seconds a FLUX answer's URL works

    @property
    def fault(self) -> Optional[str]:
        return self._fault

    @fault.setter
    def fault(self, name: Optional[str]) -> None:
        if name is not None and name not in faults.FAULTS:
            raise ValueError("unknown fault %r; known: %s" % (name, ", ".join(faults.FAULTS)))
        with self._lock:
            self._fault, self._fault_used = name, 0

    @property
    def fault_count(self) -> Optional[int]:
        return self._fault_count

    @fault_count.setter
    def fault_count(self, count: Optional[int]) -> None:
        with self._lock:
            self._fault_count, self._fault_used = count, 0

    @property
    def fill(self) -> str:
        return self._fill

    @fill.setter
    def fill(self, mode: str) -> None:
        if mode not in images.FILL_MODES:
            raise ValueError("fill must be one of %s, not %r" % (images.FILL_MODES, mode))
        self._fill = mode

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeServer":
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, _Handler)
        self._httpd.fake = self
        if self.tls:  # each handshake happens in its handler's thread, on the first read
            self._httpd.socket = self.tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,),
                                        name="fakeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.drop_connections()
        self._httpd.server_close()
        self._thread.join(5)
        self._httpd = None

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    @property
    def alt_host_url(self) -> str:
        """The same server under another host name (for url downloads)."""
        return "%s://localhost:%d" % (self.scheme, self.port)

    # --- used by the handler -----------------------------------------------------------------
    def _take_fault(self) -> Optional[str]:
        with self._lock:
            if self._fault is None:
                return None
            if self._fault_count is not None and self._fault_used >= self._fault_count:
                return None
            self._fault_used += 1
            return self._fault

    def _log(self, name: str, item) -> None:
        with self._lock:
            getattr(self, name).append(item)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the server is being stopped."""
        return self._stopping.wait(max(seconds, 0.0))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeServer

    def __init__(self, *args, **kwargs):
        self._connections: set = set()
        self._conn_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, sock, add: bool) -> None:
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(sock)

    def drop_connections(self) -> None:
        with self._conn_lock:
            for sock in list(self._connections):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up are part of the tests


@functools.lru_cache(maxsize=2)
def _bomb(mib: int) -> bytes:
    return hostile.gzip_bomb(mib)


def _models_body(dialect: str) -> dict:
    data = [{"id": m, "object": "model", "created": 1745366400, "owned_by": "system"}
            for m in IMAGE_MODELS + FAMILY_MODELS + OTHER_MODELS]
    body = {"object": "list", "data": data}
    if dialect == "new-api":
        body["success"] = True
    return body


class _Handler(FamiliesMixin, StreamingMixin, HostileMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""
    timeout = 60
    server: _HTTPServer

    def log_message(self, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)
        if self.fake.read_rate:  # a small window: the client waits for the slow reads
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # --- plumbing ----------------------------------------------------------------------------
    @property
    def fake(self) -> FakeServer:
        return self.server.fake

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        if length and self.fake.read_rate:
            return self._read_slowly(length)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Close with SO_LINGER 0, so the client sees a real RST."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _send(self, status: int, body: bytes, content_type: str, headers=None,
              encoded: Optional[str] = None) -> None:
        headers = dict(headers or {})
        packer = hostile.compressor_for(self.fake.compress, self.headers.get("Accept-Encoding"))
        if encoded:  # the body is already compressed (a gzip bomb)
            headers["Content-Encoding"] = encoded
        elif packer is not None:
            body = packer.finish(body) + self.fake.gzip_tail
            headers["Content-Encoding"], headers["Vary"] = packer.header, "Accept-Encoding"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in request_id_header(self.fake.dialect, self.request_id).items():
            if name.lower() not in (h.lower() for h in headers):
                self.send_header(name, value)
        for name, value in headers.items():
            self.send_header(name, value)
        if self.fake.trickle == "headers":
            head, self._headers_buffer = b"".join(self._headers_buffer) + b"\r\n", []
            return self._dribble(head + body)
        self.end_headers()
        if self.command == "HEAD":
            return None
        if self.fake.trickle == "body":
            return self._dribble(body)
        if self.fake.write_rate:
            return self._write_slowly(body)
        self.wfile.write(body)

    def _send_json(self, status: int, obj, headers=None) -> None:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json", headers)

    def _send_error(self, err: ApiError) -> None:
        headers = dict(err.headers)
        rid = self.request_id
        if err.origin == "relay" and self.fake.dialect != "new-api":
            rid = newapi_request_id()  # a relay's own error reached an "openai" client
            headers["X-Oneapi-Request-Id"] = rid
        self._send(err.status, error_body(self.fake.dialect, err, rid), "application/json",
                   headers)

    # --- requests ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        fake = self.fake
        self.t0 = time.monotonic()
        self.request_id = (newapi_request_id() if fake.dialect == "new-api"
                           else openai_request_id())
        path = urlsplit(self.path).path
        rec = Recorded(self.command, path, CaseInsensitiveDict(self.headers.items()), time.time())
        if path.startswith("/files/"):
            rec.body = self._read_body()
            fake._log("downloads", rec)
            return self._serve_file(path[len("/files/"):])
        fault = fake._take_fault() if path.startswith("/v1/") else None
        rec.fault = fault
        fake._log("requests", rec)
        if fault == "reset_before_body":
            return self._reset()
        try:
            rec.body = self._read_body()
        except ValueError:
            self.close_connection = True
            return self._send_error(ApiError(400, "Could not read the request body."))
        if fault == "reset_after_body":
            return self._reset()
        if fault == "read_timeout":
            fake._wait(fake.latency or READ_TIMEOUT_DEFAULT)
            self.close_connection = True
            return None
        try:
            self._api(rec, fault)
        except ApiError as err:
            self._send_error(err)

    def _api(self, rec: Recorded, fault: Optional[str]) -> None:
        fake = self.fake
        route = ROUTES.get((self.command, rec.path))
        if route is None:
            raise ApiError(404, "Invalid URL (%s %s)" % (self.command, rec.path))
        auth = self.headers.get("Authorization", "")
        sent = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if sent != fake.key:
            raise faults.unauthorized(fake.dialect, sent or None)
        params, files, form, problem = {}, [], False, None
        if route != "models":
            try:
                params, files, form = self._parse(route, rec)
            except ApiError as err:
                problem = err
        if isinstance(params.get("model"), str) and params["model"] in fake.model_mapping:
            params["model"] = fake.model_mapping[params["model"]]
        model = params.get("model") if isinstance(params.get("model"), str) else "gpt-image-1"
        if self._hostile_answer(route, params, sent):
            return None
        if fault in faults.ERRORS:
            return self._error_fault(fault, model, sent)
        if fault in faults.REFUSALS:
            refusal = faults.refusal_for(fault, route, params.get("n"), params.get("stream"))
            if refusal is not None and fault == "refuse_n" and fake.n_refusal_words:
                refusal.message, refusal.param = fake.n_refusal_words, None  # a relay's words
            if refusal is not None:
                raise refusal
        if problem is not None:
            raise problem
        if route == "models":
            body = _models_body(fake.dialect)
            if fake.models_data is not None:
                body["data"] = fake.models_data
            return self._send_json(200, body)
        if fake.dialect == "new-api" and "model" in params and model not in IMAGE_MODELS \
                and model not in FAMILY_MODELS:
            raise faults.no_channel(model)
        if route == "chat" or family_of(model):
            return self._family_answer(route, params, files, form, fault)
        job = build_job(route, params, files, form, fake.dialect)
        self._answer(job, fault)

    def _parse(self, route: str, rec: Recorded):
        ctype = self.headers.get("Content-Type", "")
        main = ctype.split(";")[0].strip().lower()
        if route in ("generations", "chat"):
            if main != "application/json":
                raise ApiError(400, "Invalid Content-Type header (%s), expected "
                               "application/json." % (ctype or "none"))
            try:
                rec.json = json.loads(rec.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise ApiError(400, JSON_HINT) from None
            if not isinstance(rec.json, dict):
                raise ApiError(400, JSON_HINT)
            return rec.json, [], False
        boundary = boundary_of(ctype) if main == "multipart/form-data" else None
        if not boundary:
            raise ApiError(400, "Invalid Content-Type header (%s), expected multipart/form-data."
                           % (ctype or "none"))
        try:
            rec.fields, rec.files = parse_multipart(rec.body, boundary)
        except MultipartError as err:
            raise ApiError(400, "Could not parse the multipart form: %s." % err) from None
        params = {}
        for name, value in rec.fields:
            if name == "mask" or name.startswith("image"):
                raise ApiError(400, "Invalid type for '%s': expected a file, but got a string "
                               "instead." % name, "invalid_request_error", name, "invalid_type")
            params[name] = value
        return params, rec.files, True

    def _error_fault(self, fault: str, model: str, sent_key: Optional[str]) -> None:
        fake = self.fake
        if fault == "bad_gateway_html":
            return self._send(502, faults.NGINX_502, "text/html")
        if fault == "timeout_524":
            if fake._wait(fake.latency or 1.0):
                self.close_connection = True
                return None
            return self._send(524, faults.CLOUDFLARE_524, "text/html; charset=UTF-8")
        raise faults.error_for(fault, fake.dialect, model, sent_key, openai_request_id(),
                               fake.retry_after)

    def _serve_file(self, name: str) -> None:
        with self.fake._lock:
            found = self.fake._files.get(name)
        if found is None:
            return self._send(404, b"not found", "text/plain")
        with self.fake._lock:
            slow_down = self.fake.download_503 > 0
            self.fake.download_503 -= slow_down
        if slow_down:
            return self._send(503, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                              b"SlowDown</Code><Message>Please reduce your request rate."
                              b"</Message></Error>", "application/xml")
        expires = self.fake._expires.get(name)
        if expires is not None and time.monotonic() >= expires:
            return self._send(403, expired_page(name), "application/xml")
        if self.fake.download_bomb_mb:
            bomb = _bomb(self.fake.download_bomb_mb)
            return self._send(200, bomb, found[1], encoded="gzip")
        self._send(200, found[0], found[1])

    # --- answers -----------------------------------------------------------------------------
    def _out_size(self, job: Job, fault: Optional[str]) -> Tuple[int, int]:
        size = self.fake.return_size or (WRONG_SIZE if fault == "wrong_size" else job.size)
        return int(size[0]), int(size[1])

    def _render(self, job: Job, index: int, fault: Optional[str]) -> np.ndarray:
        fake, size = self.fake, self._out_size(job, fault)
        if job.kind == "generations":
            return images.pattern(size[0], size[1], "%s#%d" % (job.prompt, index))
        if fake.redraw is not None and fake.fill in ("mask", "echo"):
            paint = fake.fill_color if fake.fill == "mask" else None
            return redraw.render(job.images[0], job.mask, size, fake.redraw, paint)
        return images.edit_pixels(job.images[0], job.mask, size, fake.fill, fake.fill_color,
                                  fake.shift)

    def _final(self, job: Job, index: int, fault: Optional[str]) -> bytes:
        """The encoded image ``index`` of the answer."""
        if job.kind == "generations":
            transparent = job.background == "transparent" and job.output_format != "jpeg"
            return images.generated(*self._out_size(job, fault), "%s#%d" % (job.prompt, index),
                                    job.output_format, job.compression, transparent)
        return self._encode(job, self._render(job, index, fault))

    def _alpha(self, job: Job, rgb: np.ndarray) -> Optional[np.ndarray]:
        if job.background != "transparent" or job.output_format == "jpeg":
            return None
        h, w = rgb.shape[:2]
        first = job.images[0] if job.images else None
        if first is not None and first.mode in ("RGBA", "LA"):
            return np.asarray(first.getchannel("A").resize((w, h)))
        return images.ellipse_alpha(w, h)

    def _encode(self, job: Job, rgb: np.ndarray) -> bytes:
        return images.encode(rgb, job.output_format, job.compression, self._alpha(job, rgb))

    def _usage(self, job: Job, n: int) -> dict:
        return images.usage(job.prompt, [im.size for im in job.images], job.quality, job.size, n,
                            detailed_output=job.model != "gpt-image-1"
                            and job.model != "gpt-image-1-mini")

    def _echo(self, job: Job) -> dict:
        return {"size": job.size_text, "quality": job.quality, "background": job.background,
                "output_format": job.output_format}

    def _event_echo(self, job: Job) -> dict:
        """Stream events, unlike the JSON answer, may keep "auto" for what was asked as auto."""
        return dict(self._echo(job), **{k: "auto" for k in job.auto})

    def _image_entry(self, job: Job, data: bytes, fault: Optional[str]) -> dict:
        """A data[] entry (or the image keys of a completed event) for ``data``."""
        b64 = hostile.b64(data, self.fake.b64_style)
        if fault == "truncated_b64":
            cut = len(b64) // 2 // 4 * 4 + 1  # one character into a group: no base64 at all
            return {"b64_json": b64[:cut]}
        if fault == "url":
            name = "%s.%s" % (uuid.uuid4().hex, job.output_format)
            with self.fake._lock:
                self.fake._files[name] = (data, images.MIME_TYPES[job.output_format])
            self.fake._log("responses", data)
            return {"url": "%s/files/%s" % (self.fake.alt_host_url, name)}
        if fault == "empty_data":
            return {"b64_json": ""}
        self.fake._log("responses", data)
        return {"b64_json": b64}

    def _answer(self, job: Job, fault: Optional[str]) -> None:
        if job.stream:
            return self._stream(job, fault)
        encoded = [self._final(job, i, fault) for i in range(job.n)]
        if self.fake._wait(self.t0 + self.fake.latency - time.monotonic()):
            self.close_connection = True
            return None
        if fault == "invalid_json":
            body = b'{"created": %d, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA' % time.time()
            return self._send(200, body, "application/json")
        if self.fake.endless:
            return self._endless()
        count = max(job.n + self.fake.count_delta, 0)
        encoded = [encoded[i % len(encoded)] for i in range(count)]
        data = [] if fault == "empty_data" else [self._item(job, i, e, fault)
                                                 for i, e in enumerate(encoded)]
        body = {"created": int(time.time()), "data": data}
        body.update(self._echo(job))
        body["usage"] = self._usage(job, job.n)
        headers = {} if self.fake.dialect == "new-api" else {"openai-processing-ms": "1234"}
        if self.fake.usage_raw is None:
            return self._send_json(200, body, headers)
        body["usage"] = "@USAGE@"
        text = json.dumps(body, ensure_ascii=False).replace('"@USAGE@"', self.fake.usage_raw)
        self._send(200, text.encode("utf-8"), "application/json", headers)

    def _item(self, job: Job, index: int, data: bytes, fault: Optional[str]):
        fake = self.fake
        if fake.huge_b64_mb and (index == 0 or fake.huge_all):
            return self._image_entry(job, hostile.big_png(fake.huge_b64_mb * 3 // 4), fault)
        if fake.broken_item and index in fake.broken_indexes:
            return hostile.broken_entry(fake.broken_item, data, fake.alt_host_url)
        return self._image_entry(job, data, fault)
