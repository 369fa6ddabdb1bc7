"""Page benchmark: how soon each streamed delta shows in a real Chromium tab, and what it costs the page.

    .venv/bin/python bench/page.py                                  # this checkout, 3 rounds: about 4 minutes
    .venv/bin/python bench/page.py --app-dir before=../other-checkout --app-dir after=. --rounds 5
    .venv/bin/python bench/page.py --cases prose-200,tabs-10 --rounds 1

Starts, on 127.0.0.1: the test Bedrock server (tests/bedrock_server.py, in this process) sending stamped deltas
(each carries its send time in its text), and per --app-dir one daphne (`python -m streamer.server`, run from
that checkout, on a fresh SQLite file) with Debian's chromium driven by Playwright. Several --app-dir are
measured in the same run, alternating round by round (the machine is shared: what it does meanwhile weighs on
every figure), and the median over the rounds is printed per app and case.

Cases: `prose-200` one tab, 200 deltas 20 ms apart; `prose-1500` one tab, 1,500 deltas 10 ms apart;
`markdown-20k` one tab, a 20,000-character markdown answer (headings, lists, python code, tables) in deltas
10 ms apart; `tabs-10` ten tabs (one user each) streaming 200 deltas 20 ms apart at once.

Measured in the page: a MutationObserver records when each stamp first appears in the answer; `first token`
is from the click on Go to the first stamp on the page (it includes the test server's first 20 or 10 ms);
`relay` is from the Bedrock server writing a delta to its text being in the page (p50 / p95 / max; the page's
clock is matched to this process's before each case); `main/1k` is Chrome's Performance.getMetrics
TaskDuration (the main thread's tasks, wall time) from the click to the end of the answer, per 1,000 deltas, and
`cpu/1k` the same in thread CPU time (timeDomain threadTicks: on a loaded machine the wall time mostly measures
waiting for a core); `long` counts tasks over 50 ms per tab (PerformanceObserver `longtask`), `longest` the
largest; `missing` stamps never seen (0: every delta showed). For tabs-10 the figures pool the ten tabs (main
and cpu: the mean per tab).
"""

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench import page_answers  # noqa: E402
from tests.bedrock_server import BedrockTestServer, Stream  # noqa: E402
from tests.servers import Daphne, app_env  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
MODEL_ID = "bench.page-model-v1"
PASSWORD = "a-long-password-7"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_MAX_ATTEMPTS": "1",
           "AWS_REGION": "us-east-1"}

# name -> (tabs, delta texts, seconds between deltas)
CASES = {
    "prose-200": (1, lambda: page_answers.prose(200), 0.020),
    "prose-1500": (1, lambda: page_answers.prose(1500), 0.010),
    "markdown-20k": (1, lambda: page_answers.markdown(20_000), 0.010),
    "tabs-10": (10, lambda: page_answers.prose(200), 0.020),
}

# Installed in each tab before the prompt is sent. Times are the page's wall clock (timeOrigin + now), in ms.
INSTRUMENT = """() => {
    const bench = window.__bench = { seen: {}, longTasks: [], sentAt: null };
    const STAMP = /§(\\d+):(\\d+\\.\\d)§/g;
    const scanned = new WeakMap(); // text node -> length already scanned: a growing text is scanned from its end
    const scan = (text, t) => {
        STAMP.lastIndex = 0;
        for (let m; (m = STAMP.exec(text));) if (!(m[1] in bench.seen)) bench.seen[m[1]] = [t, +m[2]];
    };
    new MutationObserver((records) => {
        const t = performance.timeOrigin + performance.now();
        for (const r of records) {
            if (r.type === 'characterData') {
                const data = r.target.data;
                const from = Math.max(0, Math.min((scanned.get(r.target) ?? 0) - 40, data.length));
                scanned.set(r.target, data.length);
                scan(data.slice(from), t);
            } else {
                for (const node of r.addedNodes) scan(node.textContent, t);
            }
        }
    }).observe(document.querySelector('#turns'), { subtree: true, childList: true, characterData: true });
    new PerformanceObserver((list) => list.getEntries().forEach((e) => bench.longTasks.push(e.duration)))
        .observe({ type: 'longtask' });
}"""

SEND = """(text) => {
    document.querySelector('#prompt').value = text;
    document.querySelector('#prompt').dispatchEvent(new Event('input', { bubbles: true }));
    window.__bench.sentAt = performance.timeOrigin + performance.now();
    document.querySelector('#go').click();
}"""

