"""Our local provider against calling llama-cpp-python directly, same model, same prompt, same run.

    .venv/bin/python bench/local_model.py [--runs 5] [--max-tokens 128]

Prints time to first token and decode speed (tokens/s after the first) for both, medians over the
runs (alternating, after one warm-up each), and the ratio ours / direct (target >= 0.95).
"""

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamer.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from chat.providers import GenerationRequest, TextDelta, Usage  # noqa: E402
from chat.providers.local import LocalProvider, loaded_model  # noqa: E402

PROMPT = "Explain how a lighthouse works, in detail."


def measure(started: float, first: float | None, finished: float, tokens: int) -> dict:
    return {
        "ttft_s": (first or finished) - started,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / (finished - first) if first and tokens > 1 and finished > first else 0.0,
    }


def run_direct(max_tokens: int) -> dict:
    """llama-cpp-python's own chat completion, streamed, on the very same loaded Llama."""
    llama = loaded_model(settings.LOCAL_MODEL_PATH).llama
    llama.reset()  # no prompt-cache reuse between runs: TTFT includes evaluating the prompt
    started, first, tokens = time.perf_counter(), None, 0
    stream = llama.create_chat_completion(
        messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens, temperature=0.0, stream=True
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter()
    finished = time.perf_counter()
    tokens = llama.n_tokens - len(loaded_model(settings.LOCAL_MODEL_PATH).prompt_tokens(request(max_tokens))[0]) + 1
    return measure(started, first, finished, tokens)


def request(max_tokens: int) -> GenerationRequest:
    return GenerationRequest(
        model_id=settings.LOCAL_MODEL_PATH,
        messages=[{"role": "user", "text": PROMPT}],
        params={"max_tokens": max_tokens, "temperature": 0.0},
    )


async def run_ours(max_tokens: int) -> dict:
    """Our provider: worker thread, its line (users in turn), event-loop hand-off, as a run uses it."""
    loaded_model(settings.LOCAL_MODEL_PATH).llama.reset()
    started, first, tokens = time.perf_counter(), None, 0
    async for event in LocalProvider().stream(request(max_tokens)):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
        elif isinstance(event, Usage):
            tokens = event.output_tokens
    return measure(started, first, time.perf_counter(), tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    print(f"model: {Path(settings.LOCAL_MODEL_PATH).name}")
    print(f"threads: {settings.LOCAL_MODEL_THREADS}, cores: {os.cpu_count()}, max_tokens: {args.max_tokens}, runs: {args.runs}")
    load_started = time.perf_counter()
    loaded_model(settings.LOCAL_MODEL_PATH)
    print(f"model load: {time.perf_counter() - load_started:.2f} s")
    run_direct(args.max_tokens)  # warm-ups
    asyncio.run(run_ours(args.max_tokens))

    direct, ours = [], []
    for _ in range(args.runs):
        direct.append(run_direct(args.max_tokens))
        ours.append(asyncio.run(run_ours(args.max_tokens)))

    def median(results, key):
        return statistics.median(result[key] for result in results)

    print(f"{'':8} {'TTFT':>9} {'tokens/s':>9} {'tokens':>7}")
    for name, results in (("direct", direct), ("ours", ours)):
        print(f"{name:8} {median(results, 'ttft_s') * 1000:7.0f}ms {median(results, 'tokens_per_s'):9.1f} {median(results, 'tokens'):7.0f}")
    ratio = median(ours, "tokens_per_s") / median(direct, "tokens_per_s")
    ttft_extra = (median(ours, "ttft_s") - median(direct, "ttft_s")) * 1000
    print(f"ratio ours/direct tokens/s: {ratio:.3f} (target >= 0.95); TTFT difference: {ttft_extra:+.0f} ms")
    threading.Event().wait(0)  # nothing left running


if __name__ == "__main__":
    main()
