"""Progress while bytes move (issue 16, item 4): the meter's rules on a made-up clock, then
real uploads and answers between the client and the fake over a slow link (the fake's
``read_rate`` and ``write_rate``)."""

from __future__ import annotations

import io
import socket
import threading

import numpy as np
import pytest
import requests
from PIL import Image
from urllib3.connection import HTTPConnection

from bianxie_core import transfer
from bianxie_core.client import ImagesClient
from bianxie_core.params import EditRequest, GenerateRequest, ImageFile
from bianxie_core.transfer import DOWN, UP, Bursts, Combined, Meter
from tests.core_fixtures import KEY
from tests.fakeapi import FakeServer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def meter(total=1000):
    clock, seen = Clock(), []
    return Meter(lambda *a: seen.append(a), UP, total, clock), clock, seen


def test_a_transfer_shorter_than_a_second_is_never_reported():
    m, clock, seen = meter()
    for done in range(0, 1001, 100):
        m.at(done)
        clock.now += 0.09
    m.finish()
    assert seen == []


def test_a_long_transfer_is_reported_at_most_every_quarter_second_and_ends_whole():
    m, clock, seen = meter()
    for done in range(0, 1001, 10):  # 100 blocks over 2 s
        m.at(done)
        clock.now += 0.02
    m.finish()
    assert 3 <= len(seen) <= 5  # after 1 s, every 0.25 s
    assert [d for _dir, d, _t in seen] == sorted({d for _dir, d, _t in seen})
    assert all(direction == UP and total == 1000 for direction, _d, total in seen)
    assert seen[-1] == (UP, 1000, 1000)


def test_a_transfer_that_took_a_second_without_a_report_still_gets_its_last():
    m, clock, seen = meter()
    m.at(0)
    m.at(500)
    clock.now += 1.5  # the rest came in one block that took long
    m.finish()
    assert seen == [(UP, 500, 500)]


def test_an_unknown_total_ends_with_the_count_as_total():
    clock, seen = Clock(), []
    m = Meter(lambda *a: seen.append(a), DOWN, None, clock)
    for done in (10, 20, 30):
        m.at(done)
        clock.now += 0.6
    m.finish()
    assert seen[0] == (DOWN, 30, None) and seen[-1] == (DOWN, 30, 30)


def test_a_failing_display_never_costs_the_transfer():
    clock = Clock()

    def broken(*_a):
        raise OSError("disk full")

    m = Meter(broken, DOWN, 10, clock)
    m.at(1)
    clock.now += 2
    m.at(5)  # reported, and the error swallowed
    m.finish()


def test_parallel_transfers_are_summed_per_direction():
    clock, seen = Clock(), []
    combined = Combined(lambda *a: seen.append(a), clock)
    a, b = combined.part(), combined.part()
    a(UP, 100, 400)
    clock.now += 1
    b(UP, 200, 400)
    clock.now += 1
    a(UP, 400, 400)
    b(UP, 400, 400)  # the last, reported even within the quarter second
    assert seen == [(UP, 100, 400), (UP, 300, 800), (UP, 600, 800), (UP, 800, 800)]


def test_bursts_count_each_event_apart_so_the_models_pauses_are_not_transfers():
    clock, seen = Clock(), []
    bursts = Bursts(lambda *a: seen.append(a), clock)

    def chunks():
        yield b"x" * 10  # a small event...
        bursts.end()
        clock.now += 30  # ...then the model works for 30 s
        yield b"y" * 10
        bursts.end()

    assert b"".join(bursts.count(chunks())) == b"x" * 10 + b"y" * 10
    assert seen == []


@pytest.mark.parametrize("direction,done,total,text", [
    (UP, 1_200_000, 3_400_000, "Uploading 1.2 of 3.4 MB"),
    (DOWN, 450_000, 560_000, "Downloading 0.45 of 0.56 MB"),
    (DOWN, 2_500_000, None, "Downloading 2.5 MB"),
])
def test_describe(home, direction, done, total, text):
    assert transfer.describe(direction, done, total) == text


def test_describe_in_chinese(home, monkeypatch):
    monkeypatch.setenv("LANGUAGE", "zh_CN")
    assert "1.2" in transfer.describe(UP, 1_200_000, 3_400_000)
    assert "Uploading" not in transfer.describe(UP, 1_200_000, 3_400_000)
    assert "Downloading" not in transfer.describe(DOWN, 1_200_000, None)


