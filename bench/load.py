"""Load benchmark: C concurrent WebSocket clients streaming LLM answers through Streamer, against a floor.

    .venv/bin/python bench/load.py                   # the full run: about 11 minutes
    .venv/bin/python bench/load.py --quick           # a smoke run: about 1 minute
    .venv/bin/python bench/load.py --clients 10,100 --deltas 200 --interval-ms 20 --setups sqlite1,pg2,floor
    .venv/bin/python bench/load.py --setups sqlite1 --clients 100 --profile sqlite1:100  # py-spy (installed apart)
    .venv/bin/python bench/load.py --burst 1,50,1000 --rounds 5 --before ../other-checkout  # bench/load_burst.py
    .venv/bin/python bench/load.py --burst 1,50 --before ../base --compare main=../main-export  # three checkouts

Starts everything it needs on 127.0.0.1 and stops it all at the end:
- bench/load_bedrock.py: a Bedrock-compatible ConverseStream server sending D deltas per answer, one each
  I ms, each stamped with its send time (its own process, so its CPU is not the server's);
- the setups: `sqlite1` one daphne on a fresh SQLite file; `pg2` two daphnes on a fresh PostgreSQL
  database (created and dropped here) and a Redis db of their own (flushed), clients alternating between
  them; `floor` bench/load_floor.py, a minimal relay on `websockets` + boto3 with no Django and no
  database;
- per (setup, C), fresh server processes, a warm-up answer, then bench/load_client.py (its own process)
  connecting C logged-in clients (one user each) that all send one prompt at the same moment and read to
  `done`, within a time limit (--timeout) after which unfinished answers are reported as such.

Measured: answers completed; deltas lost or duplicated (seq continuity and count per answer); relay
latency from the Bedrock server's send to the client's receive; extra time to first delta (the client's
time to first delta minus the Bedrock server's own, from the request's arrival to its first send);
server CPU (utime + stime from /proc/<pid>/stat, summed over the server processes) from the moment
every client is connected to the last `done`, per 1,000 deltas received; peak RSS (VmRSS of the server
processes, summed, sampled every 100 ms) and its growth over the idle process per peak active answer;
writes to chat_message per answer: on PostgreSQL from pg_stat_user_tables (n_tup_ins + n_tup_upd), on
SQLite from AFTER INSERT/UPDATE triggers this script adds to its own copy of the database. The machine's
other CPU use during each run is printed too: the numbers are only as clean as the machine was quiet.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.load_burst import report_bursts, run_bursts  # noqa: E402
from bench.load_profile import summarize  # noqa: E402
from bench.load_report import (  # noqa: E402
    RssSampler, cpu_seconds, fmt, machine_busy_seconds, report, status_kb, upstream_stats,
)
from bench.load_setups import (  # noqa: E402
    BENCH, PYTHON, TABLES, Floor, Helper, Pg2, Setup, Sqlite1, read_line, stop_process,
)
from tests.servers import app_env  # noqa: E402

WARMUP_DELTAS = 3  # bench/load_bedrock.py answers a prompt starting with "warmup" with 3 deltas


def raise_nofile() -> None:
    """Every process started from here inherits the raised limit (the helpers raise it again themselves)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------------------------
# One measured run
# --------------------------------------------------------------------------------------------

