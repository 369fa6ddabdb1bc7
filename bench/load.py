"""Load benchmark: C concurrent WebSocket clients streaming LLM answers through Streamer, against a floor.

    .venv/bin/python bench/load.py                   # the full run: about 11 minutes
    .venv/bin/python bench/load.py --quick           # a smoke run: about 1 minute
    .venv/bin/python bench/load.py --clients 10,100 --deltas 200 --interval-ms 20 --setups sqlite1,pg2,floor
    .venv/bin/python bench/load.py --setups sqlite1 --clients 100 --profile sqlite1:100  # py-spy (installed apart)

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
import select
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.load_profile import summarize  # noqa: E402
from tests.servers import Daphne, app_env, manage  # noqa: E402

BENCH = PROJECT / "bench"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
POSTGRES = "postgres://root@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"
MODEL_ID = "bench.model"
WARMUP_DELTAS = 3  # bench/load_bedrock.py answers a prompt starting with "warmup" with 3 deltas
TABLES = ("chat_message", "chat_conversation")


def raise_nofile() -> None:
    """Every process started from here inherits the raised limit (the helpers raise it again themselves)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

def read_line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError(f"{process.args[1]} said nothing in {timeout}s")
    line = process.stdout.readline().decode().strip()
    if not line:
        raise RuntimeError(f"{process.args[1]} exited with {process.wait(5)}")
    return line


def stop_process(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class Helper:
    """One of our helper scripts that prints `port <n>` once listening."""

    def __init__(self, script: str, args: list[str], env: dict, log: Path):
        self.script, self.args, self.env, self.log = script, args, env, log
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> "Helper":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([PYTHON, str(BENCH / self.script), *self.args], cwd=PROJECT, env=self.env,
                                            stdout=subprocess.PIPE, stderr=log)
        self.port = int(read_line(self.process, 30).split()[1])
        return self

    def stop(self):
        stop_process(self.process)

    @property
    def pid(self) -> int:
        return self.process.pid


class Server:
    """A server process the clients talk to: a daphne or the floor."""

    def __init__(self, process, url: str):
        self.handle, self.url = process, url

    @property
    def pid(self) -> int:
        return self.handle.process.pid

    def stop(self):
        self.handle.stop()


# --------------------------------------------------------------------------------------------
# Setups
# --------------------------------------------------------------------------------------------

class Setup:
    name = ""
    processes = 1
    cookies: list[str] = []

    def __init__(self, bedrock_url: str, workdir: Path, users: int, extra_env: dict = None):
        self.extra_env = extra_env or {}
        self.bedrock_url, self.workdir, self.users = bedrock_url, workdir / self.name, users
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env: dict = {}

    def app_env(self, **extra: str) -> dict:
        env = app_env(
            DATA_DIR=str(self.workdir), SECRET_KEY="bench-" + uuid.uuid4().hex, DEBUG="false", LOG_LEVEL="WARNING",
            BEDROCK_MODEL_ID=MODEL_ID, AWS_ENDPOINT_URL_BEDROCK_RUNTIME=self.bedrock_url, AWS_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_MAX_ATTEMPTS="1",
            # High enough that the per-user limits never interfere with the load.
            MAX_CONCURRENT_STREAMS="100000", PROMPTS_PER_MINUTE="100000", **extra,
        ) | self.extra_env
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "DJANGO_SETTINGS_MODULE"):
            env.pop(name, None)
        return env

    def prepare(self):
        manage(self.env, "migrate", "--noinput")
        self.after_migrate()
        users = subprocess.run([PYTHON, str(BENCH / "load_users.py"), str(self.users)], cwd=PROJECT, env=self.env,
                               capture_output=True, text=True, check=True, timeout=300)
        self.cookies = users.stdout.split()
        assert len(self.cookies) == self.users, users.stderr

    def after_migrate(self):
        pass

    def start_servers(self, run: str) -> list[Server]:
        command, env = [PYTHON, "-m", "daphne"], self.env
        servers = []
        try:
            for index in range(self.processes):
                daphne = Daphne(env, self.workdir / f"daphne-{run}-{index}.log", command).start()
                servers.append(Server(daphne, f"ws://127.0.0.1:{daphne.port}/ws/chat/"))
        except Exception:
            for server in servers:
                server.stop()
            raise
        return servers

    def before_run(self):
        pass

    def writes(self) -> dict | None:
        return None

    def cleanup(self):
        pass


class Sqlite1(Setup):
    name, processes = "sqlite1", 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.db = self.workdir / "db.sqlite3"
        self.env = self.app_env(DATABASE_URL=f"sqlite:///{self.db}", REDIS_URL="")

    def after_migrate(self):
        # SQLite keeps no statistics: count the writes with triggers (one extra tiny write each).
        with sqlite3.connect(self.db) as db:
            db.execute("CREATE TABLE bench_writes (name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
            for table in TABLES:
                db.execute("INSERT INTO bench_writes VALUES (?, 0)", (table,))
                for event in ("INSERT", "UPDATE"):
                    db.execute(f"CREATE TRIGGER bench_{table}_{event.lower()} AFTER {event} ON {table} "
                               f"BEGIN UPDATE bench_writes SET n = n + 1 WHERE name = '{table}'; END")

    def writes(self) -> dict:
        with sqlite3.connect(self.db, timeout=30) as db:
            return dict(db.execute("SELECT name, n FROM bench_writes"))


class Pg2(Setup):
    name, processes = "pg2", 2

    def __init__(self, *args, redis_db: int = 11, **kwargs):
        super().__init__(*args, **kwargs)
        import psycopg
        import redis

        self.psycopg = psycopg
        self.redis = redis.Redis.from_url(f"{REDIS}/{redis_db}")
        self.redis.flushdb()
        self.database = f"streamer_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self.url = POSTGRES.rsplit("/", 1)[0] + f"/{self.database}"
        self.env = self.app_env(DATABASE_URL=self.url, REDIS_URL=f"{REDIS}/{redis_db}")

    def before_run(self):
        self.redis.flushdb()  # nothing left over from the previous C

    def writes(self) -> dict:
        """n_tup_ins + n_tup_upd once the backends' statistics have been flushed (they lag by up to a
        second or so after a backend goes idle or exits), i.e. once two reads 1 s apart agree."""
        def read():
            with self.psycopg.connect(self.url) as db:
                rows = db.execute("SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                                  (list(TABLES),)).fetchall()
            return dict(rows)

        previous, deadline = read(), time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(1.0)
            current = read()
            if current == previous:
                return current
            previous = current
        return previous

    def cleanup(self):
        self.redis.flushdb()
        with self.psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


class Floor(Setup):
    name, processes = "floor", 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.env = self.app_env()

    def prepare(self):
        self.cookies = [""] * self.users  # no auth on the floor

    def start_servers(self, run: str) -> list[Server]:
        helper = Helper("load_floor.py", [], self.env, self.workdir / f"floor-{run}.log").start()
        return [Server(helper, f"ws://127.0.0.1:{helper.port}/")]


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
# Report
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------

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
    args = parser.parse_args()
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
        bedrock.stop()
        for setup in setups:
            try:
                setup.cleanup()
            except Exception as error:  # noqa: BLE001 - clean up the rest anyway
                print(f"cleanup of {setup.name} failed: {error}", file=sys.stderr)
    report(rows, args, answer_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
