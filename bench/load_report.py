"""The load benchmark's measurements from /proc and the Bedrock server, and its report (bench/load.py).

Server CPU is utime + stime from /proc/<pid>/stat (all threads, or the event loop's thread alone), the
machine's from /proc/stat; RSS is VmRSS sampled every 100 ms. The report prints one row per (setup, C),
the details, and one line per target.
"""

import json
import os
import threading
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime of a process (all its threads, including those that ended), or of one thread."""
    with open(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def upstream_stats(bedrock_url: str) -> dict:
    """bench/load_bedrock.py's answers streaming now, and at most at once since the previous call."""
    with urllib.request.urlopen(f"{bedrock_url}/stats", timeout=10) as reply:
        return json.load(reply)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """The peak of the servers' summed VmRSS, sampled every 100 ms."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak_kb, self.halt = pids, 0, threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                self.peak_kb = max(self.peak_kb, sum(status_kb(pid, "VmRSS") for pid in self.pids))
            except OSError:
                pass
            self.halt.wait(0.1)

    def stop(self) -> int:
        self.halt.set()
        self.join(2)
        return self.peak_kb


def fmt(value, digits=1, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}{unit}"
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def print_table(header: list[str], rows: list[list[str]]):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


def floor_of(rows: list[dict], clients: int) -> dict | None:
    return next((r for r in rows if r["setup"] == "floor" and r["C"] == clients), None)


def report(rows: list[dict], args, answer_seconds: float):
    """The table, one row per (setup, C), and one line per target. A `*` marks a run where some answers
    did not end in time: its CPU per delta and writes per answer cover unfinished work."""
    print()
    header = ["setup", "C", "done", "unfinished", "lost", "dup", "relay p50", "p99", "max ms", "+TTFD p50", "p99 ms",
              "CPU s/1k deltas", "x floor", "peak RSS MB", "KB/stream", "msg writes/ans"]
    table = []
    for r in rows:
        floor = floor_of(rows, r["C"])
        ratio = r["cpu_per_1k"] / floor["cpu_per_1k"] if floor and r["setup"] != "floor" and r["cpu_per_1k"] else None
        lat, ttfd, star = r["latency_ms"], r["extra_ttfd_ms"], "" if complete(r) else "*"
        table.append([r["setup"], r["C"], f"{r['complete']}/{r['C']}",
                      f"{r['unfinished']} ({r['undelivered']} deltas)" if r["unfinished"] else "0",
                      r["lost"], r["duplicated"], fmt(lat["p50"]), fmt(lat["p99"]), fmt(lat["max"]),
                      fmt(ttfd["p50"]), fmt(ttfd["p99"]), fmt(r["cpu_per_1k"], 3) + star, fmt(ratio, 2) + star,
                      fmt(r["peak_mb"]), fmt(r["kb_per_stream"], 0), fmt(r.get("writes_chat_message"), 2) + star])
    print_table(header, table)
    print("unfinished: answers with no `done` within the time limit (their deltas counted apart, as undelivered); "
          "lost: deltas missing from answers that ended; * = some answers unfinished.")

    print()
    print("Details: wall = all connected -> last done (or the time limit); answer s = mean prompt -> done; peak active = "
          "most answers pending at once (prompt sent, no done yet); peak streaming = most between first delta and done "
          "(as the clients saw them); peak upstream = most Bedrock streams open at once (as the Bedrock server saw them); "
          "cores = CPU seconds / wall; loop thread % = "
          "the server's main (event loop) thread's share of its CPU, the rest being upstream reader and executor threads; "
          "other = the rest of the machine (PostgreSQL, Redis, the kernel, anything else running).")
    header = ["setup", "C", "wall s", "answer s", "peak active", "peak streaming", "peak upstream", "server cores",
              "loop thread %",
              "bedrock cores", "client cores", "other cores", "connect s", "idle MB", "VmHWM MB", "conv writes/ans",
              "errors"]
    table = []
    for r in rows:
        table.append([r["setup"], r["C"], fmt(r["wall"], 2), fmt(r["answer_seconds_mean"], 2), r["peak_active"],
                      r["peak_streaming"], r["peak_upstream"],
                      fmt(r["server_cpu"] / r["wall"], 2),
                      fmt(100 * r["loop_share"], 0) if r["loop_share"] is not None else "-",
                      fmt(r["bedrock_cpu"] / r["wall"], 2),
                      fmt(r["client_cpu"] / r["wall"], 2),
                      fmt((r["machine_cpu"] - r["server_cpu"] - r["bedrock_cpu"] - r["client_cpu"]) / r["wall"], 2),
                      fmt(r["connect_seconds"], 1), fmt(r["idle_mb"]),
                      fmt(r["hwm_mb"]), fmt(r.get("writes_chat_conversation"), 2),
                      problems(r)])
    print_table(header, table)
    for r in rows:
        if r["first_errors"]:
            print(f"  {r['setup']} C={r['C']} first errors: {r['first_errors']}")

    print()
    writes_target = 2 + answer_seconds / 1.0  # checkpoints every STREAM_CHECKPOINT_SECONDS = 1 s
    app_setups = [s for s in args.setups if s != "floor"]

    def verdict(ok: bool | None) -> str:
        return "not run" if ok is None else ("met" if ok else "MISSED")

    def row_for(setup, clients):
        return next((r for r in rows if r["setup"] == setup and r["C"] == clients), None)

    def intact(r):
        return complete(r) and r["lost"] == 0 and r["duplicated"] == 0

    for setup in [s for s in app_setups if s.startswith("sqlite1")]:
        # Concurrent: (nearly) all 1,000 Bedrock streams open at once, not an intake so slow that they overlap
        # only in part.
        r = row_for(setup, 1000)
        ok = intact(r) and r["peak_upstream"] >= 950 if r else None
        print(f"target: 1,000 concurrent streams on one process, nothing lost, {setup}: {verdict(ok)}"
              + (f" ({r['complete']}/1000 done, {r['unfinished']} unfinished, {r['lost']} lost, "
                 f"{r['duplicated']} duplicated, at most {r['peak_upstream']} Bedrock streams open at once)" if r else ""))
    bad = [f"{x['setup']} C={x['C']}" for x in rows if not intact(x)]
    print(f"target: every answer complete, nothing lost or duplicated, all runs: {verdict(not bad)}"
          + (f" (not in {', '.join(bad)})" if bad else ""))
    for clients, limit in ((100, 5.0), (1000, 50.0)):
        for setup in [*app_setups, "floor"]:
            r = row_for(setup, clients)
            p99 = r["latency_ms"]["p99"] if r else None
            print(f"target: relay p99 <= {limit:g} ms at {clients} streams, {setup}: "
                  f"{verdict(p99 <= limit if p99 is not None else None)}" + (f" ({p99:.1f} ms)" if p99 is not None else ""))
    for setup in app_setups:
        ratios = []
        for r in rows:
            floor = floor_of(rows, r["C"])
            if r["setup"] == setup and floor and r["cpu_per_1k"] and floor["cpu_per_1k"]:
                ratios.append((r["C"], r["cpu_per_1k"] / floor["cpu_per_1k"], "" if complete(r) else "*"))
        ok = all(ratio <= 1.5 for _, ratio, _ in ratios) if ratios else None
        print(f"target: CPU per delta <= 1.5x the floor, {setup}: {verdict(ok)}"
              + (" (" + ", ".join(f"C={c}: {x:.2f}x{star}" for c, x, star in ratios) + ")" if ratios else ""))
    for setup in app_setups:
        # Only runs whose answers all ended say how many writes an answer costs.
        values = [(r["C"], r["writes_chat_message"]) for r in rows
                  if r["setup"] == setup and r.get("writes_chat_message") is not None and complete(r)]
        ok = all(v <= writes_target for _, v in values) if values else None
        print(f"target: <= {writes_target:g} chat_message writes per {answer_seconds:g} s answer, {setup}: {verdict(ok)}"
              + (" (" + ", ".join(f"C={c}: {v:.2f}" for c, v in values) + "; runs with every answer complete)"
                 if values else ""))


def problems(row: dict) -> str:
    """Client errors, and `done` frames with a status other than complete."""
    found = dict(row["errors"]) | {f"done:{k}": n for k, n in row["statuses"].items() if k != "complete"}
    return json.dumps(found) if found else "-"


def complete(row: dict) -> bool:
    return row["complete"] == row["C"]