# Installed before the page loads: when each stamp's frame arrives from the socket (its `message` event), so the
# relay splits into the way there (server, network, the browser's own queue) and the wait in the page until the
# text is in it.
ARRIVALS = """(() => {
    const arrived = window.__arrived = {};
    const STAMP = /(?:§|\\\\u00a7)(\\d+):/g; // the frame is JSON: § may come as \\u00a7
    const Native = window.WebSocket;
    window.WebSocket = function (...args) {
        const socket = new Native(...args);
        socket.addEventListener('message', (event) => {
            const t = performance.timeOrigin + performance.now();
            STAMP.lastIndex = 0;
            for (let m; (m = STAMP.exec(event.data));) if (!(m[1] in arrived)) arrived[m[1]] = t;
        });
        return socket;
    };
    window.WebSocket.prototype = Native.prototype;
    Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})()"""

DONE = "() => { const t = document.querySelectorAll('article.turn'); return t.length && t[t.length - 1].dataset.status === 'complete'; }"


class App:
    """One checkout's daphne on a fresh SQLite database, with logged-in users."""

    def __init__(self, label: str, app_dir: Path, bedrock_url: str, tmp: Path):
        self.label, self.dir = label, app_dir.resolve()
        data = tmp / label
        data.mkdir()
        self.env = app_env(DATABASE_URL=f"sqlite:///{data / 'db.sqlite3'}", DATA_DIR=str(data), REDIS_URL="",
                           BEDROCK_MODEL_ID=MODEL_ID, LOG_LEVEL="WARNING",
                           AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock_url, **AWS_ENV)
        self.manage("migrate", "--noinput")
        self.daphne = Daphne(self.env, data / "daphne.log", project=self.dir)  # that checkout's code
        self._start()
        self.manage("shell", "-c", (
            "from django.contrib.auth import get_user_model\n"
            f"for i in range({max(tabs for tabs, _, _ in CASES.values())}):\n"
            f"    get_user_model().objects.create_user(f'bench{{i}}', password='{PASSWORD}')"
        ))
        self.users = [f"bench{i}" for i in range(max(tabs for tabs, _, _ in CASES.values()))]

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=self.dir, env=self.env, check=True,
                              capture_output=True, text=True, timeout=300).stdout

    def _start(self) -> None:
        self.daphne.start()

    @property
    def url(self) -> str:
        return self.daphne.url