def run_client(workdir: Path, targets: list[dict], prompt: str, deltas: int, answer_timeout: float,
               at_go=None, at_done=None) -> dict:
    """Run bench/load_client.py. `at_go()` is called once every client is connected, before any prompt;
    `at_done()` once the last `done` is in (before the client closes its sockets)."""
    tag = uuid.uuid4().hex[:6]
    config, result = workdir / f"client-{tag}.json", workdir / f"result-{tag}.json"
    connect_timeout = 60
    config.write_text(json.dumps({"targets": targets, "prompt": prompt, "deltas": deltas,
                                  "connect_timeout": connect_timeout, "answer_timeout": answer_timeout}))
    with open(workdir / "client.log", "ab") as log:
        process = subprocess.Popen([PYTHON, str(BENCH / "load_client.py"), str(config), str(result)], cwd=PROJECT,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    try:
        read_line(process, connect_timeout * 2 + 30)  # "connected <ok> <failed>"
        go_marks = at_go() if at_go else None
        process.stdin.write(b"go\n")
        process.stdin.flush()
        read_line(process, answer_timeout + 30)  # "finished"
        done_marks = at_done() if at_done else None
        process.wait(60)
        return json.loads(result.read_text()) | {"go_marks": go_marks, "done_marks": done_marks}
    finally:
        stop_process(process)
        config.unlink(missing_ok=True)
        result.unlink(missing_ok=True)


def measure(setup: Setup, clients: int, deltas: int, answer_timeout: float, bedrock: Helper, profile: bool = False) -> dict:
    servers = setup.start_servers(f"c{clients}")
    pids = [server.pid for server in servers]
    profiler = None
    try:
        # One short answer per process first: boto3 client, imports and connections are warm.
        warm = [{"url": server.url, "cookie": setup.cookies[i]} for i, server in enumerate(servers)]
        run_client(setup.workdir, warm, "warmup", WARMUP_DELTAS, 30)
        setup.before_run()
        writes_before = setup.writes()
        idle_kb = sum(status_kb(pid, "VmRSS") for pid in pids)
        sampler = RssSampler(pids)
        sampler.start()

        def marks():
            # The main thread runs the event loop (daphne's, or the floor's); the rest are the upstream
            # reader threads and the sync_to_async executor.
            return {"cpu": {pid: cpu_seconds(pid) for pid in pids},
                    "loop_cpu": {pid: cpu_seconds(pid, pid) for pid in pids},
                    "bedrock_cpu": cpu_seconds(bedrock.pid), "machine": machine_busy_seconds(), "time": time.monotonic()}

        def at_go():
            nonlocal profiler
            upstream_stats(setup.bedrock_url)  # resets its peak
            if profile:
                from bench.load_profile import Profiler

                profiler = Profiler(pids, setup.workdir / f"profile-c{clients}")
            return marks()

        def at_done():
            done = marks() | {"upstream": upstream_stats(setup.bedrock_url)}
            if profiler:
                print(f"\npy-spy profile of {setup.name} C={clients}, streaming phase:\n"
                      + summarize(profiler.stop()) + "\n", flush=True)
            return done

        targets = [{"url": servers[i % len(servers)].url, "cookie": setup.cookies[i]} for i in range(clients)]
        result = run_client(setup.workdir, targets, "bench: stream me an answer", deltas, answer_timeout, at_go, at_done)
        peak_kb = sampler.stop()
        hwm_kb = sum(status_kb(pid, "VmHWM") for pid in pids)
        writes_after = setup.writes()
    finally:
        if profiler:
            profiler.stop()
        for server in servers:
            server.stop()

    start, end = result["go_marks"], result["done_marks"]
    wall = end["time"] - start["time"]
    server_cpu = sum(end["cpu"][pid] - start["cpu"][pid] for pid in pids)
    loop_cpu = sum(end["loop_cpu"][pid] - start["loop_cpu"][pid] for pid in pids)
    row = result | {
        "setup": setup.name, "C": clients, "wall": wall, "server_cpu": server_cpu,
        "bedrock_cpu": end["bedrock_cpu"] - start["bedrock_cpu"],
        "machine_cpu": end["machine"] - start["machine"],
        "peak_upstream": end["upstream"]["peak"],  # Bedrock streams open at once, as the Bedrock server saw them
        "cpu_per_1k": server_cpu / result["deltas_received"] * 1000 if result["deltas_received"] else None,
        "loop_share": loop_cpu / server_cpu if server_cpu else None,
        "idle_mb": idle_kb / 1024, "peak_mb": peak_kb / 1024, "hwm_mb": hwm_kb / 1024,
        "kb_per_stream": (peak_kb - idle_kb) / result["peak_active"] if result["peak_active"] else None,
    }
    if writes_before is not None:
        answers = result["connected"]  # every connected client sent one prompt: one message each
        for table in TABLES:
            row[f"writes_{table}"] = (writes_after[table] - writes_before[table]) / answers if answers else None
    return row


# --------------------------------------------------------------------------------------------

def stop_all(bedrock: Helper, setups: list[Setup]) -> None:
    """The Bedrock server and every setup's servers stopped, each whatever the others did."""
    bedrock.stop()
    for setup in setups:
        try:
            setup.cleanup()
        except Exception as error:  # noqa: BLE001 - clean up the rest anyway
            print(f"cleanup of {setup.name} failed: {error}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,100,500,1000", help="comma list of concurrent clients")
    parser.add_argument("--deltas", type=int, default=200, help="deltas per answer")
    parser.add_argument("--interval-ms", type=float, default=20, help="ms between deltas")
    parser.add_argument("--setups", default="sqlite1,pg2,floor", help="comma list of sqlite1, pg2, floor")
    parser.add_argument("--redis-db", type=int, default=11, help="the Redis db the pg2 setup owns (flushed)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 and 20 clients, 50 deltas")
    parser.add_argument("--timeout", type=float, help="seconds a run may take for all its answers "
                        "(default 15 x the answer's length + 15 s: 75 s; the floor needs ~55 s at 1,000)")
    parser.add_argument("--json", help="also write the raw rows here")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable for the servers, for experiments (repeatable)")
    parser.add_argument("--profile", action="append", default=[], metavar="SETUP:C",
                        help="py-spy the server process(es) of this run while it streams (needs py-spy; repeatable)")
    parser.add_argument("--burst", metavar="N,N,…", help="the burst case instead (bench/load_burst.py): N prompts at "
                        "once, time to first delta; default 5 deltas each 20 ms, setups sqlite1")
    parser.add_argument("--rounds", type=int, default=3, help="burst: rounds, each running every N on every checkout")
    parser.add_argument("--before", type=Path, help="burst: another checkout to compare with (same database schema)")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                        help="burst: one more checkout to compare with, under this label (repeatable)")
    args = parser.parse_args()
    if args.burst:
        return burst_main(args, parser)
    if args.quick:
        args.clients, args.deltas = "5,20", 50
    clients = [int(c) for c in args.clients.split(",")]
    args.setups = [s.strip() for s in args.setups.split(",")]
    unknown = set(args.setups) - {"sqlite1", "pg2", "floor"}
    if unknown:
        parser.error(f"unknown setups: {', '.join(sorted(unknown))}")
    answer_seconds = args.deltas * args.interval_ms / 1000
    # Bounded: an overloaded server gets this long for all its answers, then the run is cut off.
    timeout = args.timeout or 15 * answer_seconds + 15
    raise_nofile()

    workdir = Path(tempfile.mkdtemp(prefix="streamer-load-"))
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=PROJECT, capture_output=True,
                              text=True).stdout.strip() or "?"
    print(f"Streamer load benchmark at {revision}: {os.cpu_count()} cores; C = {clients}; {args.deltas} deltas every "
          f"{args.interval_ms:g} ms ({answer_seconds:g} s answers); setups {args.setups}; "
          f"time limit per run {timeout:g} s; "
          f"logs in {workdir}", flush=True)
    bedrock = Helper("load_bedrock.py", ["--deltas", str(args.deltas), "--interval-ms", str(args.interval_ms)],
                     app_env(), workdir / "bedrock.log")
    setups: list[Setup] = []
    rows: list[dict] = []
    started = time.monotonic()
    try:
        bedrock.start()
        bedrock_url = f"http://127.0.0.1:{bedrock.port}"
        for name in args.setups:
            kind = {"sqlite1": Sqlite1, "pg2": lambda *a, **k: Pg2(*a, redis_db=args.redis_db, **k), "floor": Floor}[name]
            setup = kind(bedrock_url, workdir, max(clients), extra_env=dict(item.split("=", 1) for item in args.env))
            setups.append(setup)
            setup.prepare()
            for count in clients:
                row = measure(setup, count, args.deltas, timeout, bedrock, f"{name}:{count}" in args.profile)
                rows.append(row)
                print(f"  {setup.name:11} C={count:<5} done {row['complete']}/{count}, unfinished {row['unfinished']}, "
                      f"lost {row['lost']}, "
                      f"dup {row['duplicated']}, relay p99 {fmt(row['latency_ms']['p99'])} ms, "
                      f"CPU {fmt(row['cpu_per_1k'], 3)} s/1k deltas  [{time.monotonic() - started:.0f}s]", flush=True)
    finally:
        stop_all(bedrock, setups)
    report(rows, args, answer_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\ntotal {time.monotonic() - started:.0f} s")


def burst_main(args, parser):
    """bench/load.py --burst: see bench/load_burst.py."""
    counts = [int(c) for c in args.burst.split(",")]
    setups = [s.strip() for s in (args.setups if args.setups != parser.get_default("setups") else "sqlite1").split(",")]
    if set(setups) - {"sqlite1", "pg2"}:
        parser.error("--burst runs the app's setups: sqlite1, pg2")
    deltas = args.deltas if args.deltas != parser.get_default("deltas") else 5
    checkouts = [("after", PROJECT)]
    if args.before:
        if not (args.before / "manage.py").exists():
            parser.error(f"--before {args.before}: not a checkout of this project")
        checkouts.insert(0, ("before", args.before.resolve()))
    for item in args.compare:
        label, _, path = item.partition("=")
        if not label or not (Path(path) / "manage.py").exists():
            parser.error(f"--compare {item}: not LABEL=<a checkout of this project>")
        checkouts.insert(-1, (label, Path(path).resolve()))
    timeout = args.timeout or 15 * deltas * args.interval_ms / 1000 + 30
    raise_nofile()
    workdir = Path(tempfile.mkdtemp(prefix="streamer-burst-"))
    revisions = {label: subprocess.run(["git", "describe", "--always", "--dirty"], cwd=path, capture_output=True,
                                       text=True).stdout.strip() or "?" for label, path in checkouts}
    print(f"Streamer burst benchmark: {os.cpu_count()} cores; N = {counts}; {args.rounds} rounds; answers of {deltas} "
          f"deltas every {args.interval_ms:g} ms; setups {setups}; checkouts {revisions}; logs in {workdir}", flush=True)
    bedrock = Helper("load_bedrock.py", ["--deltas", str(deltas), "--interval-ms", str(args.interval_ms)],
                     app_env(), workdir / "bedrock.log")
    prepared: list[Setup] = []
    started = time.monotonic()
    try:
        bedrock.start()
        for name in setups:
            kind = {"sqlite1": Sqlite1, "pg2": lambda *a, **k: Pg2(*a, redis_db=args.redis_db, **k)}[name]
            setup = kind(f"http://127.0.0.1:{bedrock.port}", workdir, max(counts),
                         extra_env=dict(item.split("=", 1) for item in args.env))
            prepared.append(setup)
            setup.prepare()
        rows = run_bursts(prepared, counts, args.rounds, checkouts, deltas, timeout, run_client)
    finally:
        stop_all(bedrock, prepared)
    print(f"machine: {os.getloadavg()[0]:.1f} load average at the end (2 cores here are shared: compare medians)")
    report_bursts(rows, args.rounds)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
