"""Crash safety: kill -9 a real daphne mid-answer; after a restart the message is `interrupted` and
keeps the text of its last checkpoint. Also the heartbeat check for runs that vanished."""

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from chat.models import Conversation, Message
from chat.runs import interrupt_orphans
from tests.bedrock_server import Stream
from tests.conftest import TEST_MODEL_ID
from tests.servers import Daphne, app_env, manage, session_cookie

WORDS = [f"w{i} " for i in range(400)]
DELAY = 0.05  # 20 words a second


class Server:
    """A real daphne on its own SQLite file, one process as `make run` starts it."""

    def __init__(self, tmp_path: Path):
        self.db = tmp_path / "db.sqlite3"
        self.env = app_env(
            DATABASE_URL=f"sqlite:///{self.db}",
            DATA_DIR=str(tmp_path),
            BEDROCK_MODEL_ID=TEST_MODEL_ID,
            STREAM_CHECKPOINT_SECONDS="1",
            REDIS_URL="",  # one process: every streaming message is an orphan at start-up
        )
        self.daphne = Daphne(self.env)

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def message_row(self) -> dict:
        with sqlite3.connect(self.db) as db:
            db.row_factory = sqlite3.Row
            return dict(db.execute("SELECT prompt, response, status, seq FROM chat_message").fetchone())


@pytest.fixture
def server(tmp_path, bedrock_server):
    server = Server(tmp_path)
    server.manage("migrate", "--noinput")
    yield server
    server.daphne.stop()


def test_kill_9_mid_answer_keeps_the_prompt_and_the_last_checkpoint(server, bedrock_server):
    bedrock_server.reset()
    bedrock_server.queue(Stream(deltas=WORDS, delay=DELAY))
    cookie = session_cookie(server.env)
    server.daphne.start()

    received = ""
    with server.daphne.websocket(cookie) as ws:
        ws.send(json.dumps({"type": "prompt", "id": "p1", "text": "Tell me everything", "conversation": None, "model": None}))
        started = json.loads(ws.recv(timeout=10))
        assert started["type"] == "started"
        deadline = time.monotonic() + 3.3
        while time.monotonic() < deadline:
            received += json.loads(ws.recv(timeout=5))["text"]
        server.daphne.kill()  # no chance to save anything more

    assert server.message_row()["status"] == "streaming"  # what the killed process left behind
    server.manage("recover_streams")  # what `make run` does before starting daphne
    server.daphne.start()

    row = server.message_row()
    assert row["status"] == "interrupted"
    assert row["prompt"] == "Tell me everything"
    assert row["response"] and received.startswith(row["response"])
    lost_words = len(received.split()) - len(row["response"].split())
    assert lost_words <= 1.2 / DELAY  # at most about one checkpoint interval behind what the client had
    assert row["seq"] == len(row["response"].split())

    with server.daphne.websocket(cookie) as ws:  # the page reattaching after the restart
        ws.send(json.dumps({"type": "attach", "message": started["message"]}))
        snapshot, done = json.loads(ws.recv(timeout=10)), json.loads(ws.recv(timeout=10))
    assert (snapshot["type"], snapshot["status"], snapshot["text"]) == ("snapshot", "interrupted", row["response"])
    assert (done["type"], done["status"]) == ("done", "interrupted")


@pytest.mark.django_db
def test_heartbeat_check_interrupts_only_runs_that_went_quiet(alice, settings):
    settings.STREAM_STALE_SECONDS = 5
    conversation = Conversation.objects.create(user=alice)

    def message(heartbeat_age: float | None, request_id: str):
        heartbeat = None if heartbeat_age is None else timezone.now() - timedelta(seconds=heartbeat_age)
        return Message.objects.create(conversation=conversation, user=alice, prompt="p", response="so far",
                                      model_key="m", model_id="m", provider="bedrock-converse",
                                      client_request_id=request_id, heartbeat_at=heartbeat)

    quiet, fresh, live_here = message(30, "quiet"), message(1, "fresh"), message(30, "live-here")
    assert interrupt_orphans(live_here=[live_here.pk]) == 1
    quiet.refresh_from_db(), fresh.refresh_from_db(), live_here.refresh_from_db()
    assert (quiet.status, quiet.response) == ("interrupted", "so far")
    assert quiet.finished is not None
    assert fresh.status == live_here.status == "streaming"
