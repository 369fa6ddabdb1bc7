"""Issue #12, item 1: bob floods `attach` frames for his own large finished answer on a socket that never
reads. Against a real daphne: its memory stays bounded, bob's socket is closed (1008), and alice's prompt
still starts at once. (Before the fix, 4,000 such frames took daphne from 225 MB to 716 MB.)"""

import time

import pytest

from tests.flood import FloodApp, StalledSocket

FLOOD = 4000
MAX_GROWTH_MB = 30  # one snapshot in flight and some bookkeeping; the unbounded server grew by hundreds


@pytest.fixture
def app(tmp_path, bedrock_server):
    bedrock_server.reset()
    app = FloodApp(tmp_path)
    yield app
    app.stop()


def test_attach_flood_on_a_stalled_socket_is_cut_off_and_alice_is_not_held_up(app):
    app.prompt_to_started_seconds("warm-up")  # the first prompt loads what every later one shares
    before = app.rss_mb()

    bob = StalledSocket(app.daphne, app.bob)
    bob.send([{"type": "attach", "message": app.answers[0]}] * FLOOD)
    started_in = app.prompt_to_started_seconds("during-the-flood")
    peak = app.peak_rss_mb(seconds=4)
    print(f"\ndaphne RSS before the flood {before:.0f} MB, peak during it {peak:.0f} MB;"
          f" alice's prompt -> started during the flood: {started_in * 1000:.0f} ms")

    assert peak - before < MAX_GROWTH_MB
    assert started_in < 1.0
    frames, code, reason = bob.drain()
    bob.close()
    assert code == 1008 and reason.startswith("Too many frames")
    kinds = [frame.get("code", frame["type"]) for frame in frames]
    # Of the 60 attaches let through (FRAME_BURST), those made while a snapshot was still unwritten were
    # coalesced: snapshots went out only as the kernel took them (tests/test_send_buffer.py has the counts).
    assert 1 <= kinds.count("snapshot") == kinds.count("done") < 60
    assert kinds.count("rate_limited") > 0 and len(frames) < 200  # the rest refused, then the socket closed
    assert frames[0]["text"] == app.saved(app.answers[0])["response"]

    time.sleep(0.5)
    assert app.rss_mb() - before < MAX_GROWTH_MB
