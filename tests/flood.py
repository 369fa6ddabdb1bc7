"""A real daphne for the flood tests, a client that stops reading, and the server's memory as /proc sees it."""

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.conftest import TEST_MODEL_ID
from tests.servers import Daphne, app_env, manage, session_cookie

# A large finished answer, as in issue #12 (129 KB).
ANSWER_CHARS = 129_000


class FloodApp:
    """One real daphne on its own SQLite file, with alice and bob logged in and bob owning `answers`
    finished answers of ANSWER_CHARS characters each."""

    def __init__(self, tmp_path: Path, answers: int = 1, **settings: str):
        self.db = tmp_path / "db.sqlite3"
        self.env = app_env(DATABASE_URL=f"sqlite:///{self.db}", DATA_DIR=str(tmp_path), BEDROCK_MODEL_ID=TEST_MODEL_ID,
                           REDIS_URL="", **settings)
        manage(self.env, "migrate", "--noinput")
        self.alice, self.bob = session_cookie(self.env, "alice"), session_cookie(self.env, "bob")
        script = (
            "from django.contrib.auth import get_user_model; from django.utils import timezone;"
            "from chat.models import Conversation, Message;"
            "bob = get_user_model().objects.get(username='bob');"
            "conversation = Conversation.objects.create(user=bob, title='Long answers');"
            f"text = ('All work and no play makes Jack a dull boy. ' * 3000)[:{ANSWER_CHARS}];"
            "print(' '.join(str(Message.objects.create(conversation=conversation, user=bob, prompt='Write a lot',"
            " response=text, status='complete', seq=1, model_key='m', model_id='m', provider='bedrock-converse',"
            f" client_request_id=f'long-{{n}}', finished=timezone.now()).pk) for n in range({answers})))"
        )
        self.answers = [int(pk) for pk in manage(self.env, "shell", "-c", script).splitlines()[-1].split()]
        self.daphne = Daphne(self.env, tmp_path / "daphne.log").start()

    def rss_mb(self) -> float:
        """The daphne process's resident memory (VmRSS), in MB."""
        for line in Path(f"/proc/{self.daphne.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def peak_rss_mb(self, seconds: float) -> float:
        peak, deadline = 0.0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            peak = max(peak, self.rss_mb())
            time.sleep(0.05)
        return peak

    def wait_until_idle(self, timeout: float = 60) -> None:
        """Until daphne has used no CPU for half a second: it has handled every frame sent to it."""
        deadline, last, quiet_since = time.monotonic() + timeout, self.cpu_seconds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.cpu_seconds()
            if now - last > 0.01:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.5:
                return
            last = now
        raise AssertionError("daphne stayed busy")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.daphne.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def saved(self, message_id: int) -> dict:
        with sqlite3.connect(self.db) as db:
            db.row_factory = sqlite3.Row
            return dict(db.execute("SELECT status, response FROM chat_message WHERE id = ?", (message_id,)).fetchone())

    def prompt_to_started_seconds(self, request_id: str) -> float:
        """Alice sends a prompt on a fresh socket: seconds until its `started` arrives."""
        with self.daphne.websocket(self.alice) as ws:
            sent = time.monotonic()
            ws.send(json.dumps({"type": "prompt", "id": request_id, "text": "Hello", "conversation": None, "model": None}))
            frame = json.loads(ws.recv(timeout=30))
            elapsed = time.monotonic() - sent
        assert frame["type"] == "started", frame
        return elapsed

    def stop(self):
        self.daphne.stop()


class StalledSocket:
    """A WebSocket client that never reads until told to: its receive buffer is tiny (SO_RCVBUF), so the
    kernel's buffers fill at once and what the server sends piles up on the server's side. Frames are
    built by websockets' own sans-I/O client."""

    def __init__(self, daphne: Daphne, cookie: str):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: sets the TCP window
        self.sock.connect(("127.0.0.1", daphne.port))
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{daphne.port}/ws/chat/"), max_size=None)
        request = self.protocol.connect()
        request.headers["Cookie"] = f"sessionid={cookie}"
        request.headers["Origin"] = daphne.url
        self.protocol.send_request(request)
        self._flush()
        self.sock.settimeout(10)
        while self.protocol.state is State.CONNECTING:
            self._read()
        assert self.protocol.state is State.OPEN, self.protocol.handshake_exc
        self.events = list(self.protocol.events_received())

    def send(self, frames: list[dict]) -> None:
        for frame in frames:
            self.protocol.send_text(json.dumps(frame).encode())
        self._flush()

    def drain(self, until=None, timeout: float = 30) -> tuple[list[dict], int | None, str]:
        """Read what the server sent, up to its close frame (or the connection's end) or the first frame for
        which `until(frame)` is true: the JSON frames, the close code (None if there was no close frame)
        and the close reason."""
        frames = []
        self.sock.settimeout(timeout)
        while self.protocol.state is State.OPEN and not (until and frames and until(frames[-1])):
            if not self._read():
                break
            for event in self.protocol.events_received():
                if event.opcode is Opcode.TEXT:
                    frames.append(json.loads(event.data))
        close = self.protocol.close_rcvd
        return frames, (close.code if close else None), (close.reason if close else "")

    def close(self):
        self.sock.close()

    def _read(self) -> bool:
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionError:
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        return bool(data)

    def _flush(self):
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