def clock_offset(page) -> float:
    """The page's wall clock minus this process's, in ms, from the quickest of a few round trips."""
    best = None
    for _ in range(15):
        before = time.time() * 1000
        page_now = page.evaluate("() => performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        if best is None or after - before < best[0]:
            best = (after - before, page_now - (before + after) / 2)
    return best[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_case(browser, app: App, bedrock: BedrockTestServer, name: str) -> dict:
    tabs, make_deltas, delay = CASES[name]
    deltas = make_deltas()
    expected = page_answers.stamp_count(deltas)
    contexts, pages, cdps = [], [], []
    for username in app.users[:tabs]:
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        page = context.new_page()
        page.add_init_script(ARRIVALS)
        page.goto(f"{app.url}/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_selector("#prompt")
        page.wait_for_function("() => document.querySelector('#connection').dataset.state === 'connected'")
        page.evaluate(INSTRUMENT)
        # Two views of the main thread: its tasks' wall time, and its CPU time (less distorted on a busy machine).
        wall, cpu = context.new_cdp_session(page), context.new_cdp_session(page)
        wall.send("Performance.enable", {"timeDomain": "timeTicks"})
        cpu.send("Performance.enable", {"timeDomain": "threadTicks"})
        contexts.append(context), pages.append(page), cdps.append((wall, cpu))
    offsets = [clock_offset(page) for page in pages]
    epoch = time.time()
    bedrock.queue(*[Stream(deltas=deltas, delay=delay, first_delay=delay, stamp_epoch=epoch) for _ in pages])
    task_before = [task_duration(cdp) for cdp in cdps]
    for page in pages:
        page.evaluate(SEND, f"Benchmark {name}")
    relay, way, wait, first, main_ms, cpu_ms, long_tasks, missing = [], [], [], [], [], [], [], 0
    for page, cdp, offset, before in zip(pages, cdps, offsets, task_before):
        page.wait_for_function(DONE, timeout=180_000, polling=100)
        page.wait_for_timeout(300)  # the last frames
        after = task_duration(cdp)
        main_ms.append((after[0] - before[0]) * 1000 / len(deltas) * 1000)
        cpu_ms.append((after[1] - before[1]) * 1000 / len(deltas) * 1000)
        bench = page.evaluate("() => window.__bench")
        base = epoch * 1000 + offset  # a stamp's send time on the page's clock: base + stamp
        seen = bench["seen"]
        missing += expected - len(seen)
        tab_relay, tab_way, tab_wait = relay_parts(seen, page.evaluate("() => window.__arrived"), base)
        relay += tab_relay
        way += tab_way
        wait += tab_wait
        if seen:
            first.append(min(t for t, _ in seen.values()) - bench["sentAt"])
        long_tasks += [d for d in bench["longTasks"] if d > 50]
    for context in contexts:
        context.close()
    return {
        "first": statistics.median(first), "p50": percentile(relay, 0.50), "p95": percentile(relay, 0.95),
        "max": max(relay), "way": percentile(way, 0.50), "wait": percentile(wait, 0.50), "main": statistics.mean(main_ms), "cpu": statistics.mean(cpu_ms),
        "long": len(long_tasks) / len(pages),
        "longest": max(long_tasks, default=0), "missing": missing,
    }


def relay_parts(seen: dict, arrived: dict, base: float) -> tuple[list, list, list]:
    """Per stamp, ms: sent → in the page (relay), sent → its frame arrived (way), arrived → in the page (wait).
    `base` is the stamps' epoch on the page's clock."""
    relay = [t - (base + sent) for t, sent in seen.values()]
    way = [arrived[n] - (base + sent) for n, (_, sent) in seen.items() if n in arrived]
    wait = [t - arrived[n] for n, (t, _) in seen.items() if n in arrived]
    return relay, way, wait


def task_duration(sessions) -> tuple[float, float]:
    """TaskDuration in seconds: (wall time, CPU time) of the tab's main thread so far."""
    return tuple(next(m["value"] for m in session.send("Performance.getMetrics")["metrics"]
                      if m["name"] == "TaskDuration") for session in sessions)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def row(label: str, case: str, r: dict) -> str:
    return (f"{label:<8} {case:<13} {r['first']:>7.0f} {r['p50']:>6.1f} {r['p95']:>6.1f} {r['max']:>7.1f}"
            f" {r['way']:>5.1f} {r['wait']:>5.1f} {r['main']:>9.0f} {r['cpu']:>8.0f} {r['long']:>6.1f} {r['longest']:>8.0f} {r['missing']:>7}")


HEADER = (f"{'app':<8} {'case':<13} {'first':>7} {'p50':>6} {'p95':>6} {'max':>7} {'way':>5} {'wait':>5} {'main/1k':>9} {'cpu/1k':>8}"
          f" {'long':>6} {'longest':>8} {'missing':>7}\n{'':<22}{'ms':>7} {'ms':>6} {'ms':>6} {'ms':>7} {'ms':>5} {'ms':>5} {'ms':>9}"
          f" {'ms':>8} {'/tab':>6} {'ms':>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", action="append", default=[], metavar="LABEL=PATH",
                        help="a checkout to measure (repeat to compare; default: this one as 'this')")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    apps_wanted = [spec.split("=", 1) for spec in args.app_dir] or [["this", str(PROJECT)]]
    cases = args.cases.split(",")
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the servers on the way out, as on Ctrl+C
    bedrock = BedrockTestServer()
    bedrock.start()
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp, sync_playwright() as playwright:
        apps = [App(label, Path(path), bedrock.url, Path(tmp)) for label, path in apps_wanted]
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            print(HEADER, flush=True)
            for round_no in range(args.rounds):
                order = apps if round_no % 2 == 0 else apps[::-1]  # alternate who goes first
                for case in cases:
                    for app in order:
                        result = run_case(browser, app, bedrock, case)
                        results.setdefault((app.label, case), []).append(result)
                        print(f"{row(app.label, case, result)}   round {round_no + 1}, load {loadavg()}", flush=True)
        finally:
            for app in apps:
                app.daphne.stop()
            bedrock.stop()
            try:
                browser.close()
            except Exception:  # the driver may be gone already (interrupted)
                pass
    print(f"\nMedians over {args.rounds} round(s):\n{HEADER}")
    for case in cases:
        for label, _ in apps_wanted:
            runs = results[(label, case)]
            print(row(label, case, {key: statistics.median(r[key] for r in runs) for key in runs[0]}))


if __name__ == "__main__":
    main()
