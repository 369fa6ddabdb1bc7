"""The floor under bench/page.py: the same stamped deltas, instruments and Chromium, on a bare page that does
nothing but append each delta's text to a paragraph and follow the bottom. What this page measures no chat page
can beat on this machine; what our page adds is the difference.

    .venv/bin/python bench/page_floor.py                    # 3 rounds, 3 modes, 2 cases: about 3 minutes
    .venv/bin/python bench/page_floor.py --rounds 5 --cases prose-1500

A websockets server (in this process) serves the page and sends the deltas of bench/page.py's prose cases with
their send time in each stamp. Two ways of putting text on the page, measured alternately:
- `frame`: text is collected and appended at the next animation frame (what the chat page does);
- `arrival`: text is appended in the socket's message handler. It is painted at the same next frame (the browser
  paints once per frame either way), but the MutationObserver sees it up to a frame earlier: the difference
  between the two modes' `p50` is what the observer's figure says about when the text is in the page rather than
  when it is painted;
- `frame+dot`: as `frame`, beside a dot that pulses (a CSS animation that never ends, as the chat page's live dot
  did while an answer streamed): the browser then draws every frame, so a delta waits for the next frame's turn
  even when the page was idle, and every frame costs the main thread its work.
Columns as in bench/page.py: relay p50 / p95 / max (Bedrock-side send → text in the page), `way` (send → the
frame's arrival in the page, p50), `wait` (arrival → text in the page, p50), main-thread wall and CPU per 1,000
deltas (CDP Performance.getMetrics TaskDuration), long tasks.
"""

import argparse
import asyncio
import http
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402
from websockets.datastructures import Headers  # noqa: E402
from websockets.http11 import Response  # noqa: E402

from bench import page, page_answers  # noqa: E402

CASES = {"prose-200": (lambda: page_answers.prose(200), 0.020), "prose-1500": (lambda: page_answers.prose(1500), 0.010)}
MODES = {"frame": "mode=frame", "arrival": "mode=arrival", "frame+dot": "mode=frame&dot=1"}  # label -> query

PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>floor</title>
<style>body { margin: 0; font: 16px/1.6 system-ui, sans-serif; } #scroll { height: 100vh; overflow: auto; }
#turns { max-width: 48rem; margin: 0 auto; padding: 1rem; }
#dot { display: none; width: 0.6rem; height: 0.6rem; border-radius: 50%; background: #36c; animation: pulse 1.2s ease-in-out infinite; }
@keyframes pulse { 0%, 100% { opacity: 0.35; transform: scale(0.8); } 50% { opacity: 1; transform: scale(1); } }
.dot #dot { display: block; }</style>
<div id="scroll"><div id="turns"><article><p></p></article><span id="dot"></span></div></div>
<script>
const arrival = new URLSearchParams(location.search).get('mode') === 'arrival';
if (new URLSearchParams(location.search).get('dot')) document.body.classList.add('dot');
const scroller = document.getElementById('scroll'), article = document.querySelector('article');
let node = article.firstChild.appendChild(document.createTextNode('')), pending = '', requested = false;
function put(text) {  // a blank line starts a new paragraph
  const parts = text.split('\\n\\n');
  node.appendData(parts[0]);
  for (const part of parts.slice(1)) node = article.appendChild(document.createElement('p')).appendChild(document.createTextNode(part));
}
function flush() { requested = false; put(pending); pending = ''; }
new ResizeObserver(() => { scroller.scrollTop = scroller.scrollHeight; }).observe(article);
const socket = new WebSocket(`ws://${location.host}/socket`);
window.opened = new Promise((resolve) => socket.addEventListener('open', resolve));
window.go = () => socket.send('go');
socket.addEventListener('message', (event) => {
  const frame = JSON.parse(event.data);
  if (frame.done) { document.body.dataset.done = '1'; return; }
  if (arrival) { put(frame.text); return; }
  pending += frame.text;
  if (!requested) { requested = true; requestAnimationFrame(flush); }
});
</script></html>"""


class FloorServer:
    """Serves PAGE at / and, on /socket, one case's deltas after the page says `go`."""

    def __init__(self):
        self.deltas, self.delay, self.epoch = [], 0.02, 0.0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self):
        async with serve(self._socket, "127.0.0.1", 0, process_request=self._http) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await asyncio.Future()

    def _http(self, connection, request):
        if request.path.startswith("/socket"):
            return None
        return Response(http.HTTPStatus.OK, "OK", Headers([("Content-Type", "text/html; charset=utf-8")]), PAGE.encode())

    async def _socket(self, websocket):
        await websocket.recv()  # go
        start = time.monotonic()
        for index, text in enumerate(self.deltas, 1):
            await asyncio.sleep(max(0.0, start + index * self.delay - time.monotonic()))
            await websocket.send(json.dumps({"text": text.replace("{stamp}", f"{(time.time() - self.epoch) * 1000:.1f}")}))
        await websocket.send(json.dumps({"done": True}))


def run_case(browser, server: FloorServer, case: str, query: str) -> dict:
    make_deltas, delay = CASES[case]
    server.deltas, server.delay = make_deltas(), delay
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    tab = context.new_page()
    tab.add_init_script(page.ARRIVALS)
    tab.goto(f"http://127.0.0.1:{server.port}/?{query}")
    tab.evaluate("() => window.opened")
    tab.evaluate(page.INSTRUMENT)
    wall, cpu = context.new_cdp_session(tab), context.new_cdp_session(tab)
    wall.send("Performance.enable", {"timeDomain": "timeTicks"})
    cpu.send("Performance.enable", {"timeDomain": "threadTicks"})
    offset = page.clock_offset(tab)
    server.epoch = time.time()
    before = page.task_duration((wall, cpu))
    tab.evaluate("() => window.go()")
    tab.wait_for_function("() => document.body.dataset.done === '1'", timeout=120_000, polling=100)
    tab.wait_for_timeout(300)  # the last frames
    after = page.task_duration((wall, cpu))
    bench, arrived = tab.evaluate("() => window.__bench"), tab.evaluate("() => window.__arrived")
    context.close()
    base = server.epoch * 1000 + offset
    seen = bench["seen"]
    relay, way, wait = page.relay_parts(seen, arrived, base)
    count = len(server.deltas)
    return {"first": float("nan"), "p50": page.percentile(relay, 0.5), "p95": page.percentile(relay, 0.95),
            "max": max(relay), "way": page.percentile(way, 0.5), "wait": page.percentile(wait, 0.5),
            "main": (after[0] - before[0]) * 1e6 / count, "cpu": (after[1] - before[1]) * 1e6 / count,
            "long": sum(d > 50 for d in bench["longTasks"]), "longest": max(bench["longTasks"], default=0),
            "missing": page_answers.stamp_count(server.deltas) - len(seen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    server = FloorServer()
    results: dict[tuple[str, str], list[dict]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=page.CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        print(page.HEADER, flush=True)
        for round_no in range(args.rounds):
            for case in args.cases.split(","):
                for mode in list(MODES) if round_no % 2 == 0 else list(MODES)[::-1]:
                    result = run_case(browser, server, case, MODES[mode])
                    results.setdefault((mode, case), []).append(result)
                    print(f"{page.row(mode, case, result)}   round {round_no + 1}, load {page.loadavg()}", flush=True)
        browser.close()
    print(f"\nMedians over {args.rounds} round(s):\n{page.HEADER}")
    for case in args.cases.split(","):
        for mode in MODES:
            runs = results[(mode, case)]
            print(page.row(mode, case, {key: statistics.median(r[key] for r in runs) for key in runs[0]}))


if __name__ == "__main__":
    main()
