"""The floor for the load benchmark: the least a relay can do, on the `websockets` library alone.

    .venv/bin/python bench/load_floor.py [--port 0]   (Bedrock endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME)

No Django, no database, no channel layer, no auth: on a `prompt` frame it answers `started`, reads the
model's stream with boto3 `converse_stream` in a worker thread of its own (as chat/providers/bedrock.py
does, with the same client settings), hands each delta to the event loop with call_soon_threadsafe,
and sends it as the same JSON `delta` frame the app sends, then `done`. Prints `port <n>` once listening.
"""

import argparse
import asyncio
import itertools
import json
import resource
import threading

import boto3
import botocore.config
from websockets.asyncio.server import serve

MODEL_ID = "bench.model"
_END = object()
_message_ids = itertools.count(1)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def make_client():
    # The app's settings (chat.providers.bedrock.bedrock_client): one shared client, 1,000 pooled connections.
    config = botocore.config.Config(connect_timeout=10, read_timeout=60, max_pool_connections=1000)
    return boto3.session.Session().client("bedrock-runtime", region_name="us-east-1", config=config)


async def answer(ws, client, request_id: str, text: str):
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    message_id = next(_message_ids)

    def produce():
        try:
            response = client.converse_stream(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": text}]}])
            for event in response["stream"]:
                delta = event.get("contentBlockDelta")
                if delta is not None:
                    loop.call_soon_threadsafe(queue.put_nowait, delta["delta"]["text"])
            outcome = "complete"
        except Exception:  # noqa: BLE001 - reported in `done`, like the app
            outcome = "error"
        loop.call_soon_threadsafe(queue.put_nowait, (_END, outcome))

    await ws.send(json.dumps({"type": "started", "id": request_id, "message": message_id, "conversation": message_id,
                              "model": MODEL_ID}))
    threading.Thread(target=produce, name="floor-stream", daemon=True).start()
    seq = 0
    while True:
        item = await queue.get()
        if isinstance(item, tuple):
            break
        seq += 1
        await ws.send(json.dumps({"type": "delta", "message": message_id, "seq": seq, "text": item}))
    await ws.send(json.dumps({"type": "done", "message": message_id, "status": item[1], "stop_reason": "end_turn"}))


async def handler(ws, client):
    tasks = set()
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") == "prompt":
            task = asyncio.create_task(answer(ws, client, frame["id"], frame["text"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def main(port: int, max_seconds: float):
    raise_nofile()
    client = make_client()
    async with serve(lambda ws: handler(ws, client), "127.0.0.1", port, compression=None, ping_interval=None,
                     max_size=2**16, backlog=4096) as server:
        print(f"port {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await asyncio.sleep(max_seconds)  # the orchestrator stops us; this is only a safety net


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port, args.max_seconds))
    except KeyboardInterrupt:
        pass
