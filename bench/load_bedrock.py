"""A Bedrock-compatible ConverseStream server for the load benchmark, stamping each delta with its send time.

    .venv/bin/python bench/load_bedrock.py --deltas 200 --interval-ms 20 [--port 0]

It prints `port <n>` once listening, and serves every `converse-stream` request with D deltas, one each
I ms on an absolute schedule from the request's arrival (so a busy machine delays frames but does not
stretch the offered load). Each delta's text is `<time.time() when written, µs>|`, padded to a fixed
width, and the first one also carries the request's arrival time: `<sent>|<arrived>|`. A prompt starting
with "warmup" gets 3 deltas.

Why not tests/bedrock_server.py's threaded server as is: at 1,000 streams it would run 1,000 threads each
waking every 20 ms (and its listen backlog is 5), spending the very cores the benchmark measures. This is
one asyncio loop writing every due frame from a single timer heap; the bytes come from the test server's
own encoder (tests/eventstream.py), so boto3 parses them exactly as in the tests.
"""

import argparse
import asyncio
import heapq
import json
import resource
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.eventstream import (  # noqa: E402
    LAST_CHUNK, delta_frame, end_frames, error_response, http_chunk, message_start_frame, stream_head,
)

TEXT_WIDTH = 24  # "1732662000.123456|" padded: every delta is the same size
WARMUP_DELTAS = 3
TICK = 0.001  # seconds


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def stamp(sent: float, arrived: float | None = None) -> str:
    text = f"{sent:.6f}|" + (f"{arrived:.6f}|" if arrived is not None else "")
    return text.ljust(TEXT_WIDTH, "~")


class Scheduler:
    """One timer heap for all streams: a delta is written when its deadline passes."""

    def __init__(self, deltas: int, interval: float):
        self.deltas = deltas
        self.interval = interval
        self.heap: list = []  # (deadline, counter, stream)
        self.counter = 0
        self.wake = asyncio.Event()
        self.frames_sent = 0

    def add(self, stream: "Answer") -> None:
        self.push(stream)
        self.wake.set()

    def push(self, stream: "Answer") -> None:
        self.counter += 1
        heapq.heappush(self.heap, (stream.next_deadline(), self.counter, stream))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.heap:
                self.wake.clear()
                await self.wake.wait()
                continue
            now = loop.time()
            while self.heap and self.heap[0][0] <= now:
                _, _, stream = heapq.heappop(self.heap)
                if stream.send_next():
                    self.push(stream)
                self.frames_sent += 1
            if self.heap:
                # At least TICK between wake-ups: due frames go out in batches instead of one wake-up
                # per frame (each frame is stamped when written, so this only shapes the offered load).
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), max(self.heap[0][0] - loop.time(), TICK))
                except TimeoutError:
                    pass


class Answer:
    """One streamed ConverseStream response on one connection."""

    def __init__(self, writer: asyncio.StreamWriter, deltas: int, interval: float, arrived: float, arrived_loop: float):
        self.writer = writer
        self.deltas = deltas
        self.interval = interval
        self.arrived = arrived  # time.time(), reported in the first delta
        self.start = arrived_loop  # loop.time(), the schedule's origin
        self.sent = 0
        self.finished = asyncio.get_running_loop().create_future()

    def next_deadline(self) -> float:
        return self.start + (self.sent + 1) * self.interval

    def send_next(self) -> bool:
        """Write the next delta (and the end of the answer after the last one); True if more remain."""
        if self.writer.is_closing():
            self._finish()
            return False
        now = time.time()
        self.writer.write(http_chunk(delta_frame(stamp(now, self.arrived if self.sent == 0 else None))))
        self.sent += 1
        if self.sent < self.deltas:
            return True
        self.writer.write(b"".join(http_chunk(frame) for frame in end_frames(self.deltas)) + LAST_CHUNK)
        self._finish()
        return False

    def _finish(self):
        if not self.finished.done():
            self.finished.set_result(None)


async def serve_connection(reader, writer, scheduler: Scheduler, stats: dict):
    loop = asyncio.get_running_loop()
    # As real servers do (asyncio sets it too): a frame never waits for the client's delayed ACK.
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:  # keep-alive: botocore reuses pooled connections
            head = await reader.readuntil(b"\r\n\r\n")
            arrived, arrived_loop = time.time(), loop.time()
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            method, path, _ = lines[0].split(" ", 2)
            if method == "GET" and path == "/stats":  # for the orchestrator: answers streaming at once
                reply = json.dumps(stats).encode()
                stats["peak"] = stats["active"]  # the next read reports the peak since this one
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(reply), reply))
                continue
            if method != "POST" or not path.split("?")[0].endswith("/converse-stream"):
                writer.write(error_response(404, "UnknownOperationException", "only converse-stream"))
                continue
            prompt = json.loads(body or b"{}").get("messages", [{}])[-1].get("content", [{}])[0].get("text", "")
            deltas = WARMUP_DELTAS if prompt.startswith("warmup") else scheduler.deltas
            stats["requests"] += 1
            stats["active"] += 1
            stats["peak"] = max(stats["peak"], stats["active"])
            writer.write(stream_head() + http_chunk(message_start_frame()))
            answer = Answer(writer, deltas, scheduler.interval, arrived, arrived_loop)
            scheduler.add(answer)
            await answer.finished
            stats["active"] -= 1
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(args):
    raise_nofile()
    scheduler = Scheduler(args.deltas, args.interval_ms / 1000)
    stats = {"requests": 0, "active": 0, "peak": 0}
    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, scheduler, stats), "127.0.0.1", args.port, backlog=4096
    )
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    runner = asyncio.create_task(scheduler.run())
    # Bounded: the orchestrator kills us at the end; this is only a safety net.
    await asyncio.sleep(args.max_seconds)
    runner.cancel()
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deltas", type=int, default=200)
    parser.add_argument("--interval-ms", type=float, default=20)
    parser.add_argument("--max-seconds", type=float, default=3600)
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        pass