# --- over a slow link -----------------------------------------------------------------------

class SmallSendBuffer(requests.adapters.HTTPAdapter):
    """A real uplink's send buffer: on loopback the kernel's grows to 4 MB, so a whole upload
    would vanish into it at once and only the server's slow reading would take time."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["socket_options"] = HTTPConnection.default_socket_options + [
            (socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)]
        super().init_poolmanager(*args, **kwargs)


def slow_client(server: FakeServer) -> ImagesClient:
    session = requests.Session()
    session.mount("http://", SmallSendBuffer())
    return ImagesClient(server.base_url, KEY, timeout=60, session=session)


def noise_png(side: int) -> bytes:
    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=0)
    return out.getvalue()


def increasing(reports, direction):
    counts = [done for d, done, _total in reports if d == direction]
    return len(counts) >= 2 and counts == sorted(counts) and counts[0] < counts[-1]


def test_a_slow_upload_reports_its_bytes_up_to_the_body_size(home):
    with FakeServer(key=KEY) as server:
        server.read_rate = 400_000  # 1.2 MB in about 3 s
        reports = []
        result = slow_client(server).edit(
            EditRequest(images=[ImageFile(noise_png(630), "a.png", "image/png")], prompt="x",
                        model="gpt-image-1"),
            on_transfer=lambda *a: reports.append(a))
        sent = int(server.requests[-1].headers["Content-Length"])
    assert result.images
    assert increasing(reports, UP), reports
    assert {total for d, _done, total in reports if d == UP} == {sent}
    assert [r for r in reports if r[0] == UP][-1] == (UP, sent, sent)


@pytest.mark.parametrize("compress", [None, "gzip"])
def test_a_slow_answer_reports_its_bytes_against_the_content_length(home, compress):
    with FakeServer(key=KEY) as server:
        server.compress, server.write_rate = compress, 150_000
        reports = []
        result = ImagesClient(server.base_url, KEY, timeout=60).generate(
            GenerateRequest(prompt="x", model="gpt-image-1", size="1024x1024"),
            on_transfer=lambda *a: reports.append(a))
    assert result.images
    assert increasing(reports, DOWN), reports
    totals = {total for _d, _done, total in reports}
    assert len(totals) == 1
    total = totals.pop()
    if compress is None:  # the JSON: the image's base64 and a little more
        assert total > len(result.images[0].data) * 4 / 3
    assert reports[-1] == (DOWN, total, total)
    assert all(d == DOWN for d, *_ in reports)


def test_a_slow_url_download_is_reported(home):
    with FakeServer(key=KEY) as server:
        server.fault, server.write_rate = "url", 150_000
        reports = []
        result = ImagesClient(server.base_url, KEY, timeout=60).generate(
            GenerateRequest(prompt="x", model="gpt-image-1", size="1024x1024"),
            on_transfer=lambda *a: reports.append(a))
    assert result.images and server.downloads
    assert increasing(reports, DOWN), reports
    assert reports[-1][1] == reports[-1][2]


def test_a_stream_reports_its_final_image_but_not_the_models_pauses(home):
    with FakeServer(key=KEY) as server:
        server.partial_delay = 1.5  # quick events, long pauses
        reports = []
        client = ImagesClient(server.base_url, KEY, timeout=60)
        request = GenerateRequest(prompt="x", model="gpt-image-1", size="1024x1024",
                                  stream=True, partial_images=1)
        client.generate(request, on_transfer=lambda *a: reports.append(a))
        assert reports == []  # seconds of model time, no transfer
        server.partial_delay, server.write_rate = 0.0, 150_000
        result = client.generate(request, on_transfer=lambda *a: reports.append(a))
    assert result.images and result.streamed
    assert increasing(reports, DOWN), reports
    assert reports[-1][1] == reports[-1][2]


def test_the_cli_shows_the_bytes_of_a_slow_answer_on_stderr(srv1, tmp_path, capsys):
    from tests.test_client import run_cli

    srv1.write_rate = 150_000
    code, out, err = run_cli(["generate", "-p", "x", "-m", "gpt-image-1", "-s", "1024x1024",
                              "-o", str(tmp_path / "o.png")], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "Downloading" in line]
    assert len(lines) >= 2, err  # a line a second without a terminal, and the last
    assert lines[-1].split("Downloading ")[1].split(" of ")[0] == \
        lines[-1].split(" of ")[1].split(" MB")[0]  # "Downloading 0.35 of 0.35 MB"
    assert "Waiting for the model" in err.splitlines()[0]


def test_a_fast_answer_shows_no_bytes(srv1, tmp_path, capsys):
    from tests.test_client import run_cli

    code, _out, err = run_cli(["generate", "-p", "x", "-o", str(tmp_path / "o.png")], capsys)
    assert code == 0, err
    assert "Downloading" not in err and "Uploading" not in err


def test_the_worker_writes_the_bytes_into_the_job_status(srv1):
    from bianxie_core import worker
    from bianxie_core.jobs import Job
    from bianxie_core.transfer import Transfer

    srv1.write_rate = 150_000
    job = Job.create(GenerateRequest(prompt="x", model="gpt-image-1", size="1024x1024"))
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.wait(0.05):
            moving = job.status().transfer
            if moving is not None:
                seen.append(moving)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        status = worker.run(job)
    finally:
        stop.set()
        watcher.join()
    assert status.state == "done", status.error
    assert any(not m.finished for m in seen), seen  # read by the host while it moved
    last = job.status().transfer
    assert isinstance(last, Transfer) and last.direction == DOWN and last.finished


def test_a_relays_whitespace_while_the_model_works_is_not_a_transfer():
    """A relay keeps the connection alive with spaces or blank lines before the answer (or the
    stream's first event): those seconds are the model's, not bytes moving."""
    clock, seen = Clock(), []
    bursts = Bursts(lambda *a: seen.append(a), clock)

    def chunks():
        for _i in range(6):  # a minute of padding
            yield b" \n"
            clock.now += 10
        yield b"data: {}\n\n"

    assert b"".join(bursts.count(chunks())).endswith(b"data: {}\n\n")
    bursts.end()
    assert seen == []


def test_a_padded_json_answer_counts_from_its_first_real_byte(monkeypatch):
    """body.chunks: the same padding before a JSON answer read whole."""
    import time as real_time

    from bianxie_core import body

    def padded(_response, _deadline, _host, _timeout):
        for _i in range(3):
            yield b" "
            real_time.sleep(0.5)
        yield b'{"data": []}'

    monkeypatch.setattr(body, "_raw_chunks", padded)
    response = requests.Response()
    response.headers["Transfer-Encoding"] = "chunked"
    seen = []
    data = body.read(response, real_time.monotonic() + 60, 10**6, 60,
                     lambda *a: seen.append(a))
    assert data.strip() == b'{"data": []}'
    assert seen == []


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_stalled_transfer_on_a_terminal_still_shows_the_time_going_on(home):
    """No byte for minutes means no report: the terminal's line must not freeze (it looked
    like a hung CLI), its elapsed time goes on with the bytes so far."""
    from bianxie_core.cli_waiting import Progress

    terminal = Terminal()
    progress = Progress(stream=terminal)
    progress.transfer(DOWN, 3_000_000, 10_000_000)
    before = terminal.getvalue()
    progress.tick()
    assert terminal.getvalue() != before
    assert terminal.getvalue().endswith("Downloading 3.0 of 10.0 MB\033[K")


def test_a_ten_minute_download_into_a_log_file_writes_a_few_dozen_lines(home, monkeypatch):
    """Without a terminal every line stays (a log file, a CI's output): a slow 10-minute
    download reported four times a second wrote a line a second, 600 of them."""
    from types import SimpleNamespace

    from bianxie_core import cli_waiting

    clock = Clock()
    monkeypatch.setattr(cli_waiting, "time", SimpleNamespace(monotonic=clock))
    log = io.StringIO()
    progress = cli_waiting.Progress(stream=log)
    total = 60_000_000
    for step in range(2400):  # 0.25 s apart
        progress.transfer(DOWN, step * 25_000, total)
        clock.now += 0.25
    progress.transfer(DOWN, total, total)
    lines = log.getvalue().splitlines()
    assert 10 <= len(lines) <= 80, len(lines)
    assert lines[-1].endswith("Downloading 60.0 of 60.0 MB")
    assert lines[0].endswith("Downloading 0.0 of 60.0 MB")


def test_a_relays_keep_alive_comments_while_the_model_works_are_not_a_transfer():
    """SSE comment lines (": ping") need no blank line after them: a relay that sends them
    alone every few seconds must not make the model's minute a download."""
    from bianxie_core.wire import sse_events

    clock, seen = Clock(), []
    bursts = Bursts(lambda *a: seen.append(a), clock)

    def chunks():
        yield b"event: image_generation.partial_image\n"  # a name, then the model works
        for _i in range(6):
            yield b": ping\n"
            clock.now += 10
        yield b"data: {}\n\n"
        for _i in range(6):
            yield b": PROCESSING\n"
            clock.now += 10
        yield b"data: {}\n\n"

    assert [e for e, _p in sse_events(bursts.count(chunks()), bursts.end)] == \
        ["image_generation.partial_image", ""]
    assert seen == []


def test_parallel_transfers_in_both_directions_show_one_at_a_time():
    """Variant 1 downloads its answer while variant 3 uploads: the display showed one, then the
    other, four times a second ("Uploading 2.0 of 9.0 MB" / "Downloading 1.1 MB"...)."""
    clock, seen = Clock(), []
    combined = Combined(lambda *a: seen.append(a), clock)
    up, down = combined.part(), combined.part()
    for step in range(1, 11):
        up(UP, step * 100, 1000)
        clock.now += 0.26
        down(DOWN, step * 50, None)
        clock.now += 0.26
    for step in range(11, 15):  # the upload is over: the download alone
        down(DOWN, step * 50, None)
        clock.now += 0.3
    directions = [d for d, _done, _total in seen]
    changes = sum(1 for x, y in zip(directions, directions[1:]) if x != y)
    assert changes == 1, seen
    assert (UP, 1000, 1000) in seen and seen[-1] == (DOWN, 700, None)


def test_a_direction_that_stops_reporting_gives_the_display_up():
    """A transfer cut without its last report must not hold the display from the other."""
    clock, seen = Clock(), []
    combined = Combined(lambda *a: seen.append(a), clock)
    up, down = combined.part(), combined.part()
    up(UP, 100, 1000)  # then never again (its connection was lost)
    for step in range(1, 9):
        clock.now += 0.3
        down(DOWN, step * 50, None)
    assert seen[0] == (UP, 100, 1000) and seen[-1] == (DOWN, 400, None)


def test_a_transfer_cut_off_says_nothing_moves_any_more(home):
    """A download cut at 3 of 10 MB, then tried again or re-sent (``--retries``): its last
    report stayed, "Downloading 3.0 of 10.0 MB" through the next minute of the model's work.
    A cut transfer that was shown reports (direction, 0, 0): nothing moving."""
    from bianxie_core.cli_waiting import Progress
    from bianxie_core.job_folder import JobStatus
    from bianxie_core.transfer import Transfer

    m, clock, seen = meter(10_000_000)
    m.at(0)
    clock.now += 1.5
    m.at(3_000_000)
    m.drop()
    m.drop()
    assert seen == [(UP, 3_000_000, 10_000_000), (UP, 0, 0)]
    assert Transfer(UP, 0, 0).finished
    quiet, _clock, quiet_seen = meter(10)
    quiet.at(0)
    quiet.drop()  # never shown: nothing to say
    assert quiet_seen == []
    log = io.StringIO()
    progress = Progress(stream=log)
    progress.update(JobStatus(transfer=Transfer(DOWN, 3_000_000, 10_000_000)))
    progress.update(JobStatus(transfer=Transfer(DOWN, 0, 0)))
    assert not progress.moving
    assert log.getvalue().count("\n") == 1 and "0.00" not in log.getvalue()


def test_a_download_lost_midway_ends_its_display(monkeypatch):
    import time as real_time

    from bianxie_core import body, errors

    def lost(_response, _deadline, _host, _timeout):
        for _i in range(4):
            yield b"x" * 1000
            real_time.sleep(0.4)
        raise errors.ConnectionLostError("lost")

    monkeypatch.setattr(body, "_raw_chunks", lost)
    response = requests.Response()
    response.headers["Content-Length"] = "10000"
    seen = []
    with pytest.raises(errors.ConnectionLostError):
        body.read(response, real_time.monotonic() + 60, 10**6, 60, lambda *a: seen.append(a))
    assert seen and seen[0][0] == DOWN and seen[-1] == (DOWN, 0, 0)


def test_an_upload_cut_off_ends_its_display():
    from bianxie_core.wire import _Body

    clock, seen = Clock(), []
    sending = _Body(b"x" * 1000, lambda *a: seen.append(a))
    sending._meter._clock = clock
    sending.read(100)
    clock.now += 1.5
    sending.read(100)
    sending.read(100)
    sending.cancel()
    sending.stopped()
    assert seen == [(UP, 100, 1000), (UP, 0, 0)]
