"""The burst case of the load benchmark (bench/load.py --burst): N prompts sent at the same moment, and how
long each waits for its first delta beyond the Bedrock server's own first-byte time.

    .venv/bin/python bench/load.py --burst 1,50,1000 --rounds 5 --before ../other-checkout

Per round and N, fresh server processes of each checkout (this one, "after", and with --before another
one, "before", e.g. a git worktree of an older commit sharing this .venv; --compare LABEL=PATH adds more,
e.g. an exported tree, `git archive <commit> | tar -x -C <dir>`), a warm-up answer per process,
then N logged-in clients, one user each, that all send one prompt at once (bench/load_client.py). The
checkouts alternate, and so does which one goes first in a round, because the machine is shared: what
else runs on it moves from one minute to the next, and both sides should see the same spread of it.
Both serve the same database, so they must share its schema (the migrations).

Measured per answer (load_client.py): extra time to first delta = the client's time from sending the
prompt to reading the first delta, minus the Bedrock server's own time from the request's arrival to its
first send. Reported per (setup, checkout, N): p50 and p99 over the answers of a run, then the median of
those over the rounds, with the range; `queued` is how many prompts were told the server was saturated.
"""

import statistics
import time
from pathlib import Path

from bench.load_report import fmt, print_table

PROMPT = "burst: how soon does my first word come?"


def measure_burst(setup, clients: int, deltas: int, answer_timeout: float, project: Path, label: str, run_client) -> dict:
    servers = setup.start_servers(f"burst-{label}-c{clients}", project)
    try:
        warm = [{"url": server.url, "cookie": setup.cookies[i]} for i, server in enumerate(servers)]
        run_client(setup.workdir, warm, "warmup", 3, 30)
        setup.before_run()
        targets = [{"url": servers[i % len(servers)].url, "cookie": setup.cookies[i]} for i in range(clients)]
        result = run_client(setup.workdir, targets, PROMPT, deltas, answer_timeout)
    finally:
        for server in servers:
            server.stop()
    return {"setup": setup.name, "checkout": label, "C": clients, "complete": result["complete"],
            "queued": result.get("queued"), "first_delta": result.get("first_delta"), "errors": result["errors"], **{
                f"ttfd_{k}": v for k, v in result["extra_ttfd_ms"].items()}}


def run_bursts(setups, counts: list[int], rounds: int, checkouts: list[tuple[str, Path]], deltas: int,
               answer_timeout: float, run_client) -> list[dict]:
    rows, started = [], time.monotonic()
    for round_index in range(rounds):
        # before, after / after, before / …: neither side always runs first.
        order = checkouts if round_index % 2 == 0 else list(reversed(checkouts))
        for setup in setups:
            for count in counts:
                for label, project in order:
                    row = measure_burst(setup, count, deltas, answer_timeout, project, label, run_client)
                    row["round"] = round_index + 1
                    rows.append(row)
                    print(f"  round {round_index + 1} {setup.name:8} {label:6} N={count:<5} first delta {row['first_delta']}"
                          f" done {row['complete']}/{count}"
                          f"  +TTFD p50 {fmt(row['ttfd_p50'])} p99 {fmt(row['ttfd_p99'])} ms  queued {row['queued']}"
                          f"  [{time.monotonic() - started:.0f}s]", flush=True)
    return rows


def median_and_range(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} ({min(values):.0f}–{max(values):.0f})"


def report_bursts(rows: list[dict], rounds: int) -> None:
    print(f"\nBurst: N prompts at once, extra time to first delta (beyond the Bedrock server's own first-byte time), "
          f"ms: the median over {rounds} rounds of each run's p50 and p99 (the range in brackets)")
    order = list(dict.fromkeys(r["checkout"] for r in rows if r["round"] == 1))  # as given: before, …, after
    keys = sorted({(r["setup"], r["C"], r["checkout"]) for r in rows}, key=lambda k: (k[0], k[1], order.index(k[2])))
    table = []
    for setup, count, label in keys:
        runs = [r for r in rows if (r["setup"], r["C"], r["checkout"]) == (setup, count, label)]
        done = sum(r["complete"] for r in runs)
        first = sum(r["first_delta"] or 0 for r in runs)
        table.append([setup, count, label, median_and_range([r["ttfd_p50"] for r in runs]),
                      median_and_range([r["ttfd_p99"] for r in runs]), f"{first}/{count * len(runs)}",
                      f"{done}/{count * len(runs)}", median_and_range([r["queued"] for r in runs])])
    print_table(["setup", "N", "checkout", "+TTFD p50", "+TTFD p99", "first delta", "done", "queued"], table)
    print("first delta: answers whose first delta came within the time limit, all rounds; the +TTFD figures are theirs "
          "(an answer with none is left out, so a run cut off by the limit looks better than it was); done: answers "
          "that ended within it.")
    for setup, count, label in keys:
        if label == "after" and count == 50:
            runs = [r for r in rows if (r["setup"], r["C"], r["checkout"]) == (setup, count, label)]
            p50 = statistics.median([r["ttfd_p50"] for r in runs if r["ttfd_p50"] is not None] or [float("inf")])
            p99 = statistics.median([r["ttfd_p99"] for r in runs if r["ttfd_p99"] is not None] or [float("inf")])
            verdict = "met" if p50 <= 30 and p99 <= 100 else "MISSED"
            print(f"target: +TTFD p50 <= 30 ms and p99 <= 100 ms at 50 prompts at once, {setup}: {verdict} "
                  f"({p50:.1f} / {p99:.1f} ms)")
