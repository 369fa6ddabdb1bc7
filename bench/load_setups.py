"""The processes of a load run (bench/load.py) and the setups it compares: one daphne on SQLite (sqlite1),
two daphnes on PostgreSQL + Redis (pg2), and the floor relay (floor)."""

import select
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.servers import Daphne, app_env, manage

PROJECT = Path(__file__).resolve().parent.parent
BENCH = PROJECT / "bench"
PYTHON = sys.executable
POSTGRES = "postgres://root@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"
MODEL_ID = "bench.model"
TABLES = ("chat_message", "chat_conversation")


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

    def start_servers(self, run: str, project: Path = PROJECT) -> list[Server]:
        """This setup's servers, running the code of `project` (this checkout, or another to compare with)."""
        servers = []
        try:
            for index in range(self.processes):
                daphne = Daphne(self.env, self.workdir / f"daphne-{run}-{index}.log", project=project).start()
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

    def start_servers(self, run: str, project: Path = PROJECT) -> list[Server]:
        helper = Helper("load_floor.py", [], self.env, self.workdir / f"floor-{run}.log").start()
        return [Server(helper, f"ws://127.0.0.1:{helper.port}/")]
