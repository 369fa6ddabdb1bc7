"""Where a tab's main-thread time goes while it streams one answer: a Chrome trace, summed by kind of work.

    .venv/bin/python bench/page_trace.py                        # this checkout, prose, 1,000 deltas 10 ms apart
    .venv/bin/python bench/page_trace.py --answer markdown --size 20000 --app-dir ../other-checkout

Starts what bench/page.py starts (the stamping test Bedrock server, the checkout's daphne on a fresh SQLite file,
Debian's chromium), installs the same MutationObserver as page.py (--no-observer leaves it out), streams one answer
under CDP Tracing (devtools.timeline categories only: the V8 sampling profiler would inflate script several times)
and prints the main thread's self time per kind (script, style, layout, paint, commit, GC, task overhead), the
script by entry point, and the open-block re-parses (flushText calls that parsed HTML) against the cheap ones.
"""

import argparse
import bisect
import collections
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench import page, page_answers  # noqa: E402
from tests.bedrock_server import BedrockTestServer, Stream  # noqa: E402

CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute"]
KINDS = [  # first match wins; the rest is the scheduler's own task overhead
    ("gc", r"^V8\.GC|GC$|^BlinkGC"),
    ("script", r"^(FunctionCall|EvaluateScript|v8\.|V8\.|RunMicrotasks|TimerFire|FireAnimationFrame|EventDispatch)"),
    ("html parse (sanitiser)", r"ParseHTML|HTMLDocumentParser|^Document::"),
    ("style", r"[Ss]tyle|LayoutTree"),
    ("layout", r"[Ll]ayout|InlineNode|Shape"),
    ("paint", r"Paint|Layerize|CompositingInputs|HitTest|Scroll|CullRect"),
    ("commit / frame", r"[Cc]ommit|BeginMainFrame|Animat|UpdateLifecycle"),
]


def trace(app_url: str, bedrock, deltas: list[str], observer: bool, browser) -> list[dict]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    tab = context.new_page()
    tab.goto(f"{app_url}/")
    tab.fill("#id_username", "bench0")
    tab.fill("#id_password", page.PASSWORD)
    tab.click("button[type=submit], input[type=submit]")
    tab.wait_for_function("() => document.querySelector('#connection')?.dataset.state === 'connected'")
    tab.evaluate(page.INSTRUMENT if observer else "() => { window.__bench = { seen: {}, longTasks: [] }; }")
    cdp = context.new_cdp_session(tab)
    events, done = [], []
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda e: done.append(True))
    cdp.send("Tracing.start", {"traceConfig": {"includedCategories": CATEGORIES}, "transferMode": "ReportEvents"})
    bedrock.queue(Stream(deltas=deltas, delay=0.010, first_delay=0.010, stamp_epoch=time.time()))
    tab.evaluate(page.SEND, "trace")
    tab.wait_for_function(page.DONE, timeout=180_000, polling=100)
    tab.wait_for_timeout(300)
    cdp.send("Tracing.end")
    while not done:
        tab.wait_for_timeout(100)
    context.close()
    return events


def main_thread(events: list[dict]) -> list[dict]:
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    return sorted((e for e in events if names.get((e["pid"], e["tid"])) == "CrRendererMain"
                   and e.get("ph") == "X" and "dur" in e), key=lambda e: (e["ts"], -e["dur"]))


def self_times(events: list[dict]) -> collections.Counter:
    """Each event's duration less its children's (events nest by time on one thread)."""
    own, stack = collections.Counter(), []
    for e in events:
        while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
            stack.pop()
        if stack:
            own[stack[-1]["name"]] -= e["dur"]
        own[e["name"]] += e["dur"]
        stack.append(e)
    return own


def report(events: list[dict], deltas: int, names: int = 0) -> None:
    main = main_thread(events)
    per_k = 1000 / deltas / 1000  # µs per answer -> ms per 1,000 deltas
    kinds = collections.Counter()
    own = self_times(main)
    for name, us in own.items():
        kinds[next((kind for kind, pattern in KINDS if re.search(pattern, name)), "task overhead")] += us
    total = sum(kinds.values())
    print(f"main thread, ms per 1,000 deltas: {total * per_k:.0f}")
    for kind, us in kinds.most_common():
        print(f"  {kind:<24} {us * per_k:7.0f}  {100 * us / total:4.1f}%")
    if names:
        print("trace events by self time, ms per 1,000 deltas:")
        for name, us in own.most_common(names):
            print(f"  {name:<40} {us * per_k:7.0f}")
    entry = collections.Counter()
    for e in main:
        if e["name"] == "FunctionCall":
            data = e.get("args", {}).get("data", {})
            entry[f"{data.get('functionName') or '(anonymous)'} {data.get('url', '').rsplit('/', 1)[-1]}"] += e["dur"]
        elif e["name"] in ("RunMicrotasks", "FireAnimationFrame"):
            entry[e["name"]] += e["dur"]
    print("script entry points (inclusive), ms per 1,000 deltas:")
    for name, us in entry.most_common(8):
        print(f"  {name:<40} {us * per_k:7.0f}")
    parses = [e["ts"] for e in main if e["name"] == "ParseHTML"]
    parsed, cheap = [], []
    for e in main:
        if e["name"] == "FunctionCall" and e.get("args", {}).get("data", {}).get("functionName") == "flushText":
            i = bisect.bisect_left(parses, e["ts"])
            (parsed if i < len(parses) and parses[i] < e["ts"] + e["dur"] else cheap).append(e["dur"] / 1000)
    for label, runs in (("with a re-parse", parsed), ("appends only", cheap)):
        if runs:
            print(f"flushText {label}: {len(runs)} calls, {sum(runs):.0f} ms, median {statistics.median(runs):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", default=str(page.PROJECT))
    parser.add_argument("--answer", choices=["prose", "markdown"], default="prose")
    parser.add_argument("--size", type=int, default=1000, help="deltas (prose) or characters (markdown)")
    parser.add_argument("--names", type=int, default=0, help="also list this many trace events by self time")
    parser.add_argument("--no-observer", action="store_true", help="without bench/page.py's MutationObserver")
    args = parser.parse_args()
    deltas = (page_answers.prose if args.answer == "prose" else page_answers.markdown)(args.size)
    bedrock = BedrockTestServer()
    bedrock.start()
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp, sync_playwright() as playwright:
        app = page.App("trace", Path(args.app_dir), bedrock.url, Path(tmp))
        browser = playwright.chromium.launch(executable_path=page.CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            events = trace(app.url, bedrock, deltas, not args.no_observer, browser)
        finally:
            app.daphne.stop()
            bedrock.stop()
            browser.close()
    report(events, len(deltas), args.names)


if __name__ == "__main__":
    main()
