"""The fake server's streamed (SSE) answers: partial images, the final one, faults in between."""

from __future__ import annotations

import base64
import json
import time
from typing import Optional

from tests.fakeapi import hostile, images
from tests.fakeapi.envelope import request_id_header
from tests.fakeapi.validate import Job

HOLD_FINAL_MAX = 30.0


class StreamingMixin:
    """Methods of the request handler (tests/fakeapi/server.py) that write a stream."""

    def _chunk(self, data: bytes) -> None:
        framed = b"%x\r\n%s\r\n" % (len(data), data)
        if self.fake.write_rate:
            return self._write_slowly(framed)
        self.wfile.write(framed)
        self.wfile.flush()

    def _stream_chunk(self, data: bytes) -> None:
        """One piece of a stream, compressed when ``compress_stream``; b"" ends the stream."""
        packer = getattr(self, "_packer", None)
        if packer is None:
            return self._chunk(data)
        packed = packer.flush(data) if data else packer.finish()
        if packed:
            self._chunk(packed)
        if not data:
            self._chunk(b"")
        return None

    def _event(self, name: str, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        eol = self.fake.sse_eol
        self._stream_chunk(b"event: %s%sdata: %s%s%s" % (name.encode("ascii"), eol, data, eol, eol))

    def _stream(self, job: Job, fault: Optional[str]) -> None:
        fake = self.fake
        prefix = "image_generation" if job.kind == "generations" else "image_edit"
        self.send_response(200)
        self.send_header("Content-Type", fake.sse_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._packer = (hostile.compressor_for(fake.compress, self.headers.get("Accept-Encoding"))
                        if fake.compress_stream else None)
        if self._packer is not None:
            self.send_header("Content-Encoding", self._packer.header)
        for name, value in request_id_header(fake.dialect, self.request_id).items():
            self.send_header(name, value)
        self.end_headers()
        sent_partials = 0
        for index in range(job.n):
            rgb = self._render(job, index, fault) if job.partial_images else None
            for k in range(job.partial_images):
                due = self.t0 + fake.latency + sent_partials * fake.partial_delay
                if fake._wait(due - time.monotonic()):
                    return self._abort_stream()
                data = self._encode(job, images.preview(rgb, k, job.partial_images))
                fake._log("partials", data)
                event = {"type": prefix + ".partial_image",
                         "b64_json": base64.b64encode(data).decode("ascii"),
                         "created_at": int(time.time()), "partial_image_index": k}
                event.update(self._event_echo(job))
                self._event(prefix + ".partial_image", event)
                sent_partials += 1
            if fault == "stream_cut":
                return self._abort_stream()
            if fault == "stream_error" or fake.echo_key == "sse_code":
                error = {"type": "image_generation_server_error",
                         "code": "image_generation_failed",
                         "message": "Image generation failed. Please try again.", "param": None}
                if fake.echo_key == "sse_code":
                    error["code"] = self.headers.get("Authorization", "")[len("Bearer "):]
                payload = fake.stream_error_text if fake.stream_error_text else error
                self._event("error", {"type": "error", "error": payload})
                break
            if fake.sse_junk:
                for junk in hostile.SSE_JUNK:
                    self._stream_chunk(junk)
                self._event(prefix + ".partial_image", {
                    "type": prefix + ".partial_image", "partial_image_index": None,
                    "b64_json": "@@@"})
            due = max(self.t0 + fake.latency, self.t0 + fake.final_delay)
            if fake._wait(due - time.monotonic()) or not self._held():
                return self._abort_stream()
            if fault == "invalid_json":
                self._event(prefix + ".completed", b'{"type": "%s.completed", "b64_json": "iVBO'
                            % prefix.encode("ascii"))
                continue
            event = {"type": prefix + ".completed", "created_at": int(time.time())}
            event.update(self._image_entry(job, self._final(job, index, fault), fault))
            event.update(self._event_echo(job))
            event["usage"] = self._usage(job, 1)
            self._event(prefix + ".completed", event)
        self._stream_chunk(b"")

    def _held(self) -> bool:
        """Wait for ``hold_final`` (max 30 s); False when the server is being stopped."""
        hold = self.fake.hold_final
        deadline = time.monotonic() + HOLD_FINAL_MAX
        while hold is not None and not hold.is_set() and time.monotonic() < deadline:
            if self.fake._wait(0.02):
                return False
        return True

    def _abort_stream(self) -> None:
        self.close_connection = True
