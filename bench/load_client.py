"""The load benchmark's client process: C WebSocket clients, one prompt each, read to `done`.

    .venv/bin/python bench/load_client.py config.json result.json

Run by bench/load.py in a process of its own, so its CPU is not counted as the server's. It connects
every client first, prints `connected <ok> <failed>`, and waits for a line on stdin (the orchestrator
samples the servers' CPU and memory then); then every client sends its prompt at once and reads to
`done`. It checks each answer's seq continuity and count, and measures relay latency from the send time
the Bedrock load server (bench/load_bedrock.py) stamped into each delta's text to the time the frame is
read here. Writes aggregates to result.json.
"""

import asyncio
import json
import resource
import sys
import time
import uuid
from urllib.parse import urlsplit

from websockets.asyncio.client import connect


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def page_origin(socket_url: str) -> str:
    """The Origin a browser on the app's page sends (ws://host:port/… -> http://host:port): the app refuses others."""
    parts = urlsplit(socket_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


class Client:
    def __init__(self, index: int, url: str, cookie: str):
        self.index, self.url, self.cookie = index, url, cookie
        self.ws = None
        self.error = ""
        self.prompt_sent = self.done_at = None
        self.status = ""
        self.seqs_seen: set[int] = set()
        self.last_seq = 0
        self.received = 0
        self.duplicates = 0
        self.gaps = 0  # a delta whose seq is not last + 1
        self.stamps_backwards = 0  # a delta sent before the previous one: reordered or repeated text
        self.last_stamp = 0.0
        self.latencies: list[float] = []
        self.extra_ttfd = None  # our time to first delta minus the upstream's own (arrival -> first send)
        self.first_at = None
        self.queued = 0  # `queued` frames: the server said it was saturated

    async def open(self, semaphore: asyncio.Semaphore, timeout: float):
        async with semaphore:
            try:
                self.ws = await connect(
                    self.url,
                    additional_headers={"Cookie": f"sessionid={self.cookie}", "Origin": page_origin(self.url)},
                    compression=None,  # the app's daphne does not compress either: same bytes for the floor
                    open_timeout=timeout,
                    ping_interval=None,
                    close_timeout=2,
                    max_size=2**20,
                )
            except Exception as error:  # noqa: BLE001 - reported, not raised: one failure must not end the run
                self.error = f"connect: {type(error).__name__}: {error}"[:200]

    async def ask(self, prompt: str):
        ws = self.ws
        request_id = uuid.uuid4().hex
        self.prompt_sent = time.time()
        await ws.send(json.dumps({"type": "prompt", "id": request_id, "text": prompt, "conversation": None, "model": None}))
        while True:
            raw = await ws.recv()
            now = time.time()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "delta":
                self.on_delta(frame, now)
            elif kind == "done":
                self.done_at, self.status = now, frame.get("status", "")
                return
            elif kind == "error":
                self.error = f"error frame: {frame.get('code')}"
                return
            elif kind == "queued":
                self.queued += 1
            # started: nothing to measure

    def on_delta(self, frame: dict, now: float):
        seq = frame["seq"]
        self.received += 1
        if seq in self.seqs_seen:
            self.duplicates += 1
        elif seq != self.last_seq + 1:
            self.gaps += 1
        self.seqs_seen.add(seq)
        self.last_seq = max(self.last_seq, seq)
        fields = frame["text"].split("|")
        sent = float(fields[0])
        self.latencies.append(now - sent)
        if sent <= self.last_stamp:
            self.stamps_backwards += 1
        self.last_stamp = sent
        if self.first_at is None:
            self.first_at = now
        if seq == 1 and len(fields) > 2 and fields[1]:
            arrived = float(fields[1])
            self.extra_ttfd = (now - self.prompt_sent) - (sent - arrived)


def missing(client: Client, deltas: int) -> int:
    return deltas - len(client.seqs_seen & set(range(1, deltas + 1)))


def percentile(values: list[float], fraction: float):
    if not values:
        return None
    return values[min(len(values) - 1, int(fraction * len(values)))]


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    active = peak = 0
    for _, step in events:
        active += step
        peak = max(peak, active)
    return peak


async def main(config: dict, result_path: str):
    raise_nofile()
    clients = [Client(i, t["url"], t["cookie"]) for i, t in enumerate(config["targets"])]
    semaphore = asyncio.Semaphore(config.get("connect_concurrency", 50))  # under daphne's listen backlog (50)
    started = time.time()
    await asyncio.gather(*(c.open(semaphore, config["connect_timeout"]) for c in clients))
    connected = [c for c in clients if c.ws is not None]
    connect_seconds = time.time() - started
    print(f"connected {len(connected)} {len(clients) - len(connected)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the go signal

    go, cpu_at_go = time.time(), time.process_time()
    tasks = {asyncio.create_task(c.ask(config["prompt"])): c for c in connected}
    finished, pending = await asyncio.wait(tasks, timeout=config["answer_timeout"])
    for task in pending:
        task.cancel()
        tasks[task].error = "timeout"
    for task in finished:
        if task.exception() is not None:
            tasks[task].error = f"{type(task.exception()).__name__}: {task.exception()}"[:200]
    end = time.time()
    cpu = time.process_time() - cpu_at_go
    print("finished", flush=True)
    await asyncio.gather(*(c.ws.close() for c in connected), return_exceptions=True)

    deltas = config["deltas"]
    latencies = sorted(x for c in connected for x in c.latencies)
    extra = sorted(c.extra_ttfd for c in connected if c.extra_ttfd is not None)
    answered = [c for c in connected if c.prompt_sent and c.done_at]
    errors = {}
    for c in clients:
        if c.error:
            errors[c.error.split(":")[0]] = errors.get(c.error.split(":")[0], 0) + 1
    result = {
        "clients": len(clients),
        "connected": len(connected),
        "connect_seconds": connect_seconds,
        "complete": sum(1 for c in connected if c.status == "complete"),
        "statuses": {status: sum(1 for c in connected if c.status == status) for status in {c.status for c in connected}
                     if status},
        "errors": errors,
        "first_errors": [c.error for c in clients if c.error][:3],
        "deltas_expected": deltas * len(clients),
        "deltas_received": sum(c.received for c in connected),
        # Lost: a seq in 1..D missing from an answer that ended (`done` came). Answers that never ended
        # (connect failure, timeout) are counted apart: their missing deltas may only have been late.
        "lost": sum(missing(c, deltas) for c in clients if c.status),
        "unfinished": sum(1 for c in clients if not c.status),
        "undelivered": sum(missing(c, deltas) for c in clients if not c.status),
        "duplicated": sum(c.duplicates + max(0, len(c.seqs_seen) - deltas) for c in connected),
        "gaps": sum(c.gaps for c in connected),
        "stamps_backwards": sum(c.stamps_backwards for c in connected),
        "latency_ms": {k: (v * 1000 if v is not None else None) for k, v in
                       (("p50", percentile(latencies, 0.50)), ("p99", percentile(latencies, 0.99)),
                        ("max", latencies[-1] if latencies else None))},
        "extra_ttfd_ms": {k: (v * 1000 if v is not None else None) for k, v in
                          (("p50", percentile(extra, 0.50)), ("p99", percentile(extra, 0.99)),
                           ("max", extra[-1] if extra else None))},
        "answer_seconds_mean": (sum(c.done_at - c.prompt_sent for c in answered) / len(answered)) if answered else None,
        # Unfinished answers were active until the run was cut off.
        "peak_active": peak_overlap([(c.prompt_sent, c.done_at or end) for c in connected if c.prompt_sent]),
        # Answers actually streaming at once: from their first delta to their end.
        "peak_streaming": peak_overlap([(c.first_at, c.done_at or end) for c in connected if c.first_at]),
        "stream_seconds": end - go,
        "client_cpu": cpu,
        "queued": sum(1 for c in connected if c.queued),
        "first_delta": len(extra),  # answers whose first delta came within the time limit (the +TTFD figures' count)
    }
    with open(result_path, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    with open(sys.argv[1]) as config_file:
        asyncio.run(main(json.load(config_file), sys.argv[2]))
