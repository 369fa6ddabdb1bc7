"""What a real daphne holds for a socket that does not read (issue #12): a second snapshot of a message is
not queued behind an unwritten one, and past SOCKET_SEND_BUFFER_BYTES the socket is closed (1008) while
its runs go on for their other watchers and the database. The frame rate limit is lifted here (it would
cut these floods short: tests/test_attach_flood.py) so that these two are what holds."""

import json
import sqlite3
import time

import pytest

from tests.bedrock_server import Stream
from tests.flood import FloodApp, StalledSocket
from tests.ws import reassemble

NO_RATE_LIMIT = {"FRAMES_PER_SECOND": "100000", "FRAME_BURST": "100000"}
MAX_GROWTH_MB = 30  # the 4 MiB cap and some bookkeeping; the unbounded server grew by 50 MB in these 3 s


@pytest.fixture
def start_app(tmp_path, bedrock_server):
    bedrock_server.reset()
    apps = []

    def start(**settings) -> FloodApp:
        apps.append(FloodApp(tmp_path, **settings))
        return apps[-1]

    yield start
    for app in apps:
        app.stop()


def is_not_found(frame: dict) -> bool:
    return frame.get("code") == "not_found"


def test_attaches_while_a_snapshot_is_unwritten_are_coalesced(start_app):
    app = start_app(**NO_RATE_LIMIT)
    bob = StalledSocket(app.daphne, app.bob)
    attach = {"type": "attach", "message": app.answers[0]}
    bob.send([attach] * 4000 + [{"type": "attach", "message": 999_999}])  # the last one marks the end
    app.wait_until_idle()  # every attach handled before bob reads a byte

    frames, code, _ = bob.drain(until=is_not_found)
    snapshots = [frame for frame in frames if frame["type"] == "snapshot"]
    print(f"\n4,000 attaches on a socket that did not read: {len(snapshots)} snapshots sent")
    # Only as many as the kernel took while the client was not reading, and one more waiting in daphne.
    assert code is None and 1 <= len(snapshots) <= 40
    assert all(snapshot["text"] == app.saved(app.answers[0])["response"] for snapshot in snapshots)
    assert [frame["type"] for frame in frames].count("done") == len(snapshots)

    bob.send([attach])  # everything was read: the next attach gets a snapshot of its own
    frames, _, _ = bob.drain(until=lambda frame: frame["type"] == "done")
    assert [frame["type"] for frame in frames] == ["snapshot", "done"]
    bob.close()


def test_a_socket_over_its_send_buffer_is_closed_and_alice_does_not_notice(start_app):
    app = start_app(answers=60, **NO_RATE_LIMIT)  # 60 different answers of 129 KB: 7.7 MB in all
    app.prompt_to_started_seconds("warm-up")
    before = app.rss_mb()

    bob = StalledSocket(app.daphne, app.bob)
    bob.send([{"type": "attach", "message": message_id} for message_id in app.answers] * 20)
    started_in = app.prompt_to_started_seconds("during-the-flood")
    peak = app.peak_rss_mb(seconds=3)
    print(f"\ndaphne RSS before {before:.0f} MB, peak {peak:.0f} MB; alice's prompt -> started {started_in * 1000:.0f} ms")

    assert peak - before < MAX_GROWTH_MB
    assert started_in < 1.0
    frames, code, reason = bob.drain()
    bob.close()
    assert code == 1008 and reason.startswith("Send buffer full")
    snapshots = [frame for frame in frames if frame["type"] == "snapshot"]
    assert 20 < len(snapshots) < 60  # cut off once daphne held more than 4 MiB on top of what the kernel took


def test_a_run_goes_on_for_its_other_watchers_when_its_socket_is_closed_for_its_buffer(start_app, bedrock_server):
    app = start_app(SOCKET_SEND_BUFFER_BYTES="65536")
    chunk = "lorem ipsum dolor sit amet " * 300  # 8 KB a delta; 5 MB in all, more than the kernels take
    # 0.8 MB/s: a reading tab keeps up even on a loaded machine, while the stalled one fills its 64 KiB.
    bedrock_server.queue(Stream(deltas=[chunk] * 600, delay=0.01))

    stalled = StalledSocket(app.daphne, app.bob)
    stalled.send([{"type": "prompt", "id": "long", "text": "Go on and on", "conversation": None, "model": None}])
    message_id = wait_for_message(app)
    with app.daphne.websocket(app.bob) as reader:  # bob's other tab
        reader.send(json.dumps({"type": "attach", "message": message_id}))
        frames = []
        while not frames or frames[-1]["type"] != "done":
            frames.append(json.loads(reader.recv(timeout=30)))

    assert reassemble(frames) == chunk * 600 and frames[-1]["status"] == "complete"
    assert app.saved(message_id) == {"status": "complete", "response": chunk * 600}
    _, code, reason = stalled.drain()
    stalled.close()
    assert code == 1008 and reason.startswith("Send buffer full")


def wait_for_message(app: FloodApp) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(app.db) as db:
            row = db.execute("SELECT id FROM chat_message WHERE client_request_id = 'long'").fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError("the prompt was not saved")
